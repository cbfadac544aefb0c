"""Cutting recordings into the stretches that get a row each, and reading them in pieces.

Segment modes (``--segment``, :data:`~ser.common.choices.SEGMENT_MODES`):

``file``
    One row per file, ``start = 0`` and ``end = duration``: the file is decoded whole and
    featurised as one utterance (the behaviour for corpora of short clips).
``window``
    Fixed windows of ``window`` seconds every ``hop`` seconds (the last one may be shorter;
    one shorter than :data:`~ser.audio.decode.MIN_DURATION_S` is left out).
``speech``
    The speech regions a voice-activity detector finds (:mod:`.vad`), short pauses bridged,
    cut so that no segment is longer than ``max_segment`` seconds.
``auto`` (the default)
    ``file`` for files up to :data:`AUTO_FILE_MAX_S` seconds, ``speech`` for longer ones.

A long recording (more than :data:`PIECE_S` seconds) in ``window`` or ``speech`` mode is
processed in *pieces*: consecutive spans of :data:`PIECE_S` seconds (the piece's *core*),
each decoded with :data:`PIECE_MARGIN_S` seconds of context on either side, so that one
worker never holds more than about two minutes of audio, and the pieces of one file can run
on all workers at once. A segment belongs to the piece whose core holds its start; the grid
of pieces depends on the file alone, so the rows do not depend on the number of workers.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from ser.common.choices import CHANNEL_MODES, SEGMENT_MODES, check_choice
from ser.common.errors import AudioError, DataError

from .decode import MIN_DURATION_S, decode, read_flac_streaminfo

__all__ = [
    "AUTO_FILE_MAX_S",
    "PIECE_MARGIN_S",
    "PIECE_S",
    "SegmentOptions",
    "file_header",
    "plan_pieces",
    "read_span",
    "window_segments",
]

#: ``auto`` treats files up to this long as one utterance (RAVDESS clips are 3-5 s, CREMA-D
#: 1-5 s; an utterance-level model has not seen anything much longer).
AUTO_FILE_MAX_S = 30.0
#: Seconds of audio in the core of one piece of a long recording.
PIECE_S = 60.0
#: Context decoded on either side of a piece's core: enough for the longest segment that
#: starts in the core, and for the detector to settle.
PIECE_MARGIN_S = 32.0


@dataclass(frozen=True)
class SegmentOptions:
    """How recordings are cut into rows (see the module docstring).

    Parameters
    ----------
    mode : {"auto", "file", "speech", "window"}
    channels : {"mix", "each"}
        ``mix``: one signal, the mean of the channels. ``each``: every channel is segmented
        and classified on its own (rows get a ``channel``, 0 for the first).
    max_segment : float > 0
        Longest speech segment, seconds.
    window, hop : float > 0
        Window length and step of ``window`` mode, seconds.
    """

    mode: str = "auto"
    channels: str = "mix"
    max_segment: float = 10.0
    window: float = 3.0
    hop: float = 3.0

    def __post_init__(self) -> None:
        check_choice("--segment", self.mode, SEGMENT_MODES)
        check_choice("--channels", self.channels, CHANNEL_MODES)
        for name, low, high in (
            ("max-segment", 0.5, PIECE_MARGIN_S),
            ("window", MIN_DURATION_S, PIECE_MARGIN_S),
            ("hop", 0.05, PIECE_S),
        ):
            value = getattr(self, name.replace("-", "_"))
            if not (isinstance(value, (int, float)) and low <= value <= high):
                raise DataError(f"--{name} must be between {low:g} and {high:g} s, got {value!r}")

    def mode_for(self, duration_s: float) -> str:
        """The mode that applies to a file of ``duration_s`` seconds (resolves ``auto``)."""
        if self.mode == "auto":
            return "file" if duration_s <= AUTO_FILE_MAX_S else "speech"
        return self.mode

    def to_dict(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "channels": self.channels,
            "max_segment": self.max_segment,
            "window": self.window,
            "hop": self.hop,
        }


def plan_pieces(duration_s: float) -> list[tuple[float, float]]:
    """Core spans ``(start, end)`` of the pieces of a recording of ``duration_s`` seconds."""
    n = max(1, math.ceil(duration_s / PIECE_S - 1e-9))
    return [(k * PIECE_S, min((k + 1) * PIECE_S, duration_s)) for k in range(n)]


def window_segments(
    core: tuple[float, float], duration_s: float, window: float, hop: float
) -> list[tuple[float, float]]:
    """The windows ``(start, end)`` whose start lies in ``core``, on the grid ``k * hop``."""
    first = math.ceil(core[0] / hop - 1e-9)
    out = []
    k = first
    while k * hop < core[1] - 1e-9:
        start = k * hop
        end = min(start + window, duration_s)
        if end - start >= MIN_DURATION_S:
            out.append((round(start, 6), round(end, 6)))
        k += 1
    return out


def file_header(path: str) -> tuple[int, int, float]:
    """Sample rate, channel count and duration (s) of ``path``, from its header alone where
    the decoder can tell (else by decoding it, a block at a time)."""
    import soundfile as sf

    if path[-5:].lower() == ".flac":  # 0.02 ms against sf.info's 0.12 ms (RAVDESS, measured)
        fast = _flac_header(path)
        if fast is not None:
            return fast
    if _is_container(path):
        from .containers import av_info, iter_av_blocks

        sr, channels, duration = av_info(path)
        if duration is None:  # a live-written WebM, say: count the samples
            duration = sum(len(b) for b in iter_av_blocks(path, _BLOCK_FRAMES)) / sr
        return sr, channels, duration
    try:
        info = sf.info(os.fsencode(path))
    except Exception:  # not for libsndfile: decode it (errors say why)
        data, sr = decode(path)
        return sr, data.shape[1], data.shape[0] / sr if sr else 0.0
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioError(path, "no audio samples (0 frames)")
    return int(info.samplerate), int(info.channels), info.frames / info.samplerate


def _flac_header(path: str) -> tuple[int, int, float] | None:
    """:func:`file_header` of a FLAC file from its STREAMINFO alone, or None to ask
    libsndfile (no STREAMINFO first, or the file cannot be read). A FLAC written to a stream
    (``ffmpeg ... -f flac pipe:``) has no total length there: its frames are counted, a
    block at a time, with PyAV (libsndfile would report 2**63 frames and fail to read it)."""
    info = read_flac_streaminfo(path)
    if info is None or info[0] <= 0:
        return None
    sr, channels, _, frames = info
    if frames == 0:
        from .containers import iter_av_blocks

        frames = sum(len(b) for b in iter_av_blocks(path, _BLOCK_FRAMES))
        if frames == 0:
            raise AudioError(path, "no audio samples (0 frames)")
    return sr, channels, frames / sr


def read_span(path: str, start_s: float, end_s: float) -> tuple[np.ndarray, int, float]:
    """Samples of ``path`` from ``start_s`` to ``end_s`` (clipped to the file), float32
    ``(frames, channels)``, with the sample rate and the time of the first sample.

    libsndfile reads just that span (it seeks); a format it cannot seek in is decoded whole
    and cut. A container (PyAV) seeks to the span and decodes it (times are its presentation
    times); one whose frames carry no times is decoded from its start a block at a time,
    keeping only the span (bounded memory, more time for later pieces).
    """
    import soundfile as sf

    if _is_container(path):
        return _read_container_span(path, start_s, end_s)
    try:
        f = sf.SoundFile(os.fsencode(path))
    except Exception:
        data, sr = decode(path)
        a, b = int(max(0.0, start_s) * sr), math.ceil(end_s * sr)
        return np.ascontiguousarray(data[a:b]), sr, a / sr
    with f:
        sr = f.samplerate
        a = int(max(0.0, start_s) * sr)
        b = min(f.frames, math.ceil(end_s * sr))
        if f.seekable():
            f.seek(a)
            data = f.read(max(0, b - a), dtype="float32", always_2d=True)
        else:
            data = f.read(dtype="float32", always_2d=True)[a:b]
    return data, sr, a / sr


_BLOCK_FRAMES = 1 << 16


def _is_container(path: str) -> bool:
    """Whether PyAV reads ``path``: a container's name, or a FLAC without its length."""
    from .decode import CONTAINER_SUFFIXES, flac_length_unknown

    i = path.rfind(".")
    suffix = path[i:].lower() if i >= 0 else ""
    return suffix in CONTAINER_SUFFIXES or (suffix == ".flac" and flac_length_unknown(path))


def _read_container_span(path: str, start_s: float, end_s: float) -> tuple[np.ndarray, int, float]:
    from .containers import NoTimestamps, av_info, iter_av_blocks, read_av_span

    try:
        return read_av_span(path, start_s, end_s)
    except NoTimestamps:  # decode from the start, keeping only the span
        pass

    sr, channels, _ = av_info(path)
    a, b = int(max(0.0, start_s) * sr), math.ceil(end_s * sr)
    kept: list[np.ndarray] = []
    pos = 0
    for block in iter_av_blocks(path, _BLOCK_FRAMES):
        n = len(block)
        if pos + n > a:
            kept.append(block[max(0, a - pos) : max(0, min(n, b - pos))])
        pos += n
        if pos >= b:
            break
    data = np.concatenate(kept) if kept else np.zeros((0, channels), np.float32)
    return np.ascontiguousarray(data, dtype=np.float32), sr, a / sr
