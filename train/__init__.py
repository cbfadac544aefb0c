"""``ser.train``: build an emotion model from labelled corpora.

:func:`train_to_file` (:mod:`.api`) is the entry point: it checks every argument, trains,
saves the model and writes its card. Underneath: parallel feature extraction of the clips that
:func:`ser.corpora.load_labelled` finds (:mod:`.dataset`), augmentation (:mod:`.augment`),
the classifier (:mod:`.estimator`), speaker-independent cross-validation (:mod:`.evaluate`),
per-source and leave-one-corpus-out evaluation (:mod:`.crosscorpus`), calibration
(:mod:`.calibrate`), fitting (:mod:`.fit`), the baseline classifiers (:mod:`.classifiers`) and
their comparison on the same folds (:mod:`.compare`); the ``ser-train`` command is :mod:`.cli`.
Names load on first use (PEP 562), so ``ser-train -h`` imports no numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ser.common.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "SavedModel": "api",
    "train_to_file": "api",
    "write_card": "card",
    "Condition": "augment",
    "apply_condition": "augment",
    "draw_conditions": "augment",
    "Dataset": "dataset",
    "LabelledFile": "dataset",
    "extract_dataset": "dataset",
    "labelled_files": "dataset",
    "CalibrationReport": "calibrate",
    "ClassifierRun": "compare",
    "compare_classifiers": "compare",
    "make_classifier": "classifiers",
    "CorpusResult": "crosscorpus",
    "leave_one_corpus_out": "crosscorpus",
    "scores_by_source": "crosscorpus",
    "CVResult": "evaluate",
    "cross_validate": "evaluate",
    "fold_data": "evaluate",
    "group_folds": "evaluate",
    "MLPSettings": "fit",
    "TrainResult": "fit",
    "make_estimator": "fit",
    "train_model": "fit",
}

if TYPE_CHECKING:
    from .api import SavedModel, train_to_file
    from .augment import Condition, apply_condition, draw_conditions
    from .calibrate import CalibrationReport
    from .card import write_card
    from .classifiers import make_classifier
    from .compare import ClassifierRun, compare_classifiers
    from .crosscorpus import CorpusResult, leave_one_corpus_out, scores_by_source
    from .dataset import Dataset, LabelledFile, extract_dataset, labelled_files
    from .evaluate import CVResult, cross_validate, fold_data, group_folds
    from .fit import MLPSettings, TrainResult, make_estimator, train_model

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

__all__ = [
    "CVResult",
    "CalibrationReport",
    "ClassifierRun",
    "Condition",
    "CorpusResult",
    "Dataset",
    "LabelledFile",
    "MLPSettings",
    "SavedModel",
    "TrainResult",
    "apply_condition",
    "compare_classifiers",
    "cross_validate",
    "draw_conditions",
    "extract_dataset",
    "fold_data",
    "group_folds",
    "labelled_files",
    "leave_one_corpus_out",
    "make_classifier",
    "make_estimator",
    "scores_by_source",
    "train_model",
    "train_to_file",
    "write_card",
]
