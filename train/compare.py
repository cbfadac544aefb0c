"""Compare classifiers honestly: the same features, the same speaker-grouped folds, for each.

``ser-train --compare-classifiers knn,svm,tree,forest,mlp`` (or ``all``) runs
:func:`compare_classifiers` on the features that training extracted once. Every classifier
(:mod:`.classifiers`) is cross-validated by :func:`.evaluate.cross_validate` with the same
folds (:func:`.evaluate.group_folds`), normalisation, augmented training copies and seeds as
the plain cross-validation, so the MLP's figures in the comparison are the plain CV's
figures, and the others differ only in the classifier. Fit and prediction times are
wall-clock seconds per fold on the machine that ran them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ser.models.metrics import expected_calibration_error

from .classifiers import CLASSIFIER_NAMES, classifier_params, make_classifier
from .dataset import Dataset
from .estimator import MLPSettings
from .evaluate import CVResult, cross_validate

__all__ = ["ClassifierRun", "FitTimer", "compare_classifiers", "format_comparison"]

logger = logging.getLogger(__name__)


class FitTimer:
    """An estimator factory that times every ``fit`` and ``predict_proba`` of its estimators.

    ``FitTimer(make)(seed)`` is ``make(seed)`` wrapped so that its fit and prediction
    wall-clock times are appended to :attr:`fit_seconds` and :attr:`predict_seconds`; the
    wrapper has the ``classes_`` and ``predict_proba`` that cross-validation uses.
    """

    def __init__(self, make: Callable[[int], Any]) -> None:
        self.make = make
        self.fit_seconds: list[float] = []
        self.predict_seconds: list[float] = []
        self.n_predicted = 0

    def __call__(self, seed: int) -> _Timed:
        return _Timed(self.make(seed), self)


class _Timed:
    def __init__(self, estimator: Any, timer: FitTimer) -> None:
        self.estimator = estimator
        self.timer = timer

    def fit(self, X: np.ndarray, y: np.ndarray) -> _Timed:
        t0 = time.perf_counter()
        self.estimator.fit(X, y)
        self.timer.fit_seconds.append(time.perf_counter() - t0)
        return self

    @property
    def classes_(self) -> np.ndarray:
        return self.estimator.classes_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        P = self.estimator.predict_proba(X)
        self.timer.predict_seconds.append(time.perf_counter() - t0)
        self.timer.n_predicted += len(X)
        return P


@dataclass
class ClassifierRun:
    """One classifier's speaker-grouped cross-validation, one :class:`CVResult` per seed."""

    name: str
    cv: list[CVResult]
    y: np.ndarray = field(repr=False)  # true class of each dataset row (every seed's rows)
    fit_seconds: list[float] = field(default_factory=list)  # per fold, every seed
    predict_seconds: list[float] = field(default_factory=list)
    n_predicted: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    saved: bool = False  # the classifier of the saved model
    error: str | None = None  # why it could not be cross-validated (then ``cv`` is empty)

    def summary(self) -> dict[str, Any]:
        """Mean and std over folds (all seeds) of UAR, accuracy, macro-F1; times; pooled ECE."""
        out: dict[str, Any] = {"classifier": CLASSIFIER_NAMES[self.name], "saved": self.saved}
        if self.error is not None:
            return {**out, "error": self.error, "params": self.params}
        for key in ("uar", "accuracy", "macro_f1"):
            v = np.array([getattr(f, key) for r in self.cv for f in r.folds])
            out[key] = {"mean_over_folds": float(v.mean()), "std_over_folds": float(v.std())}
        classes = self.cv[0].pooled.classes
        P = np.concatenate([r.probabilities for r in self.cv])
        y = np.tile(self.y, len(self.cv))
        out["ece_uncalibrated"] = expected_calibration_error(P, y, classes)
        out["recall"] = {
            c: float(np.nanmean([r.pooled.recall[c] for r in self.cv])) for c in classes
        }
        out["fit_seconds_per_fold"] = float(np.mean(self.fit_seconds))
        out["predict_ms_per_file"] = (
            1000 * float(np.sum(self.predict_seconds)) / max(1, self.n_predicted)
        )
        out["params"] = self.params
        return out


