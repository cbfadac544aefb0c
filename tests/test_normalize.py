"""Speaker/corpus normalisation: statistics, streaming equivalence and the fall-back order."""

from __future__ import annotations

import numpy as np
import pytest

from ser.common import DataError
from ser.features.normalize import MIN_GROUP_SIZE, GroupStats, RunningStats, normalize_groups


def test_running_stats_equal_batch_stats():
    rng = np.random.default_rng(0)
    X = rng.normal(100.0, 3.0, (50, 4))
    groups = ["a" if i % 3 else "b" for i in range(50)]
    run = RunningStats()
    for start in range(0, 50, 7):
        run.add(X[start : start + 7], groups[start : start + 7])
    for g in ("a", "b"):
        rows = X[[i for i, gi in enumerate(groups) if gi == g]]
        np.testing.assert_allclose(run.stats(g).mean, rows.mean(0))
        np.testing.assert_allclose(run.stats(g).std, rows.std(0), rtol=1e-9)
    total = run.total()
    np.testing.assert_allclose(total.mean, X.mean(0))
    np.testing.assert_allclose(total.std, X.std(0), rtol=1e-9)


def test_speaker_groups_are_standardised_separately():
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(0, 1, (20, 3)), rng.normal(50, 5, (20, 3))])
    out, how = normalize_groups(X, ["s1"] * 20 + ["s2"] * 20, mode="speaker")
    assert how == ["speaker"] * 40
    for part in (out[:20], out[20:]):
        np.testing.assert_allclose(part.mean(0), 0, atol=1e-9)
        np.testing.assert_allclose(part.std(0), 1, atol=1e-9)


def test_fall_back_order():
    rng = np.random.default_rng(2)
    fallback = GroupStats(np.full(2, 10.0), np.full(2, 2.0), 100)
    small = MIN_GROUP_SIZE - 1
    X = rng.normal(0, 1, (MIN_GROUP_SIZE + small, 2))
    groups = ["big"] * MIN_GROUP_SIZE + ["small"] * small
    out, how = normalize_groups(X, groups, mode="speaker", fallback=fallback)
    assert how == ["speaker"] * MIN_GROUP_SIZE + ["corpus"] * small
    np.testing.assert_allclose(out[-small:], GroupStats.of(X).apply(X[-small:]))
    # a single file alone: the training statistics
    out1, how1 = normalize_groups(X[:1], ["x"], mode="speaker", fallback=fallback)
    assert how1 == ["training"]
    np.testing.assert_allclose(out1, (X[:1] - 10.0) / 2.0)
    # unknown speakers use the whole run
    _, how2 = normalize_groups(X, [None] * len(X), mode="speaker", fallback=fallback)
    assert set(how2) == {"corpus"}
    _, how3 = normalize_groups(X, groups, mode="none")
    assert set(how3) == {"none"}


def test_constant_feature_does_not_divide_by_zero():
    X = np.ones((12, 2))
    X[:, 1] = np.arange(12)
    out, _ = normalize_groups(X, None, mode="corpus")
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[:, 0], 0)


def test_unknown_mode():
    with pytest.raises(
        DataError, match=r"normalization: unknown value .gender.; choose one of none"
    ):
        normalize_groups(np.zeros((2, 2)), None, mode="gender")
