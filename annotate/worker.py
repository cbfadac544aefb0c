"""The worker task: decode and featurise one file, and say how it went.

This is the only code that runs in the worker processes. It never raises for a bad file: every
failure becomes a :class:`FileResult` with ``status="error"`` and a readable reason, so one
file can never abort a batch. Prediction happens in the parent (see :mod:`.pipeline`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ser.common import AudioError, SerError
from ser.features import FeatureConfig, process_file

__all__ = ["TEST_CRASH_ENV", "FileResult", "TaskContext", "extract_file", "warm_up"]

#: Test-only hook: when this environment variable is set (in the *parent* process), a worker
#: process that is given a file whose path contains its value calls ``os._exit(70)`` before
#: processing it, which simulates a crash (segfault, OOM kill) in a decoder.
TEST_CRASH_ENV = "SER_TEST_CRASH_PATTERN"


@dataclass(frozen=True)
class TaskContext:
    """What every task needs besides its file; small, sent along with each task.

    Parameters
    ----------
    config : FeatureConfig
        The model's feature configuration.
    marker_dir : str or None
        Folder where a worker notes the file it is working on (a file named by its pid), so
        that the parent can tell which files were in progress when a worker died. ``None`` (or
        a folder the worker cannot write, e.g. on a remote cluster) disables the markers.
    parent_pid : int
        Process id of the parent; the test crash hook never fires in it.
    crash_pattern : str or None
        Value of :data:`TEST_CRASH_ENV` in the parent when the run started (test-only).
    """

    config: FeatureConfig
    marker_dir: str | None = None
    parent_pid: int = 0
    crash_pattern: str | None = None


@dataclass(frozen=True)
class FileResult:
    """Outcome of one file: what the worker learnt, or why it could not.

    ``features`` (float32, one row) is set only when ``status == "ok"``. ``index`` is the
    file's position in the walk order, which lets the parent put rows back in order.
    """

    index: int
    status: str
    error: str | None = None
    duration_s: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    features: np.ndarray | None = None


def warm_up() -> None:
    """Import what :func:`extract_file` will need; run by a worker just started.

    Used by :func:`ser.annotate.runner.prestart_workers`, so that the workers start and
    import while the parent is still importing and loading the model.
    """
    import scipy.fft  # noqa: F401
    import soundfile  # noqa: F401
    import soxr  # noqa: F401

    try:
        import miniaudio  # noqa: F401
    except ImportError:  # pragma: no cover - a dependency; FLAC then goes to soundfile
        pass


def extract_file(index: int, path: str, ctx: TaskContext) -> FileResult:
    """Featurise ``path`` as ``ctx.config`` prescribes; never raises for a bad file.

    A :class:`~ser.common.SerError` (unreadable, corrupt, empty, too short, silent, NaN...)
    gives an error row with its reason; any other exception gives an error row reading
    ``"<ExceptionType>: <message>"``. For an audio error, the file's sample rate, channel count
    and duration are still filled in when its header can be read.

    Test-only: when ``ctx.crash_pattern`` is set and occurs in ``path``, and this is not the
    parent process, the worker dies with ``os._exit(70)`` before processing the file (see
    :data:`TEST_CRASH_ENV`).
    """
    marker = _mark(ctx.marker_dir, index)
    try:
        if ctx.crash_pattern and ctx.crash_pattern in path and os.getpid() != ctx.parent_pid:
            os._exit(70)
        try:
            x, info = process_file(path, config=ctx.config)
        except AudioError as exc:
            return _error_with_header(index, path, exc.reason)
        except SerError as exc:
            return FileResult(index, "error", str(exc))
        except Exception as exc:  # never let one file abort the batch
            return FileResult(index, "error", f"{type(exc).__name__}: {exc}")
        return FileResult(
            index,
            "ok",
            None,
            float(info.duration_s),
            int(info.sample_rate),
            int(info.channels),
            np.ascontiguousarray(x, dtype=np.float32),
        )
    finally:
        _unmark(marker)


def _error_with_header(index: int, path: str, reason: str) -> FileResult:
    try:
        import soundfile as sf

        h = sf.info(os.fsencode(path))
        duration = h.frames / h.samplerate if h.samplerate else None
        return FileResult(index, "error", reason, duration, int(h.samplerate), int(h.channels))
    except Exception:
        return FileResult(index, "error", reason)


# One open marker file per worker process and folder: marking a file is then a single
# pwrite of a fixed-width record, with no open/close per file.
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
    """Indices of the files that workers had started but not finished (see :func:`_mark`)."""
    found: set[int] = set()
    try:
        names = os.listdir(marker_dir)
    except OSError:
        return found
    for name in names:
        try:
            with open(os.path.join(marker_dir, name)) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit():
            found.add(int(text))
    return found
