"""Feature sets: shape, names, invariances, pitch, and the configuration stored in models."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from ser.common import FeatureError
from ser.features import extract_features, feature_config, feature_names, process_file
from ser.features.config import FeatureConfig


def harmonic(f0: float, sr: int = 16000, seconds: float = 1.0, amp: float = 0.3) -> np.ndarray:
    """A voice-like tone: ten harmonics with falling amplitude and a gentle vibrato."""
    t = np.arange(int(sr * seconds)) / sr
    phase = 2 * np.pi * f0 * (t + 0.002 * np.sin(2 * np.pi * 5 * t))
    y = sum(np.sin(k * phase) / k for k in range(1, 11))
    return (amp * y / np.max(np.abs(y))).astype(np.float32)


def value(config: FeatureConfig, x: np.ndarray, name: str) -> float:
    return float(x[feature_names(config).index(name)])


@pytest.mark.parametrize("name", ["default", "seed"])
def test_shape_matches_names_and_is_finite(name):
    cfg = feature_config(name)
    x = extract_features(harmonic(150.0), config=cfg)
    assert x.dtype == np.float32
    assert x.shape == (len(feature_names(cfg)),)
    assert len(set(feature_names(cfg))) == len(feature_names(cfg))
    assert np.isfinite(x).all()


def test_seed_set_is_the_180_values_of_the_seeds():
    assert len(feature_names(feature_config("seed"))) == 40 + 12 + 128


@pytest.mark.parametrize("f0", [90.0, 120.0, 220.0, 320.0])
def test_pitch_of_a_harmonic_tone(f0):
    cfg = feature_config()
    x = extract_features(harmonic(f0), config=cfg)
    st = value(cfg, x, "f0_p50")
    assert 27.5 * 2 ** (st / 12) == pytest.approx(f0, rel=0.03)
    assert value(cfg, x, "voiced_ratio") > 0.9


def test_noise_is_unvoiced():
    cfg = feature_config()
    y = (0.1 * np.random.default_rng(1).standard_normal(16000)).astype(np.float32)
    assert value(cfg, extract_features(y, config=cfg), "voiced_ratio") < 0.2


def test_default_features_ignore_the_recording_gain():
    # Real recordings have energy in every band (here a noise floor 50 dB down); the
    # invariance holds down to the -180 dB numerical floor of the spectrum.
    cfg = feature_config()
    rng = np.random.default_rng(0)
    y = harmonic(180.0) + 0.001 * rng.standard_normal(16000).astype(np.float32)
    a = extract_features(y, config=cfg)
    b = extract_features(0.1 * y, config=cfg)  # -20 dB
    np.testing.assert_allclose(a, b, rtol=5e-3, atol=5e-3)


def test_features_do_not_depend_on_the_file_sample_rate(tmp_path):
    cfg = feature_config()
    rows = []
    for sr in (22050, 48000):
        t = np.arange(sr) / sr
        y = 0.3 * np.sign(np.sin(2 * np.pi * 150 * t)) * np.hanning(sr)  # rich spectrum
        path = tmp_path / f"x{sr}.wav"
        sf.write(path, y.astype(np.float32), sr, subtype="FLOAT")
        rows.append(process_file(path, config=cfg)[0])
    names = feature_names(cfg)
    for n in ("f0_p50", "mfcc1_mean", "mfcc2_mean", "centroid_mean"):
        i = names.index(n)
        assert rows[0][i] == pytest.approx(rows[1][i], rel=0.05, abs=0.5), n


def test_extraction_is_deterministic():
    cfg = feature_config()
    y = harmonic(200.0)
    np.testing.assert_array_equal(extract_features(y, config=cfg), extract_features(y, config=cfg))


def test_config_round_trip_and_checks():
    cfg = feature_config("default")
    assert FeatureConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(FeatureError, match="unknown feature set 'mfcc'; choose one of"):
        feature_config("mfcc")
    with pytest.raises(FeatureError, match=r"version 99, but this version of ser computes"):
        FeatureConfig.from_dict({**cfg.to_dict(), "version": 99})
    with pytest.raises(FeatureError, match="unknown parameters"):
        feature_config("default", n_bogus=3)


def test_stereo_input_is_refused_by_extract():
    with pytest.raises(FeatureError, match="mono"):
        extract_features(np.zeros((2, 16000), np.float32), config=feature_config())


def test_a_subnormal_f0_min_in_range_gives_the_features_of_the_longest_lag():
    # hypothesis found it: ac_sr / 2.2e-309 is inf, and int(inf) raised OverflowError
    from conftest import synth_voice

    y = synth_voice(0.5, 16_000, seed=2).astype(np.float32)
    tiny = extract_features(y, config=feature_config("default", f0_min=2.225073858507203e-309))
    low = extract_features(y, config=feature_config("default", f0_min=1.0))  # lag capped too
    np.testing.assert_array_equal(tiny, low)


def _bursts_and_pauses(noise_db: float | None, seed: int = 0) -> np.ndarray:
    """Four 0.4 s voice-like bursts with 0.4 s pauses; white noise ``noise_db`` below the
    bursts' mean power (None: digital silence in the pauses)."""
    gap = np.zeros(6400, np.float32)
    y = np.concatenate(
        [np.concatenate([harmonic(f0, seconds=0.4), gap]) for f0 in (140, 180, 160, 200)]
    )
    if noise_db is None:
        return y
    speech_power = float(np.mean(harmonic(140.0, seconds=0.4) ** 2))
    noise = np.random.default_rng(seed).standard_normal(len(y)).astype(np.float32)
    return y + noise * np.float32(np.sqrt(speech_power / 10 ** (noise_db / 10)))


