"""Compare predictions with true labels (``--compare ravdess|crema-d|LABELS.csv``).

The table's ``true_emotion`` column holds them (:mod:`.truth` fills it). Every row falls in
exactly one group: no true label; an error row (or a segment without a prediction); a true
emotion the model does not know (e.g. "calm" for a 4-class model); or scored. Only the
scored rows enter the metrics, and :func:`format_comparison` says how many were left out
and why. Calibration is scored too: expected calibration error (10 bins) and a reliability
table of the scored rows, over the model's classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ser.corpora.emotions import emotion_order
from ser.models.metrics import (
    ReliabilityBin,
    Scores,
    expected_calibration_error,
    format_confusion,
    format_reliability,
    format_scores,
    reliability_table,
    score,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["Comparison", "compare_labels", "compare_ravdess", "format_comparison"]


@dataclass(frozen=True)
class Comparison:
    """Metrics of the scored rows, and how many rows were left out of them, and why."""

    n_files: int
    n_unlabelled: int
    n_errors: int
    n_unknown_class: int
    unknown_emotions: tuple[str, ...]
    classes: tuple[str, ...]
    scores: Scores | None  # None when no row could be scored
    n_seen_in_training: int = 0  # scored files by actors the model was trained on
    source: str = "ravdess"  # what the labels came from
    ece: float | None = None  # expected calibration error of the scored rows (10 bins)
    reliability: tuple[ReliabilityBin, ...] = ()

    @property
    def n_scored(self) -> int:
        return 0 if self.scores is None else self.scores.n

    def left_out(self) -> list[str]:
        """What was left out of the scores, and why, one phrase per reason (the wording the
        printout, the report and the app share)."""
        out = []
        if self.n_unlabelled:
            out.append(f"{self.n_unlabelled:,} rows without a label")
        if self.n_errors:
            out.append(f"{self.n_errors:,} rows without a prediction (errors)")
        if self.n_unknown_class:
            out.append(
                f"{self.n_unknown_class:,} rows of emotions the model does not know "
                f"({', '.join(self.unknown_emotions)})"
            )
        return out

    def training_set_note(self) -> str | None:
        """The warning for scored rows by actors the model was trained on, or None."""
        if not self.n_seen_in_training:
            return None
        return (
            f"{self.n_seen_in_training:,} of the {self.n_scored:,} scored rows are by actors the "
            "model was trained on: these are training-set figures, not speaker-independent "
            "ones (the model card has the cross-validated figures)"
        )


def compare_labels(
    table: pd.DataFrame | pa.Table,
    *,
    classes: Sequence[str] | None = None,
    training_actors: Sequence[int] | None = None,
    source: str = "ravdess",
) -> Comparison:
    """Score the ``emotion`` and ``prob_*`` columns of an annotation table against its labels.

    Parameters
    ----------
    table : pandas.DataFrame or pyarrow.Table
        Output of :func:`~ser.annotate.annotate` with ``compare`` (columns ``path``,
        ``status``, ``emotion``, ``prob_*``, ``true_emotion``, ``actor``), or one read back
        from a file.
    classes : sequence of str, optional
        The model's classes; by default read from the ``prob_*`` columns. The comparison
        lists them in ser's order of emotions (:func:`~ser.corpora.emotions.emotion_order`).
    training_actors : sequence of int, optional
        Actors of this corpus the model was trained on
        (:func:`~ser.annotate.truth.training_actors`); scored rows by them are counted,
        because their figures are not speaker-independent.
    source : str
        What the labels came from (``ravdess``, ``crema-d`` or a table), for the report.
    """
    names = [
        str(c) for c in (table.column_names if hasattr(table, "column_names") else table.columns)
    ]
    if classes is None:
        classes = [c[len("prob_") :] for c in names if c.startswith("prob_")]
    classes = tuple(emotion_order(classes))
    truth = _column(table, "true_emotion")
    status = _column(table, "status")
    emotion = _column(table, "emotion")
    actor = _column(table, "actor") if "actor" in names else [None] * len(truth)
    trained = {int(a) for a in training_actors or ()}
    n_unlabelled = n_errors = seen = 0
    unknown: list[str] = []
    y_true: list[str] = []
    y_pred: list[str] = []
    probs = [_column(table, f"prob_{c}") for c in classes]
    P: list[list[float]] = []
    for k, (t, st, e, a) in enumerate(zip(truth, status, emotion, actor)):
        if t is None:
            n_unlabelled += 1
        elif st != "ok":
            n_errors += 1
        elif str(t) not in classes:
            unknown.append(str(t))
        else:
            y_true.append(str(t))
            y_pred.append(str(e))
            P.append([float(p[k]) for p in probs])  # type: ignore[arg-type]
            seen += a is not None and int(a) in trained
    return Comparison(
        n_files=len(truth),
        n_unlabelled=n_unlabelled,
        n_errors=n_errors,
        n_unknown_class=len(unknown),
        unknown_emotions=tuple(sorted(set(unknown))),
        classes=classes,
        scores=score(y_true, y_pred, classes) if y_true else None,
        n_seen_in_training=seen,
        source=source,
        ece=expected_calibration_error(np.array(P), y_true, classes) if y_true else None,
        reliability=tuple(reliability_table(np.array(P), y_true, classes)) if y_true else (),
    )


#: The name this function had when only RAVDESS labels could be compared.
compare_ravdess = compare_labels


def _column(table: pd.DataFrame | pa.Table, name: str) -> list[object]:
    """A column as a list, missing values (null, NA, NaN) as ``None``."""
    if hasattr(table, "column_names"):  # pyarrow
        return table.column(name).to_pylist()
    col = table[name]
    return col.astype(object).where(col.notna(), None).tolist()


def format_comparison(cmp: Comparison) -> str:
    """A readable report: what was left out, headline metrics, recall and confusion table."""
    where = {
        "ravdess": "the RAVDESS labels in the file names",
        "crema-d": "the CREMA-D labels in the file names",
    }.get(cmp.source, f"the labels in {cmp.source}")
    lines = [f"Comparison with {where} ({cmp.n_files} rows)"]
    lines += [f"  Left out: {reason}" for reason in cmp.left_out()]
    if cmp.n_unknown_class:
        lines.append(f"  The metrics cover only {', '.join(cmp.classes)}")
    if cmp.scores is None:
        lines.append("No file could be scored.")
        return "\n".join(lines)
    if note := cmp.training_set_note():
        lines.append(f"  Note: {note}")
    lines += ["", format_scores(cmp.scores), "", format_confusion(cmp.scores)]
    if cmp.ece is not None:
        lines += [
            "",
            f"Expected calibration error (10 bins): {cmp.ece:.3f}; mean confidence "
            f"{_mean_confidence(cmp.reliability):.3f}, accuracy {cmp.scores.accuracy:.3f}",
            format_reliability(cmp.reliability),
        ]
    return "\n".join(lines)


def _mean_confidence(bins: Sequence[ReliabilityBin]) -> float:
    n = sum(b.count for b in bins)
    return sum(b.confidence * b.count for b in bins if b.count) / n if n else float("nan")
