"""Audio front end: decode (libsndfile, dr_flac, PyAV for containers), mix to mono, trim,
resample to 16 kHz.

Everything downstream sees mono float32 at :data:`ANALYSIS_SR`, whatever the file's format,
channel count or sample rate, so features never depend on how a corpus was recorded.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from ser.common.errors import AudioError

__all__ = [
    "ANALYSIS_SR",
    "AUDIO_SUFFIXES",
    "CONTAINER_SUFFIXES",
    "MIN_DURATION_S",
    "SILENCE_PEAK",
    "AudioInfo",
    "decode",
    "load_audio",
    "trim_silence",
]

logger = logging.getLogger(__name__)

#: The one analysis rate: every file is resampled to this before features.
ANALYSIS_SR = 16_000
#: Shortest audio (after decoding, before trimming) that gets a prediction. Below 0.2 s
#: there are fewer than 20 analysis frames, too few for the utterance statistics.
MIN_DURATION_S = 0.2
#: A file whose absolute peak stays below this (-80 dBFS) is treated as silent.
SILENCE_PEAK = 1e-4
#: Trimming keeps the span from the first to the last 10 ms block within this many dB of
#: the loudest block, plus :data:`TRIM_MARGIN_S` either side.
TRIM_TOP_DB = 40.0
TRIM_MARGIN_S = 0.05


@dataclass(frozen=True)
class AudioInfo:
    """What the file was before the front end changed it."""

    path: str
    sample_rate: int
    channels: int
    duration_s: float


#: FLAC files up to this size are decoded by dr_flac (see :func:`_decode_flac`); a larger
#: one goes to libsndfile, which decodes straight into the output array. dr_flac's result
#: passes through two more buffers of 32-bit integers plus the compressed bytes, about four
#: times the float32 audio: for a 16 MiB file (some 6 minutes of 44.1 kHz stereo) that is
#: some 300 MB more at the peak, per worker.
FLAC_FAST_MAX_BYTES = 16 << 20
_FLAC_MAGIC = b"fLaC"
_INT32_SCALE = np.float32(2.0**-31)


def decode(path: str) -> tuple[np.ndarray, int]:
    """The samples of ``path`` as float32, shape ``(frames, channels)``, and its rate.

    FLAC goes to dr_flac where it can (:func:`_decode_flac`); a name in
    :data:`CONTAINER_SUFFIXES` (M4A, MP4, WebM, AMR, WMA, ...) to PyAV, which decodes its first
    audio stream (:func:`~.containers.decode_av`); everything else to libsndfile. A file
    libsndfile refuses whose first bytes are a container's (an M4A named ``.wav``, say) is
    decoded by PyAV after all. No mixing, trimming or resampling: :func:`load_audio` does
    those.

    Raises
    ------
    AudioError
        When the file cannot be decoded; the message says why.
    """
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".flac":
        decoded = _decode_flac(path)
        if decoded is not None:
            return decoded
    if suffix in CONTAINER_SUFFIXES or (suffix == ".flac" and flac_length_unknown(path)):
        from .containers import decode_av

        return decode_av(path)
    # soundfile and soxr are imported on first use, so that importing ser.models stays light
    import soundfile as sf

    try:
        # bytes: soundfile encodes a str strictly, which fails on file names that are not
        # valid in the file-system encoding (undecodable bytes arrive as surrogates)
        data, sr = sf.read(os.fsencode(path), dtype="float32", always_2d=True)
    except FileNotFoundError:
        raise AudioError(path, "file not found") from None
    except PermissionError:
        raise AudioError(path, "permission denied") from None
    except IsADirectoryError:
        raise AudioError(path, "is a directory, not an audio file") from None
    except (RuntimeError, OSError, ValueError, TypeError) as exc:
        # Only here, on libsndfile's failure, a look at the first bytes: a container under
        # another name goes to PyAV (which then decodes it, or says why not).
        from .containers import decode_av, looks_like_container

        if isinstance(exc, RuntimeError) and looks_like_container(path):
            return decode_av(path)
        # libsndfile reports a missing file as "System error." and an unrecognised one as
        # "File does not exist or is not a regular file": say what is really wrong.
        raise AudioError(path, _decode_failure(path, exc)) from None
    return data, int(sr)


def _decode_flac(path: str) -> tuple[np.ndarray, int] | None:
    """FLAC through dr_flac (the ``miniaudio`` package), or None to leave it to libsndfile.

    dr_flac decodes RAVDESS's 16-bit FLAC in about 60 % of libsndfile's time, and decoding is
    the largest single cost of annotating such a corpus. The samples are bit-identical to
    ``soundfile.read(dtype="float32")``: dr_flac returns each sample as a 32-bit integer
    shifted to the top (``x << (32 - bits)``), and scaling that by 2**-31 gives exactly
    libsndfile's ``x / 2**(bits - 1)``.

    Anything unusual goes to libsndfile, which then decodes it or raises the error the user
    would have had without this path: a file that cannot be read here or is larger than
    :data:`FLAC_FAST_MAX_BYTES`; no STREAMINFO right after the FLAC signature (an ID3 tag
    first, say); a depth other than 8, 16 or 24 bits (the ones libsndfile reads); no total
    length in the header; fewer samples decoded than the header announces (a truncated or
    corrupt file: dr_flac drops a frame whose checksum fails, where libsndfile reports an
    error); or any failure inside dr_flac.
    """
    try:
        import miniaudio
    except ImportError:  # pragma: no cover - a dependency; libsndfile still decodes FLAC
        return None
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size > FLAC_FAST_MAX_BYTES:
                return None
            blob = f.read()
    except OSError:
        return None
    info = flac_streaminfo(blob)
    if info is None:
        return None
    _, _, bits, n_frames = info
    if bits not in (8, 16, 24) or n_frames == 0:
        return None
    try:
        decoded = miniaudio.flac_read_s32(blob)
    except Exception:  # dr_flac's DecodeError, or anything odd about the file: libsndfile decides
        return None
    channels = decoded.nchannels
    if channels < 1 or len(decoded.samples) != n_frames * channels:
        return None
    y = np.frombuffer(decoded.samples, dtype=np.int32).astype(np.float32)
    y *= _INT32_SCALE
    return y.reshape(-1, channels), int(decoded.sample_rate)


def flac_streaminfo(head: bytes) -> tuple[int, int, int, int] | None:
    """Sample rate, channels, bits per sample and total frames from the first 42 bytes of a
    FLAC file, or None when they do not start with "fLaC" and the STREAMINFO block (which
    the format puts first; an ID3 tag before it, say, gives None).

    After the signature and 4 bytes of block header, STREAMINFO holds 10 bytes of block and
    frame sizes, then 64 bits: sample rate (20), channels - 1 (3), bits per sample - 1 (5)
    and total frames (36; 0 when the encoder did not know).
    """
    if len(head) < 42 or head[:4] != _FLAC_MAGIC or head[4] & 0x7F != 0:
        return None
    fields = int.from_bytes(head[18:26], "big")
    sample_rate = fields >> 44
    channels = ((fields >> 41) & 0x7) + 1
    bits = ((fields >> 36) & 0x1F) + 1
    return sample_rate, channels, bits, fields & ((1 << 36) - 1)


def read_flac_streaminfo(path: str) -> tuple[int, int, int, int] | None:
    """:func:`flac_streaminfo` of the file ``path``; None also when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return flac_streaminfo(f.read(42))
    except OSError:
        return None


