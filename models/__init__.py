"""``ser.models``: what a model is, and the audio front end and features it needs.

Audio front end (:mod:`.audio`), features (:mod:`.features`), speaker/corpus normalisation
(:mod:`.normalize`), model files (:mod:`.model`), corpus discovery and RAVDESS labels
(:mod:`.corpus`), and the bundled default models (package data in ``bundled/``).
"""

from __future__ import annotations

from .audio import ANALYSIS_SR, MIN_DURATION_S, AudioInfo, load_audio
from .corpus import EMOTIONS, FoundFile, RavdessLabel, find_audio_files, parse_ravdess
from .errors import AudioError, DataError, FeatureError, ModelError, SerError
from .features import FeatureConfig, extract_features, feature_config, feature_names, process_file
from .model import (
    BUNDLED_MODELS,
    DEFAULT_MODEL,
    Model,
    bundled_model_path,
    load_model,
    resolve_model,
    save_model,
)
from .normalize import MIN_GROUP_SIZE, NORMALIZATIONS, GroupStats, normalize_groups
from .version import __version__

__all__ = [
    "ANALYSIS_SR",
    "BUNDLED_MODELS",
    "DEFAULT_MODEL",
    "EMOTIONS",
    "MIN_DURATION_S",
    "MIN_GROUP_SIZE",
    "NORMALIZATIONS",
    "AudioError",
    "AudioInfo",
    "DataError",
    "FeatureConfig",
    "FeatureError",
    "FoundFile",
    "GroupStats",
    "Model",
    "ModelError",
    "RavdessLabel",
    "SerError",
    "__version__",
    "bundled_model_path",
    "extract_features",
    "feature_config",
    "feature_names",
    "find_audio_files",
    "load_audio",
    "load_model",
    "normalize_groups",
    "parse_ravdess",
    "process_file",
    "resolve_model",
    "save_model",
]
