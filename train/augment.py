"""Training-time augmentation: make RAVDESS studio recordings sound like real-world ones.

RAVDESS was recorded in one studio with one microphone. Recordings a user annotates differ
in noise, bandwidth (telephone, low-pass codecs), room reverberation, level and speaking
rate. Each augmentation :class:`Condition` is one such recording channel. Conditions are
drawn per *speaker* and copy, so all files of one actor in one copy share the channel, as a
real speaker in a real corpus would; that keeps speaker normalisation meaningful for the
augmented rows. A copy's noise is set ``snr_db`` below each file's own power. A
:class:`Condition` with ``speech_db`` sets it below that power instead (one level for all of a
speaker's files, as a recording's steady noise floor: soft utterances then get less SNR than
loud ones); ``ser-train`` does not use it, because across corpora it did no better. Measured
(2026-12-02, two copies per clip, four classes): trained on one of RAVDESS and CREMA-D and
tested on the other, clean and with pink noise 20 and 10 dB below each speaker's speech
power, the per-speaker level scored UAR 0.471 / 0.446 / 0.451 and 0.527 / 0.496 / 0.438,
the per-file one 0.508 / 0.451 / 0.434 and 0.542 / 0.499 / 0.449, and no augmentation
0.567 / 0.533 / 0.464 and 0.547 / 0.510 / 0.427 (``benchmarks/augment_noise.py``). Only on
new speakers of the training corpus, in the conversations of
``benchmarks/long_annotation.py``, was the per-speaker level better in noise (README, "Noisy
recordings").

Noise, band-limiting and gain use audiomentations; the room impulse response (exponentially
decaying noise, the standard statistical room model) and speed perturbation (resampling, as
in Kaldi's 0.9/1.0/1.1 recipe) are done here.

Augmented copies are only ever added to the training folds; see :mod:`ser.train.fit`.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

import numpy as np

__all__ = ["Condition", "apply_condition", "draw_conditions", "power_db"]


@dataclass(frozen=True)
class Condition:
    """One simulated recording channel."""

    seed: int
    gain_db: float = 0.0
    snr_db: float | None = None  # noise power below the speech power, dB
    noise_decay: float = 0.0  # spectral slope of the noise, dB/octave (0 white, -3 pink)
    band: str | None = None  # "telephone" (300-3400 Hz) or "lowpass" (4 kHz)
    rt60: float | None = None  # reverberation time, seconds
    speed: float = 1.0  # >1: faster and higher
    # the noise's reference: a speech power, dB re full scale; None: each file's own power
    speech_db: float | None = None


def power_db(y: np.ndarray) -> float:
    """Mean power of ``y`` in dB re full scale (-200 for digital silence)."""
    p = float(np.mean(np.square(y, dtype=np.float64))) if len(y) else 0.0
    return 10.0 * float(np.log10(p)) if p > 1e-20 else -200.0


def draw_conditions(seed: int, group: object, n: int) -> list[Condition]:
    """``n`` conditions for one speaker group, reproducible from ``(seed, group)``."""
    rng = np.random.default_rng([seed, zlib.crc32(str(group).encode())])
    out = []
    for _ in range(n):
        out.append(
            Condition(
                seed=int(rng.integers(2**31)),
                gain_db=float(rng.uniform(-12.0, 6.0)),
                snr_db=float(rng.uniform(15.0, 40.0)) if rng.random() < 0.6 else None,
                noise_decay=float(rng.uniform(-6.0, 0.0)),
                band=(None, "telephone", "lowpass")[int(rng.choice(3, p=[0.8, 0.1, 0.1]))],
                rt60=float(rng.uniform(0.2, 0.6)) if rng.random() < 0.2 else None,
                speed=float(rng.uniform(0.9, 1.1)) if rng.random() < 0.7 else 1.0,
            )
        )
    return out


def apply_condition(y: np.ndarray, cond: Condition, *, sr: int, file_key: str = "") -> np.ndarray:
    """``y`` as if recorded through ``cond``; the noise realisation depends on ``file_key``."""
    import audiomentations as am
    import scipy.signal as ss
    import soxr

    seed = (cond.seed ^ zlib.crc32(file_key.encode())) & 0x7FFFFFFF
    rng = np.random.default_rng(seed)
    # audiomentations draws from the global generators: seed them for reproducibility
    random.seed(seed)
    np.random.seed(seed)
    x = np.asarray(y, dtype=np.float32)
    if cond.speed != 1.0:
        x = soxr.resample(x, sr * cond.speed, sr).astype(np.float32)
    if cond.rt60 is not None:
        n = max(1, int(cond.rt60 * sr))
        t = np.arange(n) / sr
        rir = rng.standard_normal(n) * np.exp(-6.9 * t / cond.rt60)
        rir[0] = 0.0
        rir *= 0.5 / np.sqrt(np.sum(rir**2))  # reverberant energy a quarter of the direct
        rir[0] = 1.0
        x = ss.fftconvolve(x, rir.astype(np.float32))[: len(x)].astype(np.float32)
    if cond.band == "telephone":
        x = am.BandPassFilter(
            min_center_freq=1000.0,
            max_center_freq=1000.0,
            min_bandwidth_fraction=1.55,
            max_bandwidth_fraction=1.55,
            min_rolloff=24,
            max_rolloff=24,
            p=1.0,
        )(x, sample_rate=sr)
    elif cond.band == "lowpass":
        x = am.LowPassFilter(
            min_cutoff_freq=4000.0, max_cutoff_freq=4000.0, min_rolloff=24, max_rolloff=24, p=1.0
        )(x, sample_rate=sr)
    if cond.snr_db is not None:
        # AddColorNoise sets the noise relative to the signal it gets: the SNR that puts the
        # noise at speech_db - snr_db
        snr = cond.snr_db
        if cond.speech_db is not None:
            snr += power_db(x) - cond.speech_db
        x = am.AddColorNoise(
            min_snr_db=snr,
            max_snr_db=snr,
            min_f_decay=cond.noise_decay,
            max_f_decay=cond.noise_decay,
            p=1.0,
        )(x, sample_rate=sr)
    x = am.Gain(min_gain_db=cond.gain_db, max_gain_db=cond.gain_db, p=1.0)(x, sample_rate=sr)
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak > 1.0:  # a real recorder would have clipped; keep the shape instead
        x = x / peak
    return np.asarray(x, dtype=np.float32)
