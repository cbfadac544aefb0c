"""Reading a ``ser-annotate`` table for a report: only the columns a report needs.

A table is a pandas DataFrame (as :func:`ser.annotate.annotate` returns it, its run's
metadata in ``attrs``) or a Parquet or CSV file that ``ser-annotate`` wrote. Parquet files
are read column by column (only those needed, so a table of millions of rows costs only
them), with the run's ``ser.*`` metadata; CSV files with the same columns, the leading ``'``
that ``ser-annotate`` puts before formula-like text taken off again. Anything that is not a
ser table is refused in one line, naming the file and what is missing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ser.common.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["REPORT_COLUMNS", "AnnotationTable", "read_annotation_table"]

#: The columns a report reads (``prob_<emotion>`` columns too), when the table has them.
REPORT_COLUMNS: tuple[str, ...] = (
    "path",
    "start",
    "end",
    "channel",
    "status",
    "error",
    "duration_s",
    "emotion",
    "confidence",
    "true_emotion",
    "actor",
    "speaker",
)
_REQUIRED = ("path", "status", "emotion")
_TEXT = ("path", "status", "error", "emotion", "true_emotion", "speaker")
_NEUTRALISED = ("=", "+", "-", "@", "\t", "\r")  # what ser's CSV writer prefixes with "'"


@dataclass
class AnnotationTable:
    """The columns of a ser table that a report needs, and where they came from."""

    frame: pd.DataFrame
    name: str  # the file's path, or "table" for a DataFrame
    metadata: dict[str, Any] = field(default_factory=dict)  # ser.* keys, JSON decoded

    @property
    def classes(self) -> list[str]:
        """The model's classes: from the ``prob_*`` columns, else the metadata."""
        probs = [str(c)[5:] for c in self.frame.columns if str(c).startswith("prob_")]
        return probs or [str(c) for c in self.metadata.get("ser.model_classes") or []]


def _wanted(name: object) -> bool:
    return str(name) in REPORT_COLUMNS or str(name).startswith("prob_")


def _decode(meta: Mapping[Any, Any]) -> dict[str, Any]:
    out = {}
    for k, v in meta.items():
        key = k.decode() if isinstance(k, bytes) else str(k)
        if not key.startswith("ser."):
            continue
        raw = v.decode() if isinstance(v, bytes) else v
        try:
            out[key] = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            out[key] = raw
    return out


def read_annotation_table(table: pd.DataFrame | str | os.PathLike[str]) -> AnnotationTable:
    """The report's columns of ``table`` (a DataFrame, or a ``.parquet``/``.csv`` path).

    Raises
    ------
    DataError
        One line naming the file: it is missing, unreadable, not Parquet or CSV, or not a
        ``ser-annotate`` table (no ``path``, ``status`` or ``emotion`` column, or a
        ``status`` other than ``ok`` and ``error``).
    """
    import pandas as pd

    if isinstance(table, pd.DataFrame):
        frame = table[[c for c in table.columns if _wanted(c)]].copy()
        name, meta = "table", _decode(table.attrs)
    elif isinstance(table, (str, os.PathLike)):
        name = os.fspath(table)
        frame, meta = _read_file(Path(name))
    else:
        raise DataError(
            f"a report needs a ser-annotate table (a DataFrame, or a .parquet or .csv file), "
            f"got {type(table).__name__}"
        )
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise DataError(
            f"{name}: not a ser-annotate table (no column {', '.join(map(repr, missing))})"
        )
    status = set(frame["status"].dropna().astype(str).unique()) - {"ok", "error"}
    if status:
        shown = ", ".join(repr(s) for s in sorted(status)[:3])
        raise DataError(
            f"{name}: not a ser-annotate table (column 'status' holds {shown}; a ser table's "
            "is 'ok' or 'error')"
        )
    for col in _TEXT:
        if col in frame.columns:
            frame[col] = frame[col].astype("string")
    return AnnotationTable(frame.reset_index(drop=True), name, meta)


def _read_file(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise DataError(f"{path}: a report reads a .parquet or .csv table, not {suffix or 'this'}")
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "not found"
        raise DataError(f"{path}: {what}")
    return _read_parquet(path) if suffix == ".parquet" else _read_csv(path)


def _read_parquet(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        columns = [c for c in schema.names if _wanted(c)]
        frame = pq.read_table(path, columns=columns).to_pandas()
    except Exception as exc:  # pyarrow raises several kinds for a file that is no Parquet
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: cannot read it as Parquet ({reason})") from None
    return frame, _decode(schema.metadata or {})


def _read_csv(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    import pandas as pd

    try:
        frame = pd.read_csv(
            path,
            usecols=_wanted,
            dtype={c: "string" for c in _TEXT},
            keep_default_na=False,  # a file named "NA" stays a name; only empty cells are null
            na_values=[""],
        )
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: cannot read it as CSV ({reason})") from None
    for col in _TEXT:
        if col in frame.columns:
            text = frame[col]
            frame[col] = text.mask(text == "", pd.NA)
            frame[col] = _unneutralise(frame[col])
    return frame, {}


def _unneutralise(col: pd.Series) -> pd.Series:
    """Take off the ``'`` that ser's CSV writer put before formula-like text."""
    starts = col.str.startswith("'") & col.str[1:2].isin(list(_NEUTRALISED))
    return col.mask(starts.fillna(False), col.str[1:])
