"""Finding audio files in directory trees (shared by ``ser-annotate`` and ``ser-train``)."""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ser.audio.decode import AUDIO_SUFFIXES

__all__ = ["FoundFile", "file_stem", "file_suffix", "find_audio_files"]

logger = logging.getLogger(__name__)


# PurePath(name).suffix and .stem for a bare file name, without building a path object
# (a few microseconds a file: seconds over a million-file walk)
def file_suffix(name: str) -> str:
    i = name.rfind(".")
    return name[i:] if 0 < i < len(name) - 1 else ""


def file_stem(name: str) -> str:
    return name[: len(name) - len(file_suffix(name))]


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
            elif file_suffix(entry.name).lower() in suffixes and (
                pattern is None
                or fnmatch.fnmatch(entry.name, pattern)
                or fnmatch.fnmatch(relpath, pattern)
            ):
                yield FoundFile(root, relpath)

    yield from visit(root, "")
