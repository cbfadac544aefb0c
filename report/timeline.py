"""Timelines of long recordings: which emotion, when, and how confident, over the recording.

A segmented recording (``ser-annotate --segment speech|window``, or ``auto`` on files over
30 s) has one row per segment, with ``start`` and ``end`` in seconds and, with
``--channels each``, a ``channel``. :func:`longest_recordings` picks the longest of them and
:func:`timeline_figure` draws each as a band coloured by the predicted emotion, with the
confidence of each segment as a bar beneath it; pauses (no segment) stay blank, and segments
without a prediction are hatched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ser.common.palette import ERROR_COLOUR, colour_of

from .figures import new_figure, style

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Recording", "longest_recordings", "timeline_figure"]


@dataclass
class Recording:
    """The rows of one recording (and channel), in time order."""

    path: str
    channel: int | None
    duration: float
    start: np.ndarray = field(repr=False)
    end: np.ndarray = field(repr=False)
    emotion: list[str | None] = field(repr=False)  # None: no prediction (an error row)
    confidence: np.ndarray = field(repr=False)

    @property
    def label(self) -> str:
        return self.path if self.channel is None else f"{self.path} (channel {self.channel})"

    @property
    def n_segments(self) -> int:
        return len(self.start)


def longest_recordings(table: pd.DataFrame, n: int) -> list[Recording]:
    """The ``n`` longest recordings (and channels) of ``table`` that have several rows.

    ``table`` needs ``path``, ``start``, ``end``, ``status`` and ``emotion``; ``channel``,
    ``duration_s`` and ``confidence`` are used when present. A recording that is one row
    (a whole short file) has no timeline worth drawing and is not picked.
    """
    import pandas as pd

    if n <= 0 or not {"start", "end"} <= set(table.columns) or table.empty:
        return []
    keys = ["path", "channel"] if "channel" in table.columns else ["path"]
    rows = table[table["start"].notna() & table["end"].notna()]
    if rows.empty:
        return []
    gid = rows.groupby(keys, dropna=False, sort=False).ngroup().to_numpy()
    size = np.bincount(gid)
    span = np.zeros(len(size))
    np.maximum.at(span, gid, rows["end"].to_numpy(dtype=float))
    if "duration_s" in rows.columns:
        dur = np.full(len(size), np.nan)
        d = rows["duration_s"].to_numpy(dtype=float, na_value=np.nan)
        np.fmax.at(dur, gid, d)
        span = np.where(np.isnan(dur), span, dur)
    candidates = np.flatnonzero(size > 1)
    picked = candidates[np.argsort(-span[candidates], kind="stable")][:n]
    out = []
    for g in picked:
        part = rows[gid == g].sort_values("start", kind="stable")
        ok = (part["status"] == "ok").fillna(False).to_numpy(dtype=bool)
        emotions = part["emotion"].astype(object).where(part["emotion"].notna(), None).tolist()
        channel = part["channel"].iloc[0] if "channel" in part.columns else None
        out.append(
            Recording(
                path=str(part["path"].iloc[0]),
                channel=None if channel is None or pd.isna(channel) else int(channel),
                duration=float(span[g]),
                start=part["start"].to_numpy(dtype=float),
                end=part["end"].to_numpy(dtype=float),
                emotion=[e if k else None for e, k in zip(emotions, ok)],
                confidence=np.where(ok, _confidence(part), np.nan),
            )
        )
    return out


def _confidence(part: pd.DataFrame) -> np.ndarray:
    if "confidence" in part.columns:
        return part["confidence"].to_numpy(dtype=float, na_value=np.nan)
    probs = [c for c in part.columns if str(c).startswith("prob_")]
    if not probs:
        return np.full(len(part), np.nan)
    return part[probs].to_numpy(dtype=float, na_value=np.nan).max(axis=1)


def minute_step(seconds: float) -> int:
    """Seconds between the time ticks of a recording ``seconds`` long: whole minutes (1, 2, 5,
    10, 15 or 30, the least that gives at most 10 ticks), else whole hours."""
    minutes = next((m for m in (1, 2, 5, 10, 15, 30) if seconds <= 10 * 60 * m), None)
    return 60 * minutes if minutes else 3600 * max(1, math.ceil(seconds / 36000))


def _clock(seconds: float, _pos: object = None) -> str:
    m, s = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


# a panel's layout, in axis units from 0 to 1: each segment's confidence as a bar from 0 up to
# STRIP_TOP (its full height is confidence 1), and the emotion band (bottom, height) above it
STRIP_TOP = 0.38
EMOTION_BAND = (0.45, 0.55)


def timeline_figure(recordings: Sequence[Recording], order: Sequence[str]) -> Any:
    """One panel per recording: the emotion band over time and each segment's confidence.

    ``order`` lists the emotions for the legend (those present are shown).
    """
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    with style():
        fig, axes = new_figure(10.0, 1.25 * len(recordings) + 0.8, nrows=len(recordings))
        axes = np.atleast_1d(axes)
        present: set[str] = set()
        any_error = False
        for ax, rec in zip(axes, recordings):
            spans = list(zip(rec.start, rec.end - rec.start))
            for e in dict.fromkeys(rec.emotion):
                idx = [i for i, x in enumerate(rec.emotion) if x == e]
                if e is None:
                    any_error = True
                    ax.broken_barh(
                        [spans[i] for i in idx],
                        EMOTION_BAND,
                        facecolor="white",
                        edgecolor=ERROR_COLOUR,
                        hatch="////",
                        linewidth=0.4,
                    )
                    continue
                present.add(e)
                ax.broken_barh([spans[i] for i in idx], EMOTION_BAND, facecolor=colour_of(e))
                for i in idx:  # the confidence of each segment, as a bar under it
                    c = rec.confidence[i]
                    if c == c:
                        ax.broken_barh([spans[i]], (0.0, STRIP_TOP * c), facecolor=colour_of(e))
            ax.set_xlim(0, max(rec.duration, float(np.max(rec.end, initial=0.0))))
            ax.set_ylim(0, 1.0)
            # the confidence strip's scale: 0 at its foot, 1 at its top (a faint line)
            ax.set_yticks(
                [0.0, STRIP_TOP / 2, STRIP_TOP, EMOTION_BAND[0] + EMOTION_BAND[1] / 2],
                ["0", "confidence", "1", "emotion"],
            )
            ax.tick_params(axis="y", labelsize=7.5, length=0)
            ax.grid(axis="y", visible=False)
            ax.axhline(STRIP_TOP, color="#bbbbbb", linewidth=0.5, linestyle=":", zorder=0)
            ax.set_title(
                f"{rec.label}: {rec.n_segments} segments over {_clock(rec.duration)}",
                loc="left",
                fontsize=9,
            )
            if rec.duration > 120:
                ax.xaxis.set_major_locator(MultipleLocator(minute_step(rec.duration)))
                ax.xaxis.set_major_formatter(FuncFormatter(_clock))
        axes[-1].set_xlabel("time (m:ss)" if recordings[-1].duration > 120 else "time (s)")
        handles = [Patch(color=colour_of(e), label=e) for e in order if e in present]
        extra = sorted(present - set(order))
        handles += [Patch(color=colour_of(e), label=e) for e in extra]
        if any_error:
            blank = {"facecolor": "white", "edgecolor": ERROR_COLOUR, "hatch": "////"}
            handles.append(Patch(**blank, label="no prediction"))
        fig.legend(handles=handles, loc="outside upper center", ncols=min(9, len(handles)))
    return fig
