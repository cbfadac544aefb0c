"""``ser.corpora``: finding audio files in folder trees, and the label conventions of corpora.

The walk (:mod:`.walk`), ser's emotion names and their synonyms (:mod:`.emotions`), RAVDESS
and CREMA-D file names (:mod:`.ravdess`, :mod:`.cremad`), and labelled training corpora of
several kinds read into one list of clips (:func:`load_labelled`, :mod:`.sources`: RAVDESS
and CREMA-D trees, labels tables, one folder per emotion). Another corpus convention goes
here, one module each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ser.common.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "EMOTIONS": "emotions",
    "EMOTION_SYNONYMS": "emotions",
    "canonical_emotion": "emotions",
    "validate_subset": "emotions",
    "RavdessLabel": "ravdess",
    "parse_ravdess": "ravdess",
    "CremaDLabel": "cremad",
    "parse_cremad": "cremad",
    "read_perceived": "cremad",
    "FoundFile": "walk",
    "find_audio_files": "walk",
    "DROP": "labels",
    "parse_label_map": "labels",
    "LabelledClip": "labelled",
    "LabelledCorpus": "labelled",
    "LoadedSource": "labelled",
    "CREMAD_LABELS": "kinds",
    "SOURCE_KINDS": "kinds",
    "SPEAKER_FROM_MODES": "sources",
    "Source": "sources",
    "load_labelled": "sources",
    "parse_source": "sources",
}

if TYPE_CHECKING:
    from .cremad import CremaDLabel, parse_cremad, read_perceived
    from .emotions import EMOTION_SYNONYMS, EMOTIONS, canonical_emotion, validate_subset
    from .kinds import CREMAD_LABELS, SOURCE_KINDS
    from .labelled import LabelledClip, LabelledCorpus, LoadedSource
    from .labels import DROP, parse_label_map
    from .ravdess import RavdessLabel, parse_ravdess
    from .sources import SPEAKER_FROM_MODES, Source, load_labelled, parse_source
    from .walk import FoundFile, find_audio_files

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

__all__ = [
    "CREMAD_LABELS",
    "DROP",
    "EMOTIONS",
    "EMOTION_SYNONYMS",
    "SOURCE_KINDS",
    "SPEAKER_FROM_MODES",
    "CremaDLabel",
    "FoundFile",
    "LabelledClip",
    "LabelledCorpus",
    "LoadedSource",
    "RavdessLabel",
    "Source",
    "canonical_emotion",
    "find_audio_files",
    "load_labelled",
    "parse_cremad",
    "parse_label_map",
    "parse_ravdess",
    "parse_source",
    "read_perceived",
    "validate_subset",
]
