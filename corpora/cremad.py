"""Labels from CREMA-D file names (``NNNN_SSS_EEE_LL.ext``) and its ``perceived.csv``.

CREMA-D (Cao et al. 2014) names each clip ``ACTOR_SENTENCE_EMOTION_LEVEL``, e.g.
``1001_DFA_ANG_XX.wav``: actor 1001-1091, a three-letter sentence code, the acted emotion
(ANG, DIS, FEA, HAP, NEU, SAD) and its level (LO, MD, HI, XX unspecified). Its
``perceived.csv`` holds what crowd raters perceived; ``VoiceVote`` (audio alone) is one
letter (A, D, F, H, N, S) or several separated by colons on a tie (``A:D``).
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass

from ser.common.errors import DataError

from .walk import file_stem

__all__ = [
    "CREMAD_EMOTIONS",
    "CREMAD_VOTES",
    "CremaDLabel",
    "PerceivedVote",
    "parse_cremad",
    "read_perceived",
]

#: CREMA-D's emotion codes in file names, onto ser's emotion names.
CREMAD_EMOTIONS: dict[str, str] = {
    "ANG": "angry",
    "DIS": "disgust",
    "FEA": "fearful",
    "HAP": "happy",
    "NEU": "neutral",
    "SAD": "sad",
}
#: The letters of ``perceived.csv``'s votes, onto ser's emotion names (``S`` is sad here).
CREMAD_VOTES: dict[str, str] = {
    "A": "angry",
    "D": "disgust",
    "F": "fearful",
    "H": "happy",
    "N": "neutral",
    "S": "sad",
}
_LEVELS = ("LO", "MD", "HI", "XX")
_CREMAD_RE = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")


@dataclass(frozen=True)
class CremaDLabel:
    """The four fields of a CREMA-D file name, decoded."""

    actor: int  # 1001-1091 in the published corpus
    sentence: str  # three-letter code: IEO, TIE, DFA, ...
    emotion: str  # ser's name of the acted emotion
    level: str  # LO, MD, HI or XX (unspecified)

    @property
    def clip(self) -> str:
        """The clip's name without extension, as ``perceived.csv`` names it."""
        code = {v: k for k, v in CREMAD_EMOTIONS.items()}[self.emotion]
        return f"{self.actor}_{self.sentence}_{code}_{self.level}"


def parse_cremad(path: str | os.PathLike[str]) -> CremaDLabel | None:
    """Labels of a CREMA-D file from its name (``1001_DFA_ANG_XX.ext``), else ``None``.

    Only the file name is read (any extension, any folder). Codes are upper-case as
    published; an unknown emotion or level code, or a name of another shape, gives ``None``.
    """
    m = _CREMAD_RE.match(file_stem(os.path.basename(os.fspath(path))))
    if m is None:
        return None
    actor, sentence, emotion, level = m.groups()
    if emotion not in CREMAD_EMOTIONS or level not in _LEVELS:
        return None
    return CremaDLabel(int(actor), sentence, CREMAD_EMOTIONS[emotion], level)


@dataclass(frozen=True)
class PerceivedVote:
    """``VoiceVote`` of one clip: its emotion, or ``None`` on a tie (``vote`` as written)."""

    vote: str
    emotion: str | None


def read_perceived(path: str | os.PathLike[str]) -> dict[str, PerceivedVote]:
    """``{clip name: PerceivedVote}`` from a CREMA-D ``perceived.csv`` (``VoiceVote`` column).

    Raises
    ------
    DataError
        When the file cannot be read, lacks the ``FileName`` or ``VoiceVote`` column, or a
        vote has a letter other than A, D, F, H, N, S (the message names the row).
    """
    path = os.fspath(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            fields = set(reader.fieldnames or ())
            if not {"FileName", "VoiceVote"} <= fields:
                raise DataError(
                    f"{path}: not a CREMA-D perceived.csv: it needs the columns FileName and "
                    f"VoiceVote, it has {', '.join(sorted(fields)) or 'none'}"
                )
            rows = [
                (n, row["FileName"].strip(), row["VoiceVote"]) for n, row in enumerate(reader, 2)
            ]
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read as CSV: {exc}") from None
    votes: dict[str, PerceivedVote] = {}
    for line, clip, vote in rows:
        vote = (vote or "").strip().upper()
        letters = vote.split(":")
        bad = [x for x in letters if x not in CREMAD_VOTES]
        if bad:
            raise DataError(
                f"{path}, line {line} ({clip}): VoiceVote {vote!r} is not one or more of "
                f"{', '.join(CREMAD_VOTES)} separated by colons"
            )
        emotions = {CREMAD_VOTES[x] for x in letters}
        votes[clip] = PerceivedVote(vote, emotions.pop() if len(emotions) == 1 else None)
    return votes
