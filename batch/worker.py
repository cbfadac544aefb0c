"""What runs inside a worker process around each task of :func:`~ser.batch.run_batch`.

* **The parent watchdog.** A worker whose parent process is gone (``kill -9``, an OOM
  kill, a crash of the main process) exits within about a second, instead of living on
  until loky's idle timeout: a daemon thread, started with the worker's first task, polls
  the parent process id. It starts only in a worker's main thread (never in the submitting
  process, nor in the thread pools of a threading or dask backend).
* **Crash markers.** Before each task the worker writes the task's index at a fixed place
  of a file named by its pid in the run's marker folder; the parent reads these when a
  worker dies, to know which items were in progress (:func:`read_markers`).
* **Quiet native libraries.** With ``quiet``, the worker points its file descriptor 2 at
  ``/dev/null``, so that C libraries which print to stderr themselves (libmpg123's "Note:
  Illegal Audio-MPEG-Header") stay quiet, as ``--quiet`` promises.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["WorkerOptions", "read_markers", "run_task"]

#: Seconds between two looks at the parent process.
WATCHDOG_PERIOD_S = 0.5


@dataclass(frozen=True)
class WorkerOptions:
    """Sent with every task (small).

    Parameters
    ----------
    owner_pid : int
        Process id of the process that runs the batch; nothing here acts in it.
    marker_dir : str or None
        Folder for crash markers; None (or a folder the worker cannot write, e.g. on a
        remote cluster) disables them.
    quiet : bool
        Silence the worker's native stderr.
    """

    owner_pid: int
    marker_dir: str | None = None
    quiet: bool = False


_SET_UP: list[bool] = []


def run_task(task: Callable[[Any], Any], index: int, payload: Any, opts: WorkerOptions) -> Any:
    """Run ``task(payload)`` in a worker: set the worker up once, mark the task, run it."""
    if not _SET_UP and os.getpid() != opts.owner_pid:
        _set_up(opts)
    marker = _mark(opts.marker_dir, index)
    try:
        return task(payload)
    finally:
        _unmark(marker)


def _set_up(opts: WorkerOptions) -> None:
    _SET_UP.append(True)
    if threading.current_thread() is not threading.main_thread():
        return  # a thread of some pool (threading or dask backend), not a worker process
    parent = os.getppid()
    thread = threading.Thread(
        target=_watch_parent, args=(parent,), name="ser-parent-watchdog", daemon=True
    )
    thread.start()
    if opts.quiet:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        except OSError:
            pass


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(WATCHDOG_PERIOD_S)
        if os.getppid() != parent:  # re-parented: the process that started us is gone
            os._exit(1)


# One open marker file per worker process and folder: marking a task is then a single
# pwrite of a fixed-width record, with no open/close per task.
_MARKER_FDS: dict[str, int] = {}
_MARK_WIDTH = 20


def _mark(marker_dir: str | None, index: int) -> int | None:
    if marker_dir is None:
        return None
    fd = _MARKER_FDS.get(marker_dir)
    try:
        if fd is None:
            path = os.path.join(marker_dir, str(os.getpid()))
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            _MARKER_FDS[marker_dir] = fd
        os.pwrite(fd, str(index).ljust(_MARK_WIDTH).encode(), 0)
    except OSError:  # e.g. a remote worker that does not see the parent's folder
        return None
    return fd


def _unmark(fd: int | None) -> None:
    if fd is not None:
        try:
            os.pwrite(fd, b" " * _MARK_WIDTH, 0)
        except OSError:
            pass


def read_markers(marker_dir: str) -> set[int]:
    """Indices of the tasks that workers had started but not finished."""
    found: set[int] = set()
    try:
        names = os.listdir(marker_dir)
    except OSError:
        return found
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(os.path.join(marker_dir, name)) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit():
            found.add(int(text))
    return found
