"""Compare predictions with the emotions that RAVDESS file names encode (``--compare ravdess``).

Every row of the table falls in exactly one group: no RAVDESS label in its name; an error row;
a true emotion the model does not know (e.g. "calm" for a 4-class model); or scored. Only
the scored rows enter the metrics, and :func:`format_comparison` says how many were left out
and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ser.models.metrics import Scores, format_confusion, format_scores, score

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["Comparison", "compare_ravdess", "format_comparison"]


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

    @property
    def n_scored(self) -> int:
        return 0 if self.scores is None else self.scores.n


def compare_ravdess(
    table: pd.DataFrame | pa.Table,
    *,
    classes: Sequence[str] | None = None,
    training_actors: Sequence[int] | None = None,
) -> Comparison:
    """Score the ``emotion`` column of an annotation table against RAVDESS file-name labels.

    Parameters
    ----------
    table : pandas.DataFrame or pyarrow.Table
        Output of :func:`~ser.annotate.annotate` with ``compare="ravdess"`` (columns ``path``,
        ``status``, ``emotion``, ``true_emotion``), or one read back from a file.
    classes : sequence of str, optional
        The model's classes, in its order; by default read from the ``prob_*`` columns.
    training_actors : sequence of int, optional
        RAVDESS actors the model was trained on (``model.meta["actors"]``); scored files by
        them are counted, because their figures are not speaker-independent.
    """
    names = [
        str(c) for c in (table.column_names if hasattr(table, "column_names") else table.columns)
    ]
    if classes is None:
        classes = [c[len("prob_") :] for c in names if c.startswith("prob_")]
    classes = tuple(classes)
    truth = _column(table, "true_emotion")
    status = _column(table, "status")
    emotion = _column(table, "emotion")
    actor = _column(table, "actor") if "actor" in names else [None] * len(truth)
    trained = {int(a) for a in training_actors or ()}
    n_unlabelled = n_errors = seen = 0
    unknown: list[str] = []
    y_true: list[str] = []
    y_pred: list[str] = []
    for t, st, e, a in zip(truth, status, emotion, actor):
        if t is None:
            n_unlabelled += 1
        elif st != "ok":
            n_errors += 1
        elif str(t) not in classes:
            unknown.append(str(t))
        else:
            y_true.append(str(t))
            y_pred.append(str(e))
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
    )


def _column(table: pd.DataFrame | pa.Table, name: str) -> list[object]:
    """A column as a list, missing values (null, NA, NaN) as ``None``."""
    if hasattr(table, "column_names"):  # pyarrow
        return table.column(name).to_pylist()
    col = table[name]
    return col.astype(object).where(col.notna(), None).tolist()


def format_comparison(cmp: Comparison) -> str:
    """A readable report: what was left out, headline metrics, recall and confusion table."""
    lines = [f"Comparison with the RAVDESS labels in the file names ({cmp.n_files} files)"]
    if cmp.n_unlabelled:
        lines.append(f"  {cmp.n_unlabelled} files without a RAVDESS label were left out")
    if cmp.n_errors:
        lines.append(f"  {cmp.n_errors} files that could not be annotated (errors) were left out")
    if cmp.n_unknown_class:
        lines.append(
            f"  {cmp.n_unknown_class} files were left out because the model does not know their "
            f"emotion ({', '.join(cmp.unknown_emotions)}); the metrics cover only "
            f"{', '.join(cmp.classes)}"
        )
    if cmp.scores is None:
        lines.append("No file could be scored.")
        return "\n".join(lines)
    if cmp.n_seen_in_training:
        lines.append(
            f"  Note: {cmp.n_seen_in_training} of the {cmp.n_scored} scored files are by actors "
            "the model was trained on, so these are training-set figures, not "
            "speaker-independent ones (the model card has cross-validated figures)"
        )
    lines += ["", format_scores(cmp.scores), "", format_confusion(cmp.scores)]
    return "\n".join(lines)
