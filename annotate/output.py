"""The output file of a run: checked before any work, locked while the run lasts, written
atomically, and safe to open in a spreadsheet.

* Checks (:class:`OutputTarget`): the extension names a format; ``out`` is not a folder,
  does not exist (unless ``overwrite``), is not one of the run's input files, and its folder
  exists and is writable. All of this is known before a file is decoded.
* Lock: while a run lasts it holds an exclusive lock on ``.<name>.lock`` beside ``out``; a
  second run with the same ``out`` is refused at once instead of racing the first to the
  rename. The lock file is removed at the end; after a ``kill -9`` it is left, unlocked, and
  the next run takes it over.
* Clean-up: a run removes the table temporaries that dead runs left in the output folder,
  recognised by their lock (:mod:`ser.common.ownedfiles`); the feature spool does the same
  for its own (:mod:`.pipeline`). The journal of an interrupted run (``<name>.partial/``,
  :mod:`.journal`) is no temporary: it stays for ``--resume``, guarded by the lock.
* Writing: to ``.<name>.<pid>.tmp`` in the same folder (locked while written), renamed over
  ``out``; on any error (a full disk included) or interruption the temporary file is removed,
  ``out`` is left as it was, and the error names the file. The rows may come as a stream of
  tables (assembled from the journal), written as they come.
* CSV cells: a text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
  return gets a leading ``'``, as OWASP advises against CSV (formula) injection, so that a
  spreadsheet shows it as text instead of running it. Numbers are not text and are written
  as they are; Parquet keeps every value as it is.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ser.common import DataError, OutputError
from ser.common.ownedfiles import lock_fd, remove_stale, try_lock
from ser.corpora import FoundFile

from .table import output_format

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["FORMULA_STARTS", "OutputTarget", "neutralise_formula", "write_table"]

#: First characters that make a spreadsheet read a CSV cell as a formula (OWASP).
FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(text: str | None) -> str | None:
    """``text`` with a leading ``'`` when a spreadsheet would take it for a formula."""
    if text and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


class OutputTarget:
    """Where a run writes its table; checks on creation, locks as a context manager.

    Raises
    ------
    DataError
        On creation, for a bad extension, a folder, an existing file without ``overwrite``,
        or a folder that is missing or not writable.
    OutputError
        On entry, when another run holds the lock.
    """

    def __init__(self, out: str | os.PathLike[str], *, overwrite: bool) -> None:
        self.fmt = output_format(out)
        self.out = os.fspath(out)
        self.overwrite = overwrite
        self.folder = os.path.dirname(os.path.abspath(self.out))
        if os.path.isdir(self.out):
            raise DataError(f"--out {self.out} is a folder; give a .parquet or .csv file name")
        if os.path.exists(self.out) and not overwrite:
            raise DataError(f"{self.out} already exists; --overwrite replaces it")
        if not os.path.isdir(self.folder):
            raise DataError(f"cannot write {self.out}: folder {self.folder} does not exist")
        if not os.access(self.folder, os.W_OK):
            raise DataError(f"cannot write {self.out}: folder {self.folder} is not writable")
        name = os.path.basename(self.out)
        self.lock_path = os.path.join(self.folder, f".{name}.lock")
        self._tmp_pattern = os.path.join(self.folder, f".{name}.*.tmp")
        self._lock: int | None = None

    def check_inputs(self, files: Sequence[FoundFile]) -> None:
        """Refuse an ``out`` that is one of the input files (it would be overwritten)."""
        if not os.path.exists(self.out):
            return
        name = os.path.basename(os.path.realpath(self.out))
        for f in files:
            if os.path.basename(f.path) in (name, os.path.basename(self.out)) and _same(
                f.path, self.out
            ):
                raise DataError(f"--out {self.out} is one of the input files; choose another")

    def __enter__(self) -> OutputTarget:
        try:
            self._lock = lock_fd(self.lock_path)
        except OSError as exc:
            raise OutputError(f"cannot lock {self.lock_path}: {exc.strerror or exc}") from None
        if self._lock is None:
            raise OutputError(
                f"another run is writing {self.out} (it holds {self.lock_path}); wait for it "
                "to end or choose another --out"
            )
        remove_stale(self._tmp_pattern)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock is not None:
            try:
                os.unlink(self.lock_path)
            except OSError:
                pass
            os.close(self._lock)
            self._lock = None

    def write(self, table: pa.Table | Iterable[pa.Table]) -> None:
        """Write ``table`` (or tables of the same schema, one after the other, as they come)
        to ``out`` through a locked temporary file in the same folder."""
        write_table(table, self.out, overwrite=self.overwrite)


