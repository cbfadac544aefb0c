"""Speaker and corpus normalisation of feature vectors.

Speakers differ in pitch, timbre and habits, and corpora differ in microphones and rooms:
standardising each feature within a group of recordings (one speaker, or one corpus) removes
much of that, using only unlabelled statistics of the group. A model records the mode it was
trained with, and annotation applies the same one.

A group smaller than :data:`MIN_GROUP_SIZE` files gives unstable statistics. It falls back,
in order, to the statistics of the whole run (all files being annotated, when there are at
least :data:`MIN_GROUP_SIZE`) and then to the training statistics stored in the model; each
row records which statistics it got.

Per-speaker statistics remove the emotion itself when a speaker's files hold mostly one
emotion (a natural-speech corpus: one caller angry throughout, another calm): standardising
such a group centres it on that emotion. So a speaker's statistics are *shrunk* toward the
run's (:func:`shrink`): mean and variance are a weighted mix, with weight
``min(n / (n + SHRINK_ROWS), SHRINK_MAX_WEIGHT)`` on the speaker's own. Measured by
``python benchmarks/normalisation.py``: trained on RAVDESS, tested on CREMA-D and the
reverse, UAR of a 3-seed ensemble averaged over both directions and 4 and 6 classes; the test
speakers' files regrouped to simulate the skew (one emotion x4: one emotion of four actors
together, a group as large as a natural-speech speaker's); last column RAVDESS, 6 folds by
actor, 8 classes (balanced / one emotion x4):

    ========================  ========  ============  ===========  ===============  =============
    test groups               balanced  two emotions  one emotion  one emotion x4   RAVDESS CV
    ========================  ========  ============  ===========  ===============  =============
    run statistics (corpus)   0.436     0.436         0.436        0.436            0.613 / 0.613
    speaker, unshrunk         0.491     0.373         0.207        0.210            0.670 / 0.123
    speaker, shrunk           0.473     0.432         0.406        0.347            0.663 / 0.350
    ========================  ========  ============  ===========  ===============  =============

Shrinking costs about 0.02 when speakers show every emotion and recovers most of the loss for
small groups of one or two emotions, but the cap at one half still takes half of a large
one-emotion group's emotion away: there run statistics (``corpus``), which do not depend on
how the run is grouped as long as the run itself mixes emotions, are better by 0.09.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ser.common.choices import NORMALIZATIONS, check_choice

__all__ = [
    "MIN_GROUP_SIZE",
    "NORMALIZATIONS",
    "SHRINK_MAX_WEIGHT",
    "SHRINK_ROWS",
    "GroupStats",
    "RunningStats",
    "choose_stats",
    "normalize_groups",
    "shrink",
]

#: Shrinkage of a speaker's statistics toward the run's: the weight on the speaker's own is
#: ``min(n / (n + SHRINK_ROWS), SHRINK_MAX_WEIGHT)`` (see the module docstring).
SHRINK_ROWS = 30
SHRINK_MAX_WEIGHT = 0.5
#: Smallest group whose own mean and standard deviation are used. RAVDESS has 60 files per
#: actor; with 10 files the standard error of a mean is about a third of a standard deviation.
MIN_GROUP_SIZE = 10
_STD_FLOOR = 1e-6


@dataclass(frozen=True)
class GroupStats:
    """Per-feature mean and standard deviation of ``n`` rows."""

    mean: np.ndarray
    std: np.ndarray
    n: int

    @classmethod
    def of(cls, X: np.ndarray) -> GroupStats:
        X = np.asarray(X, dtype=np.float64)
        return cls(X.mean(axis=0), X.std(axis=0), len(X))

    def apply(self, X: np.ndarray) -> np.ndarray:
        std = np.where(self.std > _STD_FLOOR, self.std, 1.0)
        return (np.asarray(X, dtype=np.float64) - self.mean) / std

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": np.asarray(self.mean, np.float64),
            "std": np.asarray(self.std, np.float64),
            "n": int(self.n),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GroupStats:
        return cls(np.asarray(d["mean"], np.float64), np.asarray(d["std"], np.float64), int(d["n"]))


class RunningStats:
    """Mean and standard deviation accumulated over row batches, per group (streaming)."""

    def __init__(self) -> None:
        self._acc: dict[Hashable, list[Any]] = {}

    def add(self, X: np.ndarray, groups: Sequence[Hashable]) -> None:
        X = np.asarray(X, dtype=np.float64)
        for g in dict.fromkeys(groups):
            rows = X[[i for i, gi in enumerate(groups) if gi == g]]
            acc = self._acc.setdefault(g, [0, 0.0, 0.0])
            # shifted sums: the first batch's mean as shift keeps the variance accurate
            if acc[0] == 0:
                acc.append(rows.mean(axis=0))
            shift = acc[3]
            acc[0] += len(rows)
            acc[1] = acc[1] + (rows - shift).sum(axis=0)
            acc[2] = acc[2] + ((rows - shift) ** 2).sum(axis=0)

    def count(self, group: Hashable) -> int:
        acc = self._acc.get(group)
        return 0 if acc is None else int(acc[0])

    @property
    def groups(self) -> list[Hashable]:
        return list(self._acc)

    def stats(self, group: Hashable) -> GroupStats:
        n, s1, s2, shift = self._acc[group]
        m = s1 / n
        var = np.maximum(s2 / n - m**2, 0.0)
        return GroupStats(shift + m, np.sqrt(var), n)

    def total(self) -> GroupStats | None:
        """Statistics of all rows of all groups together."""
        if not self._acc:
            return None
        parts = [self.stats(g) for g in self._acc]
        n = sum(p.n for p in parts)
        mean = sum(p.mean * p.n for p in parts) / n
        var = sum((p.std**2 + (p.mean - mean) ** 2) * p.n for p in parts) / n
        return GroupStats(mean, np.sqrt(var), n)


def shrink(group: GroupStats, toward: GroupStats) -> GroupStats:
    """``group``'s statistics shrunk toward ``toward``'s (the run's), as the module says."""
    w = min(group.n / (group.n + SHRINK_ROWS), SHRINK_MAX_WEIGHT)
    mean = w * group.mean + (1 - w) * toward.mean
    var = w * group.std**2 + (1 - w) * toward.std**2
    return GroupStats(mean, np.sqrt(var), group.n)


def choose_stats(
    mode: str,
    group: Hashable,
    running: RunningStats,
    fallback: GroupStats | None,
    *,
    min_size: int = MIN_GROUP_SIZE,
    shrunk: bool = True,
) -> tuple[GroupStats | None, str]:
    """Which statistics normalise rows of ``group``, and the label saying so.

    In ``speaker`` mode a group's own statistics are shrunk toward the run's (or, in a run
    too small for its own, the training statistics ``fallback``) unless ``shrunk`` is false.
    """
    if mode == "none":
        return None, "none"
    total = running.total()
    if mode == "speaker" and group is not None and running.count(group) >= min_size:
        own = running.stats(group)
        if not shrunk:
            return own, "speaker"
        toward = total if total is not None and total.n >= min_size else fallback
        return (own if toward is None else shrink(own, toward)), "speaker"
    if total is not None and total.n >= min_size:
        return total, "corpus"
    if fallback is None:
        return None, "none"
    return fallback, "training"


def normalize_groups(
    X: np.ndarray,
    groups: Sequence[Hashable] | None,
    *,
    mode: str,
    fallback: GroupStats | None = None,
    min_size: int = MIN_GROUP_SIZE,
    shrunk: bool = True,
) -> tuple[np.ndarray, list[str]]:
    """Normalise all rows of ``X`` at once; returns the rows and how each was normalised.

    ``groups`` gives each row's speaker (``None`` where unknown); it is ignored for
    ``mode="corpus"``. See the module docstring for the fall-back order and the shrinkage
    (``shrunk=False``: each group's own statistics, as for one group per corpus).
    """
    check_choice("normalization", mode, NORMALIZATIONS)
    X = np.asarray(X, dtype=np.float64)
    if groups is None or mode != "speaker":
        groups = [None] * len(X)
    running = RunningStats()
    running.add(X, list(groups))
    out = np.empty_like(X)
    how: list[str] = [""] * len(X)
    index: dict[Hashable, list[int]] = {}
    for i, g in enumerate(groups):
        index.setdefault(g, []).append(i)
    for g, rows in index.items():
        stats, label = choose_stats(mode, g, running, fallback, min_size=min_size, shrunk=shrunk)
        out[rows] = X[rows] if stats is None else stats.apply(X[rows])
        for i in rows:
            how[i] = label
    return out, how
