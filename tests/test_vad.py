"""Voice activity (ser.audio.vad): the detector on synthetic audio, and the post-processing."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import synth_voice
from hypothesis import given, settings
from hypothesis import strategies as st

from ser.audio.vad import (
    CONTEXT_S,
    segment_regions,
    speech_regions,
)
from ser.common.errors import DataError

SR = 16_000


def _noise(seconds: float, level: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (level * rng.standard_normal(round(seconds * SR))).astype(np.float32)


def _place(y: np.ndarray, voiced: list[tuple[float, float]], gain: float = 1.0) -> np.ndarray:
    y = y.copy()
    for k, (start, end) in enumerate(voiced):
        v = synth_voice(end - start, SR, seed=k)
        a = round(start * SR)
        y[a : a + len(v)] += gain * v.astype(np.float32)
    return y


def _covered(regions: list[tuple[float, float]], start: float, end: float) -> float:
    return sum(max(0.0, min(e, end) - max(s, start)) for s, e in regions)


VOICED = [(1.0, 2.2), (5.0, 5.8), (9.5, 11.0), (16.0, 17.0)]


def test_regions_cover_the_voiced_parts_and_not_the_silences_between() -> None:
    y = _place(_noise(20.0, 0.003, 0), VOICED)
    regions = speech_regions(y, SR)
    assert regions == sorted(regions)
    assert all(e > s for s, e in regions)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(regions))
    for s, e in VOICED:
        assert _covered(regions, s, e) >= 0.9 * (e - s), (s, e, regions)
    # nothing more than the padding outside the voiced parts
    outside = sum(e - s for s, e in regions) - sum(_covered(regions, s, e) for s, e in VOICED)
    assert outside <= len(VOICED) * 0.5, regions
    for s, e in regions:
        assert any(s < ve + 0.5 and e > vs - 0.5 for vs, ve in VOICED), (s, e)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noise_alone_gives_no_regions(seed: int) -> None:
    white = _noise(15.0, 0.05, seed)
    # a level step and loud unvoiced bursts: energy alone is not speech
    white[round(5 * SR) :] *= 4.0
    for t in (2.0, 8.0, 12.0):
        a = round(t * SR)
        white[a : a + SR // 2] *= 10.0
    assert speech_regions(white, SR) == []


@pytest.mark.parametrize("y", [np.zeros(10 * SR), _noise(10.0, 1e-6, 3), np.zeros(0)])
def test_silence_gives_no_regions(y: np.ndarray) -> None:
    assert speech_regions(y, SR) == []


def test_quiet_recording_is_found_relative_to_its_own_noise() -> None:
    y = _place(_noise(20.0, 0.003, 4), VOICED)
    loud = speech_regions(y, SR)
    quiet = speech_regions(y * np.float32(0.1), SR)  # 20 dB quieter: same regions
    assert len(quiet) == len(loud)
    assert np.allclose(quiet, loud, atol=0.05)


def test_blocks_with_context_give_the_regions_of_the_whole_signal() -> None:
    voiced = [(1.0 + 3.7 * k, 1.0 + 3.7 * k + 0.6 + 0.2 * (k % 5)) for k in range(16)]
    y = _place(_noise(60.0, 0.003, 5), voiced)
    whole = speech_regions(y, SR)
    pieces: list[tuple[float, float]] = []
    core = 15.0
    for start in np.arange(0.0, 60.0, core):
        lo = max(0.0, start - CONTEXT_S - 2.0)
        hi = min(60.0, start + core + CONTEXT_S + 2.0)
        found = speech_regions(y[round(lo * SR) : round(hi * SR)], SR)
        pieces += [(lo + s, lo + e) for s, e in found if start <= lo + s < start + core]
    assert len(pieces) == len(whole)
    assert np.allclose(pieces, whole, atol=0.03)


def test_bad_input_is_refused() -> None:
    with pytest.raises(DataError, match=r"mono \(1-D\)"):
        speech_regions(np.zeros((SR, 2)), SR)
    with pytest.raises(DataError, match="sr must be an integer >= 8000, got 100"):
        speech_regions(np.zeros(SR), 100)
    with pytest.raises(DataError, match="off_db <= on_db"):
        speech_regions(np.zeros(SR), SR, on_db=3.0, off_db=6.0)
    with pytest.raises(DataError, match="max_segment must be > 0, got 0"):
        segment_regions([(0.0, 1.0)], max_segment=0)
    with pytest.raises(DataError, match="bridge and min_length must be >= 0"):
        segment_regions([(0.0, 1.0)], bridge=-1.0)


def test_short_pauses_are_bridged() -> None:
    regions = [(0.0, 1.0), (1.2, 2.0), (3.0, 4.0)]
    assert segment_regions(regions, bridge=0.3, min_length=0.0) == [(0.0, 2.0), (3.0, 4.0)]
    assert segment_regions(regions, bridge=0.1, min_length=0.0) == regions
    assert segment_regions(regions, bridge=1.5, min_length=0.0) == [(0.0, 4.0)]


def test_short_groups_are_dropped_after_bridging() -> None:
    regions = [(0.0, 0.1), (0.2, 0.3), (2.0, 2.1)]
    # the first two bridge into 0.3 s, kept; the last stays 0.1 s, dropped
    assert segment_regions(regions, bridge=0.2, min_length=0.25) == [(0.0, 0.3)]
    assert segment_regions(regions, bridge=0.05, min_length=0.25) == []


def test_long_groups_are_cut_at_their_longest_usable_pauses() -> None:
    regions = [(0.0, 3.0), (3.1, 6.0), (7.0, 9.0), (9.1, 12.0)]
    out = segment_regions(regions, max_segment=10.0, bridge=2.0, min_length=0.0)
    assert out == [(0.0, 6.0), (7.0, 12.0)]


def test_one_long_region_is_cut_evenly() -> None:
    out = segment_regions([(5.0, 30.0)], max_segment=10.0, bridge=0.3, min_length=0.3)
    assert len(out) == 3
    assert np.allclose(out, [(5.0, 5 + 25 / 3), (5 + 25 / 3, 5 + 50 / 3), (5 + 50 / 3, 30.0)])


def test_regions_are_clipped_to_the_recording() -> None:
    out = segment_regions([(9.0, 12.0), (-1.0, 5.0), (20.0, 21.0)], total_s=10.0, min_length=0.0)
    assert out == [(0.0, 5.0), (9.0, 10.0)]


def _kept_groups(
    regions: list[tuple[float, float]], bridge: float, min_length: float, total: float
) -> list[list[tuple[float, float]]]:
    """Reference for steps 1-3 of segment_regions, written plainly."""
    clipped = sorted((max(0.0, s), min(total, e)) for s, e in regions)
    atoms: list[list[float]] = []
    for s, e in clipped:
        if e <= s:
            continue
        if atoms and s <= atoms[-1][1]:
            atoms[-1][1] = max(atoms[-1][1], e)
        else:
            atoms.append([s, e])
    groups: list[list[tuple[float, float]]] = []
    for s, e in atoms:
        if groups and s - groups[-1][-1][1] < bridge:
            groups[-1].append((s, e))
        else:
            groups.append([(s, e)])
    return [g for g in groups if g[-1][1] - g[0][0] >= min_length]


region = st.tuples(
    st.floats(-5.0, 120.0, allow_nan=False), st.floats(0.0, 25.0, allow_nan=False)
).map(lambda p: (p[0], p[0] + p[1]))


@settings(max_examples=300, deadline=None)
@given(
    regions=st.lists(region, max_size=30),
    max_segment=st.floats(0.5, 30.0),
    bridge=st.floats(0.0, 3.0),
    min_length=st.floats(0.0, 2.0),
    total=st.floats(0.0, 130.0),
)
def test_segment_regions_invariants(
    regions: list[tuple[float, float]],
    max_segment: float,
    bridge: float,
    min_length: float,
    total: float,
) -> None:
    out = segment_regions(
        regions, max_segment=max_segment, bridge=bridge, min_length=min_length, total_s=total
    )
    tol = 1e-9
    assert out == sorted(out)
    for s, e in out:
        assert 0.0 <= s < e <= total
        assert e - s <= max_segment * (1 + tol)
    for a, b in itertools.pairwise(out):
        assert a[1] <= b[0]
    groups = _kept_groups(regions, bridge, min_length, total)
    # every region of a kept group is covered; nothing outside the kept groups is
    for g in groups:
        for s, e in g:
            assert _covered(out, s, e) == pytest.approx(e - s, abs=1e-6)
    for s, e in out:
        assert any(g[0][0] - tol <= s and e <= g[-1][1] + tol for g in groups), (s, e)
    # without cuts, the output is exactly the bridged groups
    if all(g[-1][1] - g[0][0] <= max_segment for g in groups):
        assert out == [(g[0][0], g[-1][1]) for g in groups]
