"""Classification metrics, as ``ser-train`` and ``ser-annotate --compare`` report them.

UAR (unweighted average recall, the mean of per-class recalls) is the headline metric:
unlike accuracy it does not reward predicting the most frequent class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Scores", "format_confusion", "format_scores", "score"]


@dataclass(frozen=True)
class Scores:
    """Accuracy, UAR, macro-F1, per-class recall and the confusion matrix."""

    n: int
    accuracy: float
    uar: float
    macro_f1: float
    recall: dict[str, float]
    classes: tuple[str, ...]
    confusion: np.ndarray  # rows: true class, columns: predicted class

    def to_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "accuracy": self.accuracy,
            "uar": self.uar,
            "macro_f1": self.macro_f1,
            "recall": dict(self.recall),
            "classes": list(self.classes),
            "confusion": self.confusion.tolist(),
        }


def score(y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]) -> Scores:
    """Metrics over the classes ``classes`` (rows whose true class is not listed are an error).

    A class with no true examples has undefined recall: it is left out of UAR and reported
    as NaN.
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
    )


def format_scores(s: Scores) -> str:
    """Headline line: UAR first."""
    return f"UAR {s.uar:.3f}  accuracy {s.accuracy:.3f}  macro-F1 {s.macro_f1:.3f}  (n={s.n})"


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
