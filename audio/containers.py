"""Audio tracks of media containers (MP4/M4A, QuickTime, Matroska/WebM, ASF/WMA, AMR, ADTS
AAC, ...) decoded through PyAV, whose wheels bundle FFmpeg.

libsndfile (and dr_flac) stay the decoders for what they read; :func:`~.decode.decode`
sends here the suffixes in :data:`~.decode.CONTAINER_SUFFIXES`, and files libsndfile does
not recognise whose first bytes are a container's (:func:`looks_like_container`).

The first audio stream is decoded whole, converted to float32 (full scale 1.0) at its own
rate and in its own channel layout: nothing is resampled or mixed (except the frames of a
stream that changes part way, brought to what its header says). PyAV is imported on first use, so
that ``import ser.audio`` and ``ser-annotate --help`` stay light. FFmpeg's own log messages
are not printed: where nobody has configured :mod:`av.logging`, the level is set to
``PANIC``, which keeps FFmpeg's last error message for the exception (and so for the
:class:`~ser.common.errors.AudioError`) and prints nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ser.common.errors import AudioError

__all__ = [
    "NoTimestamps",
    "av_info",
    "decode_av",
    "iter_av_blocks",
    "looks_like_container",
    "read_av_span",
]

logger = logging.getLogger(__name__)

#: A Matroska/WebM file whose audio stops more than this short of the end its header
#: announces (seconds, or this fraction of the duration, the larger) is truncated or corrupt:
#: FFmpeg's Matroska demuxer ends the stream quietly at the damage, where the other
#: containers' demuxers and decoders report an error. (A file written live, as browsers
#: record WebM, announces no duration and is not checked.)
TRUNCATED_SLACK_S = 0.5
TRUNCATED_SLACK_FRACTION = 0.01

# First bytes of the containers that a file libsndfile refuses is retried as: MP4/QuickTime
# (a box type at offset 4), Matroska/WebM (EBML), ASF/WMA (its header GUID), AMR.
_BOX_TYPES = (b"ftyp", b"moov", b"mdat", b"wide")
_MAGIC = (b"\x1a\x45\xdf\xa3", b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", b"#!AMR")


def decode_av(path: str) -> tuple[np.ndarray, int]:
    """The first audio stream of ``path``, all of it, as float32 ``(frames, channels)``.

    Parameters
    ----------
    path : str
        Any file FFmpeg demuxes that holds an audio stream (an MP4 video's sound track too).

    Returns
    -------
    data : np.ndarray [shape=(frames, channels), dtype=float32]
        Full scale is 1.0; lossy decoders may overshoot it slightly (nothing is clipped).
        Lossy formats keep their encoder's padding at the end (less than one codec frame,
        e.g. 1024 samples for AAC).
    sample_rate : int
        The stream's own rate (no resampling); :func:`av_info`'s.

    Raises
    ------
    AudioError
        No audio stream, no decoder for its codec, a corrupt or truncated file; the message
        is one line and says why.
    """
    with _open_audio(path) as (av, container, stream):
        rate, channels = _header_rate(path, stream), stream.codec_context.channels
        chunks = list(_decoded(av, path, container, stream))  # (may update the codec's rate)
        if not chunks:
            chunks = [np.zeros((0, max(1, channels)), np.float32)]
        return np.concatenate(chunks), rate


def iter_av_blocks(path: str, block_frames: int) -> Iterator[np.ndarray]:
    """The first audio stream of ``path`` in float32 blocks of ``block_frames`` frames.

    Every block has ``(block_frames, channels)`` samples except the last, which has the
    rest; concatenated, they are :func:`decode_av`'s array. Memory stays at about one block
    however long the file is. The rate and channel count are :func:`av_info`'s.

    Raises
    ------
    ValueError
        ``block_frames < 1``.
    AudioError
        As :func:`decode_av`; a file found corrupt or truncated part way raises after the
        blocks before the damage.
    """
    if block_frames < 1:
        raise ValueError(f"block_frames must be >= 1, got {block_frames}")
    with _open_audio(path) as (av, container, stream):
        pending: list[np.ndarray] = []
        have = 0
        for chunk in _decoded(av, path, container, stream):
            pending.append(chunk)
            have += len(chunk)
            while have >= block_frames:
                joined = np.concatenate(pending)
                yield joined[:block_frames]
                rest = joined[block_frames:]
                pending, have = ([rest] if len(rest) else []), len(rest)
        if pending:
            yield np.concatenate(pending)


class NoTimestamps(Exception):
    """The stream's frames carry no presentation times: it cannot be read from a time."""