def _same(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def write_table(
    table: pa.Table | Iterable[pa.Table],
    out: str | os.PathLike[str],
    *,
    overwrite: bool,
) -> None:
    """Write ``table`` (from :func:`~.table.arrow_table`) to ``out`` atomically.

    ``table`` may be an iterable of tables with one schema (the rows of a run, as
    they are assembled): they are written as they come, so that memory holds one of them
    and a row group. The format comes from the extension. Parquet keeps the schema
    metadata; a table of up to :data:`ROW_GROUP` rows is one row group, a longer one is
    written a row group at a time. CSV is written
    as pandas' ``to_csv(index=False)`` writes it (minimal quoting, shortest round-trip
    floats, ``True``/``False``, empty fields for missing values), in batches, without
    importing pandas, with formula-like text neutralised (:func:`neutralise_formula`). The
    table goes to ``.<name>.<pid>.tmp`` in the same folder, which is then renamed over
    ``out``; on any error (or interruption) the temporary file is removed and ``out`` is
    left as it was.

    Raises
    ------
    OutputError
        When the file cannot be written (a full disk, a vanished folder...), naming it.
    """
    fmt = output_format(out)
    out = Path(out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tables = iter([table] if hasattr(table, "schema") else table)  # type: ignore[list-item]
    try:
        with open(tmp, "wb") as f:
            try_lock(f.fileno())  # a later run then knows it is not stale
            if fmt == "parquet":
                _write_parquet(tables, f)
            else:
                _write_csv(tables, f)
        if not overwrite and out.exists():
            raise DataError(f"{os.fspath(out)} appeared during the run; not replaced")
        os.replace(tmp, out)
    except OSError as exc:
        raise OutputError(f"cannot write {os.fspath(out)}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


#: Rows per Parquet row group when a table is written in parts.
ROW_GROUP = 4096


def _groups(tables: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """The rows of ``tables`` (at least one) in tables of :data:`ROW_GROUP` rows, the last
    shorter; the first table, empty, when there are no rows."""
    import pyarrow as pa

    held: list[pa.Table] = []
    n = out = 0
    first = None
    for t in tables:
        first = t if first is None else first
        while t.num_rows:
            take = min(t.num_rows, ROW_GROUP - n)
            held.append(t.slice(0, take))
            t, n = t.slice(take), n + take
            if n == ROW_GROUP:
                yield pa.concat_tables(held)
                held, n, out = [], 0, out + 1
    if held:
        yield pa.concat_tables(held)
    elif not out and first is not None:
        yield first


def _write_parquet(tables: Iterator[pa.Table], f: object) -> None:
    import pyarrow.parquet as pq

    groups = _groups(tables)
    first = next(groups)
    second = next(groups, None)
    if second is None:  # one row group
        pq.write_table(first, f)
        return
    with pq.ParquetWriter(f, first.schema) as writer:
        writer.write_table(first)
        writer.write_table(second)
        for group in groups:
            writer.write_table(group)


def _write_csv(tables: Iterator[pa.Table], f: object, *, batch_rows: int = 50_000) -> None:
    import csv
    import io

    import pyarrow as pa

    w = io.TextIOWrapper(f, encoding="utf-8", newline="")  # type: ignore[arg-type]
    try:
        writer = csv.writer(w, lineterminator="\n")
        header = False
        for table in tables:
            if not header:
                writer.writerow(table.column_names)
                header = True
            text_columns = [
                i for i, field in enumerate(table.schema) if pa.types.is_large_string(field.type)
            ]
            for batch in table.to_batches(max_chunksize=batch_rows):
                # the csv module writes None as an empty field and floats with repr()
                cols = list(batch.to_pydict().values())
                for i in text_columns:
                    cols[i] = [neutralise_formula(v) for v in cols[i]]
                writer.writerows(zip(*cols))
        w.flush()
    finally:
        w.detach()  # the caller closes the file