def flac_length_unknown(path: str) -> bool:
    """Whether ``path`` is a FLAC file whose STREAMINFO gives no total length, as one written
    to a stream has (``ffmpeg ... -f flac pipe:``). libsndfile reports 2**63 frames for such
    a file and cannot read it (psf_fseek fails), so PyAV decodes it."""
    info = read_flac_streaminfo(path)
    return info is not None and info[3] == 0


def _decode_failure(path: str, exc: BaseException) -> str:
    if not os.path.exists(path):
        return "file not found"
    if os.path.isdir(path):
        return "is a directory, not an audio file"
    if not os.access(path, os.R_OK):
        return "permission denied"
    if os.path.getsize(path) == 0:
        return "empty file (0 bytes)"
    detail = getattr(exc, "error_string", None) or str(exc)
    if "does not exist" in detail or "System error" in detail:
        detail = "unrecognised format"
    return f"cannot decode audio: not a supported audio format, or corrupt ({detail.strip()})"


def load_audio(
    path: str | os.PathLike[str],
    *,
    sr: int = ANALYSIS_SR,
    trim: bool = True,
    min_duration: float = MIN_DURATION_S,
) -> tuple[np.ndarray, AudioInfo]:
    """Decode ``path`` and return mono float32 audio at ``sr`` with its original properties.

    Parameters
    ----------
    path : str or os.PathLike
        Any file :func:`decode` reads: WAV (16/24/32-bit, float), FLAC, OGG/Vorbis/Opus, MP3,
        ... through libsndfile; M4A/AAC, MP4/MOV (the sound track), WebM, AMR, WMA, ...
        through PyAV.
    sr : int > 0
        Output sample rate. Resampling uses soxr (high quality).
    trim : bool
        Cut leading and trailing silence (see :func:`trim_silence`) *before* resampling,
        which saves work on corpora with long pauses around each utterance.
    min_duration : float >= 0
        Shortest accepted duration in seconds, measured before trimming.

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]
    info : AudioInfo
        Native sample rate, channel count and duration of the file.

    Raises
    ------
    AudioError
        Unreadable, corrupt or empty file; zero samples; shorter than ``min_duration``;
        non-finite samples; all-silent audio. The message names the file and the reason.
    """
    if sr <= 0:
        raise ValueError(f"sr must be > 0, got {sr}")
    spath = os.fspath(path)
    data, native_sr = decode(spath)
    n, channels = data.shape
    info = AudioInfo(spath, native_sr, channels, n / native_sr if native_sr else 0.0)
    if n == 0:
        raise AudioError(spath, "no audio samples (0 frames)")
    if info.duration_s < min_duration:
        raise AudioError(
            spath, f"too short: {info.duration_s:.3f} s, the minimum is {min_duration:g} s"
        )
    y = data[:, 0] if channels == 1 else data.mean(axis=1, dtype=np.float32)
    # One max and one min pass instead of isfinite + abs + max: a NaN propagates into both,
    # an infinity shows in one of them, and max(hi, -lo) is exactly max(|y|).
    hi, lo = float(y.max()), float(y.min())
    if not (np.isfinite(hi) and np.isfinite(lo)):
        bad = int(np.count_nonzero(~np.isfinite(y)))
        raise AudioError(spath, f"{bad} non-finite samples (NaN or infinity)")
    peak = max(hi, -lo)
    if peak < SILENCE_PEAK:
        raise AudioError(spath, f"silent: peak level {_db(peak):.1f} dBFS is below -80 dBFS")
    if trim:
        y = trim_silence(y, native_sr)
    if native_sr != sr:
        import soxr

        y = soxr.resample(y, native_sr, sr, quality="HQ").astype(np.float32, copy=False)
    return np.ascontiguousarray(y, dtype=np.float32), info


