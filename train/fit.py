"""Build an emotion model: features, actor-grouped cross-validation, the final fit.

The body of ``ser-train``; :mod:`.api` checks the output file, saves the model and writes
its card.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ser.common.choices import FEATURE_SET_NAMES, NORMALIZATIONS, check_choice, resolve_jobs
from ser.common.errors import DataError
from ser.corpora import EMOTIONS, validate_subset
from ser.features.config import feature_config
from ser.features.normalize import GroupStats
from ser.models.metrics import Scores
from ser.models.model import Model

from .augment import draw_conditions
from .dataset import Dataset, LabelledFile, extract_dataset, list_ravdess
from .evaluate import CVResult, check_folds, cross_validate, select_candidate

__all__ = [
    "TUNE_GRID",
    "MLPSettings",
    "TrainResult",
    "check_arguments",
    "make_estimator",
    "parse_hidden",
    "train_model",
]

logger = logging.getLogger(__name__)


def parse_hidden(hidden: str | Iterable[int]) -> tuple[int, ...]:
    """Hidden layer sizes from ``"256,128"`` or a sequence of whole numbers >= 1.

    Raises
    ------
    DataError
        For an empty list or a size that is not a whole number >= 1.
    """
    items = hidden.split(",") if isinstance(hidden, str) else list(hidden)
    sizes: list[int] = []
    for h in items:
        if isinstance(h, str) and not h.strip():
            continue  # "256," or " , 128"
        if isinstance(h, str) and h.strip().isdigit():
            sizes.append(int(h))
        elif isinstance(h, (int, np.integer)) and not isinstance(h, bool):
            sizes.append(int(h))
        else:
            sizes = []
            break
    if not sizes or min(sizes) < 1:
        raise DataError(
            f"--hidden must be layer sizes >= 1 separated by commas (e.g. 256,128), got {hidden!r}"
        )
    return tuple(sizes)


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def _check_count(option: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise DataError(f"{option} must be a whole number >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class MLPSettings:
    """Hyperparameters of the classifier (a StandardScaler + MLPClassifier pipeline).

    Raises
    ------
    DataError
        For hidden sizes that are not whole numbers >= 1, a negative ``alpha``, a
        non-positive learning rate or ``max_iter``, or ``ensemble < 1``.
    """

    hidden: tuple[int, ...] = (256,)
    alpha: float = 1.0
    learning_rate_init: float = 1e-3
    max_iter: int = 300
    early_stopping: bool = False
    ensemble: int = 1  # MLPs with different seeds, probabilities averaged

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", parse_hidden(self.hidden))
        if not _is_number(self.alpha) or not self.alpha >= 0:
            raise DataError(f"--alpha must be a number >= 0, got {self.alpha!r}")
        if not _is_number(self.learning_rate_init) or not self.learning_rate_init > 0:
            raise DataError(f"learning_rate_init must be > 0, got {self.learning_rate_init!r}")
        _check_count("max_iter", self.max_iter, 1)
        _check_count("--ensemble", self.ensemble, 1)

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


def check_arguments(
    *, features: str, normalization: str, folds: int, repeat: int, augment: int
) -> None:
    """Check the options of :func:`train_model` that need no data; :class:`DataError` if bad."""
    check_choice("--features", features, FEATURE_SET_NAMES)
    check_choice("--normalize", normalization, NORMALIZATIONS)
    _check_count("--folds", folds, 2)
    _check_count("--repeat", repeat, 1)
    _check_count("--augment", augment, 0)


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
    subset: str | Iterable[str] | None = None,
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
    r"""Extract features, cross-validate by actor, then fit on all data.

    Every argument, and ``folds`` against the actors found, is checked before any feature
    is extracted. scikit-learn's ``ConvergenceWarning``\s are counted and logged as one
    warning at the end instead of one each.

    Parameters
    ----------
    data_dir : path
        Folder holding RAVDESS files (searched recursively).
    subset : str or iterable of str, optional
        Emotions to learn, e.g. ``"neutral,angry"`` (see :func:`ser.corpora.validate_subset`);
        default all eight.
    features : {"default", "seed"}
    folds : int >= 2
        Cross-validation folds, grouped by actor; at most the number of actors.
    jobs : int, optional
        Feature-extraction workers; ``None`` or ``-1`` every usable core (see
        :func:`ser.common.choices.resolve_jobs`).
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
        Called with ``done=0`` when the checks passed and extraction starts, then as it
        advances.
    on_fold : callable(seed_index, fold_index, scores), optional

    Raises
    ------
    DataError
        For a bad argument, a folder without usable RAVDESS files, or more ``folds`` than
        actors; all before any feature is extracted.
    """
    check_arguments(
        features=features, normalization=normalization, folds=folds, repeat=repeat, augment=augment
    )
    emotions = validate_subset(subset)
    n_jobs = resolve_jobs(jobs)
    settings = settings or MLPSettings()
    config = feature_config(features)
    files = list_ravdess(data_dir, subset=emotions, include_song=include_song)
    _check_emotions(files, data_dir)
    if evaluate or tune:
        where = f"in {os.fspath(data_dir)!r}"
        check_folds([f.actor for f in files], folds, nested=tune and evaluate, where=where)
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

    tick(0)
    ds = extract_dataset(files, config=config, conditions=conditions, jobs=n_jobs, on_progress=tick)
    classes = [e for e in EMOTIONS if e in set(ds.y)]
    n_fits = [0]

    def build(st: MLPSettings, s: int) -> Any:  # each MLP is fitted once: count them
        n_fits[0] += st.ensemble
        return make_estimator(st, s)

    grid = [replace(g, ensemble=settings.ensemble) for g in TUNE_GRID] if tune else [settings]
    outer = [lambda s, st=st: build(st, s) for st in grid]
    inner = [lambda s, st=st: build(replace(st, ensemble=1), s) for st in grid]

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        cv: list[CVResult] = []
        for r in range(repeat if evaluate else 0):

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
        estimator = build(settings, seed).fit(X_all, y_all)
    _report_warnings(caught, n_fits[0], ConvergenceWarning)
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
        info={
            "skipped": ds.skipped,
            "folds": folds,
            "repeat": repeat,
            "subset": classes,
            "include_song": include_song,
        },
    )


def _check_emotions(files: Sequence[LabelledFile], data_dir: object) -> None:
    emotions = sorted({f.emotion for f in files}, key=EMOTIONS.index)
    if len(emotions) < 2:
        raise DataError(
            f"only {emotions[0]!r} files found in {os.fspath(data_dir)!r} (of the emotions "
            "asked for); a classifier needs at least two emotions"
        )


def _report_warnings(caught: list[warnings.WarningMessage], n_fits: int, category: type) -> None:
    """One log line for the ``category`` warnings in ``caught``; the others are shown as usual."""
    n = 0
    for w in caught:
        if issubclass(w.category, category):
            n += 1
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    if n:
        logger.warning(
            "%d of %d MLP fits stopped at max_iter before converging (ConvergenceWarning); "
            "consider more training files, or --tune (whose candidates include early "
            "stopping); the scores are those of the models as fitted",
            n,
            max(n, n_fits),
        )


def _all_rows(ds: Dataset, normalization: str) -> tuple[np.ndarray, np.ndarray]:
    from .evaluate import fold_data

    nothing = np.zeros(len(ds.y), dtype=bool)
    fd = fold_data(ds, nothing, normalization=normalization)
    return fd.X_train, fd.y_train
