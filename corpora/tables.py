"""Labels tables: a ``.csv`` or ``.parquet`` file with ``path`` and ``emotion`` columns.

An optional ``speaker`` column names each clip's speaker (an empty cell: unknown). Column
names are read case-insensitively. Paths are relative to the table's folder, or absolute;
every one must name an existing regular file, or the table is refused as a whole.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from ser.common.errors import DataError

__all__ = ["TABLE_SUFFIXES", "TableRow", "read_labels_table"]

#: What a labels table's file name ends with (case-insensitive).
TABLE_SUFFIXES: tuple[str, ...] = (".csv", ".parquet")
_REQUIRED = ("path", "emotion")
_SHOWN = 5  # missing files named in the error


@dataclass(frozen=True)
class TableRow:
    """One row: the file (absolute), its path as written, label and speaker as written."""

    path: str
    written: str
    label: str
    speaker: str | None


def _cell(value: object) -> str:
    """A cell as text: ``""`` for a missing value, ``"1001"`` for an integral float."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    return str(value).strip()


def _read(path: str):
    import pandas as pd

    try:
        if path.lower().endswith(".parquet"):
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"labels table {path} does not exist") from None
    except OSError as exc:
        raise DataError(f"labels table {path}: cannot read: {exc.strerror or exc}") from None
    except Exception as exc:  # parser errors of pandas and pyarrow have no common base
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"labels table {path}: cannot read: {reason}") from None


def read_labels_table(path: str | os.PathLike[str]) -> list[TableRow]:
    """The rows of the labels table at ``path``, in table order.

    Raises
    ------
    DataError
        When the table cannot be read, lacks the ``path`` or ``emotion`` column, has an
        empty path cell, or names files that do not exist (the first few listed, and how
        many there are) or are not regular files.
    """
    path = os.fspath(path)
    if not path.lower().endswith(TABLE_SUFFIXES):
        raise DataError(f"labels table {path}: expected a {' or '.join(TABLE_SUFFIXES)} file")
    frame = _read(path)
    columns = {str(c).strip().lower(): c for c in frame.columns}
    missing = [c for c in _REQUIRED if c not in columns]
    if missing:
        raise DataError(
            f"labels table {path} lacks the column(s) {', '.join(missing)} (it has: "
            f"{', '.join(map(str, frame.columns)) or 'none'}); it needs path and emotion, "
            f"and may have speaker"
        )
    folder = os.path.dirname(os.path.abspath(path))
    written = [_cell(v) for v in frame[columns["path"]].tolist()]
    labels = [_cell(v) for v in frame[columns["emotion"]].tolist()]
    speakers = (
        [_cell(v) or None for v in frame[columns["speaker"]].tolist()]
        if "speaker" in columns
        else [None] * len(written)
    )
    empty = [i + 2 for i, w in enumerate(written) if not w]  # line numbers, header is 1
    if empty:
        lines = ", ".join(map(str, empty[:_SHOWN])) + (", ..." if len(empty) > _SHOWN else "")
        raise DataError(f"labels table {path}: {len(empty)} row(s) without a path (row {lines})")
    rows: list[TableRow] = []
    absent: list[str] = []
    not_files: list[str] = []
    for w, label, speaker in zip(written, labels, speakers):
        full = os.path.normpath(os.path.join(folder, os.path.expanduser(w)))
        if os.path.isfile(full):
            rows.append(TableRow(full, w, label, speaker))
        elif os.path.exists(full):
            not_files.append(w)
        else:
            absent.append(w)
    for bad, what in ((absent, "do not exist"), (not_files, "are not regular files")):
        if bad:
            shown = ", ".join(bad[:_SHOWN]) + (", ..." if len(bad) > _SHOWN else "")
            raise DataError(
                f"labels table {path}: {len(bad)} of its {len(written)} files {what} "
                f"(paths are relative to {folder}): {shown}"
            )
    return rows
