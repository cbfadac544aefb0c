"""What runs inside a worker process around each task of :func:`~ser.batch.run_batch`.

* **The parent watchdog.** A worker whose parent process is gone (``kill -9``, an OOM
  kill, a crash of the main process) exits within about a second, instead of living on
  until loky's idle timeout: a daemon thread, started as the worker starts (loky's
  initializer) or with its first task (other backends), polls the parent process id. It
  starts only in a worker's main thread (never in the submitting process, nor in the thread
  pools of a threading or dask backend).
* **Crash markers.** Before each task the worker writes the task's index at a fixed place
  of a file named by its pid in the run's marker folder; the parent reads these when a
  worker dies, to know which items were in progress (:func:`read_markers`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["WorkerOptions", "read_markers", "run_task", "set_up_worker", "warm_up"]

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
    """

    owner_pid: int
    marker_dir: str | None = None


_SET_UP: list[bool] = []


def run_task(task: Callable[[Any], Any], index: int, payload: Any, opts: WorkerOptions) -> Any:
    """Run ``task(payload)`` in a worker: set the worker up once, mark the task, run it."""
    set_up_worker(opts.owner_pid)
    marker = _mark(opts.marker_dir, index)
    try:
        return task(payload)
    finally:
        _unmark(marker)


def set_up_worker(owner_pid: int) -> None:
    """Set this worker process up (once): start the parent watchdog.

    loky runs it as each worker starts (its ``initializer``), so that a worker whose parent
    dies before it got a task ends too; with other backends :func:`run_task` calls it.
    """
    if not _SET_UP and os.getpid() != owner_pid:
        _SET_UP.append(True)
        _start_watchdog(owner_pid)


def warm_up(owner_pid: int) -> None:
    """Import what featurising a file needs; run by a worker just started.

    Run by :func:`~ser.batch.prestart_workers`, so that the workers start and import while
    the parent is still loading.
    """
    set_up_worker(owner_pid)
    # No scipy: the features use numpy's FFT. Measured: importing scipy.fft took a worker
    # 0.11-0.19 s (quiet / busy 2 cores), mostly scipy's array-API layer and scipy.special.
    import numpy.fft  # noqa: F401
    import soundfile  # noqa: F401
    import soxr  # noqa: F401
    import threadpoolctl  # noqa: F401

    import ser.features.extract  # noqa: F401

    try:
        import miniaudio  # noqa: F401
    except ImportError:  # pragma: no cover - a dependency; FLAC then goes to soundfile
        pass


def _start_watchdog(owner_pid: int) -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # a thread of some pool (threading or dask backend), not a worker process
    thread = threading.Thread(
        target=_watch_parent, args=(owner_pid,), name="ser-parent-watchdog", daemon=True
    )
    thread.start()


def _watch_parent(owner_pid: int) -> None:
    # A worker of the owner's (loky's are its children) watches its parent id change. One
    # that is not its child (a fork server's), or that was still starting up when the owner
    # died and so has been re-parented already, watches the owner itself.
    if os.getppid() == owner_pid:
        while os.getppid() == owner_pid:
            time.sleep(WATCHDOG_PERIOD_S)
    else:
        while _alive(owner_pid):
            time.sleep(WATCHDOG_PERIOD_S)
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    try:  # a zombie (ended, not yet reaped by its parent) is not alive
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


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
