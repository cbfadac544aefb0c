"""What the pages show about a clip's signal: waveform, log-mel spectrogram, pitch, the
seed project's plots (STFT, MFCC, chroma, ZCR, RMS), and where its features sit relative to
a model's training corpus. Plain numpy and librosa; no Streamlit, no plotting.
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ser.audio.decode import ANALYSIS_SR, load_audio
from ser.common.errors import ModelError

if TYPE_CHECKING:
    import pandas as pd

    from ser.models import Model

__all__ = [
    "PYIN_MAX_S",
    "ClipSignal",
    "LogMel",
    "PitchTrack",
    "SeedFeatures",
    "family_summary",
    "feature_family",
    "feature_position",
    "load_signal",
    "log_mel",
    "pitch_track",
    "seed_features",
    "waveform_envelope",
]

logger = logging.getLogger(__name__)

#: Clips up to this long get librosa's probabilistic YIN (pYIN, with its voicing decision);
#: longer ones plain YIN with an energy gate, some 20 times faster.
PYIN_MAX_S = 30.0
#: Pitch search range, Hz (that of ser's own F0 features).
F0_MIN, F0_MAX = 65.0, 450.0
HOP_LENGTH = 160  # 10 ms at 16 kHz
N_FFT = 512


@dataclass(frozen=True)
class ClipSignal:
    """A clip decoded as the model sees it: mono float32 at ``sr`` (untrimmed), and what the
    file was (native rate, channels, duration)."""

    y: np.ndarray
    sr: int
    native_sr: int
    channels: int
    duration_s: float


@dataclass(frozen=True)
class LogMel:
    """Log-mel power spectrogram in dB re its maximum: ``db`` (n_mels, frames)."""

    db: np.ndarray
    sr: int
    hop_length: int


@dataclass(frozen=True)
class PitchTrack:
    """F0 in Hz per frame (NaN where unvoiced), frame times in seconds, and how it was found."""

    times: np.ndarray
    f0: np.ndarray
    method: str


@dataclass(frozen=True)
class SeedFeatures:
    """The seed project's frame-level features of one clip (librosa defaults otherwise):
    STFT magnitude in dB, 40 MFCCs, chroma, zero-crossing rate and RMS."""

    stft_db: np.ndarray
    mfcc: np.ndarray
    chroma: np.ndarray
    zcr: np.ndarray
    rms: np.ndarray
    sr: int
    hop_length: int


def load_signal(path: str | os.PathLike[str], *, sr: int = ANALYSIS_SR) -> ClipSignal:
    """Decode ``path`` as ser does (mono, resampled to ``sr``), without trimming.

    Raises
    ------
    AudioError
        Undecodable, empty, too short, silent...: the message says why.
    """
    y, info = load_audio(path, sr=sr, trim=False)
    return ClipSignal(y, sr, info.sample_rate, info.channels, info.duration_s)


def waveform_envelope(y: np.ndarray, sr: int, *, points: int = 2000) -> pd.DataFrame:
    """Per time bucket the lowest and highest sample (columns ``time``, ``low``, ``high``):
    a waveform that draws the same at any zoom, with at most ``points`` rows."""
    import pandas as pd

    y = np.asarray(y, dtype=np.float32)
    size = max(1, math.ceil(len(y) / max(1, points)))
    n = math.ceil(len(y) / size)
    padded = np.pad(y, (0, n * size - len(y)), mode="edge").reshape(n, size)
    return pd.DataFrame(
        {
            "time": np.arange(n) * size / sr,
            "low": padded.min(axis=1),
            "high": padded.max(axis=1),
        }
    )


def log_mel(y: np.ndarray, sr: int, *, n_mels: int = 64) -> LogMel:
    """Log-mel spectrogram (32 ms window, 10 ms hop at 16 kHz), 80 dB of range."""
    import librosa

    power = librosa.feature.melspectrogram(
        y=y, sr=sr, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mels=n_mels, fmin=F0_MIN / 2
    )
    return LogMel(librosa.power_to_db(power, ref=np.max, top_db=80.0), sr, HOP_LENGTH)


def pitch_track(y: np.ndarray, sr: int) -> PitchTrack:
    """F0 contour: pYIN for clips up to :data:`PYIN_MAX_S`, YIN with an energy gate beyond."""
    import librosa

    hop = 2 * HOP_LENGTH
    if len(y) / sr <= PYIN_MAX_S:
        f0, voiced, _ = librosa.pyin(
            y, fmin=F0_MIN, fmax=F0_MAX, sr=sr, frame_length=1024, hop_length=hop
        )
        f0 = np.where(voiced, f0, np.nan)
        method = "pYIN"
    else:
        f0 = librosa.yin(y, fmin=F0_MIN, fmax=F0_MAX, sr=sr, frame_length=1024, hop_length=hop)
        rms = librosa.feature.rms(y=y, frame_length=1024, hop_length=hop)[0][: len(f0)]
        loud = 20 * np.log10(np.maximum(rms, 1e-10) / max(float(rms.max()), 1e-10)) > -30.0
        inside = (f0 > F0_MIN * 1.05) & (f0 < F0_MAX * 0.95)
        f0 = np.where(loud & inside, f0, np.nan)
        method = "YIN, energy-gated"
    times = librosa.frames_to_time(np.arange(len(f0)), sr=sr, hop_length=hop)
    return PitchTrack(times, np.asarray(f0, dtype=np.float64), method)


def seed_features(y: np.ndarray, sr: int) -> SeedFeatures:
    """The frame-level features the seed project plotted, computed as it did (librosa)."""
    import librosa

    hop = 512
    stft = np.abs(librosa.stft(y, n_fft=2048, hop_length=hop))
    return SeedFeatures(
        stft_db=librosa.amplitude_to_db(stft, ref=np.max),
        mfcc=librosa.feature.mfcc(y=y, sr=sr, n_mfcc=40, hop_length=hop),
        chroma=librosa.feature.chroma_stft(S=stft**2, sr=sr, hop_length=hop),
        zcr=librosa.feature.zero_crossing_rate(y, frame_length=2048, hop_length=hop)[0],
        rms=librosa.feature.rms(S=stft, frame_length=2048, hop_length=hop)[0],
        sr=sr,
        hop_length=hop,
    )


_FAMILIES: tuple[tuple[str, str], ...] = (
    (r"^d?mfcc", "MFCC"),
    (r"^(log)?mel", "mel spectrum"),
    (r"^chroma", "chroma"),
    (r"^contrast", "spectral contrast"),
    (r"^(centroid|bandwidth|rolloff|flatness|flux|alpha_ratio|hammarberg)", "spectral shape"),
    (r"^d?energy", "loudness"),
    (r"^f0", "pitch"),
    (r"^(periodicity|voiced|active)", "voicing and pauses"),
)


def feature_family(name: str) -> str:
    """The family a feature belongs to (``"MFCC"``, ``"pitch"``...), from its name."""
    for pattern, family in _FAMILIES:
        if re.match(pattern, name):
            return family
    return "other"


def feature_position(path: str | os.PathLike[str], model: Model) -> pd.DataFrame:
    """Where the clip's features sit relative to ``model``'s training corpus.

    The features are extracted exactly as the model extracts them (its feature set); each is
    compared with the mean and standard deviation of the raw training features stored in
    the model (``train_stats``).

    Returns
    -------
    pandas.DataFrame
        One row per feature, in the model's order: ``feature``, ``family``, ``value``,
        ``train_mean``, ``train_std``, ``z`` (standard deviations from the training mean)
        and ``percentile`` (of a normal distribution with that mean and deviation).

    Raises
    ------
    ModelError
        The model holds no training statistics.
    AudioError
        The clip cannot be read.
    """
    import pandas as pd

    from ser.features import feature_names, process_file

    stats = model.train_stats
    if stats is None:
        raise ModelError(f"model {model.name!r} holds no training statistics to compare with")
    x, _ = process_file(path, config=model.features)
    x = np.asarray(x, dtype=np.float64)
    z = stats.apply(x[None, :])[0]
    names = feature_names(model.features)
    percentile = [50.0 * (1.0 + math.erf(v / math.sqrt(2.0))) for v in z]
    return pd.DataFrame(
        {
            "feature": names,
            "family": [feature_family(n) for n in names],
            "value": x,
            "train_mean": np.asarray(stats.mean, dtype=np.float64),
            "train_std": np.asarray(stats.std, dtype=np.float64),
            "z": z,
            "percentile": percentile,
        }
    )


def family_summary(position: pd.DataFrame) -> pd.DataFrame:
    """Per feature family: how many features, the mean and the largest ``|z|``, and the
    feature furthest from the training mean (columns family, features, mean |z|, max |z|,
    furthest)."""
    frame = position.assign(abs_z=position["z"].abs())
    rows = []
    for family, group in frame.groupby("family", sort=False):
        top = group.loc[group["abs_z"].idxmax()]
        rows.append(
            {
                "family": family,
                "features": len(group),
                "mean |z|": float(group["abs_z"].mean()),
                "max |z|": float(top["abs_z"]),
                "furthest": str(top["feature"]),
            }
        )
    import pandas as pd

    return pd.DataFrame(rows).sort_values("mean |z|", ascending=False, ignore_index=True)
