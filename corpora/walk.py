"""Finding audio files in directory trees (shared by ``ser-annotate`` and ``ser-train``).

The walk is iterative (any depth), in sorted name order, and yields each file once: a folder
reached twice (given twice, nested in another PATH, or through a symbolic link) is walked
once, and a file named on the command line is not yielded again by the walk of its folder.
Only regular files (after following symbolic links) are candidates: a FIFO, socket or device
named like audio is left out and counted, never opened. A folder that cannot be listed is
yielded as an entry with an ``error``, so that the run reports it and fails.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import stat
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ser.audio.decode import AUDIO_SUFFIXES
from ser.common.errors import DataError

__all__ = ["FoundFile", "WalkStats", "file_stem", "file_suffix", "find_audio_files"]

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
    """An audio file found under ``root``; ``relpath`` is how it is reported.

    With one PATH, ``relpath`` is relative to it (a file given by name is reported as
    given); with several, it starts with the PATH it was found under, as given, so that two
    PATHs that each hold ``x.wav`` give two different names. ``error`` is set (and the entry
    is a folder, ``relpath`` ending in ``/``) when a folder could not be listed.
    """

    root: str
    relpath: str
    error: str | None = None

    @property
    def path(self) -> str:
        return self.relpath if self.root == "" else os.path.join(self.root, self.relpath)


@dataclass
class WalkStats:
    """What a walk left out, for the run's summary (filled in as the walk goes)."""

    other_extensions: Counter[str] = field(default_factory=Counter)
    not_matching_glob: int = 0
    not_regular: int = 0
    hidden: int = 0

    @property
    def total(self) -> int:
        return (
            sum(self.other_extensions.values())
            + self.not_matching_glob
            + self.not_regular
            + self.hidden
        )

    def describe(self, most: int = 5) -> str:
        """``"12 files with other extensions (.mid 10, .txt 2), 1 not a regular file"``."""
        parts = []
        n_ext = sum(self.other_extensions.values())
        if n_ext:
            top = ", ".join(
                f"{ext or '(none)'} {n}" for ext, n in self.other_extensions.most_common(most)
            )
            more = ", ..." if len(self.other_extensions) > most else ""
            parts.append(f"{n_ext} with other extensions ({top}{more})")
        if self.not_matching_glob:
            parts.append(f"{self.not_matching_glob} not matching --glob")
        if self.not_regular:
            parts.append(f"{self.not_regular} not regular files (FIFO, socket, device, dead link)")
        if self.hidden:
            parts.append(f"{self.hidden} hidden")
        return ", ".join(parts)


def find_audio_files(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    pattern: str | None = None,
    suffixes: frozenset[str] = AUDIO_SUFFIXES,
    stats: WalkStats | None = None,
) -> Iterator[FoundFile]:
    """Yield the audio files under ``paths`` (one path or several), recursively, in order.

    Directories are walked depth-first in sorted name order; hidden files and folders (a
    name starting with ``.``) are skipped; a folder is entered once, however it is reached,
    so symbolic-link loops and repeated or nested PATHs end there. Regular files are picked
    by extension (case-insensitive); ``pattern`` (a glob such as ``"*.wav"`` or
    ``"Actor_0*/*"``) narrows the pick further and is matched against the file name and the
    path relative to its PATH. A path that is a regular file is yielded as it is, whatever
    its extension (the user named it). What is left out is counted in ``stats``.

    Raises
    ------
    FileNotFoundError
        When one of ``paths`` does not exist (checked as the walk reaches it).
    DataError
        When one of ``paths`` is neither a folder nor a regular file (a FIFO, socket or
        device).
    """
    if isinstance(paths, (str, bytes, os.PathLike)):  # one path, not its characters
        paths = [paths]  # type: ignore[list-item]
    roots = [os.fspath(p) for p in paths]
    walk = _Walk(pattern, suffixes, stats if stats is not None else WalkStats(), len(roots) > 1)
    for root in roots:
        try:
            st = os.stat(root)
        except FileNotFoundError:
            raise FileNotFoundError(f"no such file or directory: {root}") from None
        if stat.S_ISDIR(st.st_mode):
            yield from walk.folder(root)
        elif stat.S_ISREG(st.st_mode):
            found = walk.named_file(root)
            if found is not None:
                yield found
        else:
            raise DataError(f"{root}: not a regular file")


