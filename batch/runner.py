"""Run one task over many items in parallel worker processes, surviving workers that die.

This is the one batch layer of ``ser``: ``ser-annotate`` featurises files with it, and so
does ``ser-train``. Parallelism is joblib's: ``Parallel(n_jobs,
return_as="generator_unordered")`` fed a generator of tasks, with the default
``batch_size="auto"`` and no backend named here, so that ``joblib.parallel_config`` decides
(loky processes locally, dask on a cluster). Results come back as workers finish them.

Threads: loky limits the BLAS/OpenMP threads of each worker to ``cpu_count() // n_jobs``
(joblib's ``inner_max_num_threads`` default), so ``n_jobs`` workers never oversubscribe the
cores; this module keeps that default.

Crash recovery (process backends): each task notes its index in a marker file named by its
worker's pid (:mod:`.worker`). When a worker dies (segfault, ``os._exit``, OOM kill), joblib
raises a worker-death error and the pool is lost with the results still in flight. Then:

1. every result already received is kept;
2. the items noted in markers (in progress when the pool died: the culprit and perhaps
   innocent neighbours) are *suspects*; when no marker can be read (remote workers), every
   unfinished item is a suspect;
3. the other unfinished items are run again normally (a new round, which may in turn lose
   a worker and name more suspects);
4. at the end each suspect is retried once, alone, in a worker process of its own; if that
   dies too, ``on_death(payload)`` gives its result (an error row, for example).

Every round that loses a worker retires at least one suspect, so the loop ends. With
``n_jobs=1`` the tasks run in a plain loop in the calling process, whatever joblib backend is
configured (joblib's sequential mode would add 0.1 s of import and per-task work to a
1,440-file run): there is no crash protection then.

With ``scheduler=`` the batch goes to a dask.distributed cluster instead, whose scheduler
reruns the tasks of a dead worker by itself (:mod:`.dask_backend`).

The marker folder (``ser-batch-<random>`` in the system's temporary folder) is locked by the
run that owns it (:mod:`ser.common.ownedfiles`); a run removes the folders of runs that died.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from ser.common.choices import resolve_jobs
from ser.common.ownedfiles import lock_fd, remove_stale

from .dask_backend import run_dask_batch
from .dask_client import DaskScheduler
from .worker import WorkerOptions, read_markers, run_task, set_up_worker, warm_up

__all__ = [
    "WORKER_DIED",
    "is_worker_death",
    "prestart_workers",
    "run_batch",
    "shutdown_workers",
    "worker_count",
]

logger = logging.getLogger(__name__)

P = TypeVar("P")
R = TypeVar("R")

WORKER_DIED = "worker process died while processing this file (retried once)"
# dask.distributed's error when a task keeps killing workers (dask is optional, so by name)
_DEATH_NAMES = frozenset({"KilledWorker", "TerminatedWorkerError", "BrokenProcessPool"})
_MARKER_PREFIX = "ser-batch-"
_LOCK_NAME = "owner.lock"


def worker_count(jobs: int | None, n_items: int) -> int:
    """Workers for a batch of ``n_items`` asked to use ``jobs`` (see
    :func:`~ser.common.choices.resolve_jobs`: None or -1 is every usable core; no warning
    here, the caller checks ``jobs`` once).

    Never more workers than items, but 2 at least when more than one is asked for, which
    keeps the crash protection (a single worker would run in this process).
    """
    wanted = resolve_jobs(jobs, warn=False)
    return 1 if wanted == 1 else max(2, min(wanted, n_items))


# the thread started by prestart_workers, joined before any other joblib call here
_PRESTART: list[threading.Thread] = []


def prestart_workers(n_jobs: int) -> bool:
    """Start the ``n_jobs`` loky workers of the coming batch now, in a background thread.

    A worker takes some 0.2 s to start and import numpy, joblib and the decoders (more on a
    busy machine; no scipy: the features use numpy's FFT); ``ser-annotate`` calls this
    before it imports the rest of itself, loads the model and walks the folders, so that
    this time overlaps with that. The thread runs one warm-up task per worker with the same
    joblib settings as :func:`run_batch`, so joblib then reuses these workers. Nothing is
    started (False) for ``n_jobs < 2`` or when a joblib backend other than the default one
    is configured (dask and others have their workers elsewhere). A failure here is only
    logged: the batch starts its workers itself.
    """
    if n_jobs < 2 or _PRESTART:
        return False
    from joblib.parallel import get_active_backend

    backend = get_active_backend()[0]
    if type(backend).__name__ != "LokyBackend":  # joblib's default, by name (a private class)
        return False

    owner = os.getpid()

    def run() -> None:
        from joblib import Parallel, delayed

        try:
            with _worker_setup(owner):
                Parallel(n_jobs=n_jobs)(delayed(warm_up)(owner) for _ in range(n_jobs))
        except Exception as exc:  # the batch will start (or fail to start) its own workers
            logger.debug("starting the workers early failed: %r", exc)

    thread = threading.Thread(target=run, name="ser-prestart-workers", daemon=True)
    thread.start()
    _PRESTART.append(thread)
    return True


def _await_prestart() -> None:
    while _PRESTART:
        _PRESTART[-1].join()
        _PRESTART.pop()


def shutdown_workers() -> None:
    """Stop the reusable loky workers of this process now, if any were started.

    Called by the commands when they end, so that no worker process outlives them (loky
    would otherwise keep its workers for a few minutes, in case another batch comes).
    """
    _await_prestart()
    import sys

    if "joblib" not in sys.modules:  # no batch ran in parallel: nothing to stop
        return
    from joblib.externals.loky import get_reusable_executor

    # reuse=True: the executor joblib used, whatever its settings (with the defaults, loky
    # would replace it, waiting for its tasks); a new one, without workers, if none is left
    get_reusable_executor(reuse=True).shutdown(wait=True, kill_workers=True)


def is_worker_death(exc: BaseException) -> bool:
    """True for the errors a parallel backend raises when a worker process died."""
    if isinstance(exc, concurrent.futures.BrokenExecutor):  # loky's errors derive from it
        return True
    return any(cls.__name__ in _DEATH_NAMES for cls in type(exc).__mro__)


def run_batch(
    task: Callable[[P], R],
    items: Sequence[tuple[int, P]],
    *,
    n_jobs: int,
    on_death: Callable[[P], R],
    scheduler: DaskScheduler | str | None = None,
) -> Iterator[tuple[int, R]]:
    """Yield ``(index, task(payload))`` for each ``(index, payload)`` item, as they finish.

    Parameters
    ----------
    task : callable(payload) -> result
        Must not raise for a bad item (return an error result instead); picklable (a
        module-level function, or a ``functools.partial`` of one).
    items : sequence of (int, payload)
        Indices must be distinct; they name the items in the crash markers.
    n_jobs : int >= 1
        Parallel workers; 1 runs in this process, in a plain loop.
    on_death : callable(payload) -> result
        The result of an item whose worker died twice (once among others, once alone).
    scheduler : DaskScheduler or str, optional
        Run on this dask.distributed cluster instead (a connected
        :class:`~.dask_client.DaskScheduler`, or a scheduler's address); ``n_jobs`` is then
        ignored: the cluster's workers decide (:func:`~.dask_backend.run_dask_batch`).
    """
    if scheduler is not None:
        yield from run_dask_batch(task, items, scheduler=scheduler, on_death=on_death)
        return
    if n_jobs == 1:
        for index, payload in items:
            yield index, task(payload)
        return
    pending = list(items)
    suspects: list[tuple[int, P]] = []
    owner = os.getpid()
    with _marker_root() as marker_root:
        round_no = 0
        while pending:
            round_no += 1
            marker_dir = os.path.join(marker_root, f"round{round_no}")
            os.mkdir(marker_dir)
            opts = WorkerOptions(owner, marker_dir)
            received: set[int] = set()
            try:
                for index, res in _parallel(task, pending, opts, n_jobs):
                    received.add(index)
                    yield index, res
                break
            except Exception as exc:
                if not is_worker_death(exc):
                    raise
                died = type(exc).__name__
            unfinished = [it for it in pending if it[0] not in received]
            marked = read_markers(marker_dir) & {i for i, _ in unfinished}
            if not marked:  # no markers (remote workers?): every unfinished item is suspect
                marked = {i for i, _ in unfinished}
            suspects += [it for it in unfinished if it[0] in marked]
            pending = [it for it in unfinished if it[0] not in marked]
            logger.warning(
                "a worker process died (%s): %d item(s) that were in progress will be retried "
                "one at a time, %d unfinished item(s) are run again",
                died,
                len(marked),
                len(pending),
            )
    # after the others, so that a suspect that crashes again breaks no pool still needed
    opts = WorkerOptions(owner, None)
    for index, payload in suspects:
        yield index, _retry_alone(task, index, payload, opts, on_death)


class _marker_root:
    """The run's marker folder: created and locked on entry, removed on exit; stale
    folders of dead runs are removed on entry."""

    def __enter__(self) -> str:
        tmp = tempfile.gettempdir()
        remove_stale(os.path.join(tmp, _MARKER_PREFIX + "*"), lock_name=_LOCK_NAME)
        self.path = tempfile.mkdtemp(prefix=_MARKER_PREFIX)
        self.fd = lock_fd(os.path.join(self.path, _LOCK_NAME))
        return self.path

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)
        shutil.rmtree(self.path, ignore_errors=True)


def _parallel(
    task: Callable[[Any], Any], items: Sequence[tuple[int, Any]], opts: WorkerOptions, n_jobs: int
) -> Iterator[tuple[int, Any]]:
    from joblib import Parallel, delayed

    _await_prestart()  # never two joblib calls at once; reuses the workers it started
    with _worker_setup(opts.owner_pid), warnings.catch_warnings():
        # a consumer that stops early (its own error) closes this generator, and joblib then
        # warns that the results in flight were not used: they were not meant to be
        warnings.filterwarnings("ignore", message=r".*tasks have been successfully executed")
        parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        job = delayed(_indexed)
        yield from parallel(job(task, index, payload, opts) for index, payload in items)


@contextlib.contextmanager
def _worker_setup(owner: int) -> Iterator[None]:
    """Have loky run :func:`~.worker.set_up_worker` in each worker process as it starts.

    Only when loky is the active backend (as by default); its settings are kept, and the
    same initializer and arguments every time, so that loky keeps reusing its workers. With
    other backends the workers are set up with their first task instead.
    """
    from joblib import parallel_config
    from joblib.parallel import get_active_backend

    backend = get_active_backend()[0]
    if type(backend).__name__ != "LokyBackend":  # by name: the class is private to joblib
        yield
        return
    kwargs = {**backend.backend_kwargs, "initializer": set_up_worker, "initargs": (owner,)}
    with parallel_config(backend="loky", **kwargs):
        yield


def _indexed(task: Callable[[Any], Any], index: int, payload: Any, opts: WorkerOptions) -> Any:
    return index, run_task(task, index, payload, opts)


def _retry_alone(
    task: Callable[[P], R], index: int, payload: P, opts: WorkerOptions, on_death: Callable[[P], R]
) -> R:
    """Run one item as the only task of a pool, so that its death harms no other item."""
    from joblib import Parallel, delayed

    _await_prestart()
    # n_jobs=2 with a single task: joblib still runs it in a worker, never in this process
    try:
        with _worker_setup(opts.owner_pid):
            ((_, res),) = Parallel(n_jobs=2)([delayed(_indexed)(task, index, payload, opts)])
    except Exception as exc:
        if not is_worker_death(exc):
            raise
        logger.warning("item %d: the worker process died again; recorded as an error", index)
        return on_death(payload)
    return res