def trim_silence(
    y: np.ndarray, sr: int, *, top_db: float = TRIM_TOP_DB, margin_s: float = TRIM_MARGIN_S
) -> np.ndarray:
    """Cut leading and trailing audio quieter than ``top_db`` below the loudest 10 ms block."""
    block = max(1, int(sr * 0.01))
    nb = len(y) // block
    if nb < 3:
        return y
    blocks = y[: nb * block].reshape(nb, block)
    energy = np.einsum("ij,ij->i", blocks, blocks) / block
    db = 10.0 * np.log10(energy + 1e-12)
    active = np.flatnonzero(db > db.max() - top_db)
    margin = int(margin_s * sr)
    start = max(0, active[0] * block - margin)
    stop = min(len(y), (active[-1] + 1) * block + margin)
    return y[start:stop]


def _db(x: float) -> float:
    return 20.0 * np.log10(max(x, 1e-12))


#: Extensions that :func:`decode` sends to PyAV (:mod:`.containers`): the containers whose
#: audio libsndfile cannot read, each checked with a file PyAV wrote and read back (AMR-WB
#: is decoded, not encoded, by PyAV's FFmpeg). Not ``.ts``, which is mostly TypeScript.
CONTAINER_SUFFIXES = frozenset(
    {
        # MP4 / QuickTime family: AAC, ALAC, AMR (3GP), ...
        ".m4a",
        ".m4b",
        ".mp4",
        ".m4v",
        ".mov",
        ".3gp",
        ".3g2",
        # raw AAC (ADTS)
        ".aac",
        # Matroska / WebM: Opus, Vorbis, AAC, ...
        ".webm",
        ".weba",
        ".mka",
        ".mkv",
        # AMR-NB and AMR-WB voice memos
        ".amr",
        ".awb",
        # Windows Media (ASF)
        ".wma",
        ".asf",
        ".wmv",
        # other video files' sound tracks (AVI, AVCHD camcorders)
        ".avi",
        ".mts",
        ".m2ts",
    }
)

#: Extensions picked when walking a directory (libsndfile's formats and
#: :data:`CONTAINER_SUFFIXES`, case-insensitive).
AUDIO_SUFFIXES = CONTAINER_SUFFIXES | frozenset(
    {
        ".wav",
        ".wave",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".mp3",
        ".aif",
        ".aiff",
        ".aifc",
        ".au",
        ".snd",
        ".caf",
        ".w64",
        ".rf64",
        ".sd2",
        ".voc",
    }
)
