"""The files ``ser-export`` writes, one writer per format, and the rule for overlaps.

Each writer takes the segments (:class:`Segment`) of one recording and writes one file
atomically (to ``.<name>.<pid>.tmp`` beside it, locked, then renamed; a killed run's
temporary files are removed by the next one), and returns how many segments it had to cut.

* :func:`write_textgrid`: a Praat TextGrid (long text format, written by praatio) with one
  interval tier, :data:`TIER`, from 0 to the recording's duration; gaps are empty intervals.
* :func:`write_eaf`: an ELAN EAF file (written with pympi-ling) with one tier; milliseconds.
* :func:`write_audacity`: an Audacity label track, ``start<TAB>end<TAB>label`` in seconds.
* :func:`write_vtt`: WebVTT subtitles, ``WEBVTT`` then one cue per segment.

Overlaps (:func:`tier_intervals`): Audacity labels and WebVTT cues may overlap, so they keep
the table's spans. TextGrid and EAF tiers may not (Praat refuses it, ELAN does not allow it
on a tier), so every instant that several segments cover goes to the segment whose centre
is nearest (on a tie, to the later one, in start order). For windows of equal length that
cuts each overlap at its middle; a segment that wholly contains a shorter one is split
around it. Where segments do not overlap, the intervals are exactly the table's spans (in
EAF to the millisecond, its unit).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from ser.common import OutputError
from ser.common.ownedfiles import remove_stale, try_lock

__all__ = [
    "EXTENSIONS",
    "TIER",
    "WRITERS",
    "Segment",
    "tier_intervals",
    "write_audacity",
    "write_eaf",
    "write_textgrid",
    "write_vtt",
]

#: File extension of each export format (:data:`~ser.common.choices.EXPORT_FORMATS`).
EXTENSIONS: dict[str, str] = {
    "textgrid": ".TextGrid",
    "eaf": ".eaf",
    "audacity": ".txt",
    "vtt": ".vtt",
}
#: Name of the one tier of TextGrid and EAF files.
TIER = "emotion"


@dataclass(frozen=True)
class Segment:
    """One labelled row: ``[start, end)`` in seconds, its emotion and confidence."""

    start: float
    end: float
    emotion: str
    confidence: float | None = None

    @property
    def label(self) -> str:
        """``"angry 0.83"`` (the emotion alone when the confidence is missing)."""
        if self.confidence is None:
            return self.emotion
        return f"{self.emotion} {self.confidence:.2f}"


def tier_intervals(segments: Sequence[Segment]) -> list[tuple[float, float, int]]:
    """Non-overlapping ``(start, end, i)`` intervals of ``segments[i]``, sorted by time.

    Each instant that several segments cover goes to the one whose centre is nearest; on a
    tie, to the later one (by start, end, then position). Where segments do not overlap the
    intervals are their spans, exactly; a segment wholly containing a shorter one is split
    into two intervals around it; gaps stay gaps.
    """
    order = sorted(range(len(segments)), key=lambda i: (segments[i].start, segments[i].end, i))
    bounds = sorted({t for s in segments for t in (s.start, s.end)})
    pieces: list[tuple[float, float, int]] = []
    active: list[int] = []  # in start order, covering all of [a, b]
    k = 0
    for a, b in pairwise(bounds):
        while k < len(order) and segments[order[k]].start <= a:
            active.append(order[k])
            k += 1
        active = [i for i in active if segments[i].end > a]
        nearest = {(segments[i].start + segments[i].end) / 2: i for i in active}  # later wins
        centres = sorted(nearest)
        for j, c in enumerate(centres):
            lo = a if j == 0 else max(a, (centres[j - 1] + c) / 2)
            hi = b if j == len(centres) - 1 else min(b, (c + centres[j + 1]) / 2)
            if lo >= hi:
                continue
            i = nearest[c]
            if pieces and pieces[-1][2] == i and pieces[-1][1] == lo:
                lo = pieces.pop()[0]
            pieces.append((lo, hi, i))
    return pieces


def _n_cut(segments: Sequence[Segment], pieces: list[tuple[float, float, int]]) -> int:
    spans: dict[int, list[tuple[float, float]]] = {}
    for a, b, i in pieces:
        spans.setdefault(i, []).append((a, b))
    return sum(spans.get(i) != [(s.start, s.end)] for i, s in enumerate(segments))


def write_textgrid(
    segments: Sequence[Segment],
    out: str | os.PathLike[str],
    *,
    duration: float | None = None,
    overwrite: bool = True,
) -> int:
    """Write a Praat TextGrid (long text format) with one interval tier, :data:`TIER`.

    The tier spans 0 to ``duration`` (or the last end, if later); gaps are empty intervals,
    overlaps are resolved by :func:`tier_intervals`. Returns the segments that were cut.
    """
    from praatio import textgrid

    pieces = tier_intervals(segments)
    xmax = max([duration or 0.0, *(s.end for s in segments)])
    entries = [(a, b, segments[i].label) for a, b, i in pieces]
    grid = textgrid.Textgrid()
    grid.addTier(textgrid.IntervalTier(TIER, entries, 0.0, xmax))

    def save(tmp: str) -> None:
        grid.save(
            tmp,
            format="long_textgrid",
            includeBlankSpaces=True,
            minimumIntervalLength=None,
            reportingMode="error",
        )

    _write_atomic(Path(out), save, overwrite=overwrite)
    return _n_cut(segments, pieces)


def write_eaf(
    segments: Sequence[Segment],
    out: str | os.PathLike[str],
    *,
    duration: float | None = None,
    overwrite: bool = True,
) -> int:
    """Write an ELAN EAF file with one tier, :data:`TIER`, times in milliseconds.

    Overlaps are resolved by :func:`tier_intervals`; ``duration`` is not used (EAF keeps no
    length). Returns the segments that were cut.
    """
    from xml.etree import ElementTree

    from pympi.Elan import Eaf, to_adocument

    pieces = tier_intervals(segments)
    eaf = Eaf(author="ser")
    eaf.add_tier(TIER)
    eaf.remove_tier("default")
    for a, b, i in pieces:
        start, end = round(a * 1000), round(b * 1000)
        if end > start:  # a piece shorter than half a millisecond has no place in EAF
            eaf.add_annotation(TIER, start, end, segments[i].label)
    eaf.properties = [("lastUsedAnnotation", eaf.maxaid)]  # pympi leaves 0; ELAN goes on from it

    def save(tmp: str) -> None:
        document = ElementTree.ElementTree(to_adocument(eaf))
        document.write(tmp, xml_declaration=True, encoding="UTF-8")

    _write_atomic(Path(out), save, overwrite=overwrite)
    return _n_cut(segments, pieces)


def write_audacity(
    segments: Sequence[Segment],
    out: str | os.PathLike[str],
    *,
    duration: float | None = None,
    overwrite: bool = True,
) -> int:
    """Write an Audacity label track: ``start<TAB>end<TAB>label`` lines, seconds with six
    decimals (as Audacity writes them), sorted by start; overlaps kept. Returns 0."""
    lines = [
        f"{s.start:.6f}\t{s.end:.6f}\t{' '.join(s.label.split())}\n"
        for s in sorted(segments, key=lambda s: (s.start, s.end))
    ]
    _write_atomic(Path(out), lambda tmp: _write_text(tmp, "".join(lines)), overwrite=overwrite)
    return 0


def write_vtt(
    segments: Sequence[Segment],
    out: str | os.PathLike[str],
    *,
    duration: float | None = None,
    overwrite: bool = True,
) -> int:
    """Write WebVTT subtitles: a ``WEBVTT`` header, then one numbered cue per segment,
    ``HH:MM:SS.mmm --> HH:MM:SS.mmm``, sorted by start; overlapping cues kept. Returns 0."""
    blocks = ["WEBVTT\n"]
    for n, s in enumerate(sorted(segments, key=lambda s: (s.start, s.end)), 1):
        start = round(s.start * 1000)
        end = max(round(s.end * 1000), start + 1)
        text = " ".join(s.label.split()).replace("&", "&amp;").replace("<", "&lt;")
        blocks.append(
            f"{n}\n{_vtt_time(start)} --> {_vtt_time(end)}\n{text.replace('>', '&gt;')}\n"
        )
    _write_atomic(Path(out), lambda tmp: _write_text(tmp, "\n".join(blocks)), overwrite=overwrite)
    return 0


def _vtt_time(ms: int) -> str:
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    seconds, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{ms:03d}"


def _write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


#: The writer of each format: ``(segments, out, *, duration, overwrite) -> segments cut``.
WRITERS: dict[str, Callable[..., int]] = {
    "textgrid": write_textgrid,
    "eaf": write_eaf,
    "audacity": write_audacity,
    "vtt": write_vtt,
}


def _write_atomic(out: Path, write: Callable[[str], object], *, overwrite: bool) -> None:
    """``write(tmp)`` to a locked ``.<name>.<pid>.tmp`` beside ``out``, then rename it."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        folder, name = glob.escape(os.fspath(out.parent)), glob.escape(out.name)
        remove_stale(os.path.join(folder, f".{name}.*.tmp"))  # left by killed runs
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            try_lock(fd)  # held until renamed: a live run's file is not stale
            write(os.fspath(tmp))
            if not overwrite and (out.exists() or out.is_symlink()):
                raise OutputError(f"{out} appeared while exporting; not replaced")
            os.replace(tmp, out)
        finally:
            os.close(fd)
            tmp.unlink(missing_ok=True)
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from None
