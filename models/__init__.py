"""``ser.models``: what a model is, and the audio front end and features it needs.

Audio front end (:mod:`.audio`), features (:mod:`.features`), speaker/corpus normalisation
(:mod:`.normalize`), model files (:mod:`.model`), corpus discovery and RAVDESS labels
(:mod:`.corpus`), and the bundled default models (package data in ``bundled/``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports
from .version import __version__

# Names are imported from their submodule on first use (PEP 562), so that `import
# ser.models` (and `ser-annotate --help`) does not pull in numpy, scipy or soundfile.
_EXPORTS: dict[str, str] = {
    "ANALYSIS_SR": "audio",
    "MIN_DURATION_S": "audio",
    "AudioInfo": "audio",
    "load_audio": "audio",
    "EMOTIONS": "corpus",
    "FoundFile": "corpus",
    "RavdessLabel": "corpus",
    "find_audio_files": "corpus",
    "parse_ravdess": "corpus",
    "AudioError": "errors",
    "DataError": "errors",
    "FeatureError": "errors",
    "ModelError": "errors",
    "SerError": "errors",
    "FeatureConfig": "features",
    "extract_features": "features",
    "feature_config": "features",
    "feature_names": "features",
    "process_file": "features",
    "BUNDLED_MODELS": "model",
    "DEFAULT_MODEL": "model",
    "Model": "model",
    "bundled_model_path": "model",
    "load_model": "model",
    "resolve_model": "model",
    "save_model": "model",
    "MIN_GROUP_SIZE": "normalize",
    "NORMALIZATIONS": "normalize",
    "GroupStats": "normalize",
    "normalize_groups": "normalize",
}

if TYPE_CHECKING:
    from .audio import ANALYSIS_SR, MIN_DURATION_S, AudioInfo, load_audio
    from .corpus import EMOTIONS, FoundFile, RavdessLabel, find_audio_files, parse_ravdess
    from .errors import AudioError, DataError, FeatureError, ModelError, SerError
    from .features import (
        FeatureConfig,
        extract_features,
        feature_config,
        feature_names,
        process_file,
    )
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


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

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
