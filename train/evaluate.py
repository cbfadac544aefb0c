"""Speaker-independent evaluation: cross-validation folds grouped by actor.

No actor is ever in both the training and the test part of a fold, and nothing computed
from a test actor's data reaches training: augmented copies are added for training actors
only, and normalisation statistics of a test actor come from that actor's own (unlabelled)
features. :func:`fold_data` is the one place where a fold's matrices are assembled; the
leakage test checks it directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ser.common.errors import DataError
from ser.features.normalize import normalize_groups
from ser.models.metrics import Scores, score

from .dataset import Dataset

__all__ = [
    "CVResult",
    "FoldData",
    "check_folds",
    "class_probabilities",
    "cross_validate",
    "fold_data",
    "group_folds",
    "predicted",
    "select_candidate",
    "subset_dataset",
]

logger = logging.getLogger(__name__)


@dataclass
class FoldData:
    """Training and test matrices of one fold, already normalised."""

    X_train: np.ndarray
    y_train: np.ndarray
    groups_train: np.ndarray  # actor of each training row (augmented rows included)
    X_test: np.ndarray
    y_test: np.ndarray
    groups_test: np.ndarray
    test_index: np.ndarray  # rows of the dataset in the test part


@dataclass
class CVResult:
    """Per-fold and pooled scores of one cross-validation run (one seed)."""

    folds: list[Scores]
    pooled: Scores
    seed: int
    predictions: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))
    chosen: list[int] = field(default_factory=list)  # candidate picked per fold (nested CV)
    #: out-of-fold probabilities, one column per class of ``pooled.classes``
    probabilities: np.ndarray = field(repr=False, default_factory=lambda: np.empty((0, 0)))
    fold_index: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0, int))

    def summary(self) -> dict[str, Any]:
        def ms(key: str) -> dict[str, float]:
            v = np.array([getattr(f, key) for f in self.folds])
            return {"mean": float(v.mean()), "std": float(v.std())}

        return {
            "seed": self.seed,
            "uar": ms("uar"),
            "accuracy": ms("accuracy"),
            "macro_f1": ms("macro_f1"),
            "pooled": self.pooled.to_dict(),
            **({"chosen_candidate_per_fold": self.chosen} if self.chosen else {}),
        }


def group_folds(
    groups: np.ndarray, n_folds: int, sources: np.ndarray | None = None
) -> list[np.ndarray]:
    """Split the distinct groups (speakers) into ``n_folds`` folds, deterministically.

    Each source's speakers are dealt out on their own, so that every fold holds speakers of
    every source that has at least ``n_folds`` of them. Within a source, speakers are sorted
    and dealt in consecutive pairs, round-robin (RAVDESS actors 1..24 in 6 folds:
    {1,2,13,14}, {3,4,15,16}, ...), so each fold has as many odd (male) as even (female)
    actors; a source with fewer than two speakers per fold is dealt one at a time, starting
    where the previous source stopped. Returns, for each fold, the boolean mask of test rows.

    Raises
    ------
    DataError
        Unless ``2 <= n_folds <=`` the number of distinct groups.
    """
    groups = np.asarray(groups)
    n_groups = len(np.unique(groups))
    if n_folds < 2 or n_folds > n_groups:
        raise DataError(
            f"--folds must be between 2 and the number of speakers ({n_groups}), got {n_folds}"
        )
    sources = np.zeros(len(groups), dtype=int) if sources is None else np.asarray(sources)
    test_groups: list[list[object]] = [[] for _ in range(n_folds)]
    start = 0
    for src in dict.fromkeys(sources.tolist()):
        uniq = np.unique(groups[sources == src])
        fold_of = (np.arange(len(uniq)) // 2) % n_folds
        if len(uniq) < 2 * n_folds:  # too few groups for pairs: one group at a time
            fold_of = (start + np.arange(len(uniq))) % n_folds
            start = (start + len(uniq)) % n_folds
        for g, f in zip(uniq, fold_of):
            test_groups[f].append(g)
    return [np.isin(groups, np.array(t, dtype=groups.dtype)) for t in test_groups]


def check_folds(groups: Sequence[object], n_folds: int, *, nested: bool, where: str) -> None:
    """Raise :class:`DataError` unless ``groups`` (speakers) fill ``n_folds`` folds.

    With ``nested``, every training part must also keep two speakers for the inner folds.
    ``where`` ("in FOLDER") completes the messages.
    """
    speakers = np.unique(np.asarray(groups))
    n = len(speakers)
    if n < 2:
        raise DataError(
            f"--folds {n_folds}: cross-validation grouped by actor needs at least 2 actors, "
            f"found {n} {where}; add actors or pass --no-evaluate"
        )
    if n_folds > n:
        raise DataError(
            f"--folds {n_folds} is more than the {n} actors found {where} (each fold tests "
            f"actors of its own); use --folds {n} or fewer"
        )
    if nested:
        fewest = min(n - int(m.sum()) for m in group_folds(speakers, n_folds))
        if fewest < 2:
            raise DataError(
                f"--tune with --folds {n_folds} on {n} actors leaves {fewest} training actor(s) "
                "in a fold; nested cross-validation needs 2: use fewer --folds"
            )


def fold_data(ds: Dataset, test_mask: np.ndarray, *, normalization: str) -> FoldData:
    """Assemble one fold: clean + augmented rows of training actors, clean rows of test ones.

    Normalisation groups: each training actor's clean rows form a group, and so does each
    augmented copy of that actor (one simulated recording channel); each test actor's clean
    rows form a group. In ``corpus`` mode the groups are each source's training rows (per
    copy) and each source's test rows.
    """
    train_idx = np.flatnonzero(~test_mask)
    test_idx = np.flatnonzero(test_mask)
    # a normalisation group is (copy, speaker), or (copy, source) in corpus mode
    per = ds.groups if normalization != "corpus" else ds.sources
    Xs = [ds.X[train_idx]]
    ys = [ds.y[train_idx]]
    gs = [ds.groups[train_idx]]
    norm_keys: list[Any] = [("clean", g) for g in per[train_idx]]
    if ds.X_aug is not None:
        for c in range(ds.X_aug.shape[1]):
            Xs.append(ds.X_aug[train_idx, c])
            ys.append(ds.y[train_idx])
            gs.append(ds.groups[train_idx])
            norm_keys += [(f"aug{c}", g) for g in per[train_idx]]
    X_train = np.concatenate(Xs)
    test_keys: list[Any] = [("test", g) for g in per[test_idx]]
    if normalization != "none":
        # per speaker: shrunk toward the part's statistics, as annotation does; per corpus:
        # each source's own statistics
        shrunk = normalization == "speaker"
        X_train, _ = normalize_groups(X_train, norm_keys, mode="speaker", min_size=1, shrunk=shrunk)
        X_test, _ = normalize_groups(
            ds.X[test_idx], test_keys, mode="speaker", min_size=1, shrunk=shrunk
        )
    else:
        X_test = ds.X[test_idx]
    return FoldData(
        X_train=X_train,
        y_train=np.concatenate(ys),
        groups_train=np.concatenate(gs),
        X_test=X_test,
        y_test=ds.y[test_idx],
        groups_test=ds.groups[test_idx],
        test_index=test_idx,
    )


def subset_dataset(ds: Dataset, mask: np.ndarray) -> Dataset:
    """The rows of ``ds`` selected by ``mask`` (with their augmented copies)."""
    return Dataset(
        X=ds.X[mask],
        y=ds.y[mask],
        groups=ds.groups[mask],
        paths=[p for p, m in zip(ds.paths, mask) if m],
        X_aug=None if ds.X_aug is None else ds.X_aug[mask],
        sources=ds.sources[mask],
    )


def select_candidate(
    ds: Dataset,
    candidates: Sequence[Callable[[int], Any]],
    *,
    classes: Sequence[str],
    n_folds: int,
    normalization: str,
    seed: int,
) -> tuple[int, list[float]]:
    """Index of the candidate with the best mean UAR in an actor-grouped CV of ``ds``."""
    means = []
    for make in candidates:
        uars = []
        for test_mask in group_folds(ds.groups, n_folds, ds.sources):
            fd = fold_data(ds, test_mask, normalization=normalization)
            est = make(seed).fit(fd.X_train, fd.y_train)
            uars.append(score(fd.y_test, est.predict(fd.X_test), classes).uar)
        means.append(float(np.mean(uars)))
    return int(np.argmax(means)), means


def cross_validate(
    ds: Dataset,
    make_estimator: Callable[[int], Any] | Sequence[Callable[[int], Any]],
    *,
    classes: Sequence[str],
    n_folds: int = 6,
    normalization: str = "speaker",
    seed: int = 0,
    inner_folds: int = 3,
    select_with: Sequence[Callable[[int], Any]] | None = None,
    on_fold: Callable[[int, Scores], None] | None = None,
) -> CVResult:
    """Cross-validate ``make_estimator(seed)`` with folds grouped by actor.

    With a sequence of estimator factories, the evaluation is nested: in each outer fold an
    inner ``inner_folds``-fold CV over the *training actors only* picks the candidate, which
    is then fitted on the whole training part and scored on the test actors. ``select_with``
    (same length) gives cheaper stand-ins for the inner CV, e.g. single MLPs for ensembles.
    """
    candidates = [make_estimator] if callable(make_estimator) else list(make_estimator)
    proba = np.zeros((len(ds.y), len(classes)))
    fold_index = np.zeros(len(ds.y), dtype=int)
    folds: list[Scores] = []
    chosen: list[int] = []
    for i, test_mask in enumerate(group_folds(ds.groups, n_folds, ds.sources)):
        best = 0
        if len(candidates) > 1:
            # as many inner folds as asked, but no more than there are training speakers
            n_inner = min(inner_folds, len(np.unique(ds.groups[~test_mask])))
            if n_inner < 2:
                raise DataError(
                    "nested cross-validation needs at least 2 speakers in each training part; "
                    "use fewer --folds or more speakers"
                )
            best, means = select_candidate(
                subset_dataset(ds, ~test_mask),
                select_with or candidates,
                classes=classes,
                n_folds=n_inner,
                normalization=normalization,
                seed=seed,
            )
            chosen.append(best)
            logger.info("fold %d: inner UARs %s, chose candidate %d", i + 1, means, best)
        fd = fold_data(ds, test_mask, normalization=normalization)
        est = candidates[best](seed).fit(fd.X_train, fd.y_train)
        proba[fd.test_index] = class_probabilities(est, fd.X_test, classes)
        fold_index[fd.test_index] = i
        s = score(fd.y_test, predicted(proba[fd.test_index], classes), classes)
        folds.append(s)
        logger.info("fold %d: UAR %.3f", i + 1, s.uar)
        if on_fold is not None:
            on_fold(i, s)
    pred = predicted(proba, classes)
    return CVResult(
        folds=folds,
        pooled=score(ds.y, pred, classes),
        seed=seed,
        predictions=pred,
        chosen=chosen,
        probabilities=proba,
        fold_index=fold_index,
    )


def class_probabilities(estimator: Any, X: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """``estimator.predict_proba(X)`` with one column per class of ``classes``, in that order.

    A class the estimator never saw (absent from its training part) gets probability 0.
    """
    P = estimator.predict_proba(X)
    out = np.zeros((len(X), len(classes)))
    col = {c: j for j, c in enumerate(estimator.classes_)}
    for k, c in enumerate(classes):
        if c in col:
            out[:, k] = P[:, col[c]]
    return out


def predicted(P: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """The most probable class of each row (the first one on a tie, as scikit-learn does)."""
    return np.asarray(classes, dtype=object)[np.argmax(P, axis=1)]
