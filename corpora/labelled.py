"""What :func:`~ser.corpora.load_labelled` returns: labelled clips, and what was left out."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .emotions import EMOTIONS

__all__ = ["LabelledClip", "LabelledCorpus", "LoadedSource"]


@dataclass(frozen=True)
class LabelledClip:
    """One training clip.

    ``path`` is absolute; ``emotion`` is one of ser's names; ``speaker`` is namespaced by its
    source (``"ravdess:01"``, ``"crema-d:1001"``, ``"mytable:spk3"``), so two corpora's
    speaker ``"1"`` never merge, or ``None`` where the source does not say; ``source`` is the
    short name of the source it came from.
    """

    path: str
    emotion: str
    speaker: str | None
    source: str


@dataclass(frozen=True)
class LoadedSource:
    """A source as it was read: its unique short name, kind, path and (CREMA-D) label."""

    name: str
    kind: str  # "ravdess", "crema-d", "table" or "folders" (never "auto")
    path: str
    label: str | None = None  # "acted" or "perceived" for CREMA-D, else None


@dataclass
class LabelledCorpus:
    """Labelled clips from one or more sources, in source order, then walk or table order.

    ``left_out`` lists ``(path, reason)`` for every clip that was found but not kept (a name
    that does not parse, a RAVDESS song, tied raters, a label dropped by ``mapping``, a
    byte-identical duplicate...); ``left_out_counts`` counts them per source and kind of
    reason; ``not_in_subset`` counts per source the clips whose emotion is outside
    ``subset`` (not listed one by one). ``emotions`` are those the clips have, in ser's order.
    """

    clips: list[LabelledClip]
    sources: list[LoadedSource]
    left_out: list[tuple[str, str]] = field(default_factory=list)
    left_out_counts: dict[str, Counter[str]] = field(default_factory=dict)
    not_in_subset: Counter[str] = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.clips)

    @property
    def source_paths(self) -> dict[str, str]:
        """``{source name: absolute path}``."""
        return {s.name: s.path for s in self.sources}

    @property
    def emotions(self) -> tuple[str, ...]:
        present = {c.emotion for c in self.clips}
        return tuple(e for e in EMOTIONS if e in present)

    @property
    def speakers(self) -> list[str]:
        """The distinct known speakers, in the order they first appear."""
        return list(dict.fromkeys(c.speaker for c in self.clips if c.speaker is not None))

    @property
    def unknown_speaker(self) -> int:
        """How many clips have no speaker."""
        return sum(c.speaker is None for c in self.clips)

    def counts(self) -> dict[str, dict[str, int]]:
        """``{source: {emotion: clips}}``, sources in order, emotions in ser's order."""
        per: dict[str, Counter[str]] = {s.name: Counter() for s in self.sources}
        for c in self.clips:
            per[c.source][c.emotion] += 1
        return {s: {e: n[e] for e in EMOTIONS if n[e]} for s, n in per.items()}

    def describe(self) -> str:
        """A text table: per source its kind, clips per emotion, speakers and clips left out,
        then a total row, then one line per source on why clips were left out."""
        emotions = self.emotions
        counts = self.counts()
        speakers: dict[str, set[str]] = {s.name: set() for s in self.sources}
        for c in self.clips:
            if c.speaker is not None:
                speakers[c.source].add(c.speaker)
        header = ["source", "kind", *emotions, "clips", "speakers", "left out"]
        rows = []
        for s in self.sources:
            n = counts[s.name]
            kind = f"{s.kind} ({s.label})" if s.label else s.kind
            left = sum(self.left_out_counts.get(s.name, Counter()).values())
            rows.append(
                [
                    s.name,
                    kind,
                    *(str(n.get(e, 0)) for e in emotions),
                    str(sum(n.values())),
                    str(len(speakers[s.name]) or "-"),
                    str(left),
                ]
            )
        if len(self.sources) > 1:
            total = Counter(c.emotion for c in self.clips)
            rows.append(
                [
                    "total",
                    "",
                    *(str(total[e]) for e in emotions),
                    str(len(self.clips)),
                    str(len(self.speakers) or "-"),
                    str(len(self.left_out)),
                ]
            )
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = [
            "  ".join(
                v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths))
            ).rstrip()
            for r in [header, *rows]
        ]
        for s in self.sources:
            why = self.left_out_counts.get(s.name)
            if why:
                lines.append(
                    f"{s.name} left out: " + ", ".join(f"{n} {r}" for r, n in why.most_common())
                )
            if self.not_in_subset.get(s.name):
                lines.append(f"{s.name}: {self.not_in_subset[s.name]} clips outside the subset")
        return "\n".join(lines)
