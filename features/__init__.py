"""``ser.features``: from audio to feature vectors, and their speaker or corpus normalisation.

Feature sets, their parameters and ranges (:mod:`.config`); extraction (:mod:`.extract`);
standardisation per speaker group or per run, with fallbacks (:mod:`.normalize`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ser.common.lazy import lazy_exports

# PEP 562: `import ser.features` does not pull in numpy or scipy.
_EXPORTS: dict[str, str] = {
    "FEATURE_SETS": "config",
    "PARAM_RANGES": "config",
    "FeatureConfig": "config",
    "feature_config": "config",
    "extract_features": "extract",
    "feature_names": "extract",
    "one_blas_thread": "extract",
    "process_file": "extract",
    "MIN_GROUP_SIZE": "normalize",
    "NORMALIZATIONS": "normalize",
    "GroupStats": "normalize",
    "normalize_groups": "normalize",
}

if TYPE_CHECKING:
    from .config import FEATURE_SETS, PARAM_RANGES, FeatureConfig, feature_config
    from .extract import extract_features, feature_names, one_blas_thread, process_file
    from .normalize import MIN_GROUP_SIZE, NORMALIZATIONS, GroupStats, normalize_groups

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

__all__ = [
    "FEATURE_SETS",
    "MIN_GROUP_SIZE",
    "NORMALIZATIONS",
    "PARAM_RANGES",
    "FeatureConfig",
    "GroupStats",
    "extract_features",
    "feature_config",
    "feature_names",
    "normalize_groups",
    "one_blas_thread",
    "process_file",
]
