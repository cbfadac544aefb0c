"""The emotion names ser knows, and how a user's choice of them is read."""

from __future__ import annotations

from collections.abc import Iterable

from ser.common.errors import DataError

__all__ = [
    "EMOTIONS",
    "EMOTION_SYNONYMS",
    "canonical_emotion",
    "emotion_order",
    "validate_subset",
]

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


def emotion_order(emotions: Iterable[str]) -> list[str]:
    """``emotions`` without repeats, in ser's order of emotions (:data:`EMOTIONS`, RAVDESS's:
    neutral, calm, happy, sad, angry, fearful, disgust, surprised), then any others by name.
    Every table, printout and figure that lists emotions lists them in this order."""
    seen = {str(e) for e in emotions}
    return [e for e in EMOTIONS if e in seen] + sorted(seen - set(EMOTIONS))


#: Every spelling of an emotion that labelled corpora use, lower-case, onto ser's names; the
#: one table of them (:func:`canonical_emotion` reads it, case-insensitively). A single
#: letter is a synonym only where exactly one of ser's emotions starts with it: ``s`` (sad
#: or surprised?) is not one; CREMA-D's own letters (``S`` sad) are read by
#: :mod:`ser.corpora.cremad`, where they are unambiguous.
EMOTION_SYNONYMS: dict[str, str] = {
    **dict.fromkeys(("neutral", "neu", "n"), "neutral"),
    **dict.fromkeys(("calm", "c"), "calm"),
    **dict.fromkeys(("happy", "happiness", "hap", "joy", "joyful", "h"), "happy"),
    **dict.fromkeys(("sad", "sadness"), "sad"),
    **dict.fromkeys(("angry", "anger", "ang", "a"), "angry"),
    **dict.fromkeys(("fearful", "fear", "fea", "afraid", "f"), "fearful"),
    **dict.fromkeys(("disgust", "disgusted", "dis", "d"), "disgust"),
    **dict.fromkeys(("surprised", "surprise", "sur"), "surprised"),
}


def canonical_emotion(label: str) -> str | None:
    """ser's name for ``label`` (``"Anger"`` -> ``"angry"``), or ``None`` for an unknown one.

    Case and surrounding blanks do not matter; the synonyms are :data:`EMOTION_SYNONYMS`.
    """
    return EMOTION_SYNONYMS.get(label.strip().lower())


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