def test_pauses_filled_with_noise_are_not_taken_for_speech():
    # Noise 25 dB under the bursts (speech at 20 dB SNR over its mean power has its loud
    # frames some 30 dB over the noise) is within active_top_db (35 dB) of the loudest
    # frame: without the noise-floor rule nearly every frame counts as active.
    on, off = feature_config(), feature_config(active_floor_db=0.0)
    clean = _bursts_and_pauses(None)
    noisy = _bursts_and_pauses(25.0)
    ratio = {
        (name, cfg_name): value(cfg, extract_features(y, config=cfg), "active_ratio")
        for name, y in (("clean", clean), ("noisy", noisy))
        for cfg_name, cfg in (("on", on), ("off", off))
    }
    assert ratio["clean", "on"] == pytest.approx(0.5, abs=0.05)
    assert ratio["noisy", "off"] > 0.95
    assert ratio["noisy", "on"] == pytest.approx(ratio["clean", "on"], abs=0.05)
    # and the statistics follow: the voiced share of the active frames stays that of speech
    x_on = extract_features(noisy, config=on)
    x_off = extract_features(noisy, config=off)
    assert value(on, x_on, "voiced_ratio") > 0.9 > 0.6 > value(off, x_off, "voiced_ratio")


def test_a_steady_sound_keeps_its_frames_under_the_noise_floor_rule():
    # no pauses: the 2 % floor is the sound itself, and the rule stops 2 x 10 dB below the top
    cfg = feature_config()
    assert value(cfg, extract_features(harmonic(150.0), config=cfg), "active_ratio") > 0.95


def test_model_files_from_before_the_noise_floor_rule_extract_what_they_were_trained_on():
    from ser.features.config import ADDED_PARAMS

    stored = feature_config().to_dict()
    del stored["params"]["active_floor_db"]  # as written before the parameter existed
    cfg = FeatureConfig.from_dict(stored)
    assert cfg.params["active_floor_db"] == ADDED_PARAMS["default"]["active_floor_db"] == 0.0
    y = _bursts_and_pauses(25.0)
    old = extract_features(y, config=cfg)
    np.testing.assert_array_equal(
        old, extract_features(y, config=feature_config(active_floor_db=0.0))
    )
    assert not np.array_equal(old, extract_features(y, config=feature_config()))


def test_config_changes_name_each_parameter_and_ignore_one_added_since():
    from ser.features.config import config_changes

    new = feature_config().to_dict()
    old = feature_config(active_floor_db=0.0).to_dict()
    del old["params"]["active_floor_db"]  # as written before the parameter existed
    assert config_changes(old, feature_config(active_floor_db=0.0).to_dict()) == []
    assert config_changes(old, new) == ["active_floor_db 0.0 -> 10.0"]
    assert config_changes(new, {**new, "version": 2}) == ["version 1 -> 2"]
    assert config_changes(new, feature_config("seed").to_dict())[0] == (
        "active_floor_db 10.0 -> None"
    )


def test_active_floor_db_stops_below_where_it_could_never_bind():
    # the rule's cap lies 2 x active_floor_db under the loudest frame: from active_top_db / 2
    # up it would be no stricter than active_top_db alone, so such values are refused
    assert feature_config(active_floor_db=17.4).params["active_floor_db"] == 17.4
    for value in (17.5, 60.0):
        with pytest.raises(FeatureError, match=r"active_floor_db=.* out of range: \[0, active_"):
            feature_config(active_floor_db=value)
    assert feature_config(active_top_db=60.0, active_floor_db=29.0).params["active_floor_db"] == 29


def test_a_stored_configuration_without_a_name_says_so():
    stored = feature_config().to_dict()
    del stored["name"]
    with pytest.raises(FeatureError, match=r"^invalid feature configuration: no 'name' in it$"):
        FeatureConfig.from_dict(stored)