def read_av_span(path: str, start_s: float, end_s: float) -> tuple[np.ndarray, int, float]:
    """The first audio stream from ``start_s`` to ``end_s`` seconds (its presentation times),
    float32 ``(frames, channels)``, with the rate and the time of the first sample.

    The container seeks to the last frame at or before ``start_s`` and decodes forward, so
    reading a piece late in a long file costs about as much as one early in it. Samples
    before ``start_s`` (encoder priming, the rest of the frame sought to) are dropped.

    Raises
    ------
    NoTimestamps
        When the frames carry no times (raw AAC, some AMR): read it sequentially instead.
    AudioError
        As :func:`decode_av`.
    """
    with _open_audio(path) as (av, container, stream):
        cc = stream.codec_context
        rate, layout, channels = _header_rate(path, stream), cc.layout, cc.channels
        kept: list[np.ndarray] = []
        first: float | None = None
        resampler = key = None
        try:
            if start_s > 0 and stream.time_base:
                container.seek(int(start_s / stream.time_base), stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.samples == 0:
                    continue
                if frame.pts is None or frame.time_base is None:
                    raise NoTimestamps(path)
                t = float(frame.pts * frame.time_base)
                if t >= end_s:
                    break
                if first is None:
                    first = t
                this = (frame.format.name, frame.layout.name, frame.sample_rate)
                if this != key:
                    if resampler is not None:
                        kept += [
                            o.to_ndarray().reshape(-1, channels) for o in resampler.resample(None)
                        ]
                    resampler = av.AudioResampler(format="flt", layout=layout, rate=rate)
                    key = this
                kept += [o.to_ndarray().reshape(-1, channels) for o in resampler.resample(frame)]
            if resampler is not None:
                kept += [o.to_ndarray().reshape(-1, channels) for o in resampler.resample(None)]
        except (av.FFmpegError, OSError, ValueError, RuntimeError, LookupError) as exc:
            reason = f"cannot decode audio: corrupt or truncated ({_detail(exc)})"
            raise AudioError(path, reason) from None
    if first is None:
        return np.zeros((0, max(1, channels)), np.float32), rate, max(0.0, start_s)
    data = np.concatenate(kept) if kept else np.zeros((0, max(1, channels)), np.float32)
    skip = max(0, round((start_s - first) * rate))
    return np.ascontiguousarray(data[skip:], dtype=np.float32), rate, first + skip / rate


def av_info(path: str) -> tuple[int, int, float | None]:
    """Sample rate, channel count and duration (seconds, None if unknown) of the first audio
    stream of ``path``, from the container's header and a short probe (nothing decoded
    whole).

    The duration is the stream's, else the container's; where the container does not say,
    FFmpeg may estimate it from the bit rate, and a live-written file (a browser's WebM
    recording) may have none at all.

    Raises
    ------
    AudioError
        As :func:`decode_av`, for what the header shows.
    """
    with _open_audio(path) as (av, container, stream):
        rate = _header_rate(path, stream)
        channels = stream.codec_context.channels
        if stream.duration and stream.time_base:
            duration: float | None = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = None
        return rate, channels, duration


def looks_like_container(path: str) -> bool:
    """True when the first bytes of ``path`` are those of an MP4/QuickTime, Matroska/WebM,
    ASF/WMA, AMR or ADTS (raw AAC) file, whatever its name; False if it cannot be read."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return False
    if head[4:8] in _BOX_TYPES or head.startswith(_MAGIC):
        return True
    # ADTS: 12-bit sync and layer 00, which no MPEG audio (MP3) frame has
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0


@contextmanager
def _open_audio(path: str) -> Iterator[tuple[Any, Any, Any]]:
    """``(av, container, stream)``: the open container and its first audio stream; every
    failure to get there is an :class:`AudioError`. Closes the container on exit."""
    av = _import_av()
    try:
        container = av.open(path, metadata_errors="replace")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise AudioError(path, _open_failure(path, exc)) from None
    with container:
        if not container.streams.audio:
            video = " (a video without sound?)" if container.streams.video else ""
            raise AudioError(path, f"no audio stream{video}")
        stream = container.streams.audio[0]
        if stream.codec_context is None:  # FFmpeg knows no decoder for its codec
            raise AudioError(path, "cannot decode audio: no decoder for its audio codec")
        _discard_others(av, container, stream)
        yield av, container, stream


def _decoded(av: Any, path: str, container: Any, stream: Any) -> Iterator[np.ndarray]:
    """float32 ``(n, channels)`` samples, about one codec frame at a time, in the layout and
    at the rate of the stream's header (:func:`av_info`'s). Frames that differ (a stream
    that changes part way, a header that FFmpeg's probe got wrong) are converted to those."""
    cc = stream.codec_context
    layout, rate = cc.layout, _header_rate(path, stream)
    channels = cc.channels
    resampler = key = None
    end_s = None
    try:
        for frame in container.decode(stream):
            if frame.samples == 0:
                continue
            if channels < 1:  # no layout in the header: the first frame's
                layout, channels = frame.layout, frame.layout.nb_channels
            this = (frame.format.name, frame.layout.name, frame.sample_rate)
            if this != key:
                if resampler is not None:
                    logger.debug("%s: the audio changes to %s part way; converting", path, this)
                    for out in resampler.resample(None):
                        yield out.to_ndarray().reshape(-1, channels)
                resampler = av.AudioResampler(format="flt", layout=layout, rate=rate)
                key = this
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1, channels)
            if frame.pts is not None and frame.time_base is not None:
                end_s = float(frame.pts * frame.time_base) + frame.samples / frame.sample_rate
        if resampler is not None:
            for out in resampler.resample(None):
                yield out.to_ndarray().reshape(-1, channels)
    except (av.FFmpegError, OSError, ValueError, RuntimeError, LookupError) as exc:
        reason = f"cannot decode audio: corrupt or truncated ({_detail(exc)})"
        raise AudioError(path, reason) from None
    _check_complete(av, path, container, end_s)


