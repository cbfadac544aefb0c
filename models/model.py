"""What a model is: a fitted classifier plus everything needed to feed it the right features.

A model file is a skops archive (never a pickle) holding a plain dict: the fitted
scikit-learn estimator, the :class:`~ser.features.config.FeatureConfig` it was trained on, how
features are normalised, the classes, and training metadata. It is loaded with an explicit
list of trusted types, so a file that carries anything else is refused before any of it is
built, and checked completely (:mod:`.checks`) before any audio is touched. It may hold a
:class:`~ser.models.calibration.Calibration` of the classifier's probabilities, applied by
:meth:`Model.predict_proba` whichever loader built the model (a file without one loads as
before, uncalibrated). Beside it lies a JSON model card (``<name>.json``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ser.common.errors import ModelError
from ser.features.config import FeatureConfig
from ser.features.normalize import NORMALIZATIONS, GroupStats

from .calibration import Calibration
from .checks import check_calibration, check_estimator, check_model, skops_source

__all__ = [
    "BUNDLED_MODELS",
    "DEFAULT_MODEL",
    "Model",
    "bundled_model_path",
    "load_model",
    "resolve_model",
    "save_model",
    "sha256_file",
]

logger = logging.getLogger(__name__)

FORMAT = "ser-model"
FORMAT_VERSION = 1
#: Bundled models, by name; the first is the default of ``ser-annotate``.
BUNDLED_MODELS: tuple[str, ...] = ("ser6", "ser4")
DEFAULT_MODEL = BUNDLED_MODELS[0]

#: Types beyond skops' own defaults (scikit-learn estimators, numpy) that a ser model holds.
TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn.utils._bunch.Bunch",
)


@dataclass
class Model:
    """A fitted emotion classifier and the recipe for its input.

    Parameters
    ----------
    estimator : classifier
        Fitted; has ``predict_proba``, ``classes_`` and ``n_features_in_``. A scikit-learn
        estimator after training; after :func:`load_model`, by default, its numpy
        equivalent (:class:`~ser.models.inference.NumpyClassifier`).
    features : FeatureConfig
        Features the estimator was trained on.
    normalization : {"none", "corpus", "speaker"}
        How features were standardised per group before the estimator.
    train_stats : GroupStats
        Mean and standard deviation of the raw training features: the fallback statistics
        for groups too small to normalise on their own.
    meta : dict
        Name, training corpus, metrics... (also written to the model card).
    calibration : Calibration, optional
        Applied to the estimator's probabilities by :meth:`predict_proba`; ``None`` leaves
        them as they are. Its classes must be the estimator's.
    """

    estimator: Any
    features: FeatureConfig
    normalization: str = "none"
    train_stats: GroupStats | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    calibration: Calibration | None = None

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.estimator.classes_]

    @property
    def name(self) -> str:
        return str(self.meta.get("name", "unnamed"))

    @property
    def n_features(self) -> int:
        return int(self.estimator.n_features_in_)

    def predict_proba(self, X: np.ndarray, *, calibrated: bool = True) -> np.ndarray:
        """Class probabilities for already-normalised feature rows ``X``.

        The one place where probabilities are made, for every caller and either loader: the
        estimator's, then the model's calibration (unless ``calibrated=False``, or it has
        none). Both loaders' estimators give the same bits, and so does the calibration.
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ModelError(
                f"X has {X.shape[-1] if X.ndim else 0} features, but model {self.name!r} "
                f"expects {self.n_features} ({self.features.name} v{self.features.version})"
            )
        P = np.asarray(self.estimator.predict_proba(X))
        if calibrated and self.calibration is not None:
            return self.calibration.apply(P)
        return P


def save_model(model: Model, path: str | os.PathLike[str]) -> str:
    """Write ``model`` as a skops file (atomically) and return its sha256."""
    import skops.io as sio

    path = Path(path)
    if model.normalization not in NORMALIZATIONS:
        raise ModelError(f"unknown normalization {model.normalization!r}")
    cal = model.calibration
    if cal is not None and list(cal.classes) != model.classes:
        raise ModelError(
            f"the calibration's classes {list(cal.classes)} are not the model's {model.classes}"
        )
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "estimator": _without_training_state(model.estimator),
        "features": model.features.to_dict(),
        "normalization": model.normalization,
        "train_stats": None if model.train_stats is None else model.train_stats.to_dict(),
        "meta": json.loads(json.dumps(model.meta, default=str)),
    }
    if cal is not None:  # plain str, float, int and list values; absent when uncalibrated
        payload["calibration"] = cal.to_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    sio.dump(payload, tmp)
    os.replace(tmp, path)
    return sha256_file(path)


def _without_training_state(estimator: Any) -> Any:
    """A copy without what only further training needs (MLP optimiser moments: 2/3 of the
    file); predictions are unchanged and the caller's estimator is left as it was."""
    import copy

    lean = copy.deepcopy(estimator)
    stack = [lean]
    while stack:
        est = stack.pop()
        stack.extend(step for _, step in getattr(est, "steps", []))
        stack.extend(getattr(est, "estimators_", []))
        if hasattr(est, "_optimizer"):
            est._optimizer = None
    return lean


