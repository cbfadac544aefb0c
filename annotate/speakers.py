"""Which speaker a file belongs to, for speaker normalisation (``--speaker-from``)."""

from __future__ import annotations

import os
from collections.abc import Callable

from ser.corpora import parse_ravdess
from ser.corpora.speakers import speaker_regex

__all__ = ["SPEAKER_FROM_DEFAULT", "speaker_function"]

SPEAKER_FROM_DEFAULT = "auto"


def speaker_function(spec: str) -> Callable[[str, str], str | None]:
    """A function ``(reported_path, full_path) -> speaker or None`` for ``spec``.

    Parameters
    ----------
    spec : {"auto", "parent"} or str
        ``"auto"``: the RAVDESS actor (``"Actor_05"``) when the file name follows the RAVDESS
        convention, else no speaker. ``"parent"``: the name of the folder holding the file.
        Anything else is a regular expression searched in the reported path: group 1 when it
        has groups, else the whole match; no match means no speaker.

    Raises
    ------
    DataError
        When ``spec`` is not a valid regular expression.
    """
    if spec == "auto":
        return _ravdess_actor
    if spec == "parent":
        return _parent_folder
    by_regex = speaker_regex(spec, ("auto", "parent"))
    return lambda reported, full: by_regex(reported)


def _ravdess_actor(reported: str, full: str) -> str | None:
    label = parse_ravdess(reported)
    return None if label is None else label.speaker


def _parent_folder(reported: str, full: str) -> str | None:
    name = os.path.basename(os.path.dirname(os.path.abspath(full)))
    return name or None


def intern_speakers(speakers: list[str | None]) -> list[str | None]:
    """The same list, with equal names sharing one string object (memory per row)."""
    seen: dict[str, str] = {}
    return [None if s is None else seen.setdefault(s, s) for s in speakers]