def _check_complete(av: Any, path: str, container: Any, end_s: float | None) -> None:
    """Raise if a Matroska/WebM stream ended well before the end the file announces."""
    if "matroska" not in container.format.name or not container.duration or end_s is None:
        return
    start = (container.start_time or 0) / av.time_base
    announced = start + container.duration / av.time_base
    if end_s < announced - max(TRUNCATED_SLACK_S, TRUNCATED_SLACK_FRACTION * announced):
        raise AudioError(
            path,
            f"cannot decode audio: corrupt or truncated (the audio ends at {end_s:.2f} s, "
            f"the file announces {announced:.2f} s)",
        )


def _import_av() -> Any:
    import av
    import av.logging

    if av.logging.get_level() is None:  # PyAV's default, which also drops error details
        av.logging.set_level(av.logging.PANIC)
    return av


def _discard_others(av: Any, container: Any, stream: Any) -> None:
    """Let the demuxer skip the other streams' packets (a long video's frames, say)."""
    discard = getattr(getattr(av, "stream", None), "Discard", None)
    if discard is None:  # older PyAV: their packets are read and dropped
        return
    for other in container.streams:
        if other.index != stream.index:
            other.discard = discard.all


def _header_rate(path: str, stream: Any) -> int:
    rate = int(stream.codec_context.sample_rate or 0)
    if rate <= 0:
        raise AudioError(path, "cannot decode audio: the audio stream has no sample rate")
    return rate


def _open_failure(path: str, exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not an audio file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    try:
        if os.path.getsize(path) == 0:
            return "empty file (0 bytes)"
    except OSError:
        pass
    return f"cannot decode audio: not a supported audio format, or corrupt ({_detail(exc)})"


def _detail(exc: BaseException) -> str:
    """FFmpeg's last error message for ``exc`` if it kept one, else the error's text; one line."""
    log = getattr(exc, "log", None)
    if log and len(log) >= 3 and str(log[2]).strip():
        source = str(log[1]).strip()
        text = str(log[2]).strip()
        # a demuxer is named by all its formats ("mov,mp4,m4a,3gp,3g2,mj2"): leave that out
        detail = text if not source or "," in source else f"{source}: {text}"
    else:
        detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(detail).split())