def load_model(path: str | os.PathLike[str], *, sklearn: bool = False) -> Model:
    """Load a model file, trusting only the types a ser model consists of.

    Parameters
    ----------
    path : path-like
        A ``.skops`` model file.
    sklearn : bool, default False
        By default the estimator of a model that ``ser-train`` wrote is a
        :class:`~ser.models.inference.NumpyClassifier`: the same ``predict_proba``,
        bit-identical, in numpy, read from the file without importing scikit-learn or skops
        (which alone take seconds to import). With ``sklearn=True``, or for a file holding
        other estimators, the file is loaded with skops and the estimator is the fitted
        scikit-learn object (for inspection or further training).

    Raises
    ------
    ModelError
        The file is missing, not a skops archive (text, pickle, truncated...), holds types
        outside the trusted list, is not a ser model, holds members larger than the limits of
        :mod:`.checks`, has arrays that do not fit together (or hold NaN or infinity), or
        feature parameters outside their ranges
        (:class:`~ser.features.config.FeatureConfig`), or a calibration that is unsound or
        not over the classifier's classes (:func:`~.checks.check_calibration`). One line,
        naming the file; raised before any prediction or feature extraction could fail on it.
    """
    spath = os.fspath(path)
    if not os.path.isfile(spath):
        raise ModelError(f"{spath}: model file not found")
    if not sklearn:
        from .inference import Unsupported, read_model_file

        try:
            # the numpy reader checks the classifier's arrays before it builds anything
            return _model_from_payload(spath, read_model_file(spath), checked=True)
        except Unsupported as exc:
            # Not a file the numpy reader understands: skops decides (and explains).
            logger.debug("%s: loading with skops (%s)", spath, exc)
    return _model_from_payload(spath, _load_with_skops(spath), checked=False)


def _load_with_skops(spath: str) -> Any:
    # skops reads every member itself: the path, once its reads are known to be bounded, or
    # else a copy of the members read within the limits
    source = skops_source(spath)

    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    where = {"file": source} if isinstance(source, str) else {"data": source}
    try:
        # skops builds its node tree and checks every type against the list *before* it
        # constructs anything, so nothing in an untrusted file runs.
        if isinstance(source, str):
            return sio.load(source, trusted=list(TRUSTED_TYPES))
        return sio.loads(source, trusted=list(TRUSTED_TYPES))
    except UntrustedTypesFoundException:
        extra = sorted(set(sio.get_untrusted_types(**where)) - set(TRUSTED_TYPES))
        raise ModelError(
            f"{spath}: refusing to load a model that contains untrusted types: {', '.join(extra)}"
        ) from None
    except Exception as exc:  # skops raises many kinds on corrupt or foreign archives
        raise ModelError(f"{spath}: not a valid ser model file ({_short(exc)})") from None


def _model_from_payload(spath: str, payload: Any, *, checked: bool) -> Model:
    """The :class:`Model` of a loaded payload, checked completely (``checked``: the
    classifier's arrays already were)."""
    fmt = payload.get("format") if isinstance(payload, dict) else None
    if not (isinstance(fmt, str) and fmt == FORMAT):  # never compare an array to a string
        raise ModelError(f"{spath}: a skops file, but not a ser model")
    version = payload.get("format_version", -1)
    if not (type(version) is int and version == FORMAT_VERSION):
        raise ModelError(
            f"{spath}: model format version {str(version)[:40]} is not supported "
            f"by this version of ser (expects {FORMAT_VERSION})"
        )
    est = payload.get("estimator")
    if not (hasattr(est, "predict_proba") and hasattr(est, "classes_")):
        raise ModelError(f"{spath}: the model holds no fitted classifier")
    if not checked:
        check_estimator(spath, est)
    if "features" not in payload:
        raise ModelError(f"{spath}: the model has no feature configuration")
    try:
        features = FeatureConfig.from_dict(payload["features"])
    except Exception as exc:
        raise ModelError(f"{spath}: {exc}") from None
    normalization, meta = payload.get("normalization", "none"), payload.get("meta")
    if not (isinstance(normalization, str) and normalization in NORMALIZATIONS):
        raise ModelError(f"{spath}: unknown normalization {str(normalization)[:40]!r}")
    if not isinstance(meta, (dict, type(None))):
        raise ModelError(f"{spath}: the model's metadata is not a dict")
    stats = payload.get("train_stats")
    try:
        train_stats = None if stats is None else GroupStats.from_dict(stats)
    except Exception:
        raise ModelError(f"{spath}: the training statistics are not mean, std and n") from None
    check_model(spath, est, features, train_stats)
    return Model(
        estimator=est,
        features=features,
        normalization=normalization,
        train_stats=train_stats,
        meta=dict(meta or {}),
        calibration=check_calibration(spath, payload.get("calibration"), est),
    )


def bundled_model_path(name: str) -> Path:
    """Path of a bundled model file (package data of ``ser.models``)."""
    if name not in BUNDLED_MODELS:
        raise ModelError(
            f"unknown model {name!r}: give a path to a model file or one of the bundled "
            f"models: {', '.join(BUNDLED_MODELS)}"
        )
    ref = resources.files("ser.models") / "bundled" / f"{name}.skops"
    return Path(str(ref))


def resolve_model(model: str | os.PathLike[str] | Model | None) -> Model:
    """A :class:`Model` from a model, a bundled model name, a path, or ``None`` (default)."""
    if isinstance(model, Model):
        return model
    if model is None:
        model = DEFAULT_MODEL
    spec = os.fspath(model)
    if spec in BUNDLED_MODELS:
        return load_model(bundled_model_path(spec))
    if os.path.exists(spec) or os.sep in spec or spec.endswith(".skops"):
        return load_model(spec)
    raise ModelError(
        f"unknown model {spec!r}: not a file, and not a bundled model ({', '.join(BUNDLED_MODELS)})"
    )


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
