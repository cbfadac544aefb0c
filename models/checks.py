"""Refusing an unsound model file completely, before any audio is touched.

A model file is checked at two moments, both in numpy alone and in a few milliseconds:

Before its members are read
    :func:`check_archive` and :func:`read_member` bound what reading may cost: each member's
    size as the archive's central directory declares it (:data:`MAX_SCHEMA_BYTES`,
    :data:`MAX_MEMBER_BYTES`), the bytes read in all (:data:`MAX_READ_BYTES`), and reads
    that stop at the declared size, so that a deflated member whose header understates it
    cannot inflate. :func:`skops_source` applies the same limits to what the skops loader
    will read, before it reads.
After it is decoded
    :func:`check_estimator` checks the classifier's arrays against each other (a scaler's
    statistics, each MLP layer's weights and biases, outputs and classes, the members of a
    soft vote and its label encoder) and that they hold finite numbers;
    :func:`check_model` checks the classifier against the feature set and the training
    statistics, :func:`check_calibration` the calibration against the classes. All work on
    the objects of either loader: scikit-learn estimators from skops, or the attribute
    records of :mod:`.inference`, whose attributes read the same.

Each refusal is one line, a :class:`~ser.common.errors.ModelError` naming the file and the
reason, e.g. ``m.skops: layer 2 weights are 255x8 but layer 1 gives 256 values``.
"""

from __future__ import annotations

import io
import json
import numbers
import zipfile
from typing import Any

import numpy as np

from ser.common.errors import ModelError
from ser.features.config import FeatureConfig
from ser.features.extract import feature_names
from ser.features.normalize import GroupStats

from .calibration import Calibration

__all__ = [
    "MAX_MEMBER_BYTES",
    "MAX_READ_BYTES",
    "MAX_SCHEMA_BYTES",
    "check_archive",
    "check_calibration",
    "check_estimator",
    "check_model",
    "read_member",
    "skops_source",
]

_MiB = 2**20
#: Largest ``schema.json``, uncompressed. The bundled models' are 0.8 MB; it grows with the
#: number of ensemble members and layers (and the length of the loss curve), not with their
#: width. Parsed, JSON can take 25 times its size in memory, so this also bounds that.
MAX_SCHEMA_BYTES = 16 * _MiB
#: Largest array member, uncompressed: a float64 layer of 4096 x 8192 weights.
MAX_MEMBER_BYTES = 256 * _MiB
#: Most bytes one load may read from a file, all members and every read of each counted: the
#: bundled models read 4.2 MB, so this leaves room for ensembles of wide MLPs, while a crafted
#: file can make the loader hold no more than this (and one member's copy while it is decoded).
MAX_READ_BYTES = 512 * _MiB
_COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # zipfile bounds their output
_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
_MISSING = object()


class _Invalid(Exception):
    """One reason a model is unsound; the public checks add the file's name."""


def check_archive(zf: zipfile.ZipFile, path: str) -> None:
    """Refuse an archive whose members, as declared, are too large or oddly compressed."""
    total = 0
    for info in zf.infolist():
        name = _show(info.filename)
        if info.compress_type not in _COMPRESSIONS:
            raise ModelError(
                f"{path}: archive member {name} uses compression method {info.compress_type}; "
                "a model file's members are stored or deflated"
            )
        _check_size(path, name, info.file_size, _limit(info.filename))
        _check_size(path, name, info.compress_size, _limit(info.filename), "compressed")
        total += info.file_size
    if total > MAX_READ_BYTES:
        raise ModelError(
            f"{path}: the archive's members hold {_mb(total)} uncompressed, more than the "
            f"{_mb(MAX_READ_BYTES)} a model file may hold"
        )


def read_member(zf: zipfile.ZipFile, name: str, path: str) -> bytes:
    """Member ``name``, within its kind's limit, and read no further than its declared size.

    ``zipfile`` stops at the declared size (and then finds the checksum wrong), but it
    inflates as much as it is asked for before it cuts: asked for everything, as by
    ``ZipFile.read``, it inflates the whole stream however small the header says it is.
    """
    info = zf.getinfo(name)
    limit = _limit(name)
    _check_size(path, _show(name), info.file_size, limit)
    with zf.open(info) as f:
        data = f.read(min(info.file_size, limit) + 1)
    _check_size(path, _show(name), len(data), limit)
    return data


