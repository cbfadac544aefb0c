"""The output table: its columns, built (:func:`arrow_table`) from the in-memory row store
of :func:`~.api.annotate` or from journal rows (:func:`~.tally.journal_table`);
:mod:`.output` writes it. :class:`RowStore` keeps the rows (not features) of a run in
preallocated columns indexed by walk order, a few hundred bytes per file, so results
arriving in any order end up sorted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ser.common import DataError

from .arrow import bool_array, float_array, int32_array, pandas_metadata, text_array
from .truth import TrueLabel, ravdess_label
from .worker import FileResult

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["FORMATS", "NORM_LABELS", "RowStore", "arrow_table", "columns", "output_format",
           "read_metadata"]  # fmt: skip

#: Output formats by file extension.
FORMATS: dict[str, str] = {".parquet": "parquet", ".csv": "csv"}
#: Values of the ``normalization`` column (null for error rows).
NORM_LABELS: tuple[str, ...] = ("none", "speaker", "corpus", "training")
COMPARE_COLUMNS: tuple[str, ...] = ("true_emotion", "actor", "intensity", "correct")

_PENDING, _OK, _ERROR = 0, 1, 2


def columns(classes: Sequence[str], *, compare: bool, channel: bool = False) -> list[str]:
    """Column names of the output table, in order."""
    cols = ["path", "start", "end", *(["channel"] if channel else [])]
    cols += ["status", "error", "duration_s", "sample_rate", "channels"]
    cols += ["emotion", "confidence", *(f"prob_{c}" for c in classes)]
    if compare:
        cols += COMPARE_COLUMNS
    return [*cols, "speaker", "normalization"]


def output_format(out: str | os.PathLike[str]) -> str:
    """``"parquet"`` or ``"csv"`` from the extension of ``out``.

    Raises
    ------
    DataError
        For any other extension.
    """
    ext = Path(out).suffix.lower()
    if ext not in FORMATS:
        raise DataError(
            f"cannot write {os.fspath(out)!r}: the output file must end in .parquet or .csv"
        )
    return FORMATS[ext]


class RowStore:
    """The rows of one run, without the feature vectors: one or more per file.

    A file featurised whole gets one row (``start = 0``, ``end = duration``); a segmented
    one a row per segment (and channel); a file that failed, one error row. Rows arrive in
    any order (and the pieces of a long file at different times); :meth:`to_arrow` puts them
    in walk order, then channel, then start.

    Parameters
    ----------
    paths : list of str
        The ``path`` column (as reported) of each file, in walk order.
    speakers : list of str or None
        Speaker of each file (``None`` when unknown).
    classes : sequence of str
        Model classes, in the model's order.
    channel_column : bool
        Rows carry a ``channel`` (``--channels each``).
    """

    def __init__(
        self,
        paths: list[str],
        speakers: list[str | None],
        classes: Sequence[str],
        *,
        channel_column: bool = False,
    ) -> None:
        n = len(paths)
        self.paths = paths
        self.speakers = speakers
        self.classes = list(classes)
        self.channel_column = channel_column
        # per file
        self.status = np.zeros(n, np.int8)
        self.errors: dict[int, str] = {}
        self.duration = np.full(n, np.nan)
        self.sample_rate = np.zeros(n, np.int32)  # 0: unknown
        self.channels = np.zeros(n, np.int32)
        self.n_rows_of = np.zeros(n, np.int32)
        # per row (grown as rows arrive)
        self._rows = _Rows(max(16, n), len(self.classes))

    @property
    def n(self) -> int:
        """Files."""
        return len(self.paths)

    @property
    def n_rows(self) -> int:
        return self._rows.n

    @property
    def n_ok(self) -> int:
        """Files featurised (at least in part)."""
        return int(np.count_nonzero(self.status == _OK))

    @property
    def n_errors(self) -> int:
        """Files that failed."""
        return int(np.count_nonzero(self.status == _ERROR))

    @property
    def n_unlabelled_rows(self) -> int:
        """Segments of working files that got no prediction (silent, too short...)."""
        return len(self._rows.error_text) - int(self._rows.file_error[: self.n_rows].sum())

    @property
    def norm(self) -> np.ndarray:
        """How each row was normalised (index into :data:`NORM_LABELS`, -1: no prediction)."""
        return self._rows.norm[: self.n_rows]

    def row_files(self, rows: np.ndarray) -> np.ndarray:
        return self._rows.file[rows]

    def row_channels(self, rows: np.ndarray) -> np.ndarray:
        return self._rows.channel[rows]

    def set_result(self, res: FileResult) -> tuple[np.ndarray, np.ndarray | None]:
        """Record one result; returns the ids of its rows that have features, and those
        features (one row each)."""
        i = res.index
        if res.duration_s is not None:
            self.duration[i] = res.duration_s
        if res.sample_rate:
            self.sample_rate[i] = res.sample_rate
        if res.channels:
            self.channels[i] = res.channels
        empty = np.zeros(0, np.intp)
        if res.status != "ok":
            self.set_error(i, res.error or "failed")
            return empty, None
        if self.status[i] != _ERROR:
            self.status[i] = _OK
        if res.segments is None:  # the whole file, one utterance
            row = self._add(i, np.array([[0.0, res.duration_s or np.nan, -1.0]]), [None])
            if res.features is None:
                return empty, None
            return row, np.asarray(res.features, dtype=np.float32).reshape(1, -1)
        errors = list(res.segment_errors or [None] * len(res.segments))
        rows = self._add(i, res.segments, errors)
        ok = np.array([e is None for e in errors], dtype=bool)
        if not ok.any():
            return empty, None
        return rows[ok], np.asarray(res.features, dtype=np.float32)[ok]

    def set_error(self, index: int, error: str) -> None:
        """The file failed: one error row (its other rows, from other pieces, stay)."""
        self.status[index] = _ERROR
        self.errors[index] = error
        end = self.duration[index]
        self._add(index, np.array([[0.0, end, -1.0]]), [error], file_error=True)

    def close_files(self, reason: str) -> None:
        """Give each file that ended without any row an error row saying ``reason``; with
        a ``channel`` column, give each channel without a row a row without a prediction
        saying it (the file's other channels worked)."""
        for i in np.flatnonzero((self.status == _OK) & (self.n_rows_of == 0)):
            self.set_error(int(i), reason)
        if not self.channel_column:
            return
        n = self.n_rows
        present = set(zip(self._rows.file[:n].tolist(), self._rows.channel[:n].tolist()))
        for i in np.flatnonzero(self.status == _OK).tolist():
            for c in range(int(self.channels[i])):
                if (i, c) not in present:
                    self._add(i, np.array([[0.0, self.duration[i], float(c)]]), [reason])

    def set_predictions(self, rows: Sequence[int], probs: np.ndarray, how: Sequence[str]) -> None:
        idx = np.asarray(rows, dtype=np.intp)
        self._rows.probs[idx] = probs
        self._rows.norm[idx] = [NORM_LABELS.index(h) for h in how]

    def order(self, rows: np.ndarray | None = None) -> np.ndarray:
        """``rows`` (default: all) sorted into table order: file, channel, start."""
        r = self._rows
        rows = np.arange(r.n) if rows is None else np.asarray(rows, dtype=np.intp)
        return rows[np.lexsort((r.start[rows], r.channel[rows], r.file[rows]))]

    def _add(
        self, i: int, spans: np.ndarray, errors: Sequence[str | None], *, file_error: bool = False
    ) -> np.ndarray:
        rows = self._rows.append(i, np.asarray(spans, dtype=np.float64).reshape(-1, 3))
        self.n_rows_of[i] += len(rows)
        for row, error in zip(rows, errors):
            if error is not None:
                self._rows.error_text[int(row)] = error
                self._rows.file_error[row] = file_error
        return rows

    def to_arrow(
        self,
        *,
        compare: bool | Sequence[TrueLabel | None],
        metadata: Mapping[str, str] | None = None,
    ) -> pa.Table:
        """The output table (:func:`arrow_table`). ``compare`` adds the true labels: one
        :class:`~.truth.TrueLabel` (or None) per file, or True: those of RAVDESS names."""
        r = self._rows
        rows = self.order()
        f = r.file[rows]
        labels = None
        if compare is not False:
            of_file = (
                [ravdess_label(p, p) for p in self.paths] if compare is True else list(compare)
            )
            labels = [of_file[i] for i in f]
        return arrow_table(
            self.classes,
            paths=[self.paths[i] for i in f],
            spans=(r.start[rows], r.end[rows], r.channel[rows] if self.channel_column else None),
            errors=[r.error_text.get(int(k)) for k in rows],
            file_facts=(self.duration[f], self.sample_rate[f], self.channels[f]),
            probs=r.probs[rows],
            norm=r.norm[rows],
            labels=labels,
            speakers=[self.speakers[i] for i in f],
            metadata=metadata,
        )

    def to_frame(self, *, compare: bool | Sequence[TrueLabel | None]) -> pd.DataFrame:
        """The output table as a DataFrame with stable nullable dtypes (``string``,
        ``Int32``, ``boolean``, ``float64``) and a RangeIndex."""
        return self.to_arrow(compare=compare).to_pandas()


def arrow_table(
    classes: Sequence[str],
    *,
    paths: Sequence[str],
    spans: tuple[np.ndarray, np.ndarray, np.ndarray | None],
    errors: Sequence[str | None],
    file_facts: tuple[np.ndarray, np.ndarray, np.ndarray],
    probs: np.ndarray,
    norm: np.ndarray,
    labels: Sequence[TrueLabel | None] | None,
    speakers: Sequence[str | None],
    metadata: Mapping[str, str] | None = None,
) -> pa.Table:
    """The output table of rows in table order (see :func:`columns`), built without pandas.

    Per row: ``spans`` (start, end, channel or None: no such column), the error (None:
    status ``ok``), the file's duration, sample rate and channels (0: unknown), the class
    probabilities, the index in :data:`NORM_LABELS` (-1: no prediction), the true label
    (``labels`` None: no compare columns) and the speaker.

    Strings are ``large_string``, integers ``int32``, flags ``bool``, the rest ``float64``,
    all nullable; NaN becomes null. The schema metadata says which pandas dtypes the columns
    have (``string``, ``Int32``, ``boolean``, ``float64``), as ``pyarrow.Table.from_pandas``
    would, so ``pandas.read_parquet`` gives the same frame as ``Table.to_pandas``;
    ``metadata`` is added to it.
    """
    import pyarrow as pa

    n = len(paths)
    start, end, channel = spans
    duration, sample_rate, channels = file_facts
    predicted = norm >= 0
    names = np.asarray(classes, dtype=object)
    best = np.argmax(np.where(np.isnan(probs), -np.inf, probs), axis=1)
    emotion = np.where(predicted, names[best] if len(names) else None, None)
    confidence = np.where(predicted, probs[np.arange(n), best] if n else 0.0, np.nan)
    failed = np.array([e is not None for e in errors], dtype=bool)

    text, real, int32 = text_array, float_array, int32_array
    cols: dict[str, pa.Array] = {"path": text(paths), "start": real(start), "end": real(end)}
    if channel is not None:
        ch = np.asarray(channel).astype(np.int32)
        cols["channel"] = int32(ch, ch < 0)
    cols |= {
        "status": text(np.where(failed, "error", "ok").tolist()),
        "error": text(list(errors)),
        "duration_s": real(duration),
        "sample_rate": int32(sample_rate, sample_rate == 0),
        "channels": int32(channels, channels == 0),
        "emotion": text(emotion.tolist()),
        "confidence": real(confidence),
    }
    for j, c in enumerate(classes):
        cols[f"prob_{c}"] = real(probs[:, j])
    if labels is not None:
        truth = [None if lab is None else lab.emotion for lab in labels]
        cols["true_emotion"] = text(truth)
        no_actor = np.array([lab is None or lab.actor is None for lab in labels], bool)
        actor = np.array([0 if a else lab.actor for lab, a in zip(labels, no_actor)], np.int32)
        cols["actor"] = int32(actor, no_actor)
        cols["intensity"] = text([lab and lab.intensity for lab in labels])
        # scored as the comparison scores: a prediction and a label the model knows; else null
        known = set(classes)
        scored = np.array([t in known and bool(predicted[k]) for k, t in enumerate(truth)])
        correct = np.array([t is not None and emotion[k] == t for k, t in enumerate(truth)])
        cols["correct"] = bool_array(correct.astype(bool), ~scored.astype(bool))
    cols["speaker"] = text(list(speakers))
    cols["normalization"] = text(np.asarray([*NORM_LABELS, None], dtype=object)[norm])
    want = columns(classes, compare=labels is not None, channel=channel is not None)
    assert list(cols) == want
    table = pa.Table.from_arrays(list(cols.values()), names=list(cols))
    meta = {b"pandas": json.dumps(pandas_metadata(table)).encode()}
    meta.update({k.encode(): v.encode() for k, v in (metadata or {}).items()})
    return table.replace_schema_metadata(meta)


class _Rows:
    """Growable per-row columns (capacity doubles), a few dozen bytes a row."""

    def __init__(self, capacity: int, n_classes: int) -> None:
        self.n = 0
        self.file = np.zeros(capacity, np.int64)
        self.start = np.zeros(capacity, np.float64)
        self.end = np.zeros(capacity, np.float64)
        self.channel = np.zeros(capacity, np.int16)
        self.file_error = np.zeros(capacity, bool)
        self.probs = np.full((capacity, n_classes), np.nan)
        self.norm = np.full(capacity, -1, np.int8)
        self.error_text: dict[int, str] = {}

    def append(self, file: int, spans: np.ndarray) -> np.ndarray:
        k = len(spans)
        if self.n + k > len(self.file):
            self._grow(max(2 * len(self.file), self.n + k))
        rows = np.arange(self.n, self.n + k)
        self.file[rows] = file
        self.start[rows], self.end[rows] = spans[:, 0], spans[:, 1]
        self.channel[rows] = spans[:, 2]
        self.n += k
        return rows

    def _grow(self, capacity: int) -> None:
        for name in ("file", "start", "end", "channel", "file_error", "probs", "norm"):
            old = getattr(self, name)
            fill = np.nan if name == "probs" else (-1 if name == "norm" else 0)
            new = np.full((capacity, *old.shape[1:]), fill, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)


def read_metadata(path: str | os.PathLike[str]) -> dict[str, object]:
    """The ``ser.*`` schema metadata of an output Parquet file, JSON values decoded."""
    import pyarrow.parquet as pq

    raw = pq.read_schema(path).metadata or {}
    meta: dict[str, object] = {}
    for k, v in raw.items():
        key = k.decode()
        if key.startswith("ser."):
            try:
                meta[key] = json.loads(v)
            except ValueError:
                meta[key] = v.decode()
    return meta
