"""The output table: its columns, and the compact row store behind it.

Rows (not features) of the whole run are kept in preallocated columns indexed by walk order,
a few hundred bytes per file, so results that arrive in any order end up sorted. Writing the
table is :mod:`.output`'s job.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ser.common import DataError
from ser.corpora import parse_ravdess

from .worker import FileResult

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["FORMATS", "NORM_LABELS", "RowStore", "columns", "output_format", "read_metadata"]

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

    def to_arrow(self, *, compare: bool, metadata: Mapping[str, str] | None = None) -> pa.Table:
        """The output table (see :func:`columns`) as an Arrow table, built without pandas.

        Strings are ``large_string``, integers ``int32``, flags ``bool``, the rest
        ``float64``, all nullable; NaN becomes null. The schema metadata says which pandas
        dtypes the columns have (``string``, ``Int32``, ``boolean``, ``float64``), as
        ``pyarrow.Table.from_pandas`` would, so ``pandas.read_parquet`` gives the same frame
        as :meth:`to_frame`; ``metadata`` is added to it.
        """
        import pyarrow as pa

        n = self.n
        ok = self.status == _OK
        predicted = self.norm >= 0
        classes = np.asarray(self.classes, dtype=object)
        best = np.argmax(np.where(np.isnan(self.probs), -np.inf, self.probs), axis=1)
        emotion = np.where(predicted, classes[best] if len(classes) else None, None)
        confidence = np.where(predicted, self.probs[np.arange(n), best] if n else 0.0, np.nan)

        text, real, int32 = _text_array, _float_array, _int32_array
        cols: dict[str, pa.Array] = {
            "path": text(self.paths),
            "status": text(np.where(ok, "ok", "error").tolist()),
            "error": text([self.errors.get(i) for i in range(n)]),
            "duration_s": real(self.duration),
            "sample_rate": int32(self.sample_rate, self.sample_rate == 0),
            "channels": int32(self.channels, self.channels == 0),
            "emotion": text(emotion.tolist()),
            "confidence": real(confidence),
        }
        for j, c in enumerate(self.classes):
            cols[f"prob_{c}"] = real(self.probs[:, j])
        if compare:
            labels = [parse_ravdess(p) for p in self.paths]
            truth = [None if lab is None else lab.emotion for lab in labels]
            cols["true_emotion"] = text(truth)
            actor = np.array([0 if lab is None else lab.actor for lab in labels], np.int32)
            cols["actor"] = int32(actor, np.array([lab is None for lab in labels], bool))
            cols["intensity"] = text([lab and lab.intensity for lab in labels])
            scored = np.array([t is not None and bool(predicted[i]) for i, t in enumerate(truth)])
            correct = np.array([t is not None and emotion[i] == t for i, t in enumerate(truth)])
            cols["correct"] = _bool_array(correct.astype(bool), ~scored.astype(bool))
        cols["speaker"] = text(self.speakers)
        cols["normalization"] = text(np.asarray([*NORM_LABELS, None], dtype=object)[self.norm])
        assert list(cols) == columns(self.classes, compare=compare)
        table = pa.Table.from_arrays(list(cols.values()), names=list(cols))
        meta = {b"pandas": json.dumps(_pandas_metadata(table)).encode()}
        meta.update({k.encode(): v.encode() for k, v in (metadata or {}).items()})
        return table.replace_schema_metadata(meta)

    def to_frame(self, *, compare: bool) -> pd.DataFrame:
        """The output table as a DataFrame with stable nullable dtypes (``string``,
        ``Int32``, ``boolean``, ``float64``) and a RangeIndex."""
        return self.to_arrow(compare=compare).to_pandas()


# Arrow arrays are built from their buffers: ``pyarrow.array`` imports pandas (about 1 s with
# its teardown) to check whether its argument is a pandas object.


def _validity(missing: np.ndarray) -> tuple[object, int]:
    import pyarrow as pa

    missing = np.asarray(missing, dtype=bool)
    n_null = int(missing.sum())
    if n_null == 0:
        return None, 0
    return pa.py_buffer(np.packbits(~missing, bitorder="little")), n_null


def _float_array(values: np.ndarray) -> pa.Array:
    """float64, NaN as null."""
    data = np.ascontiguousarray(values, dtype=np.float64)
    return _fixed_array(data, np.isnan(data))


def _int32_array(values: np.ndarray, missing: np.ndarray) -> pa.Array:
    return _fixed_array(np.ascontiguousarray(values, dtype=np.int32), missing)


def _fixed_array(data: np.ndarray, missing: np.ndarray) -> pa.Array:
    """A fixed-width Arrow array over ``data``'s buffer, null where ``missing``."""
    import pyarrow as pa

    valid, n_null = _validity(missing)
    kind = pa.from_numpy_dtype(data.dtype)
    return pa.Array.from_buffers(kind, len(data), [valid, pa.py_buffer(data)], n_null)


def _bool_array(values: np.ndarray, missing: np.ndarray) -> pa.Array:
    import pyarrow as pa

    bits = pa.py_buffer(np.packbits(np.asarray(values, dtype=bool), bitorder="little"))
    valid, n_null = _validity(missing)
    return pa.Array.from_buffers(pa.bool_(), len(values), [valid, bits], n_null)


def _text_array(values: Sequence[str | None]) -> pa.Array:
    """large_string (UTF-8), None as null.

    File names that are not valid UTF-8 reach Python as lone surrogates (PEP 383), which
    UTF-8 cannot hold: their bytes are written as ``\\xNN`` escapes (``caf\\xe9.wav``).
    """
    import pyarrow as pa

    encoded = [b"" if v is None else _utf8(str(v)) for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    valid, n_null = _validity(np.array([v is None for v in values], dtype=bool))
    buffers = [valid, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    return pa.Array.from_buffers(pa.large_string(), len(encoded), buffers, n_null)


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogateescape")  # the original bytes
        return raw.decode("utf-8", "backslashreplace").encode("utf-8")


#: pandas dtypes of the Arrow column types of the output table.
_PANDAS_DTYPES: dict[str, tuple[str, str]] = {  # arrow type: (pandas_type, numpy_type)
    "large_string": ("object", "string"),
    "double": ("float64", "float64"),
    "int32": ("int32", "Int32"),
    "bool": ("bool", "boolean"),
}


def _pandas_metadata(table: pa.Table) -> dict[str, object]:
    """The ``pandas`` schema metadata that ``pyarrow.Table.from_pandas`` writes for a frame of
    these columns with nullable dtypes, index not kept (without importing pandas)."""
    from importlib.metadata import PackageNotFoundError, version

    import pyarrow as pa

    try:
        pandas_version = version("pandas")
    except PackageNotFoundError:  # pragma: no cover - pandas is a dependency
        pandas_version = None
    cols = []
    for f in table.schema:
        pandas_type, numpy_type = _PANDAS_DTYPES[str(f.type)]
        cols.append(
            {
                "name": f.name,
                "field_name": f.name,
                "pandas_type": pandas_type,
                "numpy_type": numpy_type,
                "metadata": None,
            }
        )
    return {
        "index_columns": [],
        "column_indexes": [],
        "columns": cols,
        "attributes": {},
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": pandas_version,
    }


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
