"""``ser.corpora``: finding audio files in folder trees, and the label conventions of corpora.

The walk (:mod:`.walk`), ser's emotion names (:mod:`.emotions`), and RAVDESS file names
(:mod:`.ravdess`). Another corpus convention or a labels table goes here, one module each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ser.common.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "EMOTIONS": "emotions",
    "validate_subset": "emotions",
    "RavdessLabel": "ravdess",
    "parse_ravdess": "ravdess",
    "FoundFile": "walk",
    "find_audio_files": "walk",
}

if TYPE_CHECKING:
    from .emotions import EMOTIONS, validate_subset
    from .ravdess import RavdessLabel, parse_ravdess
    from .walk import FoundFile, find_audio_files

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

__all__ = [
    "EMOTIONS",
    "FoundFile",
    "RavdessLabel",
    "find_audio_files",
    "parse_ravdess",
    "validate_subset",
]
