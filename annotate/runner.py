"""Run the worker task over many files in parallel, surviving workers that die.

Parallelism is joblib's: ``Parallel(n_jobs, return_as="generator_unordered")`` fed a
generator of tasks, with the default ``batch_size="auto"`` and no backend named here, so that
``joblib.parallel_config`` decides (loky processes locally, dask on a cluster). Results come
back as workers finish them; the caller puts them in order.

Start-up: ``ser-annotate`` calls :func:`prestart_workers` before it imports the rest of
itself, loads the model and walks the folders (it looks only as far as it needs to know how
many workers the run will use), so that starting the workers (a fresh interpreter each,
importing numpy, scipy.fft and the decoders) overlaps with that work; :func:`extract_files`
then reuses those workers.

Threads: loky limits the BLAS/OpenMP threads of each worker to ``cpu_count() // n_jobs``
(joblib's ``inner_max_num_threads`` default), so ``n_jobs`` workers never oversubscribe the
cores; this module keeps that default.

Crash recovery (process backends): each task notes the file it is working on in a marker file
named by its worker's pid. When a worker dies (segfault, ``os._exit``, OOM kill), joblib
raises a worker-death error and the pool is lost with the results still in flight. Then:

1. every result already received is kept;
2. the files noted in markers (in progress when the pool died: the culprit and perhaps
   innocent neighbours) are *suspects*; when no marker can be read (remote workers), every
   unfinished file is a suspect;
3. the other unfinished files are run again normally (a new round, which may in turn lose
   a worker and name more suspects);
4. at the end each suspect is retried once, alone, in a worker process of its own; if that
   dies too, the file becomes an error row ("worker process died while processing this file
   (retried once)").

Every round that loses a worker retires at least one suspect, so the loop ends. With
``n_jobs=1`` the tasks run in a plain loop in the calling process, whatever joblib backend is
configured (joblib's sequential mode would add 0.1 s of import and per-task work to a
1,440-file run): there is no crash protection then.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace

from .worker import FileResult, TaskContext, extract_file, read_markers, warm_up

__all__ = ["WORKER_DIED", "extract_files", "is_worker_death", "prestart_workers", "worker_count"]

logger = logging.getLogger(__name__)

WORKER_DIED = "worker process died while processing this file (retried once)"
# dask.distributed's error when a task keeps killing workers (dask is optional, so by name)
_DEATH_NAMES = frozenset({"KilledWorker", "TerminatedWorkerError", "BrokenProcessPool"})


def worker_count(jobs: int | None, n_files: int) -> int:
    """Workers for a run of ``n_files`` files asked to use ``jobs`` (None: every core).

    Never more workers than files, but 2 at least when more than one is asked for, which
    keeps the crash protection (a single worker would run in this process).
    """
    wanted = (os.cpu_count() or 1) if jobs is None else jobs
    return 1 if wanted == 1 else max(2, min(wanted, n_files))


# the thread started by prestart_workers, joined before any other joblib call here
_PRESTART: list[threading.Thread] = []


def prestart_workers(n_jobs: int) -> bool:
    """Start the ``n_jobs`` loky workers of the coming run now, in a background thread.

    A worker takes some 0.3 s to start and import numpy, scipy.fft and the decoders (more on
    a busy machine); ``ser-annotate`` calls this before it imports the rest of itself, loads
    the model and walks the folders, so that this time overlaps with that. The thread runs
    one :func:`~.worker.warm_up` task per worker through the same joblib backend, with the
    same settings, as the run's :func:`extract_files` will: joblib then reuses these workers.
    Nothing is started (False) for ``n_jobs < 2`` or when the active joblib backend is not
    loky (dask and others have workers elsewhere). A failure here is only logged: the run
    starts its workers itself.
    """
    if n_jobs < 2 or _PRESTART:
        return False
    from joblib._parallel_backends import LokyBackend
    from joblib.parallel import get_active_backend

    if type(get_active_backend()[0]) is not LokyBackend:
        return False

    def run() -> None:
        from joblib import Parallel, delayed

        try:
            Parallel(n_jobs=n_jobs)(delayed(warm_up)() for _ in range(n_jobs))
        except Exception as exc:  # the run will start (or fail to start) its own workers
            logger.debug("starting the workers early failed: %r", exc)

    thread = threading.Thread(target=run, name="ser-prestart-workers", daemon=True)
    thread.start()
    _PRESTART.append(thread)
    return True


def _await_prestart() -> None:
    while _PRESTART:
        _PRESTART[-1].join()
        _PRESTART.pop()


def is_worker_death(exc: BaseException) -> bool:
    """True for the errors a parallel backend raises when a worker process died."""
    if isinstance(exc, concurrent.futures.BrokenExecutor):  # loky's errors derive from it
        return True
    return any(cls.__name__ in _DEATH_NAMES for cls in type(exc).__mro__)


def extract_files(
    items: Sequence[tuple[int, str]], ctx: TaskContext, *, n_jobs: int
) -> Iterator[FileResult]:
    """Yield one :class:`FileResult` per ``(index, path)`` item, in completion order.

    Parameters
    ----------
    items : sequence of (int, str)
        Walk index and path of each file.
    ctx : TaskContext
        Feature configuration and test hook; ``marker_dir`` is set here, per round.
    n_jobs : int >= 1
        Parallel workers; 1 runs in this process, in a plain loop.
    """
    if n_jobs == 1:
        for index, path in items:
            yield extract_file(index, path, ctx)
        return
    pending = list(items)
    suspects: list[tuple[int, str]] = []
    with tempfile.TemporaryDirectory(prefix="ser-annotate-markers-") as marker_root:
        round_no = 0
        while pending:
            round_no += 1
            marker_dir = os.path.join(marker_root, f"round{round_no}")
            os.mkdir(marker_dir)
            received: set[int] = set()
            try:
                round_ctx = replace(ctx, marker_dir=marker_dir)
                for res in _parallel(pending, round_ctx, n_jobs):
                    received.add(res.index)
                    yield res
                break
            except Exception as exc:
                if not is_worker_death(exc):
                    raise
                died = type(exc).__name__
            unfinished = [it for it in pending if it[0] not in received]
            marked = read_markers(marker_dir) & {i for i, _ in unfinished}
            if not marked:  # no markers (remote workers?): every unfinished file is suspect
                marked = {i for i, _ in unfinished}
            suspects += [it for it in unfinished if it[0] in marked]
            pending = [it for it in unfinished if it[0] not in marked]
            logger.warning(
                "a worker process died (%s): %d file(s) that were in progress will be retried "
                "one at a time, %d unfinished file(s) are run again",
                died,
                len(marked),
                len(pending),
            )
    # after the others, so that a suspect that crashes again breaks no pool still needed
    for index, path in suspects:
        yield _retry_alone(index, path, ctx)


def _parallel(
    items: Sequence[tuple[int, str]], ctx: TaskContext, n_jobs: int
) -> Iterator[FileResult]:
    from joblib import Parallel, delayed

    _await_prestart()  # never two joblib calls at once; reuses the workers it started
    task = delayed(extract_file)
    parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    yield from parallel(task(index, path, ctx) for index, path in items)


def _retry_alone(index: int, path: str, ctx: TaskContext) -> FileResult:
    """Run one file as the only task of a pool, so that its death harms no other file."""
    from joblib import Parallel, delayed

    _await_prestart()
    # n_jobs=2 with a single task: joblib still runs it in a worker, never in this process
    try:
        (res,) = Parallel(n_jobs=2)([delayed(extract_file)(index, path, ctx)])
    except Exception as exc:
        if not is_worker_death(exc):
            raise
        logger.warning("%s: the worker process died again; recorded as an error", path)
        return FileResult(index, "error", WORKER_DIED)
    return res
