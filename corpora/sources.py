"""Labelled training corpora of several kinds, read into one list of clips (``ser-train --data``).

A source is one of:

- a RAVDESS tree: audio files named ``MM-VV-EE-II-SS-RR-AA.ext`` (speech only; songs are
  left out), speaker = actor (``"ravdess:01"``);
- a CREMA-D tree: ``NNNN/NNNN_SSS_EEE_LL.ext``, speaker = actor (``"crema-d:1001"``); the
  label is the acted emotion of the name, or (``label="perceived"``) the ``VoiceVote`` of
  the tree's ``perceived.csv``, a clip whose raters tied being left out;
- a labels table, ``FILE.csv`` or ``FILE.parquet`` with columns ``path`` and ``emotion``
  and optionally ``speaker`` (:mod:`.tables`);
- one folder per emotion, ``root/angry/x.wav`` (any depth below the emotion folder); no
  speakers unless ``speaker_from`` names them.

:mod:`.kinds` reads each and tells them apart (``kind="auto"``). Labels go through
``mapping`` and the synonyms (:mod:`.labels`); byte-identical clips are found across all
sources (:mod:`.duplicates`).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ser.common.errors import DataError

from .duplicates import find_duplicates
from .emotions import validate_subset
from .kinds import CREMAD_LABELS, SOURCE_KINDS, RawClip, SourceRead, read_source
from .labelled import LabelledClip, LabelledCorpus, LoadedSource
from .labels import label_resolver, unknown_labels_error
from .speakers import speaker_regex

__all__ = [
    "CREMAD_LABELS",
    "SOURCE_KINDS",
    "SPEAKER_FROM_MODES",
    "Source",
    "load_labelled",
    "parse_source",
]

logger = logging.getLogger(__name__)

#: ``speaker_from`` besides a regular expression: the corpus' convention (RAVDESS or CREMA-D
#: actor, a table's ``speaker`` column; none for emotion folders), the file's folder, or none.
SPEAKER_FROM_MODES: tuple[str, ...] = ("auto", "parent", "none")


@dataclass(frozen=True)
class Source:
    """One ``--data``: a path, its kind (``auto`` detects it), and for CREMA-D its label
    (``None``: :func:`load_labelled`'s ``label``); ``name`` overrides the short name."""

    path: str
    kind: str = "auto"
    label: str | None = None
    name: str | None = None


def parse_source(spec: str) -> Source:
    """A ``--data`` value: ``PATH``, ``KIND=PATH`` or ``crema-d:LABEL=PATH``.

    ``ravdess=/data/rav``, ``folders=./clips``, ``crema-d:perceived=../crema-d``; a value
    whose part before ``=`` is not a kind is a path as it is.
    """
    head, sep, rest = spec.partition("=")
    kind, _, label = head.partition(":")
    if sep and kind in SOURCE_KINDS and (not label or kind == "crema-d"):
        if label and label not in CREMAD_LABELS:
            choose = " or ".join(CREMAD_LABELS)
            raise DataError(f"--data {spec}: unknown CREMA-D label {label!r}; choose {choose}")
        return Source(rest, kind, label or None)
    return Source(spec)


def _as_source(spec: Source | str | os.PathLike[str] | tuple[object, ...]) -> Source:
    if isinstance(spec, Source):
        src = spec
    elif isinstance(spec, tuple):
        path, *rest = spec
        src = Source(os.fspath(path), *(None if v is None else str(v) for v in rest))  # type: ignore[arg-type]
    else:
        src = Source(os.fspath(spec))
    if src.kind not in SOURCE_KINDS:
        raise DataError(
            f"{src.path}: unknown kind of source {src.kind!r}; choose one of "
            f"{', '.join(SOURCE_KINDS)}"
        )
    if src.label is not None and src.label not in CREMAD_LABELS:
        raise DataError(
            f"{src.path}: unknown CREMA-D label {src.label!r}; choose {' or '.join(CREMAD_LABELS)}"
        )
    return src


def _speaker_rule(spec: str | None) -> Callable[[RawClip], str | None] | str:
    """``"auto"``, ``"parent"``, ``"none"``, or a function for a regular expression."""
    if spec is None or spec in SPEAKER_FROM_MODES:
        return spec or "auto"
    by_regex = speaker_regex(spec, SPEAKER_FROM_MODES)
    return lambda raw: by_regex(raw.rel)


def _unique_names(reads: list[SourceRead], names: list[str | None]) -> None:
    taken: set[str] = set()
    for read, wanted in zip(reads, names):
        base = wanted or read.source.name or "corpus"
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name)
        s = read.source
        read.source = LoadedSource(name, s.kind, s.path, s.label)


