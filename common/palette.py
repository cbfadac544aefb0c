"""One colour per emotion, for every plot ``ser`` draws (the reports, the app, the notebook).

The colours are the Okabe-Ito palette, which stays distinguishable for the common forms of
colour blindness, with grey for ``neutral`` and ``calm`` in two shades. An emotion outside
:data:`EMOTION_COLOURS` (a label from a user's own corpus) gets a stable colour of
:data:`EXTRA_COLOURS`, chosen by its name, so it too is the same in every plot. Light: no
imports beyond the standard library.
"""

from __future__ import annotations

import zlib

__all__ = ["EMOTION_COLOURS", "ERROR_COLOUR", "EXTRA_COLOURS", "colour_of", "colours_of"]

#: The eight RAVDESS emotions (those of :data:`ser.corpora.emotions.EMOTIONS`).
EMOTION_COLOURS: dict[str, str] = {
    "neutral": "#999999",
    "calm": "#56B4E9",
    "happy": "#E69F00",
    "sad": "#0072B2",
    "angry": "#D55E00",
    "fearful": "#CC79A7",
    "disgust": "#009E73",
    "surprised": "#F0E442",
}
#: For labels outside the eight (chosen by a hash of the name, so stable across runs).
EXTRA_COLOURS: tuple[str, ...] = ("#8C564B", "#17BECF", "#BCBD22", "#7F7F7F", "#9467BD")
#: Rows with ``status == "error"`` (and "no emotion") in every plot.
ERROR_COLOUR = "#000000"


def colour_of(emotion: str | None) -> str:
    """The hex colour of ``emotion`` (:data:`ERROR_COLOUR` for None)."""
    if emotion is None:
        return ERROR_COLOUR
    if emotion in EMOTION_COLOURS:
        return EMOTION_COLOURS[emotion]
    return EXTRA_COLOURS[zlib.crc32(emotion.encode()) % len(EXTRA_COLOURS)]


def colours_of(emotions: list[str] | tuple[str, ...]) -> list[str]:
    """The colours of ``emotions``, in order."""
    return [colour_of(e) for e in emotions]
