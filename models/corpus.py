"""Finding audio files in directory trees, and reading labels from RAVDESS file names.

Shared by ``ser-train`` (which needs labelled RAVDESS files) and ``ser-annotate`` (which
walks any corpus and can compare its predictions with RAVDESS labels).
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .audio import AUDIO_SUFFIXES

__all__ = [
    "EMOTIONS",
    "FoundFile",
    "RavdessLabel",
    "find_audio_files",
    "parse_ravdess",
    "validate_subset",
]

logger = logging.getLogger(__name__)

#: RAVDESS emotion codes, in code order (01..08).
EMOTIONS: tuple[str, ...] = (
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgust",
    "surprised",
)

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


# PurePath(name).suffix and .stem for a bare file name, without building a path object
# (a few microseconds a file: seconds over a million-file walk)
def _suffix(name: str) -> str:
    i = name.rfind(".")
    return name[i:] if 0 < i < len(name) - 1 else ""


def _stem(name: str) -> str:
    return name[: len(name) - len(_suffix(name))]


def parse_ravdess(path: str | os.PathLike[str]) -> RavdessLabel | None:
    """Labels of a RAVDESS file from its name (``MM-VV-EE-II-SS-RR-AA.ext``), else ``None``.

    Any extension is accepted. A name that does not follow the convention, or whose fields
    are out of range (emotion 01-08, modality 01-03, vocal channel, intensity, statement and
    repetition 01-02, actor 01-99, no strong intensity for neutral), gives ``None``.
    """
    m = _RAVDESS_RE.match(_stem(os.path.basename(os.fspath(path))))
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


def validate_subset(subset: str | Iterable[str] | None) -> tuple[str, ...]:
    """Parse ``"neutral,angry"`` (or a list) into emotions in RAVDESS code order.

    Raises
    ------
    DataError
        For an unknown or repeated emotion; the message lists the valid ones.
    """
    from .errors import DataError

    if subset is None:
        return EMOTIONS
    items = subset.split(",") if isinstance(subset, str) else list(subset)
    names = [s.strip().lower() for s in items if s.strip()]
    if not names:
        raise DataError(f"empty emotion subset; valid emotions: {', '.join(EMOTIONS)}")
    unknown = [n for n in names if n not in EMOTIONS]
    if unknown:
        raise DataError(
            f"unknown emotion(s) {', '.join(map(repr, unknown))}; "
            f"valid emotions: {', '.join(EMOTIONS)}"
        )
    if len(set(names)) != len(names):
        raise DataError(f"emotion listed twice in subset {','.join(names)!r}")
    if len(names) < 2:
        raise DataError(f"a classifier needs at least two emotions, got {names[0]!r}")
    return tuple(e for e in EMOTIONS if e in names)


@dataclass(frozen=True)
class FoundFile:
    """An audio file found under ``root``; ``relpath`` is how it is reported."""

    root: str
    relpath: str

    @property
    def path(self) -> str:
        return self.relpath if self.root == "" else os.path.join(self.root, self.relpath)


def find_audio_files(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    pattern: str | None = None,
    suffixes: frozenset[str] = AUDIO_SUFFIXES,
) -> Iterator[FoundFile]:
    """Yield the audio files under ``paths`` (one path or several), recursively, in order.

    Directories are walked depth-first in sorted name order; hidden files and folders (a
    name starting with ``.``) are skipped; symbolic links to folders are followed once, so a
    link loop ends the walk there instead of recursing. Files are picked by extension
    (case-insensitive); ``pattern`` (a glob such as ``"*.wav"`` or ``"Actor_0*/*"``) narrows
    the pick further and is matched against the file name and the relative path. A path that
    is a file is yielded as it is, whatever its extension (the user named it).

    Raises
    ------
    FileNotFoundError
        When one of ``paths`` does not exist.
    """
    if isinstance(paths, (str, bytes, os.PathLike)):  # one path, not its characters
        paths = [paths]  # type: ignore[list-item]
    for p in paths:
        spath = os.fspath(p)
        if os.path.isfile(spath):
            yield FoundFile("", spath)
        elif os.path.isdir(spath):
            yield from _walk(spath, pattern, suffixes)
        else:
            raise FileNotFoundError(f"no such file or directory: {spath}")


def _walk(root: str, pattern: str | None, suffixes: frozenset[str]) -> Iterator[FoundFile]:
    seen: set[tuple[int, int]] = set()

    def visit(folder: str, rel: str) -> Iterator[FoundFile]:
        try:
            st = os.stat(folder)
        except OSError as exc:
            logger.warning("cannot enter %s: %s", folder, exc.strerror or exc)
            return
        key = (st.st_dev, st.st_ino)
        if key in seen:
            logger.warning("skipping %s: already visited (symbolic link loop?)", folder)
            return
        seen.add(key)
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            logger.warning("cannot list %s: %s", folder, exc.strerror or exc)
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            relpath = f"{rel}{entry.name}"
            try:
                is_dir = entry.is_dir()  # follows symlinks
            except OSError:
                is_dir = False
            if is_dir:
                yield from visit(entry.path, relpath + "/")
            elif _suffix(entry.name).lower() in suffixes and (
                pattern is None
                or fnmatch.fnmatch(entry.name, pattern)
                or fnmatch.fnmatch(relpath, pattern)
            ):
                yield FoundFile(root, relpath)

    yield from visit(root, "")
