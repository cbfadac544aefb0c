"""The worker task: decode and featurise one file, and say how it went.

This is the task that :func:`ser.batch.run_batch` runs in the worker processes. It never
raises for a bad file: every failure becomes a :class:`FileResult` with ``status="error"``
and a readable reason, so one file can never abort a batch. Prediction happens in the
parent (see :mod:`.pipeline`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ser.batch import WORKER_DIED
from ser.common import AudioError, SerError
from ser.features import FeatureConfig, process_file

__all__ = ["FileResult", "extract_file", "worker_died"]


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


def extract_file(item: tuple[int, str], config: FeatureConfig) -> FileResult:
    """Featurise the file of ``item`` (walk index, path) as ``config`` prescribes.

    Never raises for a bad file. A :class:`~ser.common.SerError` (unreadable, corrupt,
    empty, too short, silent, NaN...) gives an error row with its reason; any other
    exception gives an error row reading ``"<ExceptionType>: <message>"``. For an audio
    error, the file's sample rate, channel count and duration are still filled in when its
    header can be read.
    """
    index, path = item
    try:
        x, info = process_file(path, config=config)
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


def worker_died(item: tuple[int, str]) -> FileResult:
    """The row of a file whose worker process died twice (see :func:`ser.batch.run_batch`)."""
    return FileResult(item[0], "error", WORKER_DIED)


def _error_with_header(index: int, path: str, reason: str) -> FileResult:
    try:
        import soundfile as sf

        h = sf.info(os.fsencode(path))
        duration = h.frames / h.samplerate if h.samplerate else None
        return FileResult(index, "error", reason, duration, int(h.samplerate), int(h.channels))
    except Exception:
        return FileResult(index, "error", reason)
