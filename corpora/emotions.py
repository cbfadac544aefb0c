"""The emotion names ser knows, and how a user's choice of them is read."""

from __future__ import annotations

from collections.abc import Iterable

from ser.common.errors import DataError

__all__ = ["EMOTIONS", "validate_subset"]

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


def validate_subset(subset: str | Iterable[str] | None) -> tuple[str, ...]:
    """Parse ``"neutral,angry"`` (or a list) into emotions in RAVDESS code order.

    Raises
    ------
    DataError
        For an unknown or repeated emotion; the message lists the valid ones.
    """
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
