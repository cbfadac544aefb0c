"""``ser.models``: what a model is.

Model files, read safely and checked completely (:mod:`.model`), prediction in numpy without
scikit-learn (:mod:`.inference`), calibrated confidences (:mod:`.calibration`), the scores a
model is judged by (:mod:`.metrics`), and the bundled models (package data in ``bundled/``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ser.common.lazy import lazy_exports

# PEP 562: `import ser.models` (and `ser-annotate --help`) does not pull in numpy.
_EXPORTS: dict[str, str] = {
    "BUNDLED_MODELS": "model",
    "Calibration": "calibration",
    "DEFAULT_MODEL": "model",
    "Model": "model",
    "bundled_model_path": "model",
    "fit_calibration": "calibration",
    "load_model": "model",
    "resolve_model": "model",
    "save_model": "model",
    "sha256_file": "model",
}

if TYPE_CHECKING:
    from .calibration import Calibration, fit_calibration
    from .model import (
        BUNDLED_MODELS,
        DEFAULT_MODEL,
        Model,
        bundled_model_path,
        load_model,
        resolve_model,
        save_model,
        sha256_file,
    )

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

__all__ = [
    "BUNDLED_MODELS",
    "DEFAULT_MODEL",
    "Calibration",
    "Model",
    "bundled_model_path",
    "fit_calibration",
    "load_model",
    "resolve_model",
    "save_model",
    "sha256_file",
]
