"""The true labels that ``--compare`` scores predictions against.

Three sources of truth: RAVDESS file names (``ravdess``), CREMA-D file names (``crema-d``),
or a labels table (a ``.csv``/``.parquet`` file with columns ``path`` and ``emotion``, and
optionally ``speaker``, read by :func:`ser.corpora.load_labelled` with the same synonyms and
checks as ``ser-train --labels``). A labeller maps a file to its :class:`TrueLabel`, or to
``None`` for a file the source does not label; every row of a file (each segment of a long
recording) gets the file's label.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ser.common.choices import COMPARISONS
from ser.common.errors import DataError
from ser.corpora import Source, load_labelled, parse_cremad, parse_ravdess

__all__ = [
    "Labeller",
    "TrueLabel",
    "check_compare",
    "cremad_label",
    "make_labeller",
    "ravdess_label",
    "training_actors",
]


@dataclass(frozen=True)
class TrueLabel:
    """A file's true emotion, and its actor and intensity where the corpus names them."""

    emotion: str
    actor: int | None = None
    intensity: str | None = None


#: A labeller: ``(relative path, path) -> TrueLabel or None``.
Labeller = Callable[[str, str], "TrueLabel | None"]

_TABLE_SUFFIXES = (".csv", ".parquet")
_CREMAD_LEVELS = {"LO": "low", "MD": "medium", "HI": "high"}


def check_compare(compare: str) -> str:
    """``compare`` if it names a known corpus or a labels table, else a :class:`DataError`."""
    if compare in COMPARISONS:
        return compare
    if compare.lower().endswith(_TABLE_SUFFIXES):
        if not os.path.isfile(compare):
            raise DataError(f"--compare: labels table {compare!r} does not exist")
        return compare
    raise DataError(
        f"--compare: unknown value {compare!r}; choose one of {', '.join(COMPARISONS)}, "
        "or give a labels table (.csv or .parquet with columns path and emotion)"
    )


def ravdess_label(relpath: str, path: str) -> TrueLabel | None:
    """The label in a RAVDESS file name (``03-01-05-01-02-01-12.wav``), if it is one."""
    lab = parse_ravdess(relpath)
    return None if lab is None else TrueLabel(lab.emotion, lab.actor, lab.intensity)


def cremad_label(relpath: str, path: str) -> TrueLabel | None:
    """The label in a CREMA-D file name (``1001_DFA_ANG_XX.wav``), if it is one."""
    lab = parse_cremad(relpath)
    if lab is None:
        return None
    return TrueLabel(lab.emotion, lab.actor, _CREMAD_LEVELS.get(lab.level))


def make_labeller(compare: str) -> Labeller:
    """The labeller of a ``--compare`` value (checked by :func:`check_compare` first).

    A labels table is read at once, so that an unknown label or a missing file is reported
    before any audio is decoded.

    Raises
    ------
    DataError
        For an unknown value, or a table that cannot be read or holds unknown labels.
    """
    check_compare(compare)
    if compare == "ravdess":
        return ravdess_label
    if compare == "crema-d":
        return cremad_label
    corpus = load_labelled([Source(compare, "table")])
    truth = {os.path.realpath(c.path): TrueLabel(c.emotion) for c in corpus.clips}

    def from_table(relpath: str, path: str) -> TrueLabel | None:
        return truth.get(os.path.realpath(path))

    return from_table


def training_actors(compare: str, meta: dict[str, object]) -> list[int]:
    """The actors of the ``compare`` corpus that a model (its ``meta``) was trained on."""
    if compare == "ravdess" and "actors" in meta:  # models of ser 0.x: RAVDESS actors
        return [int(a) for a in meta["actors"]]  # type: ignore[attr-defined]
    sources = meta.get("sources")
    if not isinstance(sources, dict) or compare not in sources:
        return []
    speakers: Iterable[str] = sources[compare].get("speakers", [])
    prefix = f"{compare}:"
    return [
        int(s[len(prefix) :])
        for s in speakers
        if s.startswith(prefix) and s[len(prefix) :].isdigit()
    ]