def load_labelled(
    sources: Iterable[Source | str | os.PathLike[str] | tuple[object, ...]],
    *,
    subset: str | Iterable[str] | None = None,
    mapping: dict[str, str] | None = None,
    speaker_from: str | None = None,
    label: str = "acted",
    include_song: bool = False,
) -> LabelledCorpus:
    """Labelled clips from ``sources``, for training.

    Parameters
    ----------
    sources
        Each a :class:`Source`, a path (kind ``auto``), or a tuple ``(path, kind)`` or
        ``(path, kind, label)``; kinds are :data:`SOURCE_KINDS`.
    subset
        Emotions to keep (``"neutral,angry"`` or a list; :func:`validate_subset`); clips of
        other emotions are counted in ``not_in_subset``. Every emotion asked for must occur.
    mapping
        ``{label: emotion}`` applied (case-insensitively) before the synonyms; a target of
        ``"drop"`` or ``""`` leaves that label's clips out. Applies to every source's labels
        (RAVDESS and CREMA-D labels are ser's names: ``{"disgust": "drop"}``).
    speaker_from
        ``None``/``"auto"``: each corpus' convention (RAVDESS/CREMA-D actor, a table's
        ``speaker`` column, no speaker for emotion folders); ``"parent"``: the folder holding
        the file; ``"none"``: no speakers; else a regular expression searched in the path
        relative to its source (a table: as written), group 1 if it has groups. Speakers are
        namespaced by source name.
    label
        CREMA-D's label where a :class:`Source` does not set one: ``"acted"`` (file name) or
        ``"perceived"`` (``perceived.csv``'s ``VoiceVote``; ties left out).
    include_song
        Keep RAVDESS song files (vocal channel 02); by default they are left out.

    Raises
    ------
    DataError
        For a missing path, a source whose kind cannot be told, an unusable table, an
        invalid option, unknown labels (all listed, with counts), an emotion of ``subset``
        with no clip, or no clip at all.
    """
    emotions = validate_subset(subset)
    resolve = label_resolver(mapping)
    rule = _speaker_rule(speaker_from)
    if label not in CREMAD_LABELS:
        raise DataError(f"unknown CREMA-D label {label!r}; choose {' or '.join(CREMAD_LABELS)}")
    specs = [_as_source(s) for s in sources]
    if not specs:
        raise DataError("no training data given")
    reads = [
        read_source(s.path, s.kind, s.label or label, resolve, include_song=include_song)
        for s in specs
    ]
    _unique_names(reads, [s.name for s in specs])
    return _assemble(reads, emotions, resolve, rule, subset is not None)


def _assemble(
    reads: list[SourceRead],
    emotions: tuple[str, ...],
    resolve: Callable[[str], str | None],
    rule: Callable[[RawClip], str | None] | str,
    explicit_subset: bool,
) -> LabelledCorpus:
    """Labels onto emotions, speakers, duplicates and the subset: the corpus, or an error."""
    unknown: Counter[tuple[str, str]] = Counter()
    labelled: list[tuple[SourceRead, RawClip, str]] = []  # emotion "" = dropped by the mapping
    for read in reads:
        for raw in read.raws:
            emotion = resolve(raw.label)
            if emotion is None:
                unknown[(read.source.name, raw.label)] += 1
            else:
                labelled.append((read, raw, emotion))
    if unknown:
        raise unknown_labels_error(unknown)
    if rule == "parent":
        flat = [raw.path for read, raw, _ in labelled if raw.emotion_folder]
        if flat:
            raise DataError(
                f"--speaker-from parent: {len(flat)} files lie directly in their emotion "
                f"folder (e.g. {flat[0]}), whose name is the emotion, not a speaker; put them "
                f"in EMOTION/SPEAKER/ folders or give a regular expression"
            )
    dup = find_duplicates(
        [(raw.path, emotion or f"{raw.label} (dropped)") for _, raw, emotion in labelled]
    )
    clips: list[LabelledClip] = []
    not_in_subset: Counter[str] = Counter()
    for i, (read, raw, emotion) in enumerate(labelled):
        name = read.source.name
        if i in dup:
            kind = (
                "duplicate (same label)" if "same label" in dup[i] else "duplicate (labels differ)"
            )
            read.left_out.append((raw.path, dup[i], kind))
        elif not emotion:
            why = f"label {raw.label!r} dropped by the mapping"
            read.left_out.append((raw.path, why, "dropped by the mapping"))
        elif emotion not in emotions:
            not_in_subset[name] += 1
        else:
            clips.append(LabelledClip(raw.path, emotion, _speaker(raw, rule, name), name))
    corpus = LabelledCorpus(
        clips=clips,
        sources=[r.source for r in reads],
        left_out=[(p, why) for r in reads for p, why, _ in r.left_out],
        left_out_counts={
            r.source.name: Counter(k for *_, k in r.left_out) for r in reads if r.left_out
        },
        not_in_subset=not_in_subset,
    )
    if not clips:
        found = "; ".join(_what_was_found(r, not_in_subset[r.source.name]) for r in reads)
        raise DataError(f"no labelled clips to train on ({found})")
    missing = [e for e in emotions if e not in corpus.emotions]
    if explicit_subset and missing:
        raise DataError(
            f"no clips of {', '.join(missing)} (asked for in the subset) in the sources; they "
            f"have {', '.join(corpus.emotions)}"
        )
    return corpus


def _speaker(raw: RawClip, rule: Callable[[RawClip], str | None] | str, source: str) -> str | None:
    if rule == "auto":
        speaker = raw.speaker
    elif rule == "none":
        speaker = None
    elif rule == "parent":
        speaker = os.path.basename(os.path.dirname(raw.path)) or None
    else:
        speaker = rule(raw)  # type: ignore[operator]
    return None if speaker is None else f"{source}:{speaker}"


def _what_was_found(read: Any, n_outside: int) -> str:
    """``"ravdess: 6 outside the subset, 2 left out (2 song)"``, for an empty result."""
    parts = [f"{n_outside} outside the subset"] if n_outside else []
    if read.left_out:
        why = Counter(k for *_, k in read.left_out)
        parts.append(
            f"{len(read.left_out)} left out (" + ", ".join(f"{n} {k}" for k, n in why.items()) + ")"
        )
    return f"{read.source.name}: " + (", ".join(parts) or "no clips")
