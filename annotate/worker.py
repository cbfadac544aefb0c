"""The worker task: decode and featurise one file, and say how it went.

This is the task that :func:`ser.batch.run_batch` runs in the worker processes. It never
raises for a bad file: every failure becomes a :class:`FileResult` with ``status="error"``
and a readable reason, so one file can never abort a batch. Prediction happens in the
parent (see :mod:`.pipeline`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np

from ser.audio.segments import SegmentOptions, file_header, plan_pieces
from ser.batch import WORKER_DIED
from ser.common import AudioError, SerError
from ser.features import FeatureConfig, process_file

from .segmenting import Piece, segment_piece

__all__ = ["FileResult", "extract_file", "extract_item", "worker_died"]


@dataclass(frozen=True)
class FileResult:
    """Outcome of one file (or one piece of a long one): what the worker learnt, or why not.

    ``index`` is the file's position in the walk order, which lets the parent put rows back
    in order. For a whole file featurised as one utterance, ``features`` is one float32 row
    (set only when ``status == "ok"``) and ``segments`` is None. For segmented audio,
    ``segments`` holds one ``(start, end, channel)`` per row (``channel`` -1 for the mixed
    signal), ``features`` one row each (NaN where the segment failed) and
    ``segment_errors`` the reason of each failed segment (None where it worked);
    ``n_pieces`` is set by the first piece of a file that is processed in pieces.
    ``span_s`` is the seconds of audio this result covers (for the progress bar).
    """

    index: int
    status: str
    error: str | None = None
    duration_s: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    features: np.ndarray | None = None
    segments: np.ndarray | None = None
    segment_errors: tuple[str | None, ...] | None = None
    n_pieces: int = 1
    span_s: float = 0.0


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
    except Exception as exc:  # never let one file abort the batch
        return _failed(index, path, exc)
    return FileResult(
        index,
        "ok",
        None,
        float(info.duration_s),
        int(info.sample_rate),
        int(info.channels),
        np.ascontiguousarray(x, dtype=np.float32),
        span_s=float(info.duration_s),
    )


def extract_item(
    item: tuple[int, str, Piece | None], config: FeatureConfig, seg: SegmentOptions
) -> FileResult:
    """Featurise one file, or one piece of a long one, as ``seg`` says; never raises.

    ``item`` is (walk index, path, piece): piece ``None`` is a file's first item, which
    reads its header, resolves ``auto``, and either featurises the whole file
    (:func:`extract_file`) or its first piece, saying in ``n_pieces`` how many there are;
    the parent then sends the others as :class:`Piece` items.
    """
    index, path, piece = item
    if piece is None and seg.mode == "file" and seg.channels == "mix":
        return extract_file((index, path), config)  # no header to read first
    try:
        if piece is None:
            _, _, duration = file_header(path)
            mode = seg.mode_for(duration)
            if mode == "file" and seg.channels == "mix":
                return extract_file((index, path), config)
            cores = plan_pieces(duration) if mode != "file" else [(0.0, duration)]
            piece = Piece(0, *cores[0], duration, mode)
            return replace(_segmented(index, path, piece, config, seg), n_pieces=len(cores))
        return _segmented(index, path, piece, config, seg)
    except Exception as exc:  # never let one file abort the batch
        return _failed(index, path, exc)


def worker_died(item: tuple[int, str] | tuple[int, str, Piece | None]) -> FileResult:
    """The row of a file whose worker process died twice (see :func:`ser.batch.run_batch`)."""
    return FileResult(item[0], "error", WORKER_DIED)


def _failed(index: int, path: str, exc: Exception) -> FileResult:
    """The error row of a file: an audio error's reason (with the header's facts where they
    can be read), a ser error's message, or any other exception's type and message."""
    if isinstance(exc, AudioError):
        return _error_with_header(index, path, exc.reason)
    if isinstance(exc, SerError):
        return FileResult(index, "error", str(exc))
    return FileResult(index, "error", f"{type(exc).__name__}: {exc}")


def _error_with_header(index: int, path: str, reason: str) -> FileResult:
    try:
        import soundfile as sf

        h = sf.info(os.fsencode(path))
        duration = h.frames / h.samplerate if h.samplerate else None
        return FileResult(index, "error", reason, duration, int(h.samplerate), int(h.channels))
    except Exception:
        return FileResult(index, "error", reason)


def _segmented(
    index: int, path: str, piece: Piece, config: FeatureConfig, seg: SegmentOptions
) -> FileResult:
    spans, features, errors, sr, channels = segment_piece(path, piece, config, seg)
    return FileResult(
        index,
        "ok",
        None,
        piece.duration_s,
        sr,
        channels,
        features,
        np.asarray(spans, dtype=np.float64).reshape(-1, 3),
        tuple(errors),
        span_s=piece.end - piece.start,
    )
