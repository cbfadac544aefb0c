"""Speaker/corpus normalisation: statistics, streaming equivalence and the fall-back order."""

from __future__ import annotations

import numpy as np
import pytest

from ser.common import DataError
from ser.features.normalize import (
    MIN_GROUP_SIZE,
    SHRINK_MAX_WEIGHT,
    SHRINK_ROWS,
    GroupStats,
    RunningStats,
    normalize_groups,
    shrink,
)


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
    groups = ["s1"] * 20 + ["s2"] * 20
    out, how = normalize_groups(X, groups, mode="speaker", shrunk=False)
    assert how == ["speaker"] * 40
    for part in (out[:20], out[20:]):
        np.testing.assert_allclose(part.mean(0), 0, atol=1e-9)
        np.testing.assert_allclose(part.std(0), 1, atol=1e-9)


def test_speaker_statistics_are_shrunk_toward_the_run():
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(0, 1, (20, 3)), rng.normal(50, 5, (90, 3))])
    groups = ["s1"] * 20 + ["s2"] * 90
    out, how = normalize_groups(X, groups, mode="speaker")
    assert how == ["speaker"] * 110
    run = GroupStats.of(X)
    for rows in (slice(0, 20), slice(20, 110)):
        own = GroupStats.of(X[rows])
        w = min(own.n / (own.n + SHRINK_ROWS), SHRINK_MAX_WEIGHT)
        assert w == (20 / 50 if own.n == 20 else 0.5)
        mean = w * own.mean + (1 - w) * run.mean
        std = np.sqrt(w * own.std**2 + (1 - w) * run.std**2)
        np.testing.assert_allclose(out[rows], (X[rows] - mean) / std, rtol=1e-12)
        assert shrink(own, run).n == own.n


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


def _one_emotion_speakers(rng: np.random.Generator) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Rows of 4 speakers x 2 emotions; each (speaker, emotion) its own group, 12 rows each.

    Feature 0 carries the emotion (+3 for "angry"), feature 1 the speaker (offsets 0..30).
    """
    rows, groups, angry = [], [], []
    for s in range(4):
        for e in (0, 1):
            x = rng.normal(0, 1, (12, 2)) + np.array([3.0 * e, 10.0 * s])
            rows.append(x)
            groups += [f"s{s}|{'angry' if e else 'neutral'}"] * 12
            angry += [e] * 12
    return np.vstack(rows), groups, np.array(angry, bool)


def test_one_emotion_groups_keep_their_emotion_with_run_statistics():
    """benchmarks/normalisation.py: a speaker whose files hold one emotion is centred on that
    emotion by unshrunk speaker statistics, which removes it; ``corpus`` (run statistics)
    keeps it, and so, in good part, do the shrunk speaker statistics of ``speaker``."""
    X, groups, angry = _one_emotion_speakers(np.random.default_rng(3))
    unshrunk, how_s = normalize_groups(X, groups, mode="speaker", shrunk=False)
    by_speaker, _ = normalize_groups(X, groups, mode="speaker")
    by_run, how_c = normalize_groups(X, groups, mode="corpus")
    assert set(how_s) == {"speaker"} and set(how_c) == {"corpus"}

    def gap(Z: np.ndarray) -> float:
        return float(Z[angry, 0].mean() - Z[~angry, 0].mean())

    assert abs(gap(unshrunk)) < 1e-9  # the emotion is standardised away
    assert gap(by_run) > 1.5  # 3 units apart, over a run spread of about 1.8
    assert gap(by_speaker) > 0.5 * gap(by_run)
    np.testing.assert_allclose(by_run, GroupStats.of(X).apply(X))


def test_balanced_speakers_lose_the_speaker_only_with_speaker_statistics():
    """The other side of the trade-off: with every emotion in each speaker's files, speaker
    statistics remove the speaker offset and keep the emotion; run statistics keep both."""
    X, groups, angry = _one_emotion_speakers(np.random.default_rng(4))
    speakers = [g.split("|")[0] for g in groups]
    by_speaker, _ = normalize_groups(X, speakers, mode="speaker", shrunk=False)
    by_run, _ = normalize_groups(X, speakers, mode="corpus")
    assert by_speaker[angry, 0].mean() - by_speaker[~angry, 0].mean() > 1.5
    spk = np.array(speakers)
    means_s = [by_speaker[spk == s, 1].mean() for s in ("s0", "s3")]
    means_c = [by_run[spk == s, 1].mean() for s in ("s0", "s3")]
    assert abs(means_s[1] - means_s[0]) < 1e-9
    assert means_c[1] - means_c[0] > 2.0
