"""The journal of a run: each finished file's rows and features, on disk as they arrive.

``ser-annotate --out T`` keeps, in the folder ``T.partial/`` beside ``T``, what is costly and
final about each file: its rows (span, channel, error) and their feature vectors, with the
file's facts (path, size, modification time, duration, sample rate, channels, speaker, true
label). Predictions are not kept: normalisation needs every row of a speaker group, so they
are made when the journal is read back in table order (:func:`~.pipeline.assemble`), which
gives the table of an uninterrupted run, value for value.

* Format: ``manifest.json`` (what the run is: :func:`~.collect.run_manifest`) and part files
  ``part-<session>-<seq>-<first>-<last>.arrow``, each an Arrow IPC file of the rows of whole
  files (:func:`~.collect.entry_batch`; first/last: the walk indices it spans). A part is
  written to a ``.tmp`` file, fsync'd, renamed, and the folder fsync'd: it is there entirely
  or not at all, whatever stops the run (``kill -9``, a crash of the machine).
* Cadence: finished files wait in memory until :data:`FLUSH_ROWS` rows or :data:`FLUSH_S`
  seconds have gathered, then go out as one part; Ctrl-C and SIGTERM write what waits before
  the run exits. So an interruption loses at most the files in the workers' hands and,
  after ``kill -9`` or a crash, those that finished in the last half second (at most 1,024
  rows; a part costs an fsync, some 7 ms here).
* Resume: a file counts as done when the walk finds it at the same place with the same
  path, size and modification time, and the manifest matches; anything else is a
  :class:`~ser.common.DataError` that says what changed.

The folder is made with the first part, and removed once the table is written, or when a
failed run leaves nothing in it. The output's lock (:mod:`.output`) guards it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ser.common import DataError, OutputError

from .collect import FileEntry, column, entry_batch, file_key, manifest_changes, take_rows

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["FLUSH_ROWS", "FLUSH_S", "Journal", "journal_folder"]

logger = logging.getLogger(__name__)

# Arrow's default allocator (mimalloc) kept some 30 MB of freed memory while the table of
# 200,000 files was assembled from the journal and written; the system allocator does not.
# Only when pyarrow is not loaded yet (the choice is made then) and nobody chose one.
if "pyarrow" not in sys.modules:
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

SUFFIX = ".partial"
MANIFEST = "manifest.json"
#: A part is written when this many rows wait, or the oldest waited this long (seconds).
FLUSH_ROWS, FLUSH_S = 1024, 0.5
#: Rows and files per table-order chunk read back (:meth:`Journal.read_sorted`).
READ_ROWS, READ_FILES = 1024, 1024
_PART = re.compile(r"part-(\d+)-(\d+)-(\d+)-(\d+)\.arrow")


def journal_folder(out: str) -> str:
    """The journal folder of output ``out``."""
    return os.fspath(out) + SUFFIX


@dataclass(frozen=True)
class _Part:
    session: int
    seq: int
    first: int
    last: int
    path: str


class Journal:
    """The journal ``folder`` (``<out>.partial``) of a run that ``manifest`` describes.

    ``resume`` continues the journal there (none: the run starts afresh); without it, a
    journal there is discarded with ``overwrite``, else it is a :class:`DataError` (before
    any work), as is a ``resume`` with another manifest (the message names what changed).
    """

    def __init__(
        self,
        folder: str,
        manifest: dict[str, Any],
        n_features: int,
        *,
        resume: bool,
        overwrite: bool,
    ) -> None:
        self.folder = folder
        self.manifest = json.loads(json.dumps(manifest))  # as it reads back
        self.n_features = n_features
        self.parts: list[_Part] = []
        self._buffer: list[FileEntry] = []
        self._buffered_rows = 0
        self._since = 0.0
        self._done = np.zeros(0, np.int64)
        self.session = 0
        self._seq = 0
        self._created = False
        if os.path.lexists(folder) and not os.path.isfile(os.path.join(folder, MANIFEST)):
            if not os.path.isdir(folder) or not all(_ours(n) for n in os.listdir(folder)):
                raise DataError(
                    f"{folder} is in the way of this --out's journal (it is not "
                    "one); move it away or choose another --out"
                )
            _remove(folder)  # a run was killed as it made it or removed it: nothing to keep
        if not os.path.lexists(folder):
            if resume:
                logger.info("no journal in %s: nothing to resume, starting afresh", folder)
            return
        if not resume:
            if not overwrite:
                raise DataError(
                    f"{folder} holds the work of an interrupted run on this --out; --resume "
                    "continues it, --overwrite starts afresh"
                )
            _remove(folder)
            return
        self._load()

    # -- resuming -------------------------------------------------------------------------

    def _load(self) -> None:

        with open(os.path.join(self.folder, MANIFEST), encoding="utf-8") as f:
            old = json.load(f)
        changed = manifest_changes(old, self.manifest)
        if changed:
            raise DataError(
                f"cannot resume from {self.folder}: {'; '.join(changed)} changed "
                "since the interrupted run; --overwrite starts afresh"
            )
        for name in sorted(os.listdir(self.folder)):
            m = _PART.fullmatch(name)
            if m:
                self.parts.append(_Part(*map(int, m.groups()), os.path.join(self.folder, name)))
            elif name.endswith(".tmp"):  # a part that a killed run did not finish
                os.unlink(os.path.join(self.folder, name))
        self.parts.sort(key=lambda p: (p.session, p.seq))
        self.session = 1 + max((p.session for p in self.parts), default=-1)
        self._done = np.zeros(1 + max((p.last for p in self.parts), default=-1), np.int64)
        for part in self.parts:
            cols = _read(part.path).select(["file", "seq", "key"])
            first = column(cols, "seq") == 0
            files = column(cols, "file")[first]
            new = self._done[files] == 0  # a file twice: the first part counts (see assembly)
            self._done[files[new]] = column(cols, "key")[first][new]
        self._created = True

    def holds(self, index: int) -> bool:
        """Whether the journal holds file ``index`` of the walk (see :meth:`done`)."""
        return index < len(self._done) and bool(self._done[index])

    @property
    def n_done(self) -> int:
        """Files the journal holds already."""
        return int(np.count_nonzero(self._done))

    def done(self, index: int, relpath: str, size: int, mtime_ns: int) -> bool:
        """Whether file ``index`` of the walk is in the journal, as it is now; a
        :class:`DataError` when it is there with another path, size or modification time."""
        if not self.holds(index):
            return False
        if self._done[index] == file_key(relpath, size, mtime_ns):
            return True
        was = self._record(index)
        if was["path"] != relpath:
            what = (
                f"the walk found {relpath!r} where the interrupted run had {was['path']!r} "
                "(files were added or removed)"
            )
        elif was["size"] != size:
            what = f"{relpath} changed (size {was['size']} -> {size} bytes)"
        else:
            what = f"{relpath} changed (modified since it was annotated)"
        raise DataError(f"cannot resume from {self.folder}: {what}; --overwrite starts afresh")

    def check_count(self, n_files: int) -> None:
        """Refuse a journal holding files beyond the ``n_files`` that the walk found now."""
        gone = np.flatnonzero(self._done[n_files:])
        if len(gone):
            path = self._record(n_files + int(gone[0]))["path"]
            raise DataError(
                f"cannot resume from {self.folder}: the walk no longer finds "
                f"{path!r} (files were removed); --overwrite starts afresh"
            )

    def _record(self, index: int) -> dict[str, Any]:
        for part in self.parts:
            if part.first <= index <= part.last:
                t = _read(part.path).select(["file", "path", "size"])
                hit = np.flatnonzero(column(t, "file") == index)
                if len(hit):
                    return t.slice(int(hit[0]), 1).to_pylist()[0]
        return {"path": None, "size": None}

    # -- writing --------------------------------------------------------------------------

    def add(self, entry: FileEntry) -> None:
        """Keep a finished file; writes a part when enough rows or time have gathered."""
        if not self._buffer:
            self._since = time.monotonic()
        self._buffer.append(entry)
        self._buffered_rows += len(entry.row_errors)
        if self._buffered_rows >= FLUSH_ROWS or time.monotonic() - self._since >= FLUSH_S:
            self.flush()

    def flush(self) -> None:
        """Write the files that wait as one part (fsync'd). No-op when none wait."""
        if not self._buffer:
            return
        entries = self._buffer
        batch = entry_batch(entries, self.n_features)
        first, last = min(e.index for e in entries), max(e.index for e in entries)
        name = f"part-{self.session:04d}-{self._seq:06d}-{first}-{last}.arrow"
        path = os.path.join(self.folder, name)
        self._create()
        self._write(path, lambda f: _write_ipc(f, batch))  # interrupted: written again, same name
        self._buffer, self._buffered_rows = [], 0
        self.parts.append(_Part(self.session, self._seq, first, last, path))
        self._seq += 1

    def tail(self) -> pa.RecordBatch | None:
        """The files that wait (not written), as one batch; they keep waiting."""
        return entry_batch(self._buffer, self.n_features) if self._buffer else None

    def _create(self) -> None:
        if self._created:
            return
        try:
            os.makedirs(self.folder, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot write the feature spool {self.folder}: {exc}") from None
        text = json.dumps(self.manifest, indent=1, sort_keys=True).encode()
        self._write(os.path.join(self.folder, MANIFEST), lambda f: f.write(text))
        self._created = True

    def _write(self, path: str, write: Any) -> None:
        tmp = path + ".tmp"
        try:
            with open(tmp, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            if os.name == "posix":  # the rename too (folders cannot be opened elsewhere)
                fd = os.open(self.folder, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise OutputError(
                f"cannot write the feature spool {path}: {exc.strerror or exc}"
            ) from None

    def discard(self) -> None:
        """Remove the journal (the table is written, or it holds nothing)."""
        self._buffer, self._buffered_rows = [], 0
        _remove(self.folder)
        self.parts = []

    def keep(self) -> bool:
        """After an interruption or a failure: write what waits, if it can be written, and
        keep the journal if it holds any file (True), else remove it."""
        try:
            self.flush()
        except (OSError, DataError):  # a full disk: what waits is lost, the parts stay
            pass
        if not self.parts:
            self.discard()
        return bool(self.parts)

    # -- reading back ---------------------------------------------------------------------

    def read_sorted(self, tail: pa.RecordBatch | None = None) -> Iterator[pa.Table]:
        """Every row of the journal (and ``tail``), in table order (file, then the file's
        row order), in tables of at most about :data:`READ_ROWS` rows.

        Parts are read when the walk index reaches their first file and dropped after their
        last, so memory holds the parts that span the current index (a few, as files finish
        nearly in walk order) and one chunk. A file found in two parts is taken from the
        first written.
        """
        import pyarrow as pa

        todo = sorted(
            range(len(self.parts) + (tail is not None)), key=lambda k: self._first(k, tail)
        )
        todo.reverse()
        active: list[tuple[int, pa.Table, np.ndarray]] = []  # (order, rows sorted, files)

        def load(k: int) -> None:
            t = pa.Table.from_batches([tail]) if k == len(self.parts) else _read(self.parts[k].path)
            files, seq = column(t, "file"), column(t, "seq")
            order = np.lexsort((seq, files))
            active.append((k, take_rows(t, order), files[order]))

        a = 0
        while todo or active:
            if not active:
                a = max(a, self._first(todo[-1], tail))
            b = a + READ_FILES
            while todo and self._first(todo[-1], tail) < b:
                load(todo.pop())
            while (
                b - a > 1
                and sum(int(np.searchsorted(f, b) - np.searchsorted(f, a)) for _, _, f in active)
                > READ_ROWS
            ):
                b = a + (b - a) // 2
            pieces, orders = [], []
            for k, t, f in active:
                lo, hi = np.searchsorted(f, a), np.searchsorted(f, b)
                if hi > lo:
                    pieces.append(t.slice(lo, hi - lo))
                    orders.append(np.full(hi - lo, k))
            if pieces:
                yield _first_copies(pa.concat_tables(pieces), np.concatenate(orders))
            active = [x for x in active if len(x[2]) and x[2][-1] >= b]
            # the next file of a part held, or of the next part to read (skipping no file)
            nxt = [int(f[np.searchsorted(f, b)]) for _, _, f in active]
            a = min([*nxt, *(self._first(todo[-1], tail) for _ in todo[-1:])], default=b)

    def _first(self, k: int, tail: pa.RecordBatch | None) -> int:
        if k < len(self.parts):
            return self.parts[k].first
        import pyarrow as pa

        return int(np.min(column(pa.Table.from_batches([tail]), "file")))


def _first_copies(t: pa.Table, orders: np.ndarray) -> pa.Table:
    """``t`` sorted by file then row, a file's rows taken from one part (the first)."""
    files = column(t, "file")
    idx = np.lexsort((orders, files))  # stable: each part's rows stay in their order
    f, o = files[idx], orders[idx]
    starts = np.r_[True, f[1:] != f[:-1]] if len(f) else np.zeros(0, bool)
    keep = o == o[starts][np.cumsum(starts) - 1]
    return take_rows(t, idx[keep])  # (in order already: a slice of all of t)


def _ours(name: str) -> bool:
    return name.endswith(".tmp") or name == MANIFEST or _PART.fullmatch(name) is not None


def _remove(folder: str) -> None:
    """Remove a journal folder, its manifest last: a run killed meanwhile leaves a journal
    with fewer parts (their files are done again), never parts without their manifest."""
    try:
        names = sorted(os.listdir(folder), key=lambda n: n == MANIFEST)
    except FileNotFoundError:
        return
    for name in names:
        try:
            os.unlink(os.path.join(folder, name))
        except OSError:
            pass
    shutil.rmtree(folder, ignore_errors=True)


def _read(path: str) -> pa.Table:
    import pyarrow as pa

    try:
        with pa.OSFile(path) as source:
            return pa.ipc.open_file(source).read_all()
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(
            f"cannot read the journal part {path} ({exc}); --overwrite starts afresh"
        ) from None


def _write_ipc(f: Any, batch: pa.RecordBatch) -> None:
    import pyarrow as pa

    with pa.ipc.new_file(f, batch.schema) as writer:
        writer.write_batch(batch)