class _Walk:
    def __init__(
        self, pattern: str | None, suffixes: frozenset[str], stats: WalkStats, prefix: bool
    ) -> None:
        self.pattern = pattern
        self.suffixes = suffixes
        self.stats = stats
        self.prefix = prefix  # several roots: report paths with their root
        # folders entered: (st_dev, st_ino) -> (root, relative path with a trailing "/")
        self.folders: dict[tuple[int, int], tuple[str, str]] = {}
        # files named on the command line: (folder key, name)
        self.named: set[tuple[tuple[int, int], str]] = set()

    def _found(self, root: str, relpath: str, error: str | None = None) -> FoundFile:
        if self.prefix:
            return FoundFile("", os.path.join(root, relpath) if relpath else root + "/", error)
        return FoundFile(root, relpath or ".", error) if error else FoundFile(root, relpath)

    def _picked(self, name: str, relpath: str) -> bool:
        if file_suffix(name).lower() not in self.suffixes:
            return False
        return (
            self.pattern is None
            or fnmatch.fnmatch(name, self.pattern)
            or fnmatch.fnmatch(relpath, self.pattern)
        )

    def named_file(self, path: str) -> FoundFile | None:
        folder, name = os.path.split(path)
        try:
            st = os.stat(folder or ".")
        except OSError:
            return FoundFile("", path)
        key = ((st.st_dev, st.st_ino), name)
        if key in self.named:
            return None
        walked = self.folders.get(key[0])
        if walked is not None and self._picked(name, walked[1] + name):
            return None  # the walk of its folder has yielded it already
        self.named.add(key)
        return FoundFile("", path)

    def folder(self, root: str) -> Iterator[FoundFile]:
        # depth-first in sorted name order, with a stack of open folders instead of
        # recursion (990 nested folders crashed the recursive walk)
        stack: list[tuple[str, tuple[int, int], Iterator[os.DirEntry[str]]]] = []
        opened = self._open(root, "")
        if isinstance(opened, FoundFile):
            yield opened
        elif opened is not None:
            stack.append(("", *opened))
        while stack:
            rel, key, entries = stack[-1]
            entry = next(entries, None)
            if entry is None:
                stack.pop()
                continue
            if entry.name.startswith("."):
                self.stats.hidden += 1
                continue
            relpath = f"{rel}{entry.name}"
            try:
                is_dir = entry.is_dir()  # these two follow symbolic links
                is_file = not is_dir and entry.is_file()
            except OSError:
                is_dir = is_file = False
            if is_dir:
                opened = self._open(root, relpath + "/")
                if isinstance(opened, FoundFile):
                    yield opened
                elif opened is not None:
                    stack.append((relpath + "/", *opened))
            elif not is_file:
                self.stats.not_regular += 1
            elif (key, entry.name) in self.named:
                continue  # named on the command line, and yielded then
            elif file_suffix(entry.name).lower() not in self.suffixes:
                self.stats.other_extensions[file_suffix(entry.name).lower()] += 1
            elif self._picked(entry.name, relpath):
                yield self._found(root, relpath)
            else:
                self.stats.not_matching_glob += 1

    def _open(
        self, root: str, rel: str
    ) -> tuple[tuple[int, int], Iterator[os.DirEntry[str]]] | FoundFile | None:
        """A folder's key and sorted entries; an error entry; or None when visited already."""
        path = os.path.join(root, rel) if rel else root
        try:
            st = os.stat(path)
        except OSError as exc:
            return self._found(root, rel, f"cannot enter folder: {exc.strerror or exc}")
        key = (st.st_dev, st.st_ino)
        if key in self.folders:
            logger.info("skipping %s: visited already (given twice, nested or linked)", path)
            return None
        self.folders[key] = (root, rel)
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            return self._found(root, rel, f"cannot list folder: {exc.strerror or exc}")
        return key, iter(entries)
