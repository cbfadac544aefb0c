"""``ser.audio``: the audio front end: decode any supported file, mix to mono, trim, resample.

Everything downstream sees mono float32 at :data:`ANALYSIS_SR`. Decoders and their choice
live in :mod:`.decode`; what turns long recordings into segments will live beside it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ser.common.lazy import lazy_exports

# PEP 562: `import ser.audio` does not pull in numpy or the decoders.
_EXPORTS: dict[str, str] = {
    "ANALYSIS_SR": "decode",
    "AUDIO_SUFFIXES": "decode",
    "MIN_DURATION_S": "decode",
    "AudioInfo": "decode",
    "load_audio": "decode",
}

if TYPE_CHECKING:
    from .decode import ANALYSIS_SR, AUDIO_SUFFIXES, MIN_DURATION_S, AudioInfo, load_audio

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

__all__ = [
    "ANALYSIS_SR",
    "AUDIO_SUFFIXES",
    "MIN_DURATION_S",
    "AudioInfo",
    "load_audio",
]
