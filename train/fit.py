"""Build, evaluate, fit and save an emotion model: the body of ``ser-train``."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import platform
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from ser.corpora import EMOTIONS
from ser.features.extract import feature_config
from ser.features.normalize import NORMALIZATIONS, GroupStats
from ser.models.metrics import Scores
from ser.models.model import Model

from .augment import draw_conditions
from .dataset import Dataset, extract_dataset, list_ravdess
from .evaluate import CVResult, cross_validate, select_candidate

__all__ = [
    "TUNE_GRID",
    "MLPSettings",
    "TrainResult",
    "make_estimator",
    "train_model",
    "write_card",
]

logger = logging.getLogger(__name__)

LICENCE = (
    "CC BY-NC-SA 4.0: trained on RAVDESS (Livingstone & Russo 2018, "
    "https://zenodo.org/record/1188976), whose licence the model inherits: "
    "non-commercial use, share-alike, attribution."
)


@dataclass(frozen=True)
class MLPSettings:
    """Hyperparameters of the classifier (a StandardScaler + MLPClassifier pipeline)."""

    hidden: tuple[int, ...] = (256,)
    alpha: float = 1.0
    learning_rate_init: float = 1e-3
    max_iter: int = 300
    early_stopping: bool = False
    ensemble: int = 1  # MLPs with different seeds, probabilities averaged

    def to_dict(self) -> dict[str, Any]:
        return {
            "hidden": list(self.hidden),
            "alpha": self.alpha,
            "learning_rate_init": self.learning_rate_init,
            "max_iter": self.max_iter,
            "early_stopping": self.early_stopping,
            "ensemble": self.ensemble,
        }


#: Candidates of ``--tune`` (nested CV): hidden sizes, L2 penalty, learning rate, early stopping.
TUNE_GRID: tuple[MLPSettings, ...] = (
    MLPSettings(hidden=(256,), alpha=1.0),
    MLPSettings(hidden=(256,), alpha=0.1),
    MLPSettings(hidden=(512,), alpha=1.0),
    MLPSettings(hidden=(256, 128), alpha=1.0),
    MLPSettings(hidden=(256,), alpha=1.0, learning_rate_init=3e-4, early_stopping=True),
)


def make_estimator(settings: MLPSettings, seed: int) -> Any:
    """StandardScaler + MLPClassifier; with ``ensemble > 1`` a soft-voting set of them."""
    from sklearn.ensemble import VotingClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def one(s: int) -> Any:
        return make_pipeline(
            StandardScaler(),
            MLPClassifier(
                hidden_layer_sizes=settings.hidden,
                alpha=settings.alpha,
                learning_rate_init=settings.learning_rate_init,
                max_iter=settings.max_iter,
                early_stopping=settings.early_stopping,
                random_state=s,
            ),
        )

    if settings.ensemble <= 1:
        return one(seed)
    members = [(f"mlp{i}", one(seed * 1000 + i)) for i in range(settings.ensemble)]
    return VotingClassifier(members, voting="soft")


@dataclass
class TrainResult:
    model: Model
    cv: list[CVResult]
    dataset: Dataset
    info: dict[str, Any] = field(default_factory=dict)

    def cv_summary(self) -> dict[str, Any]:
        """Mean and standard deviation over folds, and over seeds when repeated."""
        per_seed = [r.summary() for r in self.cv]
        out: dict[str, Any] = {"per_seed": per_seed}
        for key in ("uar", "accuracy", "macro_f1"):
            folds = np.array([getattr(f, key) for r in self.cv for f in r.folds])
            seeds = np.array([getattr(r.pooled, key) for r in self.cv])
            out[key] = {
                "mean_over_folds": float(folds.mean()),
                "std_over_folds": float(folds.std()),
                "pooled_mean_over_seeds": float(seeds.mean()),
                "std_over_seeds": float(seeds.std()),
            }
        classes = self.cv[0].pooled.classes
        out["recall"] = {c: float(np.mean([r.pooled.recall[c] for r in self.cv])) for c in classes}
        out["confusion"] = np.sum([r.pooled.confusion for r in self.cv], axis=0).tolist()
        return out


def train_model(
    data_dir: str | os.PathLike[str],
    *,
    subset: Sequence[str] = EMOTIONS,
    features: str = "default",
    folds: int = 6,
    jobs: int | None = None,
    seed: int = 0,
    repeat: int = 1,
    normalization: str = "speaker",
    augment: int = 0,
    settings: MLPSettings | None = None,
    include_song: bool = False,
    evaluate: bool = True,
    tune: bool = False,
    name: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_fold: Callable[[int, int, Scores], None] | None = None,
) -> TrainResult:
    """Extract features, cross-validate by actor, then fit on all data.

    Parameters
    ----------
    data_dir : path
        Folder holding RAVDESS files (searched recursively).
    subset : sequence of str
        Emotions to learn (validated by :func:`ser.corpora.walk.validate_subset`).
    features : {"default", "seed"}
    folds : int >= 2
        Cross-validation folds, grouped by actor.
    repeat : int >= 1
        Cross-validation runs with seeds ``seed, seed+1, ...``.
    normalization : {"none", "corpus", "speaker"}
    augment : int >= 0
        Augmented copies of each training file (simulated recording channels).
    tune : bool
        Choose the classifier's hyperparameters from :data:`TUNE_GRID` by nested
        actor-grouped CV (inner folds over the training actors of each outer fold); the final
        model uses the candidate that wins a CV over all actors. The ensemble size of
        ``settings`` applies to the chosen candidate.
    on_progress : callable(done, total), optional
        Called as feature extraction advances.
    on_fold : callable(seed_index, fold_index, scores), optional
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    settings = settings or MLPSettings()
    config = feature_config(features)
    files = list_ravdess(data_dir, subset=subset, include_song=include_song)
    total = len(files)
    done = [0]

    def tick(n: int) -> None:
        done[0] += n
        if on_progress is not None:
            on_progress(done[0], total)

    conditions = None
    if augment > 0:

        def conditions(f: Any) -> list[Any]:
            return draw_conditions(seed, f.actor, augment)

    ds = extract_dataset(files, config=config, conditions=conditions, jobs=jobs, on_progress=tick)
    classes = [e for e in EMOTIONS if e in set(ds.y)]

    grid = [replace(g, ensemble=settings.ensemble) for g in TUNE_GRID] if tune else [settings]
    outer = [lambda s, st=st: make_estimator(st, s) for st in grid]
    inner = [lambda s, st=st: make_estimator(replace(st, ensemble=1), s) for st in grid]

    cv: list[CVResult] = []
    if evaluate:
        for r in range(repeat):

            def fold_cb(i: int, s: Scores, r: int = r) -> None:
                if on_fold is not None:
                    on_fold(r, i, s)

            cv.append(
                cross_validate(
                    ds,
                    outer if tune else outer[0],
                    classes=classes,
                    n_folds=folds,
                    normalization=normalization,
                    seed=seed + r,
                    select_with=inner,
                    on_fold=fold_cb,
                )
            )
    if tune:
        best, _ = select_candidate(
            ds, inner, classes=classes, n_folds=folds, normalization=normalization, seed=seed
        )
        settings = grid[best]
        logger.info("tuning chose %s", settings)

    # final model: every file (and its augmented copies), normalised as in the folds
    X_all, y_all = _all_rows(ds, normalization)
    estimator = make_estimator(settings, seed).fit(X_all, y_all)
    model = Model(
        estimator=estimator,
        features=config,
        normalization=normalization,
        train_stats=GroupStats.of(ds.X),
        meta={
            "name": name or f"ravdess{len(classes)}",
            "classes": classes,
            "training_files": len(ds.y),
            "actors": sorted(int(a) for a in np.unique(ds.groups)),
            "augment": augment,
            "seed": seed,
            "classifier": settings.to_dict(),
            "tuned": tune,
        },
    )
    return TrainResult(
        model=model,
        cv=cv,
        dataset=ds,
        info={"skipped": ds.skipped, "folds": folds, "repeat": repeat, "subset": classes},
    )


