"""Labels from RAVDESS file names (``MM-VV-EE-II-SS-RR-AA.ext``)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from .emotions import EMOTIONS
from .walk import file_stem

__all__ = ["RavdessLabel", "parse_ravdess"]

_RAVDESS_RE = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")


@dataclass(frozen=True)
class RavdessLabel:
    """The seven fields of a RAVDESS file name, decoded."""

    modality: int  # 1 full-AV, 2 video-only, 3 audio-only
    vocal_channel: str  # "speech" or "song"
    emotion: str
    intensity: str  # "normal" or "strong"
    statement: int  # 1 "Kids are talking by the door", 2 "Dogs are sitting by the door"
    repetition: int
    actor: int  # odd: male, even: female

    @property
    def speaker(self) -> str:
        return f"Actor_{self.actor:02d}"


def parse_ravdess(path: str | os.PathLike[str]) -> RavdessLabel | None:
    """Labels of a RAVDESS file from its name (``MM-VV-EE-II-SS-RR-AA.ext``), else ``None``.

    Any extension is accepted. A name that does not follow the convention, or whose fields
    are out of range (emotion 01-08, modality 01-03, vocal channel, intensity, statement and
    repetition 01-02, actor 01-99, no strong intensity for neutral), gives ``None``.
    """
    m = _RAVDESS_RE.match(file_stem(os.path.basename(os.fspath(path))))
    if m is None:
        return None
    mod, voc, emo, inten, stmt, rep, actor = (int(g) for g in m.groups())
    if not (
        1 <= mod <= 3
        and voc in (1, 2)
        and 1 <= emo <= 8
        and inten in (1, 2)
        and stmt in (1, 2)
        and rep in (1, 2)
        and actor >= 1
    ):
        return None
    if emo == 1 and inten == 2:  # RAVDESS has no strong-intensity neutral
        return None
    return RavdessLabel(
        modality=mod,
        vocal_channel="speech" if voc == 1 else "song",
        emotion=EMOTIONS[emo - 1],
        intensity="normal" if inten == 1 else "strong",
        statement=stmt,
        repetition=rep,
        actor=actor,
    )