def skops_source(path: str) -> str | bytes:
    """What to give ``skops.io.load`` (a path) or ``skops.io.loads`` (bytes) for ``path``,
    checked against the archive limits before skops reads any of it.

    skops reads ``schema.json`` and then each array member once for every node that names it
    (nodes sharing an ``__id__`` are read once): those reads are added up here. It reads each
    member whole, which inflates a deflated one entirely whatever its header declares; so a
    file with a deflated member is given to skops as a stored copy of its members, each read
    by :func:`read_member`. (``ser-train`` writes stored members; their reads are bounded by
    the sizes checked here.) A file that is no zip archive is left to skops, which says what
    is wrong with it.
    """
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return path
    with zf:
        check_archive(zf, path)
        infos = zf.infolist()
        stored = all(info.compress_type == zipfile.ZIP_STORED for info in infos)
        try:
            names = ["schema.json"] if stored else [info.filename for info in infos]
            members = {name: read_member(zf, name, path) for name in names}
            schema = json.loads(members["schema.json"])
        except ModelError:
            raise
        except Exception as exc:
            if stored:
                return path  # skops reads it within the limits, and says what is wrong
            raise ModelError(f"{path}: not a valid ser model file ({_short(exc)})") from None
    _check_reads(path, schema, {info.filename: info.file_size for info in infos})
    if stored:
        return path
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as copy:
        for name, data in members.items():
            copy.writestr(name, data)
    return buf.getvalue()


def _check_reads(path: str, schema: Any, sizes: dict[str, int]) -> None:
    """Refuse a schema whose nodes would make skops read more than :data:`MAX_READ_BYTES`."""
    total, seen, stack = 0, set(), [schema]
    while stack:  # iterative: a deeply nested schema must not exhaust the stack here
        node = stack.pop()
        if isinstance(node, dict):
            file, sid = node.get("file"), node.get("__id__")
            if isinstance(file, str) and (not isinstance(sid, int) or sid not in seen):
                seen.add(sid)
                total += sizes.get(file, 0)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    if total > MAX_READ_BYTES:
        raise ModelError(
            f"{path}: its nodes would read {_mb(total)} of arrays, more than the "
            f"{_mb(MAX_READ_BYTES)} a model file may hold"
        )


def check_estimator(path: str, estimator: Any) -> None:
    """Check the arrays of a ser classifier against each other.

    Understands what ``ser-train`` writes: an ``MLPClassifier``, a ``Pipeline`` of
    ``StandardScaler`` steps ending in one, and a soft ``VotingClassifier`` over those. Of
    other estimators (which only the skops loader returns) it checks nothing here;
    :func:`check_model` still checks their input width and classes.
    """
    try:
        if _has(estimator, "estimators_") and _has(estimator, "le_"):
            _check_vote(estimator)
        else:
            _check_member(estimator, None, "")
    except _Invalid as exc:
        raise ModelError(f"{path}: {exc}") from None
    except Exception as exc:  # an attribute of a kind no fitted estimator has
        raise ModelError(f"{path}: not a valid ser model ({_short(exc)})") from None


def check_model(
    path: str, estimator: Any, features: FeatureConfig, train_stats: GroupStats | None
) -> None:
    """Check a classifier's input width and classes against its feature set and statistics."""
    try:
        n = _count(getattr(estimator, "n_features_in_", _MISSING), "the classifier's input size")
        expected = len(feature_names(features))
        if n != expected:
            raise _Invalid(
                f"the classifier takes {n} features, but feature set {features.name!r} "
                f"gives {expected}"
            )
        _labels(getattr(estimator, "classes_", _MISSING), "the model's classes")
        if train_stats is not None:
            for name in ("mean", "std"):
                values = getattr(train_stats, name)
                _numbers(values, 1, f"the training statistics' {name}")
                if len(values) != n:
                    raise _Invalid(
                        f"the training statistics' {name} has {len(values)} values for {n} features"
                    )
            if (train_stats.std < 0).any():
                raise _Invalid("the training statistics' std has negative values")
    except _Invalid as exc:
        raise ModelError(f"{path}: {exc}") from None
    except Exception as exc:
        raise ModelError(f"{path}: not a valid ser model ({_short(exc)})") from None


