"""Reading one source of each kind into raw clips (labels and speakers as the source gives
them), and telling the kinds apart (``kind="auto"``); :mod:`.sources` puts them together.

``auto``: a ``.csv``/``.parquet`` file is a labels table; a folder whose audio files mostly
(more than half) have RAVDESS names is a RAVDESS tree, else CREMA-D names a CREMA-D tree;
else a folder with two or more first-level subfolders named like emotions, that hold
most of its audio, is one folder per emotion. Anything else is a :class:`DataError` that says
what was expected.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from ser.common.errors import DataError

from .cremad import parse_cremad, read_perceived
from .labelled import LoadedSource
from .ravdess import parse_ravdess
from .tables import TABLE_SUFFIXES, read_labels_table
from .walk import find_audio_files

__all__ = ["CREMAD_LABELS", "SOURCE_KINDS", "RawClip", "SourceRead", "read_source"]

logger = logging.getLogger(__name__)

#: What a source may be; ``auto`` detects it.
SOURCE_KINDS: tuple[str, ...] = ("auto", "ravdess", "crema-d", "table", "folders")
#: CREMA-D labels: the emotion acted (file name) or the one raters perceived (VoiceVote).
CREMAD_LABELS: tuple[str, ...] = ("acted", "perceived")

_EXPECTED = (
    "expected a RAVDESS tree (Actor_01/03-01-05-01-02-01-01.wav), a CREMA-D tree "
    "(1001/1001_DFA_ANG_XX.wav), a labels table (.csv or .parquet with columns path and "
    "emotion) or one folder per emotion (angry/, sad/, ...)"
)


@dataclass
class RawClip:
    """A clip as its source gives it: label and speaker as written, not yet namespaced."""

    path: str  # absolute
    rel: str  # relative to the source (a table: as written), for a speaker regex
    label: str
    speaker: str | None
    emotion_folder: bool = False  # folders kind: the file lies directly in its emotion folder


@dataclass
class SourceRead:
    """A source read: what it is, its clips, and what was left out (with a kind of reason)."""

    source: LoadedSource
    raws: list[RawClip]
    left_out: list[tuple[str, str, str]]  # (path, reason, kind of reason)


def _walk(root: str) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """``(absolute path, path relative to root)`` of the audio files, and folders that failed."""
    files, failed = [], []
    for f in find_audio_files([root]):
        if f.error is not None:
            logger.warning("%s: %s", f.path, f.error)
            failed.append((f.path, f.error, "folder that cannot be read"))
        else:
            files.append((f.path, f.relpath))
    return files, failed


def _emotion_folders(
    files: list[tuple[str, str]], resolve: Callable[[str], str | None]
) -> tuple[set[str], int]:
    """First-level folders named like an emotion (or a label the mapping knows, dropped ones
    too), and how many files lie in them."""
    names: set[str] = set()
    inside = 0
    for _, rel in files:
        top, sep, _ = rel.partition("/")
        if sep and resolve(top) is not None:
            names.add(top.lower())
            inside += 1
    return names, inside


def _detect(root: str, files: list[tuple[str, str]], resolve: Callable[[str], str | None]) -> str:
    if not files:
        raise DataError(f"{root}: no audio files in this folder; {_EXPECTED}")
    n_ravdess = sum(parse_ravdess(rel) is not None for _, rel in files)
    n_cremad = sum(parse_cremad(rel) is not None for _, rel in files)
    if 2 * n_ravdess > len(files):
        return "ravdess"
    if 2 * n_cremad > len(files):
        return "crema-d"
    named, inside = _emotion_folders(files, resolve)
    if len(named) >= 2 and 2 * inside > len(files):
        return "folders"
    raise DataError(
        f"{root}: cannot tell what kind of corpus this is ({len(files)} audio files, "
        f"{n_ravdess} named like RAVDESS, {n_cremad} like CREMA-D, "
        f"{inside} in folders named like emotions); {_EXPECTED}; "
        f"or give the kind (KIND=PATH, KIND one of {', '.join(SOURCE_KINDS[1:])})"
    )


def _read_ravdess(files: list[tuple[str, str]], out: SourceRead, include_song: bool) -> None:
    for path, rel in files:
        label = parse_ravdess(rel)
        if label is None:
            out.left_out.append((path, "not named like RAVDESS", "not named like RAVDESS"))
        elif label.vocal_channel == "song" and not include_song:
            out.left_out.append((path, "RAVDESS song (speech only)", "RAVDESS songs"))
        else:
            out.raws.append(RawClip(path, rel, label.emotion, f"{label.actor:02d}"))


def _read_cremad(root: str, files: list[tuple[str, str]], out: SourceRead) -> None:
    votes = None
    if out.source.label == "perceived":
        table = os.path.join(root, "perceived.csv")
        if not os.path.isfile(table):
            raise DataError(
                f"{table} does not exist: CREMA-D's perceived labels (label 'perceived') are "
                f"read from the perceived.csv at the top of its tree"
            )
        votes = read_perceived(table)
    for path, rel in files:
        label = parse_cremad(rel)
        if label is None:
            out.left_out.append((path, "not named like CREMA-D", "not named like CREMA-D"))
            continue
        emotion = label.emotion
        if votes is not None:
            vote = votes.get(label.clip)
            if vote is None:
                out.left_out.append((path, "not in perceived.csv", "not in perceived.csv"))
                continue
            if vote.emotion is None:
                why = f"raters tied ({vote.vote})"
                out.left_out.append((path, f"perceived emotion: {why}", "raters tied"))
                continue
            emotion = vote.emotion
        out.raws.append(RawClip(path, rel, emotion, str(label.actor)))
    ties = sum(kind == "raters tied" for *_, kind in out.left_out)
    if ties:
        logger.info("%s: %d clips left out, their raters tied", root, ties)


def _read_folders(files: list[tuple[str, str]], out: SourceRead) -> None:
    for path, rel in files:
        top, sep, below = rel.partition("/")
        if not sep:
            out.left_out.append((path, "not in an emotion folder", "not in an emotion folder"))
        else:
            out.raws.append(RawClip(path, rel, top, None, emotion_folder="/" not in below))


def read_source(
    given: str,
    kind: str,
    label: str,
    resolve: Callable[[str], str | None],
    *,
    include_song: bool = False,
) -> SourceRead:
    """Read the source at ``given`` (a path as the user gave it) of ``kind`` (or ``"auto"``).

    ``label`` is CREMA-D's (``acted`` or ``perceived``); RAVDESS songs are left out unless
    ``include_song``; ``resolve`` (labels onto emotions)
    tells emotion folders apart. The short name is ``ravdess``, ``crema-d``, the table's
    file stem or the folder's name, not yet made unique.

    Raises
    ------
    DataError
        For a missing path, a kind that does not fit it, one that cannot be told, an unusable
        table, a perceived.csv that is missing or unusable, or a source without a clip.
    """
    path = os.path.abspath(os.path.expanduser(given))
    if not os.path.exists(path):
        raise DataError(f"training data {given} does not exist")
    if os.path.isfile(path):
        if kind == "auto" and path.lower().endswith(TABLE_SUFFIXES):
            kind = "table"
        if kind != "table":
            raise DataError(
                f"{given}: a file, but not a labels table (.csv or .parquet)"
                if kind == "auto"
                else f"{given}: a file; a {kind} source is a folder"
            )
    elif kind == "table":
        raise DataError(f"{given}: a folder; a labels table is a .csv or .parquet file")
    if kind == "table":
        rows = read_labels_table(path)
        raws = [RawClip(r.path, r.written, r.label, r.speaker) for r in rows]
        return SourceRead(LoadedSource(_stem(path), "table", path), raws, [])
    files, failed = _walk(path)
    if kind == "auto":
        kind = _detect(given, files, resolve)
    name = {"ravdess": "ravdess", "crema-d": "crema-d"}.get(kind, os.path.basename(path))
    used_label = label if kind == "crema-d" else None
    read = SourceRead(LoadedSource(name, kind, path, used_label), [], failed)
    if kind == "ravdess":
        _read_ravdess(files, read, include_song)
    elif kind == "crema-d":
        _read_cremad(path, files, read)
    else:
        _read_folders(files, read)
    if not read.raws and not files:
        raise DataError(f"{given}: no audio files in this folder")
    if not read.raws:
        raise DataError(f"{given}: no {kind} clips among its {len(files)} audio files")
    return read


def _stem(path: str) -> str:
    base = os.path.basename(path)
    return base[: base.rfind(".")] if "." in base[1:] else base
