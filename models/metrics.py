"""Classification metrics, as ``ser-train`` and ``ser-annotate --compare`` report them.

UAR (unweighted average recall, the mean of per-class recalls) is the headline metric:
unlike accuracy it does not reward predicting the most frequent class. Given the
probabilities as well, :func:`score` also measures how far the confidences can be trusted:
top-label expected calibration error (:func:`expected_calibration_error`, with its
:func:`reliability_table`), negative log-likelihood and the Brier score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ReliabilityBin",
    "Scores",
    "brier_score",
    "expected_calibration_error",
    "format_confusion",
    "format_reliability",
    "format_scores",
    "negative_log_likelihood",
    "reliability_table",
    "score",
]

#: Probabilities are clipped at this before their logarithm (negative log-likelihood).
_EPS = 1e-12


@dataclass(frozen=True)
class Scores:
    """Accuracy, UAR, macro-F1, per-class recall and the confusion matrix; with
    probabilities, also top-label ECE, negative log-likelihood and Brier score (else None)."""

    n: int
    accuracy: float
    uar: float
    macro_f1: float
    recall: dict[str, float]
    classes: tuple[str, ...]
    confusion: np.ndarray  # rows: true class, columns: predicted class
    ece: float | None = None
    nll: float | None = None
    brier: float | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "n": self.n,
            "accuracy": self.accuracy,
            "uar": self.uar,
            "macro_f1": self.macro_f1,
            "recall": dict(self.recall),
            "classes": list(self.classes),
            "confusion": self.confusion.tolist(),
        }
        for key in ("ece", "nll", "brier"):  # only when scored with probabilities
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


def score(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    classes: Sequence[str],
    proba: np.ndarray | None = None,
) -> Scores:
    """Metrics over the classes ``classes`` (rows whose true class is not listed are an error).

    A class with no true examples has undefined recall: it is left out of UAR and reported
    as NaN. With ``proba`` (n, k), the probabilities over ``classes`` behind ``y_pred``, the
    scores include ECE, negative log-likelihood and Brier score.
    """
    classes = tuple(str(c) for c in classes)
    idx = {c: i for i, c in enumerate(classes)}
    t = np.array([idx[str(c)] for c in y_true], dtype=np.intp)
    p = np.array([idx.get(str(c), -1) for c in y_pred], dtype=np.intp)
    if (p < 0).any():
        bad = sorted({str(c) for c in y_pred if str(c) not in idx})
        raise ValueError(f"predicted classes {bad} are not among {list(classes)}")
    k = len(classes)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    tp = np.diag(cm).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, tp / support, np.nan)
        precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = support > 0
    n = int(support.sum())
    return Scores(
        n=n,
        accuracy=float(tp.sum() / n) if n else float("nan"),
        uar=float(np.mean(recall[present])) if present.any() else float("nan"),
        macro_f1=float(np.mean(np.nan_to_num(f1[present]))) if present.any() else float("nan"),
        recall={c: float(r) for c, r in zip(classes, recall)},
        classes=classes,
        confusion=cm,
        ece=None if proba is None else expected_calibration_error(proba, y_true, classes),
        nll=None if proba is None else negative_log_likelihood(proba, y_true, classes),
        brier=None if proba is None else brier_score(proba, y_true, classes),
    )


def format_scores(s: Scores) -> str:
    """Headline line: UAR first (then ECE, when scored with probabilities)."""
    ece = "" if s.ece is None else f"  ECE {s.ece:.3f}"
    return f"UAR {s.uar:.3f}  accuracy {s.accuracy:.3f}  macro-F1 {s.macro_f1:.3f}{ece}  (n={s.n})"


def format_confusion(s: Scores) -> str:
    """Per-class recall and the confusion matrix as a fixed-width text table."""
    names = list(s.classes)
    w = max(9, *(len(c) for c in names)) + 1
    head = "true \\ predicted".ljust(w + 2) + "".join(c[:w].rjust(w) for c in names)
    lines = [head + "   recall"]
    for i, c in enumerate(names):
        row = "".join(str(v).rjust(w) for v in s.confusion[i])
        r = s.recall[c]
        lines.append(c.ljust(w + 2) + row + ("      n/a" if np.isnan(r) else f"   {r:6.3f}"))
    return "\n".join(lines)


@dataclass(frozen=True)
class ReliabilityBin:
    """Rows whose top-label confidence lies in ``(lower, upper]`` (the first bin includes 0)."""

    lower: float
    upper: float
    count: int
    confidence: float  # mean top-label confidence (NaN for an empty bin)
    accuracy: float  # share of those rows whose top label is right (NaN for an empty bin)


def reliability_table(
    P: np.ndarray, y: Sequence[object], classes: Sequence[object], n_bins: int = 10
) -> list[ReliabilityBin]:
    """Top-label reliability: rows binned by confidence (``max P``) in ``n_bins`` equal-width
    bins over [0, 1]; per bin the count, mean confidence and accuracy."""
    P, t = _proba_and_targets(P, y, classes)
    if not (isinstance(n_bins, (int, np.integer)) and n_bins >= 1):
        raise ValueError(f"n_bins must be a whole number >= 1, got {n_bins!r}")
    conf = P.max(axis=1)
    right = (P.argmax(axis=1) == t).astype(np.float64)
    which = np.clip(np.ceil(conf * n_bins).astype(np.intp) - 1, 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, conf, n_bins) / count
        acc = np.bincount(which, right, n_bins) / count
    return [
        ReliabilityBin(
            i / n_bins, (i + 1) / n_bins, int(count[i]), float(mean_conf[i]), float(acc[i])
        )
        for i in range(n_bins)
    ]


def expected_calibration_error(
    P: np.ndarray, y: Sequence[object], classes: Sequence[object], n_bins: int = 10
) -> float:
    """Top-label ECE: ``sum over bins of count/n * |accuracy - mean confidence|`` (equal-width
    bins on confidence, :func:`reliability_table`). 0 is perfectly calibrated."""
    bins = reliability_table(P, y, classes, n_bins)
    n = sum(b.count for b in bins)
    return float(sum(b.count * abs(b.accuracy - b.confidence) for b in bins if b.count) / n)


def negative_log_likelihood(P: np.ndarray, y: Sequence[object], classes: Sequence[object]) -> float:
    """Mean ``-log P[true class]`` (natural log; probabilities clipped at 1e-12)."""
    P, t = _proba_and_targets(P, y, classes)
    return float(-np.mean(np.log(np.clip(P[np.arange(len(t)), t], _EPS, 1.0))))


def brier_score(P: np.ndarray, y: Sequence[object], classes: Sequence[object]) -> float:
    """Mean over rows of the squared distance between ``P`` and the one-hot true class."""
    P, t = _proba_and_targets(P, y, classes)
    onehot = np.zeros_like(P)
    onehot[np.arange(len(t)), t] = 1.0
    return float(np.mean(np.sum((P - onehot) ** 2, axis=1)))


def format_reliability(bins: Sequence[ReliabilityBin]) -> str:
    """The reliability table as fixed-width text (empty bins show as ``-``)."""
    n = sum(b.count for b in bins) or 1
    lines = ["confidence       rows   share   mean conf   accuracy     gap"]
    for b in bins:
        span = f"{b.lower:.2f}-{b.upper:.2f}".ljust(14)
        if not b.count:
            lines.append(f"{span}{0:>7}   {0:5.1%}           -          -       -")
            continue
        gap = b.accuracy - b.confidence
        lines.append(
            f"{span}{b.count:>7}   {b.count / n:5.1%}   {b.confidence:9.3f}"
            f"   {b.accuracy:8.3f}  {gap:+6.3f}"
        )
    return "\n".join(lines)


def _proba_and_targets(
    P: np.ndarray, y: Sequence[object], classes: Sequence[object]
) -> tuple[np.ndarray, np.ndarray]:
    P = np.asarray(P, dtype=np.float64)
    names = [str(c) for c in classes]
    if P.ndim != 2 or P.shape[1] != len(names) or P.shape[0] != len(y) or not len(y):
        raise ValueError(
            f"probabilities of shape {P.shape} for {len(y)} labels, {len(names)} classes"
        )
    idx = {c: i for i, c in enumerate(names)}
    unknown = sorted({str(v) for v in y} - set(idx))
    if unknown:
        raise ValueError(f"labels {unknown} are not among the classes {names}")
    return P, np.array([idx[str(v)] for v in y], dtype=np.intp)
