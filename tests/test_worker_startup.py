"""A worker's fixed cost: featurising a file imports no scipy, and numpy's FFTs that replaced
scipy.fft's give the same numbers (bit for bit where the features say so)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import synth_voice
from numpy.lib.stride_tricks import sliding_window_view

from ser.features import extract_features, feature_config, feature_names
from ser.features.extract import _dct_matrix, _window, _window_scaled


def _frames(seconds: float = 1.5, seed: int = 3, n_fft: int = 512) -> np.ndarray:
    y = synth_voice(seconds, seed=seed).astype(np.float32)
    return sliding_window_view(y, n_fft)[::160]


def test_a_worker_featurises_files_without_importing_scipy(tmp_path, write_audio, imported_by):
    wav = write_audio(tmp_path / "a.wav", seconds=1.0, sr=44_100)
    flac = write_audio(tmp_path / "b.flac", seconds=1.0, seed=2)
    code = (
        "import os\n"
        "from ser.batch.worker import warm_up\n"
        "from ser.annotate.worker import extract_item\n"
        "from ser.audio.segments import SegmentOptions\n"
        "from ser.features import feature_config\n"
        "warm_up(os.getpid())\n"
        "seg, cfg = SegmentOptions(mode='file'), feature_config('default')\n"
        f"for i, p in enumerate([{str(wav)!r}, {str(flac)!r}]):\n"
        "    assert extract_item((i, p, None), cfg, seg).status == 'ok'\n"
    )
    assert imported_by(code, ["scipy", "librosa", "sklearn"]) == []


@pytest.mark.parametrize("n_fft", [64, 512, 2048])
def test_numpy_rfft_with_the_scaled_window_is_scipys_bit_for_bit(n_fft):
    sfft = pytest.importorskip("scipy.fft")
    frames = _frames(n_fft=n_fft)
    ours = np.fft.rfft(frames * _window_scaled(n_fft), axis=1, norm="forward")
    assert ours.dtype == np.complex64
    np.testing.assert_array_equal(ours, sfft.rfft(frames * _window(n_fft), axis=1))


def test_numpy_irfft_of_complex64_is_scipys_bit_for_bit():
    sfft = pytest.importorskip("scipy.fft")
    spec = sfft.rfft(_frames() * _window(512), axis=1)
    power = (np.square(spec.real) + np.square(spec.imag))[:, :129]
    ours = np.fft.irfft(power.astype(np.complex64), n=256, axis=1)
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours, sfft.irfft(power, n=256, axis=1))


@pytest.mark.parametrize(("n_mels", "n_mfcc"), [(40, 20), (13, 13), (1, 1), (128, 40)])
def test_the_mfcc_matrix_is_the_orthonormal_dct(n_mels, n_mfcc):
    sfft = pytest.importorskip("scipy.fft")
    full = sfft.dct(np.eye(n_mels), type=2, norm="ortho", axis=1)
    np.testing.assert_allclose(_dct_matrix(n_mels, n_mfcc), full[:, 1:n_mfcc], atol=1e-12)
    logmel = np.log(np.random.default_rng(0).gamma(0.5, 1e-3, (200, n_mels)) + 1e-10)
    logmel = logmel.astype(np.float32)
    ours = (logmel.astype(np.float64) @ _dct_matrix(n_mels, n_mfcc)).astype(np.float32)
    theirs = sfft.dct(logmel, type=2, norm="ortho", axis=1)[:, 1:n_mfcc]
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=5e-5)


@pytest.mark.parametrize("seconds", [0.25, 1.2, 4.0])
def test_features_are_the_same_with_scipys_rfft_and_irfft(monkeypatch, seconds):
    """Every FFT of the extraction done by scipy.fft instead (same arguments): bit for bit
    the same features."""
    sfft = pytest.importorskip("scipy.fft")
    cfg = feature_config("default")
    y = synth_voice(seconds, seed=5)
    ours = extract_features(y, config=cfg)
    monkeypatch.setattr(np.fft, "rfft", sfft.rfft)
    monkeypatch.setattr(np.fft, "irfft", sfft.irfft)
    theirs = extract_features(y, config=cfg)
    assert ours.dtype == np.float32 and ours.shape == (len(feature_names(cfg)),)
    np.testing.assert_array_equal(ours, theirs)