def compare_classifiers(
    ds: Dataset,
    names: Sequence[str],
    *,
    classes: Sequence[str],
    n_folds: int,
    normalization: str,
    settings: MLPSettings,
    seed: int = 0,
    repeat: int = 1,
    saved: str = "mlp",
    reuse: Mapping[str, ClassifierRun] | None = None,
    on_classifier: Callable[[ClassifierRun], None] | None = None,
) -> list[ClassifierRun]:
    """Cross-validate each classifier of ``names`` on ``ds`` with the same folds and seeds.

    Parameters
    ----------
    ds : Dataset
        Features extracted once (and augmented copies, used in training parts only).
    names : sequence of {"knn", "svm", "tree", "forest", "mlp"}
    classes : sequence of str
    n_folds : int >= 2
        Folds grouped by speaker, as :func:`.evaluate.group_folds` deals them.
    normalization : {"none", "corpus", "speaker"}
    settings : MLPSettings
        The MLP's settings (the plain CV's).
    seed, repeat : int
        Seeds ``seed, ..., seed + repeat - 1``, as the plain CV.
    saved : str
        The classifier of the saved model, marked in the results.
    reuse : mapping of name to ClassifierRun, optional
        Runs already done with these folds and seeds (the plain CV of the saved classifier,
        timed by a :class:`FitTimer`): used as they are instead of being fitted again.
    on_classifier : callable(ClassifierRun), optional
        Called as each classifier is done.

    Returns
    -------
    list of ClassifierRun
        In the order of ``names``.
    """
    runs = []
    for name in names:
        if reuse and name in reuse:
            run = reuse[name]
        else:
            run = _cross_validate(name, ds, classes, n_folds, normalization, settings, seed, repeat)
        run.saved = name == saved
        if run.error is None:
            logger.info("%s: UAR %.3f", name, run.summary()["uar"]["mean_over_folds"])
        runs.append(run)
        if on_classifier is not None:
            on_classifier(run)
    return runs


def _cross_validate(
    name: str,
    ds: Dataset,
    classes: Sequence[str],
    n_folds: int,
    normalization: str,
    settings: MLPSettings,
    seed: int,
    repeat: int,
) -> ClassifierRun:
    """One classifier's run; a classifier that fails (e.g. the SVM's internal 5-fold CV on
    a class with fewer than 5 training clips) is recorded with the reason, not fatal."""
    timer = FitTimer(lambda s: make_classifier(name, s, settings=settings))
    params = classifier_params(name, settings)
    try:
        cvs = [
            cross_validate(
                ds, timer, classes=classes, n_folds=n_folds, normalization=normalization, seed=s
            )
            for s in range(seed, seed + repeat)
        ]
    except Exception as exc:  # one baseline failing must not lose the whole training run
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        logger.warning("%s could not be cross-validated: %s", name, reason)
        return ClassifierRun(name, [], ds.y, params=params, error=reason)
    return ClassifierRun(
        name, cvs, ds.y, timer.fit_seconds, timer.predict_seconds, timer.n_predicted, params
    )


def format_comparison(runs: Sequence[ClassifierRun], *, folds: int, repeat: int) -> str:
    """The comparison as a fixed-width table: UAR (± std over folds), accuracy, macro-F1,
    ECE and the mean fit time per fold, one row per classifier."""
    seeds = f", {repeat} seeds" if repeat > 1 else ""
    lines = [
        f"\nClassifier comparison: the same {folds} speaker-grouped folds{seeds} and the same "
        "features for each classifier.",
        "Scores: mean ± std over folds. ECE: of the pooled out-of-fold probabilities, "
        "uncalibrated.",
        "Times: wall clock on this machine; fit = mean per fold, predict = per file.",
        f"  {'classifier':36s} {'UAR':>13s} {'accuracy':>9s} {'macro-F1':>9s} {'ECE':>6s}"
        f" {'fit s/fold':>11s} {'predict ms/file':>16s}",
    ]
    for run in runs:
        label = f"{run.name:6s} {CLASSIFIER_NAMES[run.name]}" + (" *" if run.saved else "")
        if run.error is not None:
            lines.append(f"  {label:36s} failed: {run.error}")
            continue
        s = run.summary()
        lines.append(
            f"  {label:36s} {s['uar']['mean_over_folds']:6.3f} ± {s['uar']['std_over_folds']:.3f}"
            f" {s['accuracy']['mean_over_folds']:9.3f} {s['macro_f1']['mean_over_folds']:9.3f}"
            f" {s['ece_uncalibrated']:6.3f} {s['fit_seconds_per_fold']:11.2f}"
            f" {s['predict_ms_per_file']:16.3f}"
        )
    if any(r.saved for r in runs):
        lines.append("  * the classifier of the saved model")
    return "\n".join(lines)
