"""From worker results to predictions: fixed chunks, optional normalisation, bounded memory.

Rows are predicted in fixed chunks of :data:`CHUNK` files of the walk order (the ``ok`` rows
among them), whatever order the workers finish in, so a run gives bit-identical probabilities
with any number of workers.

* Normalisation ``"none"``: a chunk's feature vectors wait in memory until its last file is
  back, then the chunk is predicted and its features dropped. Only chunks with files still
  in flight hold features.
* ``"corpus"`` / ``"speaker"`` (two passes): pass 1 writes each feature vector at its row's
  place in a temporary float32 file on disk (the *spool*). Then the spool is read in chunks
  to accumulate per-speaker statistics (:class:`~ser.features.normalize.RunningStats`), and read
  again to normalise each row with the statistics of its group (falling back to the whole run,
  then to the model's training statistics, see :func:`~ser.features.normalize.choose_stats`) and
  predict. Memory stays a few chunks; disk use is ``4 * n_features`` bytes per file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Hashable, Iterator

import numpy as np

from ser.common import OutputError
from ser.common.ownedfiles import remove_stale, try_lock
from ser.features.extract import one_blas_thread
from ser.features.normalize import RunningStats, choose_stats
from ser.models import Model

from .table import RowStore
from .worker import FileResult

__all__ = ["CHUNK", "Predictor"]

logger = logging.getLogger(__name__)

#: Rows per prediction chunk (and per spool read).
CHUNK = 256
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
        Rows per prediction chunk; default :data:`CHUNK`.
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
        self._held: dict[int, dict[int, np.ndarray]] = {}
        self._spool = None if mode == "none" else _Spool(spool_dir, n, self.n_features)
        self.seconds = 0.0  # spent in add() and finish()

    def add(self, res: FileResult) -> None:
        """Take one worker result (any order); predicts a chunk as soon as it is complete."""
        t0 = time.perf_counter()
        try:
            self._add(res)
        finally:
            self.seconds += time.perf_counter() - t0

    def _add(self, res: FileResult) -> None:
        if res.features is not None and res.features.shape != (self.n_features,):
            res = FileResult(
                res.index,
                "error",
                f"feature vector has {res.features.size} values, but model "
                f"{self.model.name!r} expects {self.n_features}",
            )
        self.store.set_result(res)
        c = res.index // self.chunk
        if res.features is not None:
            if self._spool is None:
                self._held.setdefault(c, {})[res.index] = res.features
            else:
                self._spool.write(res.index, res.features)
        self._left[c] -= 1
        if self._left[c] == 0 and self._spool is None:
            rows = self._held.pop(c, {})
            if rows:
                index = sorted(rows)
                X = np.stack([rows[i] for i in index])
                self._predict(index, X, ["none"] * len(index))

    def finish(self) -> None:
        """Second pass of the normalising modes (no-op for ``"none"``); frees the spool."""
        if self._spool is None:
            return
        t0 = time.perf_counter()
        try:
            running = RunningStats()
            for index, X in self._spooled_chunks():
                running.add(X, [self._group(i) for i in index])
            chosen: dict[Hashable, tuple[object, str]] = {}
            fallback = self.model.train_stats
            for index, X in self._spooled_chunks():
                groups = [self._group(i) for i in index]
                Xn = np.asarray(X, dtype=np.float64)
                how = [""] * len(index)
                for g in dict.fromkeys(groups):
                    if g not in chosen:
                        chosen[g] = choose_stats(self.mode, g, running, fallback)
                        if chosen[g][0] is None:
                            logger.warning(
                                "too few files to normalise and model %r has no training "
                                "statistics: features of group %r are used unnormalised",
                                self.model.name,
                                g,
                            )
                    stats, label = chosen[g]
                    rows = [k for k, gk in enumerate(groups) if gk == g]
                    if stats is not None:
                        Xn[rows] = stats.apply(Xn[rows])  # type: ignore[attr-defined]
                    for k in rows:
                        how[k] = label
                self._predict(index, Xn, how)
        finally:
            self.close()
            self.seconds += time.perf_counter() - t0

    @property
    def held_chunks(self) -> int:
        """Chunks whose feature vectors wait in memory for their last file (mode "none")."""
        return len(self._held)

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()

    def _group(self, i: int) -> Hashable:
        return self.store.speakers[i] if self.mode == "speaker" else None

    def _spooled_chunks(self):  # -> Iterator[tuple[list[int], np.ndarray]]
        assert self._spool is not None
        ok = self.store.ok
        for start in range(0, self.store.n, self.chunk):
            stop = min(start + self.chunk, self.store.n)
            rows = np.flatnonzero(ok[start:stop])
            if len(rows):
                yield (rows + start).tolist(), self._spool.read(start, stop)[rows]

    def _predict(self, index: list[int], X: np.ndarray, how: list[str]) -> None:
        # one BLAS thread: a chunk is a few small products, and the threads OpenBLAS would
        # start spin for a while after each chunk on the cores the workers need (about
        # 0.13 s of this process's CPU in a 1,440-file run at --jobs 2 on 2 cores)
        with one_blas_thread():
            probs = self.model.predict_proba(X)
        self.store.set_predictions(index, probs, how)


class _Spool:
    """Feature rows on disk, each at its walk index (a sparse float32 file).

    The file is locked while the run lives, so that a later run can tell it from the spool
    of a run that died (:func:`~ser.common.ownedfiles.remove_stale`), which it removes.
    """

    def __init__(self, folder: str | None, n_rows: int, n_features: int) -> None:
        folder = folder or tempfile.gettempdir()
        remove_stale(os.path.join(folder, SPOOL_PREFIX + "*" + SPOOL_SUFFIX))
        fd, self.path = tempfile.mkstemp(prefix=SPOOL_PREFIX, suffix=SPOOL_SUFFIX, dir=folder)
        try_lock(fd)
        self._f = os.fdopen(fd, "r+b")
        self._n_features = n_features
        self._row_bytes = 4 * n_features
        with self._naming_errors():
            self._f.truncate(n_rows * self._row_bytes)

    @contextlib.contextmanager
    def _naming_errors(self) -> Iterator[None]:
        try:
            yield
        except OSError as exc:  # a full disk, most likely
            raise OutputError(
                f"cannot write the feature spool {self.path}: {exc.strerror or exc}"
            ) from None

    def write(self, i: int, x: np.ndarray) -> None:
        with self._naming_errors():
            self._f.seek(i * self._row_bytes)
            self._f.write(np.ascontiguousarray(x, dtype="<f4").tobytes())

    def read(self, start: int, stop: int) -> np.ndarray:
        with self._naming_errors():
            self._f.flush()
            self._f.seek(start * self._row_bytes)
            buf = self._f.read((stop - start) * self._row_bytes)
        return np.frombuffer(buf, dtype="<f4").reshape(stop - start, self._n_features)

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
