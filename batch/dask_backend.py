"""Run a batch on a dask.distributed cluster (``ser-annotate --scheduler ADDRESS``).

Optional: it needs ``pip install 'ser[dask]'``, and imports ``distributed`` only when a
scheduler is named. The cluster is the user's: ser connects a client to its scheduler,
submits its tasks, and on the way out (end, error, Ctrl-C) cancels what it still has in
flight and closes its client, never the scheduler or the workers.

* **Workers read the audio themselves.** A task carries the payload (for ``ser-annotate``
  an index, a path and a piece), never the audio: the workers must see the files at the
  same paths, on a shared filesystem. Results (feature vectors) come back through the
  scheduler.
* **A bounded number in flight.** At most :data:`IN_FLIGHT_PER_THREAD` tasks per worker
  thread of the cluster (at least :data:`MIN_IN_FLIGHT`), counted again as workers come
  and go; the rest wait here, not in the scheduler. A task carries one item at first, then
  as many as take about :data:`TASK_S` seconds (:class:`_Chunks`): a task costs the
  scheduler and this process a few milliseconds, as much as a short file's features.
* **Dead workers.** When a worker dies, the scheduler reruns its tasks elsewhere by itself;
  a task whose workers died more than ``distributed.scheduler.allowed-failures`` times (3
  by default, the scheduler's setting) fails with ``KilledWorker``. Such a task may be an
  innocent neighbour of the culprit (a worker thread runs one task and has the next one
  queued, and a task carries several items), so, as in the local batch (:mod:`.runner`),
  each of its items is retried once *alone*, after all the others, with nothing else of
  this batch in flight; only a ``KilledWorker`` then gives ``on_death(payload)``. A
  worker killed from outside now and then costs nothing.
* **Worker processes.** Workers started by a nanny (the default) have ``OMP_NUM_THREADS``,
  ``MKL_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS`` set to 1 by distributed; in a worker
  where a BLAS still runs several threads, a task caps it at one (``threadpoolctl``): the
  parallelism is the cluster's worker threads, one file each. The nanny also sets
  ``MALLOC_TRIM_THRESHOLD_=65536``, which made featurising 1.8x slower; the first task in
  a worker raises glibc's thresholds (:data:`MALLOC_TRIM_BYTES`), for that worker process.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import pickle
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ser.common.errors import SerError

from .dask_client import DaskScheduler, connect_scheduler

__all__ = [
    "IN_FLIGHT_PER_THREAD",
    "MALLOC_MMAP_BYTES",
    "MALLOC_TRIM_BYTES",
    "MAX_CHUNK",
    "MIN_IN_FLIGHT",
    "TASK_S",
    "run_dask_batch",
]

logger = logging.getLogger(__name__)

P = TypeVar("P")
R = TypeVar("R")

#: Tasks kept in flight per worker thread of the cluster.
IN_FLIGHT_PER_THREAD = 4
#: Tasks kept in flight however few workers there are (none yet, on a cluster that scales).
MIN_IN_FLIGHT = 8
#: Seconds of work a task is given (several short files each), once a few have been timed.
TASK_S = 0.25
#: Items per task at most.
MAX_CHUNK = 64
#: Seconds between two counts of the cluster's worker threads.
_RECOUNT_S = 2.0
_KILLED = object()  # the outcome of a task that raised KilledWorker
_TOKEN = uuid.uuid4().hex  # with the pid, names this process (a pid recurs on other machines)
_DONE = "ser-done"  # tags a task's result (tells it from an error that as_completed returns)


def run_dask_batch(
    task: Callable[[P], R],
    items: Sequence[tuple[int, P]],
    *,
    scheduler: DaskScheduler | str,
    on_death: Callable[[P], R],
) -> Iterator[tuple[int, R]]:
    """:func:`~ser.batch.run_batch` on a Dask cluster: ``(index, task(payload))`` as they
    finish; ``on_death(payload)`` for an item whose workers kept dying, also when alone.

    ``scheduler`` is a connected :class:`DaskScheduler` (kept open) or an address (connected
    here and closed at the end). ``task`` must be importable on the workers (a module-level
    function, or a ``functools.partial`` of one) and must not raise for a bad item; an
    exception it raises anyway is raised here.
    """
    if isinstance(scheduler, str):
        with connect_scheduler(scheduler) as cluster:
            yield from run_dask_batch(task, items, scheduler=cluster, on_death=on_death)
        return
    suspects: list[tuple[int, P]] = []
    for index, payload, outcome in _stream(scheduler, task, items):
        if outcome is _KILLED:
            suspects.append((index, payload))
        else:
            yield index, outcome
    if suspects:
        logger.warning(
            "%d item(s) were on Dask workers that died too often (KilledWorker): each is "
            "retried alone",
            len(suspects),
        )
    for index, payload in suspects:  # after the others: alone, it can harm no other item
        for _, _, outcome in _stream(scheduler, task, [(index, payload)]):
            if outcome is _KILLED:
                logger.warning("item %d: its workers died again; recorded as an error", index)
                outcome = on_death(payload)
            yield index, outcome


@dataclass(frozen=True)
class _Job:
    """What one submitted task carries: the task and a few payloads (never the audio).

    It travels pickled, as bytes, and the submitted function is :func:`pickle.loads`: the
    worker's unpickling calls :func:`_run_job` (``__reduce__``). The scheduler, which
    unpickles every task it is given, thus needs nothing but the standard library: only the
    workers (and this process) import ``ser`` and the task's module.
    """

    task: Callable[[Any], Any]
    payloads: list[Any]
    owner: str = ""  # _process() of the submitting process: in-process workers (a LocalCluster
    # with processes=False) run in it, whose BLAS and malloc settings are its own business

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return _run_job, (self.task, self.payloads, self.owner)

    def blob(self) -> bytes:
        import cloudpickle  # a dependency of distributed; pickles lambdas and __main__ too

        return cloudpickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)


def _run_job(
    task: Callable[[Any], Any], payloads: list[Any], owner: str = ""
) -> tuple[str, list[Any], float]:
    """Runs in a Dask worker, as its unpickling of a :class:`_Job`: one BLAS thread, the
    task on each payload; the results and the seconds they took."""
    if owner != _process():
        _tune_worker()
    t0 = time.perf_counter()
    results = [task(p) for p in payloads]
    return _DONE, results, time.perf_counter() - t0


def _process() -> str:
    return f"{_TOKEN}:{os.getpid()}"


class _Chunks:
    """Items per task: one at first, then about :data:`TASK_S` seconds of work, as measured
    (joblib's auto-batching, in short): a task costs the scheduler and this process a few
    milliseconds, as much as featurising a short file. Never so many that the last tasks
    would leave threads idle, nor more than :data:`MAX_CHUNK`."""

    def __init__(self, n_items: int) -> None:
        self.left = n_items
        self.per_item: float | None = None

    def take(self, threads: int) -> int:
        size = 1 if self.per_item is None else int(TASK_S / max(self.per_item, 1e-4))
        size = min(size, MAX_CHUNK, self.left // (2 * max(threads, 1)))
        size = max(1, size)
        self.left -= size
        return size

    def timed(self, seconds: float, n: int) -> None:
        per = seconds / max(n, 1)
        self.per_item = per if self.per_item is None else 0.7 * self.per_item + 0.3 * per


# len(sys.modules) when this worker's BLAS libraries were last looked at
_BLAS_SEEN: list[int] = []
_MALLOC_SET: list[bool] = []
#: What glibc's malloc is given in a Dask worker whose nanny set ``MALLOC_TRIM_THRESHOLD_``
#: lower (distributed's default is 64 KiB): buffers up to 32 MiB from the heap, 64 MiB of
#: free heap kept. Measured: with 64 KiB every file's arrays are mapped and faulted in anew,
#: and featurising a RAVDESS file took 1.8x as long (7.2 ms instead of 4.0).
MALLOC_MMAP_BYTES, MALLOC_TRIM_BYTES = 32 << 20, 64 << 20


def _tune_worker() -> None:
    """Once per worker process: malloc thresholds as above (glibc only); then, whenever
    modules were imported since the last look, BLAS capped at one thread if it runs more
    (a worker started without a nanny)."""
    if not _MALLOC_SET:
        _MALLOC_SET.append(True)
        _raise_malloc_thresholds()
    if _BLAS_SEEN and _BLAS_SEEN[0] == len(sys.modules):
        return  # nothing imported since the last look: a single comparison per task
    _BLAS_SEEN[:] = [len(sys.modules)]
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:  # pragma: no cover - a dependency of ser
        return
    if any(lib.get("num_threads", 1) > 1 for lib in threadpool_info() if lib["user_api"] == "blas"):
        threadpool_limits(1, user_api="blas")


def _raise_malloc_thresholds() -> None:
    try:
        trim = int(os.environ.get("MALLOC_TRIM_THRESHOLD_", ""))
    except ValueError:
        return  # not set (glibc's dynamic thresholds), or not a number: left alone
    if trim >= MALLOC_TRIM_BYTES or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, MALLOC_MMAP_BYTES)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, MALLOC_TRIM_BYTES)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc (musl, ...)
        pass


def _stream(
    cluster: DaskScheduler, task: Callable[[Any], Any], items: Sequence[tuple[int, Any]]
) -> Iterator[tuple[int, Any, Any]]:
    """``(index, payload, result or _KILLED)`` as tasks finish, a bounded number in flight."""
    from distributed import as_completed

    client = cluster.client
    prefix = f"ser-{_task_name(task)}-"
    todo = list(items)
    todo.reverse()  # popped from the end: in order
    chunks = _Chunks(len(todo))
    in_flight: dict[str, tuple[Any, list[tuple[int, Any]]]] = {}  # key -> (future, items)
    done = as_completed(loop=client.loop, with_results=True, raise_errors=False)
    threads, counted = cluster.threads(), time.monotonic()
    quiet = _QuietRegather()
    logging.getLogger("distributed.client").addFilter(quiet)
    try:
        while True:
            while todo and len(in_flight) < max(MIN_IN_FLIGHT, IN_FLIGHT_PER_THREAD * threads):
                chunk = [todo.pop() for _ in range(min(chunks.take(threads), len(todo)))]
                key = prefix + uuid.uuid4().hex
                blob = _Job(task, [p for _, p in chunk], _process()).blob()
                future = client.submit(pickle.loads, blob, key=key, pure=False)
                in_flight[key] = (future, chunk)
                done.add(future)
            if not in_flight:
                return
            for future, result in done.next_batch(block=True):
                _, chunk = in_flight.pop(future.key)
                outcomes = _outcome(cluster, result, chunks)
                for k, (index, payload) in enumerate(chunk):
                    yield index, payload, outcomes if outcomes is _KILLED else outcomes[k]
            if time.monotonic() - counted > _RECOUNT_S:
                threads, counted = cluster.threads(), time.monotonic()
    finally:
        logging.getLogger("distributed.client").removeFilter(quiet)
        if in_flight:  # stopped early (Ctrl-C, the consumer's error): ours only
            with contextlib.suppress(Exception):
                client.cancel([f for f, _ in in_flight.values()])


class _QuietRegather(logging.Filter):
    """Drops distributed's "Couldn't gather N keys, rescheduling" while a batch runs: the
    result of a task whose worker died before it was fetched is computed again, as it should
    be, and a warning per such task would only alarm (the run's own warnings say more)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Couldn't gather")


def _outcome(cluster: DaskScheduler, result: Any, chunks: _Chunks) -> Any:
    """The task's results (timed into ``chunks``), or _KILLED; raises for a task that raised
    or was cancelled.

    Told from ``result`` as ``as_completed`` fetched it, not from the future's status now: a
    result fetched before its worker died has its future reset (to be computed again), yet
    it is good.
    """
    if isinstance(result, tuple) and len(result) == 3 and result[0] == _DONE:
        chunks.timed(result[2], len(result[1]))
        return result[1]
    if isinstance(result, tuple) and len(result) == 3 and isinstance(result[1], BaseException):
        exc = result[1]  # (type, exception, traceback): the task failed
        if type(exc).__name__ == "KilledWorker":
            return _KILLED
        raise exc.with_traceback(result[2])
    raise SerError(
        f"lost the Dask scheduler at {cluster.address}: it cancelled this run's tasks (was it "
        "restarted or stopped, or the connection lost?)"
    )


def _task_name(task: Callable[..., Any]) -> str:
    func = getattr(task, "func", task)  # a functools.partial names its function
    return str(getattr(func, "__name__", "task")).strip("_") or "task"
