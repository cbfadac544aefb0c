"""From worker results to predictions: fixed chunks, optional normalisation, bounded memory.

Rows are predicted in fixed chunks of :data:`CHUNK` files of the walk order (the ``ok`` rows
among them), whatever order the workers finish in, so a run gives bit-identical probabilities
with any number of workers.

In memory (:func:`~.api.annotate`: :class:`Predictor`, :class:`~.table.RowStore`):
* Normalisation ``"none"``: a chunk's feature vectors wait in memory until its last file is
  back, then the chunk is predicted and its features dropped. Only chunks with files still
  in flight hold features.
* ``"corpus"`` / ``"speaker"`` (two passes): pass 1 writes each feature vector at its row's
  place in a temporary float32 file on disk (the *spool*). Then the spool is read in chunks
  to accumulate per-speaker statistics (:class:`~ser.features.normalize.RunningStats`), and read
  again to normalise each row with the statistics of its group (falling back to the whole run,
  then to the model's training statistics, see :func:`~ser.features.normalize.choose_stats`) and
  predict. Memory stays a few chunks; disk use is ``4 * n_features`` bytes per file.

To a file (:func:`~.api.annotate_to_file`): rows and features go to the run's journal
(:mod:`.journal`) as files finish; :func:`assemble` predicts them, read back in table order,
in the same chunks and passes: both paths give the same table.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import tempfile
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ser.common import OutputError
from ser.common.ownedfiles import remove_stale, try_lock
from ser.features.extract import one_blas_thread
from ser.features.normalize import RunningStats, choose_stats
from ser.models import Model

from .table import NORM_LABELS, RowStore
from .worker import FileResult

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["CHUNK", "Predictor", "assemble"]

logger = logging.getLogger(__name__)

#: Rows per prediction chunk (and per spool read).
CHUNK = 256
_UNNORMALISED = ("too few files to normalise and model %r has no training statistics: "
                 "features of group %r are used unnormalised")  # fmt: skip
#: Names of the spool files: SPOOL_PREFIX + random + SPOOL_SUFFIX.
SPOOL_PREFIX, SPOOL_SUFFIX = ".ser-features-", ".f32"


class Predictor:
    """Collects worker results into ``store`` and predicts them chunk by chunk.

    Parameters
    ----------
    model : Model
    store : RowStore
        Receives every result and prediction.
    mode : {"none", "corpus", "speaker"}
        Effective normalisation.
    spool_dir : str or None
        Folder for the temporary feature file (normalising modes only); system temp if None.
    chunk : int > 0, optional
        Files per prediction chunk (rows per spool block); default :data:`CHUNK`.
    """

    def __init__(
        self,
        model: Model,
        store: RowStore,
        mode: str,
        spool_dir: str | None,
        *,
        chunk: int | None = None,
    ) -> None:
        self.model = model
        self.store = store
        self.mode = mode
        self.n_features = model.n_features
        self.chunk = chunk or CHUNK
        n = store.n
        self._left = np.diff(np.r_[np.arange(0, n, self.chunk), n]).astype(np.int64)
        self._pieces_left = np.ones(n, np.int32)
        self._held: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        self._spooled: list[np.ndarray] = []  # ids of the rows in the spool
        self._spool = None if mode == "none" else _Spool(spool_dir, self.n_features)
        self.seconds = 0.0  # spent in add() and finish()

    def add(self, res: FileResult) -> None:
        """Take one worker result (any order); predicts a chunk as soon as it is complete."""
        t0 = time.perf_counter()
        try:
            if (
                res.features is not None
                and res.features.size
                and res.features.shape[-1:] != (self.n_features,)
            ):
                res = FileResult(
                    res.index,
                    "error",
                    f"feature vector has {res.features.shape[-1]} values, but model "
                    f"{self.model.name!r} expects {self.n_features}",
                )
            self._add(res)
        finally:
            self.seconds += time.perf_counter() - t0

    def _add(self, res: FileResult) -> None:
        rows, X = self.store.set_result(res)
        i = res.index
        c = i // self.chunk
        if len(rows):
            if self._spool is None:
                self._held.setdefault(c, []).append((rows, X))
            else:
                self._spool.write(rows, X)
                self._spooled.append(rows)
        self._pieces_left[i] += res.n_pieces - 1
        self._pieces_left[i] -= 1
        if self._pieces_left[i] > 0:
            return
        self._left[c] -= 1
        if self._left[c] == 0 and self._spool is None:
            held = self._held.pop(c, [])
            if held:
                rows = np.concatenate([r for r, _ in held])
                X = np.concatenate([x for _, x in held])
                order = self.store.order(rows)  # table order: the same whatever arrived first
                at = np.argsort(rows)
                self._predict(order, X[at[np.searchsorted(rows[at], order)]], None)

    def finish(self) -> None:
        """Second pass of the normalising modes (no-op for ``"none"``); frees the spool."""
        if self._spool is None:
            return
        t0 = time.perf_counter()
        try:
            rows = self.store.order(np.concatenate(self._spooled or [np.zeros(0, np.intp)]))
            running = RunningStats()
            for block in self._blocks(rows):
                running.add(self._spool.read(block), self._groups(block))
            chosen: dict[Hashable, tuple[object, str]] = {}
            for block in self._blocks(rows):
                X, how = _normalised(
                    self._spool.read(block),
                    self._groups(block),
                    self.mode,
                    running,
                    self.model,
                    chosen,
                )
                self._predict(block, X, how)
        finally:
            self.close()
            self.seconds += time.perf_counter() - t0

    def expect_pieces(self, index: int, n: int) -> None:
        """File ``index`` comes back as ``n`` results (its pieces, planned by the caller)."""
        self._pieces_left[index] = n

    def file_done(self, index: int) -> bool:
        """Whether every piece of file ``index`` has been received."""
        return bool(self._pieces_left[index] <= 0)

    @property
    def held_chunks(self) -> int:
        """Chunks whose feature vectors wait in memory for their last file (mode "none")."""
        return len(self._held)

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()

    def _blocks(self, rows: np.ndarray) -> Iterator[np.ndarray]:
        for start in range(0, len(rows), self.chunk):
            yield rows[start : start + self.chunk]

    def _groups(self, rows: np.ndarray) -> list[Hashable]:
        """The normalisation group of each row (see :func:`_group_keys`)."""
        files, store = self.store.row_files(rows), self.store
        speakers = [store.speakers[f] for f in files.tolist()]
        return _group_keys(
            self.mode, speakers, store.n_rows_of[files], files, store.row_channels(rows)
        )

    def _predict(self, rows: np.ndarray, X: np.ndarray, how: list[str] | None) -> None:
        probs = _predict(self.model, X)
        self.store.set_predictions(rows, probs, how or ["none"] * len(rows))


def _predict(model: Model, X: np.ndarray) -> np.ndarray:
    # one BLAS thread: a chunk is a few small products, and the threads OpenBLAS would
    # start spin for a while after each chunk on the cores the workers need (about
    # 0.13 s of this process's CPU in a 1,440-file run at --jobs 2 on 2 cores)
    with one_blas_thread():
        return model.predict_proba(X)


def _group_keys(mode: str, speakers: list[str | None], n_rows: np.ndarray, files: np.ndarray,
                channels: np.ndarray) -> list[Hashable]:  # fmt: skip
    """The normalisation group of each row: its file's speaker; for a recording of several
    rows whose speaker is unknown, the recording (and channel) itself."""
    if mode != "speaker":
        return [None] * len(speakers)
    return [
        ("recording", f, ch) if s is None and n > 1 else s
        for s, n, f, ch in zip(speakers, n_rows.tolist(), files.tolist(), channels.tolist())
    ]


def _normalised(
    X: np.ndarray,
    groups: list[Hashable],
    mode: str,
    running: RunningStats,
    model: Model,
    chosen: dict[Hashable, tuple[object, str]],
) -> tuple[np.ndarray, list[str]]:
    """Rows of one block normalised with their group's statistics (chosen once per group,
    falling back as :func:`~ser.features.normalize.choose_stats` says), and the labels."""
    Xn = np.array(X, dtype=np.float64)
    how = [""] * len(Xn)
    for g in dict.fromkeys(groups):
        if g not in chosen:
            chosen[g] = choose_stats(mode, g, running, model.train_stats)
            if chosen[g][0] is None:
                logger.warning(_UNNORMALISED, model.name, g)
        stats, label = chosen[g]
        members = [k for k, gk in enumerate(groups) if gk == g]
        if stats is not None:
            Xn[members] = stats.apply(Xn[members])  # type: ignore[attr-defined]
        for k in members:
            how[k] = label
    return Xn, how


def assemble(
    tables: Callable[[], Iterable[pa.Table]], model: Model, mode: str, *, chunk: int | None = None
) -> Iterator[tuple[pa.Table, np.ndarray, np.ndarray]]:
    """Predict journal rows (:mod:`.journal`) in table order, as :class:`Predictor` does.

    ``tables()`` gives them (called twice when normalising: statistics, then predictions).
    Yields ``(rows, probs, norm)`` per table: probabilities (NaN: no features) and the
    index in :data:`~.table.NORM_LABELS` (-1: no prediction). Blocks are :class:`Predictor`'s
    (``"none"``: the rows of :data:`CHUNK` consecutive files, else :data:`CHUNK` rows), so
    the probabilities are the same, bit for bit.
    """
    chunk = chunk or CHUNK
    running = RunningStats()
    if mode != "none":
        for block in _blocks(_feature_rows(tables(), mode, chunk)):
            running.add(
                np.concatenate([x for _, x, _ in block]), [g for _, _, gs in block for g in gs]
            )
    chosen: dict[Hashable, tuple[object, str]] = {}
    codes = {label: k for k, label in enumerate(NORM_LABELS)}
    pending: list[list[Any]] = []  # [rows, probs, norm, rows still to predict]
    for block in _blocks(_feature_rows(tables(), mode, chunk), pending, len(model.classes)):
        if block:
            X = np.concatenate([x for _, x, _ in block])
            groups = [g for _, _, gs in block for g in gs]
            how = ["none"] * len(X)
            if mode != "none":
                X, how = _normalised(X, groups, mode, running, model, chosen)
            probs = _predict(model, X)
            at = 0
            for (entry, where), x, _ in block:
                entry[1][where] = probs[at : at + len(x)]
                entry[2][where] = [codes[h] for h in how[at : at + len(x)]]
                entry[3] -= len(x)
                at += len(x)
        while pending and pending[0][3] == 0:
            rows, probs, norm, _ = pending.pop(0)
            yield rows, probs, norm


def _feature_rows(tables: Iterable[pa.Table], mode: str, chunk: int) -> Iterator[Any]:
    """Per table: ``(rows, where, X, groups, block keys)`` of its rows that have features."""
    from .collect import column  # (it imports this module)

    done = 0
    for t in tables:
        where = np.flatnonzero(column(t, "has_features"))
        X = column(t, "features")[where]
        files = column(t, "file")[where]
        speakers = [None] * len(where)
        if mode == "speaker":
            every = t.column("speaker").to_pylist()  # (ChunkedArray.take imports pyarrow.compute)
            speakers = [every[i] for i in where.tolist()]
        groups = _group_keys(
            mode, speakers, column(t, "n_rows")[where], files, column(t, "channel")[where]
        )
        keys = files // chunk if mode == "none" else (done + np.arange(len(where))) // chunk
        done += len(where)
        yield t, where, X, groups, keys


def _blocks(
    rows: Iterable[Any], pending: list[list[Any]] | None = None, n_classes: int = 0
) -> Iterator[list[Any]]:
    """Blocks of feature rows with the same key, across tables: ``[((entry, where), X,
    groups), ...]``. With ``pending``, each table goes there as an entry (see
    :func:`assemble`), and an empty block follows it."""
    block: list[Any] = []
    key = None
    for t, where, X, groups, keys in rows:
        n = t.num_rows
        entry = [t, np.full((n, n_classes), np.nan), np.full(n, -1, np.int8), len(where)]
        if pending is not None:
            pending.append(entry)
        cuts = [0, *(np.flatnonzero(np.diff(keys)) + 1).tolist(), len(keys)]
        for s, e in itertools.pairwise(cuts):
            if e == s:
                continue
            if block and keys[s] != key:
                yield block
                block = []
            key = keys[s]
            block.append(((entry, where[s:e]), X[s:e], groups[s:e]))
        if pending is not None:
            yield []
    if block:
        yield block
    if pending is not None:
        yield []


class _Spool:
    """Feature rows on disk, each at its row id (a sparse float32 file that grows).

    The file is locked while the run lives, so that a later run can tell it from the spool
    of a run that died (:func:`~ser.common.ownedfiles.remove_stale`), which it removes.
    """

    def __init__(self, folder: str | None, n_features: int) -> None:
        folder = folder or tempfile.gettempdir()
        remove_stale(os.path.join(folder, SPOOL_PREFIX + "*" + SPOOL_SUFFIX))
        fd, self.path = tempfile.mkstemp(prefix=SPOOL_PREFIX, suffix=SPOOL_SUFFIX, dir=folder)
        try_lock(fd)
        self._f = os.fdopen(fd, "r+b")
        self._n_features = n_features
        self._row_bytes = 4 * n_features

    @contextlib.contextmanager
    def _naming_errors(self) -> Iterator[None]:
        try:
            yield
        except OSError as exc:  # a full disk, most likely
            raise OutputError(
                f"cannot write the feature spool {self.path}: {exc.strerror or exc}"
            ) from None

    def write(self, rows: np.ndarray, X: np.ndarray) -> None:
        data = np.ascontiguousarray(X, dtype="<f4")
        with self._naming_errors():
            if len(rows) and np.all(np.diff(rows) == 1):  # consecutive: one write
                self._f.seek(int(rows[0]) * self._row_bytes)
                self._f.write(data.tobytes())
                return
            for row, x in zip(rows.tolist(), data):
                self._f.seek(row * self._row_bytes)
                self._f.write(x.tobytes())

    def read(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), self._n_features), dtype="<f4")
        with self._naming_errors():
            self._f.flush()
            if len(rows) and np.all(np.diff(rows) == 1):  # consecutive: one read
                self._f.seek(int(rows[0]) * self._row_bytes)
                buf = self._f.read(len(rows) * self._row_bytes)
                return np.frombuffer(buf, dtype="<f4").reshape(len(rows), -1).copy()
            for k, row in enumerate(rows.tolist()):
                self._f.seek(row * self._row_bytes)
                out[k] = np.frombuffer(self._f.read(self._row_bytes), dtype="<f4")
        return out

    def close(self) -> None:
        if not self._f.closed:
            try:
                self._f.close()
            except OSError:  # the buffered rows could not be flushed (disk full): no matter
                pass
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