def check_calibration(path: str, value: Any, estimator: Any) -> Calibration | None:
    """The model's calibration (``None``: none, as in files written before calibration), if it
    is sound: method, a finite temperature within bounds, and the classifier's classes."""
    if value is None:
        return None
    try:
        cal = Calibration.from_dict(value)
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{path}: {exc}") from None
    classes = [str(c) for c in np.asarray(estimator.classes_)]
    if list(cal.classes) != classes:
        raise ModelError(
            f"{path}: the calibration is for {len(cal.classes)} classes "
            f"{_show(list(cal.classes))}, but the classifier's are {_show(classes)}"
        )
    return cal


def _check_vote(vote: Any) -> None:
    encoder = _get(vote, "le_", "the soft vote")
    classes = _labels(_get(encoder, "classes_", "its label encoder"), "the label encoder's classes")
    own = getattr(vote, "classes_", _MISSING)
    if own is not _MISSING and not _same(np.asarray(own), classes):
        raise _Invalid("the soft vote's classes differ from its label encoder's")
    members = _get(vote, "estimators_", "the soft vote")
    named = _get(vote, "estimators", "the soft vote")
    if not (isinstance(members, (list, tuple)) and members and isinstance(named, (list, tuple))):
        raise _Invalid("the soft vote has no fitted members")
    kept = [not (isinstance(e, str) and e == "drop") for _, e in named]
    if sum(kept) != len(members):
        raise _Invalid(f"the soft vote names {sum(kept)} members but holds {len(members)}")
    weights = getattr(vote, "weights", None)
    if weights is not None:
        try:
            w = np.asarray(weights, dtype=np.float64)
        except (TypeError, ValueError):
            raise _Invalid(f"the soft vote's weights {_show(weights)} are not numbers") from None
        if w.shape != (len(named),):
            raise _Invalid(f"the soft vote has {w.size} weights for {len(named)} members")
        if not (np.isfinite(w).all() and w[np.asarray(kept)].sum() != 0):
            raise _Invalid("the soft vote's weights are not finite numbers with a nonzero sum")
    encoded = np.arange(len(classes))  # each member was fitted on the encoded labels
    width = None
    for i, member in enumerate(members, 1):
        n = _check_member(member, encoded, f"member {i}: ")
        if width is not None and n is not None and n != width:
            raise _Invalid(f"member {i} takes {n} features but member 1 takes {width}")
        width = n if width is None else width


def _check_member(est: Any, encoded: np.ndarray | None, prefix: str) -> int | None:
    """Check one MLP (bare, or at the end of a pipeline of scalers); its input width."""
    steps = getattr(est, "steps", _MISSING)
    parts = [est] if steps is _MISSING else [step for _, step in steps]
    if not parts:
        raise _Invalid(f"{prefix}the pipeline has no steps")
    if not _has(parts[-1], "coefs_"):
        return None  # not an MLP: scikit-learn's own business
    n = _check_mlp(parts[-1], encoded, prefix)
    for step in parts[:-1]:
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        if not (_has(step, "scale_") and _has(step, "with_std")):
            return None  # a transformer that may change the width
        _check_scaler(step, n, prefix)
    return n


def _check_scaler(scaler: Any, n: int, prefix: str) -> None:
    own = getattr(scaler, "n_features_in_", n)
    if own != n:
        raise _Invalid(f"{prefix}the scaler takes {own} features but the MLP takes {n}")
    for name, flag in (("mean_", "with_mean"), ("scale_", "with_std")):
        used = _get(scaler, flag, f"{prefix}the scaler")
        if not isinstance(used, (bool, np.bool_)):
            raise _Invalid(f"{prefix}the scaler's {flag} is {_show(used)}, not True or False")
        if not used:
            continue
        values = _get(scaler, name, f"{prefix}the scaler")
        _numbers(values, 1, f"{prefix}the scaler's {name}")
        if len(values) != n:
            raise _Invalid(f"{prefix}the scaler's {name} has {len(values)} values for {n} features")
        if name == "scale_" and not values.all():
            raise _Invalid(f"{prefix}the scaler's scale_ has zeros")


