"""Utterance-level features, computed from one STFT per file.

Two named feature sets exist:

``default`` (version 1)
    One 32 ms Hann STFT (10 ms hop) of the 16 kHz, trimmed signal. From its power spectrum:
    log-mel (40), MFCC 1-19 and deltas, chroma (12), octave-band contrast (6), centroid,
    bandwidth, roll-off, flatness, flux, alpha ratio, Hammarberg index; from its inverse FFT
    (the frame autocorrelation over the window's, as in Boersma 1993): F0 and periodicity;
    from the frame energies: loudness dynamics, pauses, voicing rate. Each contour is
    summarised over the active frames (FeatureConfig says which) by mean and standard
    deviation, most also by 10th and 90th percentiles; levels relative to the utterance's.
``seed``
    The recipe of the projects that inspired ``ser``: mean MFCC(40) + chroma(12) + mel(128)
    = 180 values, computed with librosa on the same 16 kHz audio.

A :class:`FeatureConfig` (name, version, parameters) is stored in every model file, and
:func:`extract_features` always goes through it, so annotation extracts exactly what the
model was trained on.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import sys
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ser.audio.decode import AudioInfo, load_audio
from ser.common.errors import FeatureError

from .config import FeatureConfig, check_config

__all__ = ["extract_features", "feature_names", "one_blas_thread", "process_file"]

_EPS = 1e-10


def process_file(
    path: str | os.PathLike[str], *, config: FeatureConfig
) -> tuple[np.ndarray, AudioInfo]:
    """Decode, resample and featurise one file exactly as ``config`` prescribes."""
    y, info = load_audio(path, sr=config.sr, trim=bool(config.params.get("trim", True)))
    return extract_features(y, config=config), info


def extract_features(y: np.ndarray, *, config: FeatureConfig) -> np.ndarray:
    """Utterance feature vector (float32) of mono audio ``y`` sampled at ``config.sr``."""
    check_config(config)
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise FeatureError(f"y must be mono (1-D), got shape {y.shape}")
    with one_blas_thread():
        if config.name == "seed":
            return _seed_features(y, config.params)
        return _default_features(y, config.params)


def feature_names(config: FeatureConfig) -> list[str]:
    """Names of the values :func:`extract_features` returns for ``config``, in order."""
    p = config.params
    if config.name == "seed":
        return (
            [f"mfcc{i}_mean" for i in range(p["n_mfcc"])]
            + [f"chroma{i}_mean" for i in range(12)]
            + [f"mel{i}_mean" for i in range(p["n_mels"])]
        )
    mf = [f"mfcc{i}" for i in range(1, p["n_mfcc"])]
    mel = [f"logmel{i}" for i in range(p["n_mels"])]
    chroma = [f"chroma{i}" for i in range(12)]
    contrast = [f"contrast{i}" for i in range(len(_CONTRAST_EDGES) - 1)]
    names: list[str] = []
    names += [f"{n}_{s}" for s in ("mean", "std", "p10", "p90") for n in mf]
    names += [f"d{n}_std" for n in mf]
    names += [f"{n}_{s}" for s in ("mean", "std") for n in mel]
    names += [f"{n}_{s}" for s in ("mean", "std") for n in chroma]
    names += [f"{n}_{s}" for s in ("mean", "std") for n in contrast]
    names += [f"{n}_{s}" for s in ("mean", "std", "p10", "p90") for n in _SPECTRAL]
    names += ["energy_rel_mean", "energy_std", "energy_range", "denergy_std"]
    names += [f"f0_{s}" for s in _F0_STATS]
    names += ["periodicity_mean", "periodicity_std"]
    names += ["voiced_ratio", "active_ratio", "voiced_onsets_per_s"]
    return names


_SPECTRAL = ("centroid", "bandwidth", "rolloff", "flatness", "flux", "alpha_ratio", "hammarberg")
_F0_STATS = ("mean", "std", "p10", "p50", "p90", "range", "dabs_mean", "slope")
_CONTRAST_EDGES = (0.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 8000.0)
# F0 level stats when a file has (almost) no voiced frames: 150 Hz, in semitones re 27.5 Hz.
_F0_FILL = 12.0 * np.log2(150.0 / 27.5)


# Filter banks and windows are built once per process and reused for every file.
@functools.lru_cache(maxsize=8)
def _window(n_fft: int) -> np.ndarray:
    return np.hanning(n_fft + 1)[:-1].astype(np.float32)


@functools.lru_cache(maxsize=8)
def _window_scaled(n_fft: int) -> np.ndarray:
    # Hann window times n_fft (a power of two: exact), for np.fft.rfft(norm="forward"), whose
    # 1/n_fft undoes it exactly. Measured: numpy's rfft of float32 runs its float32 kernel (bit
    # for bit scipy.fft's) only with a float32 norm factor; with the default it computes in
    # float64, 5x slower (1.3 ms instead of 0.18 ms for 300 frames).
    return _window(n_fft) * np.float32(n_fft)


@functools.lru_cache(maxsize=8)
def _window_autocorr(n_fft: int) -> np.ndarray:
    # computed exactly as the signal's autocorrelation is: low band, half the lag resolution
    w = _window(n_fft).astype(np.float64)
    r = np.fft.irfft((np.abs(np.fft.rfft(w)) ** 2)[: n_fft // 4 + 1], n=n_fft // 2)
    return (r / r[0]).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _dct_matrix(n_mels: int, n_mfcc: int) -> np.ndarray:
    """Columns 1 .. n_mfcc - 1 of the orthonormal DCT-II of length n_mels (float64)."""
    i, k = np.arange(n_mels)[:, None], np.arange(1, n_mfcc)[None, :]
    return np.sqrt(2.0 / n_mels) * np.cos(np.pi * (2 * i + 1) * k / (2 * n_mels))


@functools.lru_cache(maxsize=8)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float) -> np.ndarray:
    """``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin)`` (Slaney), bit for bit.

    The filter banks are built here, with librosa 0.11's arithmetic step for step, instead of
    by librosa: importing librosa and building its filters costs each worker process 1.5-3 s
    (scipy.signal, numba), more than featurising a hundred files. The banks are pinned too:
    a new librosa cannot move the features. ``benchmarks/check_features_unchanged.py`` compares
    with librosa's own output.
    """
    fmax = float(sr) / 2
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=np.float32)
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_f = _mel_frequencies(n_mels + 2, fmin, fmax)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
    weights *= enorm[:, np.newaxis]
    return weights


def _mel_frequencies(n: int, fmin: float, fmax: float) -> np.ndarray:
    """``librosa.mel_frequencies(n, fmin=fmin, fmax=fmax)`` (Slaney scale), bit for bit."""
    return _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n))


# Slaney's mel scale as librosa defines it: linear below 1 kHz, logarithmic above
_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = (_MIN_LOG_HZ - 0.0) / _F_SP


def _hz_to_mel(hz: float) -> Any:
    f = np.asanyarray(hz)
    mels = (f - 0.0) / _F_SP
    if f >= _MIN_LOG_HZ:
        mels = _MIN_LOG_MEL + np.log(f / _MIN_LOG_HZ) / (np.log(6.4) / 27.0)
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    freqs = 0.0 + _F_SP * mels
    log_t = mels >= _MIN_LOG_MEL
    freqs[log_t] = _MIN_LOG_HZ * np.exp((np.log(6.4) / 27.0) * (mels[log_t] - _MIN_LOG_MEL))
    return freqs


@functools.lru_cache(maxsize=8)
def _chroma_basis(sr: int, n_fft: int) -> np.ndarray:
    """``librosa.filters.chroma(sr=sr, n_fft=n_fft)`` with its defaults, bit for bit.

    12 chroma, A440 tuning, Gaussian octave weighting centred on octave 5 (width 2), columns
    normalised to unit L2 norm, rolled to start at C. Built here for the reasons given in
    :func:`_mel_basis`.
    """
    n_chroma, ctroct, octwidth = 12, 5.0, 2
    frequencies = np.linspace(0, sr, n_fft, endpoint=False)[1:]
    frqbins = n_chroma * np.log2(np.asanyarray(frequencies) / (440.0 / 16))
    frqbins = np.concatenate(([frqbins[0] - 1.5 * n_chroma], frqbins))
    binwidthbins = np.concatenate((np.maximum(frqbins[1:] - frqbins[:-1], 1.0), [1]))
    D = np.subtract.outer(frqbins, np.arange(0, n_chroma, dtype="d")).T
    n_chroma2 = np.round(float(n_chroma) / 2)
    D = np.remainder(D + n_chroma2 + 10 * n_chroma, n_chroma) - n_chroma2
    wts = np.exp(-0.5 * (2 * D / np.tile(binwidthbins, (n_chroma, 1))) ** 2)
    # librosa.util.normalize(wts, norm=2, axis=0): columns below the tiny threshold untouched
    mag = np.abs(wts).astype(float)
    length = np.sum(mag**2, axis=0, keepdims=True) ** (1.0 / 2)
    length[length < np.finfo(wts.dtype).tiny] = 1.0
    normed = np.empty_like(wts)
    normed[:] = wts / length
    wts = normed
    wts *= np.tile(np.exp(-0.5 * (((frqbins / n_chroma - ctroct) / octwidth) ** 2)), (n_chroma, 1))
    wts = np.roll(wts, -3 * (n_chroma // 12), axis=0)
    return np.ascontiguousarray(wts[:, : int(1 + n_fft / 2)], dtype=np.float32)


@functools.lru_cache(maxsize=8)
def _bins(sr: int, n_fft: int) -> tuple[np.ndarray, tuple[tuple[int, int], ...], dict[str, int]]:
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr).astype(np.float32)
    edges = np.searchsorted(freqs, _CONTRAST_EDGES)
    bands = tuple((int(lo), int(max(hi, lo + 1))) for lo, hi in itertools.pairwise(edges))
    marks = {f"{hz}": int(np.searchsorted(freqs, hz)) for hz in (50, 1000, 2000, 5000)}
    return freqs, bands, marks


def _mean(x: np.ndarray, axis: int | None = None) -> Any:
    """``x.mean(axis)`` of a float array, bit for bit, without numpy's Python-level wrapper.

    Same steps as ``numpy._core._methods._mean``: pairwise sum, then division by the count
    as an ``intp`` (in float64, rounded back to x's dtype).
    """
    n = np.intp(x.size if axis is None else x.shape[axis])
    s = np.add.reduce(x, axis=axis)
    if isinstance(s, np.ndarray):
        return np.true_divide(s, n, out=s, casting="unsafe")
    return s.dtype.type(s / n)


def _std(x: np.ndarray, axis: int | None = None) -> Any:
    """``x.std(axis)`` of a float array, bit for bit (the steps of numpy's ``_var``)."""
    n = np.intp(x.size if axis is None else x.shape[axis])
    m = np.add.reduce(x, axis=axis, keepdims=True)
    np.true_divide(m, n, out=m, casting="unsafe")
    d = np.subtract(x, m)
    np.square(d, out=d)
    v = np.add.reduce(d, axis=axis)
    if isinstance(v, np.ndarray):
        np.true_divide(v, n, out=v, casting="unsafe")
        return np.sqrt(v, out=v)
    v = v.dtype.type(v / n)
    return v.dtype.type(np.sqrt(v))


def _percentiles(x: np.ndarray, q: tuple[float, ...]) -> np.ndarray:
    """``np.percentile(x, q, axis=0)`` (linear method), bit for bit, without its overhead.

    The same order statistics (from a sort instead of a partition) and the same float64
    interpolation arithmetic as numpy's ``_quantile``/``_lerp``, so the values are identical;
    on the small arrays here numpy's generic machinery costs ten times the arithmetic.
    Columns holding a NaN give NaN, as in numpy.
    """
    n = x.shape[0]
    s = np.sort(x.T if x.ndim == 2 else x, axis=-1)  # sort along the contiguous axis
    vi = (n - 1) * np.true_divide(np.asarray(q, dtype=np.float64), 100)
    prev = np.floor(vi)
    above = vi >= n - 1
    prev[above] = -1
    lo = prev.astype(np.intp)
    hi = np.where(above, -1, lo + 1)
    gamma = vi - lo
    a, b = s[..., lo], s[..., hi]  # (cols, len(q)) or (len(q),)
    diff = b - a
    out = np.add(a, diff * gamma)
    np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5, casting="unsafe")
    nan = np.isnan(s[..., -1])
    if nan.any():
        out[nan] = np.nan
    return out.T


def _median(x: np.ndarray) -> float:
    """``np.median`` of a 1-D array, bit for bit (mean of the middle pair, in x's dtype)."""
    n = len(x)
    s = np.sort(x)
    if np.isnan(s[-1]):
        return float("nan")
    if n % 2:
        return float(s[n // 2])
    return float(np.mean(s[n // 2 - 1 : n // 2 + 1]))


# [ThreadpoolController or None, len(sys.modules) when it was made]
_BLAS_STATE: list[Any] = []


def one_blas_thread() -> Any:
    """Context capping BLAS at one thread, for one file's features or one chunk's predictions.

    The matrix products here are tiny (frames x 257 by 257 x 40): a multi-threaded BLAS
    spends more time waking and spinning its threads than computing, 10-50x more on a busy
    machine, and its spinning threads also slow the next file's decoding. Parallelism comes
    from processing files in parallel (joblib caps BLAS in its workers the same way); this
    covers a plain loop or ``--jobs 1``. ``ser-annotate`` also predicts under it in the main
    process: after each chunk OpenBLAS's idle threads spin for a while, on cores that the
    workers need. The previous limit is restored on exit. The
    controller is rebuilt whenever modules were imported since it was made (librosa loads
    scipy's own BLAS lazily), which happens on the first calls only.
    """
    if not _BLAS_STATE or _BLAS_STATE[1] != len(sys.modules):
        try:
            from threadpoolctl import ThreadpoolController

            ctl = ThreadpoolController().select(user_api="blas")
            # already single-threaded (a joblib worker): nothing to do on every call
            if all(lib.num_threads == 1 for lib in ctl.lib_controllers):
                ctl = None
        except ImportError:  # pragma: no cover - scikit-learn depends on threadpoolctl
            ctl = None
        _BLAS_STATE[:] = [ctl, len(sys.modules)]
    ctl = _BLAS_STATE[0]
    if ctl is None:
        return contextlib.nullcontext()
    return ctl.limit(limits=1)


def _default_features(y: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    # No scipy: numpy's FFT (float32 kernels since numpy 2). Measured: importing scipy.fft took
    # every worker process 0.11-0.19 s (quiet / busy 2 cores; its array-API layer and
    # scipy.special), as long as featurising 25 RAVDESS files.
    sr, n_fft, hop = int(p["sr"]), int(p["n_fft"]), int(p["hop_length"])
    n_mels, n_mfcc = int(p["n_mels"]), int(p["n_mfcc"])
    if len(y) < n_fft + 2 * hop:
        y = np.pad(y, (0, n_fft + 2 * hop - len(y)))
    # the frames of sliding_window_view(y, n_fft)[::hop], without its checks
    n_frames = (len(y) - n_fft) // hop + 1
    frames = as_strided(y, (n_frames, n_fft), (hop * y.strides[0], y.strides[0]), writeable=False)
    buf = np.empty(frames.shape, dtype=np.float32)
    np.multiply(frames, _window_scaled(n_fft), out=buf)
    spec = np.fft.rfft(buf, axis=1, norm="forward").astype(np.complex64, copy=False)
    power = np.square(spec.real)  # (T, F) float32: re**2 + im**2
    power += np.square(spec.imag)
    # A floor at -180 dB re full scale keeps float32 denormals (the stop band of the resampler,
    # digital silence) out of the matrix products, which they slow down up to 50 times.
    power += 1e-14
    n_frames = power.shape[0]

    energy = power.sum(axis=1) + _EPS
    edb = 10.0 * np.log10(energy)
    threshold = edb.max() - float(p["active_top_db"])  # active frames: see FeatureConfig
    if (above := float(p["active_floor_db"])) > 0.0:  # clear of the 2nd-percentile noise floor
        floor = float(np.partition(edb, k := int(0.02 * (n_frames - 1)))[k])
        threshold = max(threshold, min(floor + above, float(edb.max()) - 2 * above))
    active = edb > threshold
    active[np.argmax(edb)] = True  # so with a tiny active_top_db too (the loudest frame)
    pa = power[active]
    ea = energy[active]
    n_active = len(pa)
    # Maxima and minima over frequency bands are taken on the transposed active spectrum:
    # reducing across contiguous rows is several times faster than along short rows, and a
    # maximum does not depend on the order it is taken in.
    paT = np.ascontiguousarray(pa.T)

    # log-mel and MFCC; the utterance level is subtracted, so the recording gain cancels
    mel = power @ _mel_basis(sr, n_fft, n_mels, float(p["fmin"])).T
    mel += _EPS
    logmel = np.log(mel)
    # MFCC 1 .. n_mfcc - 1: the DCT-II as a float64 product, rounded once to float32 (numpy has
    # no DCT). Measured: as fast as scipy's float32 FFT one, and within 2e-5 of it on RAVDESS.
    mfcc_all = (logmel.astype(np.float64) @ _dct_matrix(n_mels, n_mfcc)).astype(np.float32)
    lm = logmel[active]
    mf = mfcc_all[active]
    if n_frames >= 3 and active[1:-1].any():
        dmf = (mfcc_all[2:] - mfcc_all[:-2])[active[1:-1]]
        dmf *= 0.5
    else:
        dmf = np.zeros((1, n_mfcc - 1), np.float32)

    # chroma, octave-band contrast and spectral shape
    chroma = pa @ _chroma_basis(sr, n_fft).T
    chroma /= chroma.max(axis=1, keepdims=True) + _EPS
    freqs, bands, marks = _bins(sr, n_fft)
    contrast = np.empty((len(bands), n_active), np.float32)
    for j, (lo, hi) in enumerate(bands):  # peak-to-valley ratio of each octave band
        band = paT[lo:hi]
        np.divide(band.max(axis=0), band.min(axis=0), out=contrast[j])
    contrast = 10.0 * np.log10(contrast.T)
    centroid = (pa @ freqs) / ea
    bandwidth = np.sqrt(np.maximum((pa @ (freqs**2)) / ea - centroid**2, 0.0))
    mel_a = mel[active]
    # cumulative sum over mel bands, done down the rows of the transposed matrix: the same
    # additions in the same order as along each row
    cum = np.cumsum(np.ascontiguousarray(mel_a.T), axis=0)
    rolloff = _mel_centres(sr, n_mels, float(p["fmin"]))[np.argmax(cum >= 0.85 * cum[-1], axis=0)]
    flatness = 10.0 / np.log(10.0) * (_mean(lm, 1) - np.log(_mean(mel_a, 1)))
    flux = np.zeros(n_active, np.float32)
    if n_active > 1:
        flux[1:] = np.sqrt(_mean(np.square(np.diff(lm, axis=0)), 1))
    b50, b1k, b2k, b5k = marks["50"], marks["1000"], marks["2000"], marks["5000"]
    alpha = 10.0 * np.log10(
        (pa[:, b1k:b5k].sum(axis=1) + _EPS) / (pa[:, b50:b1k].sum(axis=1) + _EPS)
    )
    hammarberg = 10.0 * np.log10((paT[:b2k].max(axis=0) + _EPS) / (paT[b2k:b5k].max(axis=0) + _EPS))

    # pitch from the frame autocorrelation (irfft of the power spectrum), window-corrected
    # Only the band below sr/4 is used: half the work, and pitch lives there. Lags are then
    # counted at sr/2.
    ac_sr = sr // 2
    lag_min = int(np.floor(ac_sr / float(p["f0_max"])))
    longest = ac_sr / float(p["f0_min"])  # inf for a subnormal f0_min, which is in range
    lag_max = n_fft // 4 - 2 if not longest < n_fft // 4 - 2 else int(np.ceil(longest))
    # complex64 in: numpy's float32 kernel (scipy.fft's result bit for bit), not its float64 one
    low = pa[:, : n_fft // 4 + 1].astype(np.complex64)
    ac = np.fft.irfft(low, n=n_fft // 2, axis=1)[:, : lag_max + 2].astype(np.float32, copy=False)
    ac /= ac[:, :1] + _EPS
    ac /= _window_autocorr(n_fft)[: lag_max + 2]
    k = np.argmax(ac[:, lag_min : lag_max + 1] - _octave_cost(lag_min, lag_max), axis=1) + lag_min
    rows = np.arange(n_active)
    strength, left, right = ac[rows, k], ac[rows, k - 1], ac[rows, k + 1]
    denom = left - 2.0 * strength + right
    big = np.abs(denom) > _EPS
    safe = np.where(big, denom, 1.0)
    shift = np.clip(np.where(big, 0.5 * (left - right) / safe, 0.0), -0.5, 0.5)
    voiced = strength > float(p["voicing_threshold"])
    f0_feats, periodicity = _f0_stats(
        ac_sr / (k[voiced] + shift[voiced]), strength[voiced], voiced, hop / sr
    )

    # loudness dynamics relative to the utterance's own level, and timing
    eda = edb[active]
    rel = eda - np.partition(eda, int(0.95 * (n_active - 1)))[int(0.95 * (n_active - 1))]
    denergy = np.diff(edb)[active[1:]] if n_frames > 1 else np.zeros(1)
    onsets = int(np.count_nonzero(np.diff(voiced.astype(np.int8)) == 1) + int(voiced[:1].sum()))

    # one pass of statistics over all frame-level descriptors
    spectral = np.stack([centroid, bandwidth, rolloff, flatness, flux, alpha, hammarberg], 1)
    quantiled = np.concatenate([mf, spectral, rel[:, None]], axis=1)
    q10, q90 = _percentiles(quantiled, (10, 90))
    nq = n_mfcc - 1
    n_sp = spectral.shape[1]
    desc = np.concatenate([mf, lm, chroma, contrast, spectral], axis=1)
    mean, std = _mean(desc, 0), _std(desc, 0)
    i_lm = nq
    i_ch = i_lm + n_mels
    i_co = i_ch + 12
    i_sp = i_co + contrast.shape[1]
    parts = (
        mean[:nq],
        std[:nq],
        q10[:nq],
        q90[:nq],
        _std(dmf, 0) if len(dmf) else np.zeros(nq),
        mean[i_lm:i_ch] - _mean(lm),
        std[i_lm:i_ch],
        mean[i_ch:i_co],
        std[i_ch:i_co],
        mean[i_co:i_sp],
        std[i_co:i_sp],
        mean[i_sp:],
        std[i_sp:],
        q10[nq : nq + n_sp],
        q90[nq : nq + n_sp],
        (_mean(rel), _std(rel), q90[-1] - q10[-1], _std(denergy) if len(denergy) else 0.0),
        f0_feats,
        periodicity,
        (voiced.sum() / n_active, n_active / n_frames, onsets / (n_active * hop / sr)),
    )
    # each part cast to float32 on assignment, exactly as np.asarray(part, np.float32) would
    out = np.empty(sum(len(a) for a in parts), np.float32)
    i = 0
    for a in parts:
        out[i : i + len(a)] = a
        i += len(a)
    if not np.isfinite(out).all():
        np.nan_to_num(out, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return out


@functools.lru_cache(maxsize=8)
def _octave_cost(lag_min: int, lag_max: int) -> np.ndarray:
    # Praat's octave cost: a small preference for the shorter lag (higher F0).
    return (0.01 * np.log2(np.arange(lag_min, lag_max + 1) / lag_min)).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _mel_centres(sr: int, n_mels: int, fmin: float) -> np.ndarray:
    return _mel_frequencies(n_mels + 2, fmin, sr / 2)[1:-1].astype(np.float32)


def _f0_stats(
    f0: np.ndarray, strength: np.ndarray, voiced: np.ndarray, frame_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """F0 contour statistics in semitones re 27.5 Hz, with octave-jump correction."""
    if len(f0) < 3:
        fill = [_F0_FILL, 0.0, _F0_FILL, _F0_FILL, _F0_FILL, 0.0, 0.0, 0.0]
        return np.asarray(fill, np.float32), np.zeros(2, np.float32)
    med = _median(f0)
    f0 = np.where(f0 > 1.8 * med, f0 / 2, np.where(f0 < 0.55 * med, f0 * 2, f0))
    st = 12.0 * np.log2(f0 / 27.5)
    p10, p50, p90 = _percentiles(st, (10, 50, 90))
    idx = np.flatnonzero(voiced)
    consecutive = np.diff(idx) == 1
    dabs = np.abs(np.diff(st))[consecutive]
    t = idx * frame_s
    tc = t - _mean(t)
    var_t = float(tc @ tc)
    st_mean = _mean(st)
    slope = float(tc @ (st - st_mean)) / var_t if var_t > 0 else 0.0
    feats = [
        st_mean,
        _std(st),
        p10,
        p50,
        p90,
        p90 - p10,
        _mean(dabs) if len(dabs) else 0.0,
        slope,
    ]
    return np.asarray(feats, np.float32), np.asarray([_mean(strength), _std(strength)], np.float32)


def _seed_features(y: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    import librosa

    sr = int(p["sr"])
    stft = np.abs(librosa.stft(y))
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=int(p["n_mfcc"])).mean(axis=1)
    chroma = librosa.feature.chroma_stft(S=stft, sr=sr).mean(axis=1)
    mel = librosa.feature.melspectrogram(y=y, sr=sr, n_mels=int(p["n_mels"])).mean(axis=1)
    return np.concatenate([mfcc, chroma, mel]).astype(np.float32)
