"""``ser.train``: build an emotion model from a labelled corpus (RAVDESS).

Dataset and parallel feature extraction (:mod:`.dataset`), augmentation (:mod:`.augment`),
speaker-independent cross-validation (:mod:`.evaluate`), fitting and the model card
(:mod:`.fit`), and the ``ser-train`` command (:mod:`.cli`).
"""

from __future__ import annotations

from .augment import Condition, apply_condition, draw_conditions
from .dataset import Dataset, LabelledFile, extract_dataset, list_ravdess
from .evaluate import CVResult, cross_validate, fold_data, group_folds
from .fit import MLPSettings, TrainResult, make_estimator, train_model, write_card

__all__ = [
    "CVResult",
    "Condition",
    "Dataset",
    "LabelledFile",
    "MLPSettings",
    "TrainResult",
    "apply_condition",
    "cross_validate",
    "draw_conditions",
    "extract_dataset",
    "fold_data",
    "group_folds",
    "list_ravdess",
    "make_estimator",
    "train_model",
    "write_card",
]
