"""The output table: its columns, the compact row store behind it, and atomic writing.

Rows (not features) of the whole run are kept in preallocated columns indexed by walk order,
a few hundred bytes per file, so results that arrive in any order end up sorted, and the
table is written once, at the end, to a temporary file that is then renamed over the output.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ser.models import DataError, parse_ravdess

from .worker import FileResult

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FORMATS", "NORM_LABELS", "RowStore", "columns", "output_format", "write_table"]

#: Output formats by file extension.
FORMATS: dict[str, str] = {".parquet": "parquet", ".csv": "csv"}
#: Values of the ``normalization`` column (null for error rows).
NORM_LABELS: tuple[str, ...] = ("none", "speaker", "corpus", "training")
COMPARE_COLUMNS: tuple[str, ...] = ("true_emotion", "actor", "intensity", "correct")

_PENDING, _OK, _ERROR = 0, 1, 2


def columns(classes: Sequence[str], *, compare: bool) -> list[str]:
    """Column names of the output table, in order."""
    cols = ["path", "status", "error", "duration_s", "sample_rate", "channels"]
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
    """Per-file results of one run, in walk order, without the feature vectors.

    Parameters
    ----------
    paths : list of str
        The ``path`` column (as reported), in walk order.
    speakers : list of str or None
        Speaker of each file (``None`` when unknown).
    classes : sequence of str
        Model classes, in the model's order.
    """

    def __init__(
        self, paths: list[str], speakers: list[str | None], classes: Sequence[str]
    ) -> None:
        n = len(paths)
        self.paths = paths
        self.speakers = speakers
        self.classes = list(classes)
        self.status = np.zeros(n, np.int8)
        self.errors: dict[int, str] = {}
        self.duration = np.full(n, np.nan)
        self.sample_rate = np.zeros(n, np.int32)  # 0: unknown
        self.channels = np.zeros(n, np.int32)
        self.probs = np.full((n, len(self.classes)), np.nan)
        self.norm = np.full(n, -1, np.int8)  # index into NORM_LABELS, -1: no prediction

    @property
    def n(self) -> int:
        return len(self.paths)

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of the rows whose file was featurised."""
        return self.status == _OK

    @property
    def n_ok(self) -> int:
        return int(np.count_nonzero(self.status == _OK))

    @property
    def n_errors(self) -> int:
        return int(np.count_nonzero(self.status == _ERROR))

    def set_result(self, res: FileResult) -> None:
        i = res.index
        self.status[i] = _OK if res.status == "ok" else _ERROR
        if res.error is not None:
            self.errors[i] = res.error
        if res.duration_s is not None:
            self.duration[i] = res.duration_s
        self.sample_rate[i] = res.sample_rate or 0
        self.channels[i] = res.channels or 0

    def set_predictions(self, index: Sequence[int], probs: np.ndarray, how: Sequence[str]) -> None:
        idx = np.asarray(index, dtype=np.intp)
        self.probs[idx] = probs
        self.norm[idx] = [NORM_LABELS.index(h) for h in how]

    def set_error(self, index: int, error: str) -> None:
        self.status[index] = _ERROR
        self.errors[index] = error

    def to_frame(self, *, compare: bool) -> pd.DataFrame:
        """The output table (see :func:`columns`), with stable nullable dtypes."""
        import pandas as pd

        n = self.n
        ok = self.status == _OK
        predicted = self.norm >= 0
        classes = np.asarray(self.classes, dtype=object)
        best = np.argmax(np.where(np.isnan(self.probs), -np.inf, self.probs), axis=1)
        emotion = np.where(predicted, classes[best] if len(classes) else None, None)
        data: dict[str, object] = {
            "path": pd.array(self.paths, dtype="string"),
            "status": pd.array(np.where(ok, "ok", "error").astype(object), dtype="string"),
            "error": pd.array([self.errors.get(i) for i in range(n)], dtype="string"),
            "duration_s": pd.array(self.duration, dtype="float64"),
            "sample_rate": _nullable_int(self.sample_rate),
            "channels": _nullable_int(self.channels),
            "emotion": pd.array(emotion, dtype="string"),
            "confidence": pd.array(
                np.where(predicted, self.probs[np.arange(n), best] if n else 0.0, np.nan),
                dtype="float64",
            ),
        }
        for j, c in enumerate(self.classes):
            data[f"prob_{c}"] = pd.array(self.probs[:, j], dtype="float64")
        if compare:
            labels = [parse_ravdess(p) for p in self.paths]
            truth = [None if lab is None else lab.emotion for lab in labels]
            data["true_emotion"] = pd.array(truth, dtype="string")
            data["actor"] = pd.array([lab and lab.actor for lab in labels], dtype="Int32")
            data["intensity"] = pd.array([lab and lab.intensity for lab in labels], dtype="string")
            correct = [
                None if t is None or not predicted[i] else bool(emotion[i] == t)
                for i, t in enumerate(truth)
            ]
            data["correct"] = pd.array(correct, dtype="boolean")
        data["speaker"] = pd.array(self.speakers, dtype="string")
        how = np.asarray([*NORM_LABELS, None], dtype=object)[self.norm]
        data["normalization"] = pd.array(how, dtype="string")
        frame = pd.DataFrame(data)
        assert list(frame.columns) == columns(self.classes, compare=compare)
        return frame


def _nullable_int(values: np.ndarray) -> object:
    import pandas as pd

    return pd.arrays.IntegerArray(values.astype(np.int32), mask=values == 0)


def write_table(
    frame: pd.DataFrame,
    out: str | os.PathLike[str],
    *,
    metadata: Mapping[str, str],
    overwrite: bool,
) -> None:
    """Write ``frame`` to ``out`` (format from the extension) atomically.

    The table goes to ``.<name>.<pid>.tmp`` in the same folder, which is then renamed over
    ``out``; on any error (or interruption) the temporary file is removed and ``out`` is left
    as it was. Parquet files carry ``metadata`` in their schema (keys ``ser.*``).
    """
    fmt = output_format(out)
    out = Path(out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        if fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            meta = dict(table.schema.metadata or {})
            meta.update({k.encode(): v.encode() for k, v in metadata.items()})
            pq.write_table(table.replace_schema_metadata(meta), tmp)
        else:
            frame.to_csv(tmp, index=False)
        if not overwrite and out.exists():
            raise DataError(f"{os.fspath(out)} appeared during the run; not replaced")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


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
