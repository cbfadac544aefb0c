"""Temporary files and locks that belong to a running process, and the clean-up of dead ones;
and the check that an output may be written where the user asked.

A run that writes beside its output (the feature spool, the output lock, the table's
temporary file) or in the system's temporary folder (the workers' crash markers) holds an
exclusive ``flock`` on each such file while it lives. The kernel drops the lock when the
process ends, however it ends (``kill -9`` included), so the next run can tell a live
owner's file from a dead one's by trying the lock, without trusting process ids, and removes
the dead ones (:func:`remove_stale`). POSIX only (fcntl); elsewhere nothing is locked or
removed.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["check_writable_folder", "lock_fd", "remove_stale", "try_lock"]

logger = logging.getLogger(__name__)


def check_writable_folder(path: str | os.PathLike[str], *, option: str, example: str) -> None:
    """Raise a one-line DataError unless ``path`` (an output file named by ``option``) is not a
    folder and its folder exists and is writable; ``example`` is a file name to suggest."""
    from .errors import DataError

    p = os.fspath(path)
    if os.path.isdir(p):
        raise DataError(f"{option}: {p!r} is a folder; give a file name such as {example}")
    folder = os.path.dirname(os.path.abspath(p))
    if not os.path.isdir(folder):
        what = "is not a folder" if os.path.exists(folder) else "does not exist"
        raise DataError(f"{option}: cannot write {p!r}: {folder!r} {what}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DataError(f"{option}: cannot write {p!r}: folder {folder!r} is not writable")


def try_lock(fd: int) -> bool:
    """Take an exclusive lock on the open file ``fd``; False when another process holds it."""
    if fcntl is None:  # pragma: no cover
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def lock_fd(path: str) -> int | None:
    """Open (creating) ``path`` and lock it; the fd, or None when another process holds it.

    The lock lasts until the fd is closed or the process ends.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if not try_lock(fd):
            os.close(fd)
            return None
        try:  # still the file at ``path``, not one its last owner removed meanwhile?
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def remove_stale(pattern: str, *, lock_name: str | None = None) -> int:
    """Remove the files or folders matching ``pattern`` whose owner process has ended.

    A file is its own lock; a folder is locked through the file ``lock_name`` inside it.
    What cannot be locked (a live run's) or removed is left alone. Returns how many were
    removed.
    """
    if fcntl is None:  # pragma: no cover
        return 0
    removed = 0
    for path in glob.glob(pattern):
        probe = os.path.join(path, lock_name) if lock_name else path
        try:
            fd = os.open(probe, os.O_RDONLY)
        except OSError:
            continue
        try:
            if not try_lock(fd):
                continue  # a live run's
            if lock_name:
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
            removed += 1
            logger.info("removed %s, left behind by a run that ended abnormally", path)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed
