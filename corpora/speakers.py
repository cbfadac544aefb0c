"""``--speaker-from REGEX``: a speaker name from a path, the same rule for training and
annotation (:mod:`ser.corpora.sources`, :mod:`ser.annotate.speakers`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from ser.common.errors import DataError

__all__ = ["speaker_regex"]


def speaker_regex(spec: str, modes: Sequence[str]) -> Callable[[str], str | None]:
    """A function ``path -> speaker or None`` for the regular expression ``spec``.

    It searches the path: group 1 when the expression has groups, else the whole match; no
    match (or an empty one) means no speaker. ``modes`` are the other values
    ``--speaker-from`` accepts where it is used, named in the error.

    Raises
    ------
    DataError
        When ``spec`` is not a valid regular expression.
    """
    try:
        rx = re.compile(spec)
    except re.error as exc:
        choices = ", ".join(repr(m) for m in modes)
        raise DataError(
            f"--speaker-from {spec!r} is neither {choices} nor a valid regular expression ({exc})"
        ) from None

    def by_regex(path: str) -> str | None:
        m = rx.search(path)
        if m is None:
            return None
        return (m.group(1) if rx.groups else m.group(0)) or None

    return by_regex
