"""Calibrated confidences: the fit, the metrics that judge it, and the model files that hold it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import TINY_CLASSES

from ser.models import BUNDLED_MODELS, Calibration, bundled_model_path, load_model, save_model
from ser.models.calibration import T_MAX, T_MIN, evaluate_calibration, fit_calibration
from ser.models.inference import NumpyClassifier
from ser.models.metrics import (
    brier_score,
    expected_calibration_error,
    format_reliability,
    format_scores,
    negative_log_likelihood,
    reliability_table,
    score,
)

K = 5
CLASSES = [f"c{i}" for i in range(K)]


def _softmax(Z: np.ndarray) -> np.ndarray:
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def _synthetic(n: int, seed: int, sharpen: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities ``softmax(sharpen * Z)`` and labels drawn from ``softmax(Z)``: perfectly
    calibrated for ``sharpen = 1``, over-confident (needing temperature ``sharpen``) above."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, K)) * 2.0
    true = _softmax(Z)
    y_idx = (rng.random((n, 1)) > np.cumsum(true, axis=1)).sum(axis=1)
    return _softmax(sharpen * Z), np.asarray(CLASSES)[y_idx]


def test_temperature_recovers_a_known_temperature():
    for t_true in (0.5, 1.0, 2.5):
        P, y = _synthetic(20_000, seed=1, sharpen=t_true)
        cal = fit_calibration(P, y, CLASSES)
        assert cal.temperature == pytest.approx(t_true, rel=0.05)
        assert cal.n == 20_000 and cal.classes == tuple(CLASSES)


def test_ece_is_near_zero_when_calibrated_and_high_when_over_confident():
    P, y = _synthetic(20_000, seed=2)
    assert expected_calibration_error(P, y, CLASSES) < 0.015
    over, y = _synthetic(20_000, seed=2, sharpen=3.0)
    assert expected_calibration_error(over, y, CLASSES) > 0.1
    # worst case: always sure, always wrong
    sure = np.eye(K)[np.zeros(50, dtype=int)]
    assert expected_calibration_error(sure, ["c1"] * 50, CLASSES) == pytest.approx(1.0)


def test_calibration_lowers_ece_nll_and_brier_on_held_out_data():
    P, y = _synthetic(8_000, seed=3, sharpen=2.0)
    fit, test = slice(0, 4_000), slice(4_000, None)
    cal = fit_calibration(P[fit], y[fit], CLASSES)
    Q = cal.apply(P[test])
    for metric in (expected_calibration_error, negative_log_likelihood, brier_score):
        assert metric(Q, y[test], CLASSES) < metric(P[test], y[test], CLASSES)
    assert expected_calibration_error(Q, y[test], CLASSES) < 0.03


def test_temperature_scaling_keeps_every_rows_ranking():
    P, _ = _synthetic(3_000, seed=4, sharpen=1.7)
    P[:10] = np.eye(K)[np.arange(10) % K]  # hard zeros and ones survive the clipping
    for t in (T_MIN, 0.3, 1.0, 1.5, 7.0, T_MAX):
        Q = Calibration(tuple(CLASSES), temperature=t).apply(P)
        np.testing.assert_array_equal(Q.argmax(axis=1), P.argmax(axis=1))
        assert Q.dtype == np.float64 and np.allclose(Q.sum(axis=1), 1.0)
        assert np.isfinite(Q).all()
        assert (Q.max(axis=1) <= P.max(axis=1) + 1e-12).all() == (t >= 1.0)


def test_reliability_table_and_its_text():
    P = np.array([[0.95, 0.05], [0.55, 0.45], [0.05, 0.95], [0.5, 0.5]])
    y = ["a", "b", "b", "a"]
    bins = reliability_table(P, y, ["a", "b"], n_bins=10)
    assert [b.count for b in bins] == [0, 0, 0, 0, 1, 1, 0, 0, 0, 2]
    assert bins[9].confidence == pytest.approx(0.95) and bins[9].accuracy == 1.0
    assert bins[5].accuracy == 0.0 and bins[4].accuracy == 1.0  # 0.5 lies in (0.4, 0.5]
    assert np.isnan(bins[0].confidence)
    ece = expected_calibration_error(P, y, ["a", "b"], n_bins=10)
    assert ece == pytest.approx((0.5 * 1 + 0.55 * 1 + 0.05 * 2) / 4)
    text = format_reliability(bins)
    assert len(text.splitlines()) == 11 and "0.90-1.00" in text and "+0.050" in text
    with pytest.raises(ValueError, match=r"labels \['z'\] are not among"):
        reliability_table(P, ["a", "b", "z", "a"], ["a", "b"])


def test_scores_with_probabilities_add_ece_and_keep_the_old_dict_without():
    P, y = _synthetic(500, seed=5)
    pred = np.asarray(CLASSES)[P.argmax(axis=1)]
    plain, full = score(y, pred, CLASSES), score(y, pred, CLASSES, P)
    assert plain.ece is None and "ece" not in plain.to_dict() and "ECE" not in format_scores(plain)
    assert full.to_dict() == {**plain.to_dict(), "ece": full.ece, "nll": full.nll,
                              "brier": full.brier}  # fmt: skip
    assert full.ece == expected_calibration_error(P, y, CLASSES)
    assert f"ECE {full.ece:.3f}" in format_scores(full)


def test_the_calibrator_cross_validated_over_groups():
    P, y = _synthetic(3_000, seed=6, sharpen=2.0)
    groups = np.arange(3_000) % 12
    r = evaluate_calibration(P, y, CLASSES, groups, n_folds=4, vector_penalties=(0.01,))
    assert set(r) == {"none", "temperature", "vector(0.01)"}
    assert r["temperature"]["ece"] < r["none"]["ece"] / 3
    assert r["temperature"]["nll"] < r["none"]["nll"]
    assert r["temperature"]["T"] == pytest.approx(2.0, rel=0.15)
    with pytest.raises(ValueError, match="at least 2 groups"):
        evaluate_calibration(P, y, CLASSES, np.zeros(3_000))


def test_to_dict_holds_plain_values_and_round_trips():
    cal = Calibration(("a", "b", "c"), temperature=np.float64(1.25), n=np.int64(7))
    d = cal.to_dict()
    assert d == {"method": "temperature", "temperature": 1.25, "classes": ["a", "b", "c"], "n": 7}
    assert [type(v) for v in d.values()] == [str, float, list, int]
    assert Calibration.from_dict(d) == cal
    for bad, match in [
        ({**d, "temperature": 0.0}, r"temperature 0\.0 is outside"),
        ({**d, "temperature": float("nan")}, "not a finite number"),
        ({**d, "temperature": "1.5"}, "not a finite number"),
        ({**d, "temperature": True}, "not a finite number"),
        ({**d, "method": "vector"}, "unknown calibration method 'vector'"),
        ({**d, "classes": ["a"]}, "at least two distinct"),
        ({**d, "classes": ["a", "a"]}, "at least two distinct"),
        ({**d, "classes": [1, 2]}, "not a list of labels"),
        ({**d, "n": -1}, "not a whole number"),
        ({**d, "extra": 1}, r"unknown entries \['extra'\]"),
        (["temperature", 1.0], "not a dict"),
    ]:
        with pytest.raises(ValueError, match=match):
            Calibration.from_dict(bad)
    with pytest.raises(ValueError, match="for a calibration of 3 classes"):
        cal.apply(np.full((2, 4), 0.25))


@pytest.fixture
def calibrated(tiny_model_path):
    model = load_model(tiny_model_path, sklearn=True)
    cal = Calibration(tuple(TINY_CLASSES), temperature=1.7, n=80)
    return dataclasses.replace(model, calibration=cal)


def _probe(n: int = 200, width: int = 256) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.standard_normal((n, width)) * rng.choice([0.1, 1.0, 5.0, 50.0], (n, 1))


def test_a_calibrated_model_round_trips_bit_identically_in_both_loaders(tmp_path, calibrated):
    path = tmp_path / "cal.skops"
    save_model(calibrated, path)
    fast, slow = load_model(path), load_model(path, sklearn=True)
    assert isinstance(fast.estimator, NumpyClassifier)
    assert not isinstance(slow.estimator, NumpyClassifier)
    assert fast.calibration == slow.calibration == calibrated.calibration
    X = _probe()
    want = calibrated.predict_proba(X)
    raw = calibrated.estimator.predict_proba(X)
    np.testing.assert_array_equal(fast.predict_proba(X), want)
    np.testing.assert_array_equal(slow.predict_proba(X), want)
    np.testing.assert_array_equal(fast.predict_proba(X[:1]), slow.predict_proba(X[:1]))
    np.testing.assert_array_equal(fast.predict_proba(X, calibrated=False), raw)
    np.testing.assert_array_equal(want, calibrated.calibration.apply(raw))
    assert not np.array_equal(want, raw)
    np.testing.assert_array_equal(want.argmax(axis=1), raw.argmax(axis=1))
    assert want.max(axis=1).mean() < raw.max(axis=1).mean()  # T > 1 softens


def test_a_calibration_for_other_classes_is_not_saved(tmp_path, calibrated):
    wrong = dataclasses.replace(
        calibrated, calibration=Calibration(tuple(reversed(TINY_CLASSES)), temperature=1.2)
    )
    with pytest.raises(Exception, match="are not the model's"):
        save_model(wrong, tmp_path / "wrong.skops")
    assert not (tmp_path / "wrong.skops").exists()


@pytest.mark.parametrize("name", BUNDLED_MODELS)
def test_model_files_without_calibration_load_as_before(name, tmp_path):
    X = _probe()
    bundled = load_model(bundled_model_path(name), sklearn=True)
    assert bundled.calibration is not None and bundled.calibration.temperature > 1
    plain = tmp_path / "plain.skops"
    save_model(dataclasses.replace(bundled, calibration=None), plain)
    for sklearn in (False, True):
        model = load_model(plain, sklearn=sklearn)
        assert model.calibration is None
        np.testing.assert_array_equal(model.predict_proba(X), model.estimator.predict_proba(X))
