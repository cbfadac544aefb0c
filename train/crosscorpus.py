"""Evaluation across corpora: per-source scores, and leave-one-corpus-out.

Cross-validation folds grouped by speaker (:mod:`.evaluate`) answer "how does the model do
on a new speaker of a corpus it was trained on?". A user's corpus is usually not one of
those: other studio, other microphones, other language. Leave-one-corpus-out answers that:
for each source, train on all the others and test on it. It is the honest estimate of how a
model does on a user's corpus, and the figure the bundled models are chosen by.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ser.common.errors import DataError
from ser.models.metrics import Scores, score

from .dataset import Dataset
from .evaluate import CVResult, class_probabilities, fold_data, predicted, subset_dataset

__all__ = ["CorpusResult", "leave_one_corpus_out", "scores_by_source"]

logger = logging.getLogger(__name__)


@dataclass
class CorpusResult:
    """Scores of a model trained without ``source`` and tested on all of it.

    Rows of ``source`` whose emotion no other source has cannot be predicted; they are left
    out of the scores and counted in ``n_unseen_class``.
    """

    source: str
    scores: Scores
    classes: list[str]  # the classes the model was trained on
    n_unseen_class: int
    probabilities: np.ndarray = field(repr=False)  # rows scored x classes
    y: np.ndarray = field(repr=False)
    groups: np.ndarray = field(repr=False)
    calibrated: np.ndarray | None = field(repr=False, default=None)


def scores_by_source(ds: Dataset, cv: CVResult) -> dict[str, Scores]:
    """The pooled cross-validation scores of each source's rows."""
    classes = cv.pooled.classes
    out = {}
    for src in ds.source_names:
        m = ds.sources == src  # classes a source lacks get no recall and leave UAR
        out[src] = score(ds.y[m], cv.predictions[m], classes)
    return out


def leave_one_corpus_out(
    ds: Dataset,
    make_estimator: Callable[[int], Any],
    *,
    classes: Sequence[str],
    normalization: str,
    seed: int = 0,
    on_corpus: Callable[[CorpusResult], None] | None = None,
) -> list[CorpusResult]:
    """Train on every source but one, test on that one; for each source in turn.

    Normalisation and augmentation are as in cross-validation (:func:`.evaluate.fold_data`):
    the held-out corpus' statistics come from its own unlabelled features.

    Raises
    ------
    DataError
        With fewer than two sources.
    """
    names = ds.source_names
    if len(names) < 2:
        raise DataError(
            "leave-one-corpus-out evaluation needs at least two sources (--data given twice "
            f"or more); found {len(names)}: {', '.join(names)}"
        )
    results = []
    for src in names:
        test_mask = ds.sources == src
        train_classes = [c for c in classes if c in set(ds.y[~test_mask])]
        known = np.isin(ds.y, train_classes)
        # rows of classes no training source has cannot be predicted: leave them out
        sub = subset_dataset(ds, ~test_mask | known)
        sub_test = sub.sources == src
        fd = fold_data(sub, sub_test, normalization=normalization)
        est = make_estimator(seed).fit(fd.X_train, fd.y_train)
        P = class_probabilities(est, fd.X_test, train_classes)
        res = CorpusResult(
            source=src,
            scores=score(fd.y_test, predicted(P, train_classes), train_classes),
            classes=train_classes,
            n_unseen_class=int((test_mask & ~known).sum()),
            probabilities=P,
            y=fd.y_test,
            groups=fd.groups_test,
        )
        logger.info("leave-one-corpus-out, tested on %s: UAR %.3f", src, res.scores.uar)
        results.append(res)
        if on_corpus is not None:
            on_corpus(res)
    return results
