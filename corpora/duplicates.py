"""Byte-identical audio among labelled clips: one copy kept, or none when the labels differ.

Cheap: files are grouped by size first, and only files that share a size with another are
read and hashed (BLAKE2b). The same file reached twice (listed twice in a table, or given
in two sources) counts as byte-identical to itself.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence

__all__ = ["find_duplicates"]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


def _digest(path: str) -> bytes:
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.digest()


def find_duplicates(clips: Sequence[tuple[str, str]]) -> dict[int, str]:
    """Which of ``clips`` (``(path, label)`` pairs) to leave out, and why: ``{index: reason}``.

    Byte-identical files with the same label: the first is kept, each other one is left out.
    With different labels (the audio cannot be both): all of them are left out. Each group
    found is logged as a warning naming its files. A file that cannot be read, or is empty,
    is not a duplicate of anything here (reading it for features reports it).
    """
    by_size: dict[int, list[int]] = {}
    for i, (path, _) in enumerate(clips):
        try:
            by_size.setdefault(os.stat(path).st_size, []).append(i)
        except OSError:
            continue
    left_out: dict[int, str] = {}
    digests: dict[str, bytes] = {}  # by real path: a file reached twice is read once
    for size, indices in by_size.items():
        if len(indices) < 2 or size == 0:
            continue
        by_hash: dict[bytes, list[int]] = {}
        for i in indices:
            real = os.path.realpath(clips[i][0])
            if real not in digests:
                try:
                    digests[real] = _digest(real)
                except OSError:
                    continue
            by_hash.setdefault(digests[real], []).append(i)
        for group in by_hash.values():
            if len(group) > 1:
                left_out.update(_judge(clips, group))
    return left_out


def _judge(clips: Sequence[tuple[str, str]], group: list[int]) -> dict[int, str]:
    labels = {clips[i][1] for i in group}
    named = ", ".join(f"{clips[i][0]} ({clips[i][1]})" for i in group)
    if len(labels) == 1:
        first = clips[group[0]][0]
        logger.warning("byte-identical audio with the same label, one kept (%s): %s", first, named)
        return {i: f"byte-identical to {first} (same label, kept once)" for i in group[1:]}
    logger.warning("byte-identical audio with different labels, all left out: %s", named)
    return {
        i: "byte-identical to "
        + ", ".join(f"{clips[j][0]} ({clips[j][1]})" for j in group if j != i)
        + f" but labelled {clips[i][1]}"
        for i in group
    }