def _all_rows(ds: Dataset, normalization: str) -> tuple[np.ndarray, np.ndarray]:
    from .evaluate import fold_data

    nothing = np.zeros(len(ds.y), dtype=bool)
    fd = fold_data(ds, nothing, normalization=normalization)
    return fd.X_train, fd.y_train


def write_card(
    result: TrainResult, model_path: str | os.PathLike[str], *, sha256: str, command: str
) -> Path:
    """Write the JSON model card beside the model file and return its path."""
    model = result.model
    path = Path(model_path).with_suffix(".json")
    card: dict[str, Any] = {
        "name": model.name,
        "model_file": Path(model_path).name,
        "sha256": sha256,
        "classes": model.classes,
        "features": model.features.to_dict(),
        "sample_rate": model.features.sr,
        "normalization": model.normalization,
        "classifier": model.meta.get("classifier"),
        "training": {
            "corpus": "RAVDESS speech (audio-only, vocal channel 01)",
            "files": len(result.dataset.y),
            "actors": model.meta.get("actors"),
            "skipped": [list(s) for s in result.info.get("skipped", [])],
            "augmented_copies_per_file": model.meta.get("augment", 0),
            "seed": model.meta.get("seed"),
            "command": command,
        },
        "evaluation": None,
        "licence": LICENCE,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
    }
    if result.cv:
        card["evaluation"] = {
            "protocol": (
                f"{result.info['folds']}-fold cross-validation grouped by actor (no actor in "
                "both training and test of a fold), repeated over "
                f"{result.info['repeat']} seed(s); augmentation on training folds only; "
                "normalisation statistics of test actors from their own unlabelled features"
            ),
            "headline_metric": "uar",
            **result.cv_summary(),
        }
    path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return path


def _versions() -> dict[str, str]:
    from ser.common.version import __version__

    out = {"python": platform.python_version(), "ser": __version__}
    for pkg in ("scikit-learn", "numpy", "scipy", "librosa", "soundfile", "soxr", "skops"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def command_line() -> str:
    """The command as the user would type it (``python -m ser.train`` shows as ser-train)."""
    prog = Path(sys.argv[0]).name
    if prog in ("__main__.py", "cli.py", ""):
        prog = "ser-train"
    return " ".join([prog, *sys.argv[1:]])