def _check_mlp(mlp: Any, encoded: np.ndarray | None, prefix: str) -> int:
    it = f"{prefix}the MLP"
    coefs, intercepts = _get(mlp, "coefs_", it), _get(mlp, "intercepts_", it)
    n_layers = _count(_get(mlp, "n_layers_", it), f"{it}'s n_layers_")
    if not (isinstance(coefs, (list, tuple)) and isinstance(intercepts, (list, tuple))):
        raise _Invalid(f"{prefix}the MLP's weights and biases are not lists of arrays")
    if not (len(coefs) == len(intercepts) == n_layers - 1 >= 1):
        raise _Invalid(
            f"{prefix}the MLP has {n_layers} layers, {len(coefs)} weight matrices and "
            f"{len(intercepts)} bias vectors"
        )
    n = _count(_get(mlp, "n_features_in_", it), f"{it}'s input size")
    width = n
    for i, (w, b) in enumerate(zip(coefs, intercepts), 1):
        _numbers(w, 2, f"{prefix}layer {i} weights")
        _numbers(b, 1, f"{prefix}layer {i} biases")
        if w.shape[0] != width:
            given = (
                f"the MLP takes {n} features" if i == 1 else f"layer {i - 1} gives {width} values"
            )
            raise _Invalid(f"{prefix}layer {i} weights are {_dims(w)} but {given}")
        if b.shape[0] != w.shape[1]:
            raise _Invalid(f"{prefix}layer {i} has {b.shape[0]} biases for {w.shape[1]} units")
        width = w.shape[1]
    classes = _labels(_get(mlp, "classes_", it), f"{it}'s classes")
    if encoded is not None and not _same(classes, encoded):
        raise _Invalid(
            f"{prefix}the MLP's classes are not the soft vote's {len(encoded)} encoded labels"
        )
    outputs = _count(_get(mlp, "n_outputs_", it), f"{it}'s n_outputs_")
    want = 1 if len(classes) == 2 else len(classes)
    if outputs != want or width != want:
        raise _Invalid(
            f"{prefix}the MLP has {outputs} outputs and its last layer gives {width} values, "
            f"but {len(classes)} classes need {want}"
        )
    out, hidden = getattr(mlp, "out_activation_", None), getattr(mlp, "activation", None)
    if not (isinstance(out, str) and out == ("logistic" if want == 1 else "softmax")):
        raise _Invalid(f"{prefix}output activation {_show(out)} for {want} outputs")
    if not (isinstance(hidden, str) and hidden in _ACTIVATIONS):
        raise _Invalid(f"{prefix}unknown activation {_show(hidden)}")
    return n


def _has(obj: Any, name: str) -> bool:
    return getattr(obj, name, _MISSING) is not _MISSING


def _get(obj: Any, name: str, what: str) -> Any:
    value = getattr(obj, name, _MISSING)
    if value is _MISSING:
        raise _Invalid(f"{what} has no {name}")
    return value


def _count(value: Any, what: str) -> int:
    if value is _MISSING:
        raise _Invalid(f"{what} is missing")
    if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)) or value < 1:
        raise _Invalid(f"{what} is {_show(value)}, not a whole number >= 1")
    return int(value)


def _numbers(value: Any, ndim: int, what: str) -> None:
    if not (isinstance(value, np.ndarray) and value.ndim == ndim and value.dtype.kind == "f"):
        kind = f"{value.ndim}-D {value.dtype}" if isinstance(value, np.ndarray) else "not an array"
        raise _Invalid(f"{what} are {kind}, not a {ndim}-D array of floats")
    if not np.isfinite(value).all():
        raise _Invalid(f"{what} hold NaN or infinite values")


def _labels(value: Any, what: str) -> np.ndarray:
    labels = np.asarray(value) if value is not _MISSING else None
    if labels is None or labels.ndim != 1 or len(labels) < 2:
        raise _Invalid(f"{what} are not a list of at least two labels")
    if len({str(c) for c in labels}) != len(labels):
        raise _Invalid(f"{what} repeat a label")
    return labels


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b))


def _check_size(path: str, name: str, size: int, limit: int, how: str = "uncompressed") -> None:
    if size > limit:
        raise ModelError(
            f"{path}: archive member {name} is {_mb(size)} {how}, more than the "
            f"{_mb(limit)} a model file's member may hold"
        )


def _limit(name: str) -> int:
    return MAX_SCHEMA_BYTES if name == "schema.json" else MAX_MEMBER_BYTES


def _dims(a: np.ndarray) -> str:
    return "x".join(str(d) for d in a.shape)


def _mb(n: int) -> str:
    return f"{n / _MiB:.1f} MiB"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _short(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__
