"""Rows of a recording in ``window``, ``speech`` or per-channel ``file`` mode: a worker's job.

One call handles one :class:`Piece` of a file (a whole file is one piece): it reads the
piece's span with its context (:func:`ser.audio.segments.read_span`), makes the signal of
each channel (or their mix), resamples it once to the feature rate, finds the segments whose
start lies in the piece's core, and featurises each one like an utterance (trimmed of
leading and trailing silence when the feature set says so). A segment that cannot be
featurised (silent, too short after trimming) gets a reason instead of features; it never
fails the file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ser.audio.decode import MIN_DURATION_S, SILENCE_PEAK, trim_silence
from ser.audio.segments import PIECE_MARGIN_S, SegmentOptions, read_span, window_segments
from ser.common import SerError
from ser.features import FeatureConfig, extract_features

__all__ = ["Piece", "segment_piece"]


@dataclass(frozen=True)
class Piece:
    """A span of a file for one task: its number, its core ``[start, end)`` in seconds, the
    file's duration and the (resolved) segment mode."""

    number: int
    start: float
    end: float
    duration_s: float
    mode: str


def segment_piece(
    path: str, piece: Piece, config: FeatureConfig, seg: SegmentOptions
) -> tuple[list[tuple[float, float, int]], np.ndarray, list[str | None], int, int]:
    """Segments ``(start, end, channel)`` of ``piece``, their features (NaN rows where a
    segment failed), the reasons of the failures, the file's sample rate and channels."""
    whole = piece.mode == "file"
    lo = 0.0 if whole else max(0.0, piece.start - PIECE_MARGIN_S)
    hi = piece.duration_s if whole else min(piece.duration_s, piece.end + PIECE_MARGIN_S)
    data, sr, t0 = read_span(path, lo, hi)
    n_channels = data.shape[1]
    if seg.channels == "each":
        signals = [(c, data[:, c]) for c in range(n_channels)]
    else:
        mono = data[:, 0] if n_channels == 1 else data.mean(axis=1, dtype=np.float32)
        signals = [(-1, mono)]
    del data
    rate = config.sr
    trim = bool(config.params.get("trim", True))
    spans: list[tuple[float, float, int]] = []
    rows: list[np.ndarray | None] = []
    errors: list[str | None] = []
    for channel, x in signals:
        y = _resample(np.ascontiguousarray(x, dtype=np.float32), sr, rate)
        for start, end in _segments(piece, y, rate, t0, seg):
            a, b = round((start - t0) * rate), round((end - t0) * rate)
            features, error = _featurise(y[max(0, a) : b], rate, trim, config)
            spans.append((start, end, channel))
            rows.append(features)
            errors.append(error)
    width = next((len(r) for r in rows if r is not None), 0)
    X = np.full((len(rows), width), np.nan, dtype=np.float32)
    for k, r in enumerate(rows):
        if r is not None:
            X[k] = r
    return spans, X, errors, sr, n_channels


def _segments(
    piece: Piece, y: np.ndarray, rate: int, t0: float, seg: SegmentOptions
) -> list[tuple[float, float]]:
    if piece.mode == "file":
        return [(0.0, round(piece.duration_s, 6))]
    if piece.mode == "window":
        return window_segments((piece.start, piece.end), piece.duration_s, seg.window, seg.hop)
    from ser.audio.vad import segment_regions, speech_regions

    regions = [(t0 + s, t0 + e) for s, e in speech_regions(y, rate)]
    found = segment_regions(regions, max_segment=seg.max_segment, total_s=piece.duration_s)
    return [(round(s, 6), round(e, 6)) for s, e in found if piece.start <= s < piece.end]


def _resample(x: np.ndarray, sr: int, rate: int) -> np.ndarray:
    if sr == rate:
        return x
    import soxr

    return soxr.resample(x, sr, rate, quality="HQ").astype(np.float32, copy=False)


def _featurise(
    y: np.ndarray, rate: int, trim: bool, config: FeatureConfig
) -> tuple[np.ndarray | None, str | None]:
    """Features of one segment, or the reason there are none (as :func:`load_audio` says
    it of a file)."""
    if len(y) < MIN_DURATION_S * rate:
        return None, f"too short: {len(y) / rate:.3f} s, the minimum is {MIN_DURATION_S:g} s"
    hi, lo = float(y.max()), float(y.min())
    if not (np.isfinite(hi) and np.isfinite(lo)):
        return None, "non-finite samples (NaN or infinity)"
    if max(hi, -lo) < SILENCE_PEAK:
        return None, "silent: peak level below -80 dBFS"
    if trim:
        y = trim_silence(y, rate)
    try:
        return extract_features(y, config=config), None
    except SerError as exc:
        return None, str(exc)
