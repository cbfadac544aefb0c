"""The output table of a run, from journal rows in table order, and its counts.

:class:`Tally` turns rows of the journal (:mod:`.journal`), or of a features table
(:mod:`.features_io`), into the output table through :func:`~.pipeline.assemble` (which
normalises and predicts), a few thousand rows at a time, and counts what
:class:`~.api.RunSummary` reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .collect import column, entry_batch
from .pipeline import assemble
from .table import NORM_LABELS, arrow_table
from .truth import TrueLabel

if TYPE_CHECKING:
    import pyarrow as pa

    from .api import Plan, Progress

__all__ = ["Tally", "journal_table"]

_OK, _ERROR = 1, 2


class Tally:
    """Builds the output tables from journal rows in table order (``read()``, through
    :func:`~.pipeline.assemble`) and counts what :class:`~.api.RunSummary` reports; with
    ``--compare``, keeps the columns the comparison needs (``compared``)."""

    def __init__(self, plan: Plan, read: Callable[[], Iterable[pa.Table]]) -> None:
        self.plan, self.read = plan, read
        self.n_files = self.n_ok = self.n_errors = self.n_rows = self.n_unlabelled = 0
        self.first_errors: list[tuple[str, str]] = []
        self.normalized = np.zeros(len(NORM_LABELS), np.int64)
        self.seconds = 0.0  # spent assembling (reading, normalising, predicting)
        self._compared: list[Any] = []

    def tables(self, progress: Progress | None = None) -> Iterator[Any]:
        """The output table, in tables of a few thousand rows (at least one); ``progress``
        advances by the rows done."""
        import pyarrow as pa

        plan = self.plan
        parts = assemble(self.read, plan.model, plan.mode)
        compare = plan.compare is not None
        keep = [
            "path",
            "status",
            "emotion",
            *(f"prob_{c}" for c in plan.model.classes),
            "true_emotion",
            "actor",
        ]
        empty = True
        while True:
            t0 = time.perf_counter()
            got = next(parts, None)
            if got is None and empty:  # no file: the table's columns only
                rows = pa.Table.from_batches([entry_batch([], plan.model.n_features)])
                got = rows, np.zeros((0, len(plan.model.classes))), np.zeros(0, np.int8)
            if got is None:
                self.seconds += time.perf_counter() - t0
                return
            empty = False
            rows, probs, norm = got
            table = journal_table(
                rows,
                probs,
                norm,
                plan.model.classes,
                compare=compare,
                channel_column=plan.segment.channels == "each",
                metadata=plan.metadata,
            )
            self._count(rows, norm)
            if progress is not None:
                progress.advance(rows.num_rows, 0.0)
            if compare:
                self._compared.append(table.select(keep))
            self.seconds += time.perf_counter() - t0
            yield table

    def _count(self, rows: Any, norm: np.ndarray) -> None:
        first = column(rows, "seq") == 0
        status = column(rows, "status")
        self.n_files += int(first.sum())
        self.n_ok += int((first & (status == _OK)).sum())
        failed = np.flatnonzero(first & (status == _ERROR))
        self.n_errors += len(failed)
        self.n_rows += rows.num_rows
        error = np.array([e is not None for e in rows.column("error").to_pylist()], bool)
        file_error = column(rows, "file_error")
        self.n_unlabelled += int((error & ~file_error).sum())
        for k in failed[: 5 - len(self.first_errors)].tolist():
            self.first_errors.append(
                (rows.column("path")[k].as_py(), rows.column("file_error_text")[k].as_py())
            )
        self.normalized += np.bincount(norm[norm >= 0], minlength=len(NORM_LABELS))

    @property
    def compared(self) -> Any:
        """The comparison's columns of every row (a pyarrow Table), or None."""
        import pyarrow as pa

        return pa.concat_tables(self._compared) if self._compared else None


def journal_table(
    rows: pa.Table,
    probs: np.ndarray,
    norm: np.ndarray,
    classes: Sequence[str],
    *,
    compare: bool,
    channel_column: bool,
    metadata: Mapping[str, str] | None = None,
) -> pa.Table:
    """The output table of journal rows (:mod:`.journal`) in table order, with their
    predictions (:func:`~.pipeline.assemble`)."""

    def num(name: str) -> np.ndarray:
        return column(rows, name)

    def text(name: str) -> list[str | None]:
        return rows.column(name).to_pylist()  # type: ignore[no-any-return]

    labels = None
    if compare:
        truth = zip(text("true_emotion"), text("actor"), text("intensity"))
        labels = [None if e is None else TrueLabel(e, a, i) for e, a, i in truth]
    return arrow_table(
        classes,
        paths=text("path"),
        spans=(num("start"), num("end"), num("channel") if channel_column else None),
        errors=text("error"),
        file_facts=(num("duration"), num("sample_rate"), num("channels")),
        probs=probs,
        norm=norm,
        labels=labels,
        speakers=text("speaker"),
        metadata=metadata,
    )
