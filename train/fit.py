"""Build an emotion model: features, actor-grouped cross-validation, the final fit.

The body of ``ser-train``; :mod:`.api` checks the output file, saves the model and writes
its card.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ser.common.choices import (
    EVALUATIONS,
    FEATURE_SET_NAMES,
    NORMALIZATIONS,
    check_choice,
    resolve_jobs,
)
from ser.common.errors import DataError
from ser.common.interrupts import stops_on_ctrl_c
from ser.corpora import EMOTIONS
from ser.features.config import feature_config
from ser.features.normalize import GroupStats
from ser.models.metrics import Scores
from ser.models.model import Model

from .augment import draw_conditions
from .calibrate import CalibrationReport, calibrate_from_cv
from .classifiers import check_saveable, classifier_params, make_classifier, parse_classifiers
from .compare import ClassifierRun, FitTimer, compare_classifiers
from .crosscorpus import CorpusResult, leave_one_corpus_out
from .dataset import Dataset, LabelledFile, extract_dataset
from .estimator import TUNE_GRID, MLPSettings, check_count, make_estimator, parse_hidden
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


def check_arguments(
    *, features: str, normalization: str, folds: int, repeat: int, augment: int
) -> None:
    """Check the options of :func:`train_model` that need no data; :class:`DataError` if bad."""
    check_choice("--features", features, FEATURE_SET_NAMES)
    check_choice("--normalize", normalization, NORMALIZATIONS)
    check_count("--folds", folds, 2)
    check_count("--repeat", repeat, 1)
    check_count("--augment", augment, 0)


@dataclass
class TrainResult:
    model: Model
    cv: list[CVResult]
    dataset: Dataset
    info: dict[str, Any] = field(default_factory=dict)
    corpora: list[CorpusResult] = field(default_factory=list)  # leave-one-corpus-out
    calibration: CalibrationReport | None = None
    comparison: list[ClassifierRun] = field(default_factory=list)  # --compare-classifiers

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


@stops_on_ctrl_c
def train_model(
    files: Sequence[LabelledFile],
    *,
    features: str = "default",
    folds: int = 6,
    jobs: int | None = None,
    seed: int = 0,
    repeat: int = 1,
    normalization: str = "speaker",
    augment: int = 0,
    settings: MLPSettings | None = None,
    evaluate: str = "cv",
    tune: bool = False,
    name: str | None = None,
    classifier: str = "mlp",
    compare: Sequence[str] = (),
    on_progress: Callable[[int, int], None] | None = None,
    on_fold: Callable[[int, int, Scores], None] | None = None,
    on_corpus: Callable[[CorpusResult], None] | None = None,
    on_compared: Callable[[ClassifierRun], None] | None = None,
) -> TrainResult:
    r"""Extract features, cross-validate by speaker, calibrate, then fit on all data.

    Every argument, and ``folds`` against the speakers found, is checked before any feature
    is extracted. scikit-learn's ``ConvergenceWarning``\s are counted and logged as one
    warning at the end instead of one each. Ctrl-C stops the whole training with
    KeyboardInterrupt (:func:`ser.common.interrupts.ctrl_c_stops_training`; scikit-learn's
    MLP alone would swallow it and return the one fit cut short).

    Parameters
    ----------
    files : sequence of LabelledFile
        The training files, with emotion, speaker and source
        (:func:`ser.train.labelled_files` of :func:`ser.corpora.load_labelled`).
    features : {"default", "seed"}
    folds : int >= 2
        Cross-validation folds, grouped by speaker, each with speakers of every source; at
        most the number of speakers.
    jobs : int, optional
        Feature-extraction workers; ``None`` or ``-1`` every usable core (see
        :func:`ser.common.choices.resolve_jobs`).
    repeat : int >= 1
        Cross-validation runs with seeds ``seed, seed+1, ...``.
    normalization : {"none", "corpus", "speaker"}
    augment : int >= 0
        Augmented copies of each training file (simulated recording channels).
    evaluate : {"cv", "corpus", "none"}
        Speaker-grouped cross-validation; that and leave-one-corpus-out (two sources or
        more); or neither. The calibration map is fitted on the cross-validation's
        out-of-fold probabilities, so ``"none"`` gives an uncalibrated model.
    tune : bool
        Choose the classifier's hyperparameters from :data:`TUNE_GRID` by nested
        speaker-grouped CV (inner folds over the training speakers of each outer fold); the
        final model uses the candidate that wins a CV over all speakers. The ensemble size
        of ``settings`` applies to the chosen candidate.
    classifier : {"mlp", "knn"}
        The classifier of the saved model (:mod:`.classifiers`), cross-validated and
        calibrated as the MLP is; ``settings`` and ``tune`` apply to the MLP only.
    compare : sequence of {"knn", "svm", "tree", "forest", "mlp"}
        Also cross-validate these classifiers with the same folds, seeds and features
        (:func:`.compare.compare_classifiers`); the saved classifier's run is the plain CV's.
    on_progress : callable(done, total), optional
        Called with ``done=0`` when the checks passed and extraction starts, then as it
        advances.
    on_fold : callable(seed_index, fold_index, scores), optional
    on_corpus : callable(CorpusResult), optional
        After each leave-one-corpus-out split.
    on_compared : callable(ClassifierRun), optional
        After each classifier of ``compare``.

    Raises
    ------
    DataError
        For a bad argument, fewer than two emotions, or more ``folds`` than speakers; all
        before any feature is extracted.
    """
    check_arguments(
        features=features, normalization=normalization, folds=folds, repeat=repeat, augment=augment
    )
    check_choice("--evaluate", evaluate, EVALUATIONS)
    n_jobs = resolve_jobs(jobs)
    settings = settings or MLPSettings()
    check_saveable(classifier)
    compare = parse_classifiers(compare) if compare else ()
    if tune and classifier != "mlp":
        raise DataError(
            f"--tune chooses the MLP's hyperparameters; it does not apply to --classifier "
            f"{classifier}"
        )
    config = feature_config(features)
    _check_emotions(files)
    n_sources = len({f.source for f in files})
    if evaluate == "corpus" and n_sources < 2:
        raise DataError(
            "--evaluate corpus (leave-one-corpus-out) needs two sources or more; give --data "
            "or --labels once per corpus"
        )
    cross = evaluate != "none"
    if cross or tune or compare:
        check_folds(
            [f.speaker for f in files], folds, nested=tune and cross, where="in the training data"
        )
    total = len(files)
    done = [0]

    def tick(n: int) -> None:
        done[0] += n
        if on_progress is not None:
            on_progress(done[0], total)

    conditions = None
    if augment > 0:

        def conditions(f: Any) -> list[Any]:
            return draw_conditions(seed, f.speaker, augment)

    tick(0)
    ds = extract_dataset(files, config=config, conditions=conditions, jobs=n_jobs, on_progress=tick)
    classes = [e for e in EMOTIONS if e in set(ds.y)]
    n_fits = [0]

    def build(st: MLPSettings, s: int) -> Any:  # each MLP is fitted once: count them
        if classifier != "mlp":
            return make_classifier(classifier, s)
        n_fits[0] += st.ensemble
        return make_estimator(st, s)

    grid = [replace(g, ensemble=settings.ensemble) for g in TUNE_GRID] if tune else [settings]
    outer: list[Callable[[int], Any]] = [lambda s, st=st: build(st, s) for st in grid]
    # the saved classifier's plain CV is its run in the comparison: timed, not fitted twice
    timer = FitTimer(outer[0]) if classifier in compare and not tune else None
    if timer is not None:
        outer = [timer]
    inner = [lambda s, st=st: build(replace(st, ensemble=1), s) for st in grid]

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        cv: list[CVResult] = []
        for r in range(repeat if cross else 0):

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
        comparison: list[ClassifierRun] = []
        if compare:
            reuse = {}
            if timer is not None and cv:
                reuse[classifier] = ClassifierRun(
                    classifier,
                    cv,
                    ds.y,
                    timer.fit_seconds,
                    timer.predict_seconds,
                    timer.n_predicted,
                    params=classifier_params(classifier, settings),
                )
            if "mlp" in compare and "mlp" not in reuse:
                n_fits[0] += settings.ensemble * folds * repeat
            comparison = compare_classifiers(
                ds,
                compare,
                classes=classes,
                n_folds=folds,
                normalization=normalization,
                settings=settings,
                seed=seed,
                repeat=repeat,
                saved=classifier,
                reuse=reuse,
                on_classifier=on_compared,
            )
        if tune:
            best, _ = select_candidate(
                ds, inner, classes=classes, n_folds=folds, normalization=normalization, seed=seed
            )
            settings = grid[best]
            logger.info("tuning chose %s", settings)
        corpora: list[CorpusResult] = []
        if evaluate == "corpus":
            corpora = leave_one_corpus_out(
                ds,
                lambda s: build(settings, s),
                classes=classes,
                normalization=normalization,
                seed=seed,
                on_corpus=on_corpus,
            )

        # final model: every file (and its augmented copies), normalised as in the folds
        X_all, y_all = _all_rows(ds, normalization)
        estimator = build(settings, seed).fit(X_all, y_all)
    _report_warnings(caught, n_fits[0], ConvergenceWarning)
    calibration = calibrate_from_cv(ds, cv, corpora) if cv else None
    calibration_map = None
    if calibration is not None:  # over the estimator's classes, in its order
        calibration_map = replace(
            calibration.map, classes=tuple(str(c) for c in estimator.classes_)
        )
    model = Model(
        estimator=estimator,
        features=config,
        normalization=normalization,
        train_stats=GroupStats.of(ds.X),
        calibration=calibration_map,
        meta={
            "name": name or f"ser{len(classes)}",
            "classes": classes,
            "training_files": len(ds.y),
            "sources": {
                src: {
                    "files": int((ds.sources == src).sum()),
                    "speakers": sorted({str(g) for g in ds.groups[ds.sources == src]}),
                }
                for src in ds.source_names
            },
            "augment": augment,
            "seed": seed,
            "classifier": classifier_params(classifier, settings),
            "tuned": tune,
        },
    )
    return TrainResult(
        model=model,
        cv=cv,
        dataset=ds,
        corpora=corpora,
        calibration=calibration,
        comparison=comparison,
        info={
            "skipped": ds.skipped,
            "folds": folds,
            "repeat": repeat,
            "subset": classes,
            "evaluate": evaluate,
        },
    )


def _check_emotions(files: Sequence[LabelledFile]) -> None:
    emotions = sorted({f.emotion for f in files}, key=EMOTIONS.index)
    if len(emotions) < 2:
        found = f"only {emotions[0]!r} files" if emotions else "no files"
        raise DataError(
            f"{found} found in the training data (of the emotions asked for); a classifier "
            "needs at least two emotions"
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
