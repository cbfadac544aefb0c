"""Labelled corpora, turned into feature matrices in parallel.

Which files belong to a corpus, and with which labels and speakers, is :mod:`ser.corpora`'s
job (:func:`ser.corpora.load_labelled`); this module only extracts their features.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ser.batch import WORKER_DIED, run_batch, worker_count
from ser.common.errors import DataError, SerError
from ser.corpora import LabelledCorpus
from ser.features.config import FeatureConfig

from .augment import Condition, apply_condition

__all__ = ["Dataset", "LabelledFile", "extract_dataset", "labelled_files"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelledFile:
    """One training file: its emotion, its speaker (unique across sources) and its source."""

    path: str
    emotion: str
    speaker: str
    source: str = "ravdess"


@dataclass
class Dataset:
    """Features of a labelled corpus.

    ``X`` holds one row per file (clean audio); ``X_aug`` one row per file and augmentation
    condition, shape ``(n_files, n_conditions, n_features)``; ``groups`` the speaker of each
    row and ``sources`` its corpus; ``skipped`` lists files that could not be used, with the
    reason.
    """

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    paths: list[str]
    X_aug: np.ndarray | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    sources: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.sources is None:
            self.sources = np.full(len(self.y), "corpus", dtype=object)

    @property
    def source_names(self) -> list[str]:
        """The sources, in the order they first appear."""
        return list(dict.fromkeys(self.sources.tolist()))


def labelled_files(corpus: LabelledCorpus) -> list[LabelledFile]:
    """The clips of ``corpus`` (:func:`ser.corpora.load_labelled`) as training files.

    A clip without a speaker gets its source's unknown speaker, ``"<source>:?"``: one group,
    for normalisation; speaker-grouped evaluation refuses such clips before this.
    """
    return [
        LabelledFile(c.path, c.emotion, c.speaker or f"{c.source}:?", c.source)
        for c in corpus.clips
    ]


def _featurise(
    item: tuple[str, Sequence[Condition]], config: FeatureConfig
) -> tuple[np.ndarray | None, np.ndarray | None, str | None]:
    """Features of one file (and of its augmented copies); never raises for a bad file."""
    from ser.audio.decode import load_audio
    from ser.features.extract import extract_features

    path, conditions = item
    try:
        y, _ = load_audio(path, sr=config.sr, trim=bool(config.params.get("trim", True)))
        x = extract_features(y, config=config)
        aug = None
        if conditions:
            aug = np.stack(
                [
                    extract_features(
                        apply_condition(y, c, sr=config.sr, file_key=path), config=config
                    )
                    for c in conditions
                ]
            )
        return x, aug, None
    except SerError as exc:
        return None, None, str(exc)
    except Exception as exc:  # never let one file abort the batch
        return None, None, f"{path}: {type(exc).__name__}: {exc}"


def _worker_died(item: tuple[str, Sequence[Condition]]) -> tuple[None, None, str]:
    return None, None, f"{item[0]}: {WORKER_DIED}"


def extract_dataset(
    files: Sequence[LabelledFile],
    *,
    config: FeatureConfig,
    conditions: Callable[[LabelledFile], Sequence[Condition]] | None = None,
    jobs: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Dataset:
    """Features of ``files`` in parallel, with :func:`ser.batch.run_batch`.

    ``jobs`` as for :func:`ser.batch.worker_count` (None: every usable core).
    ``conditions(file)`` lists the augmentation conditions applied to that file; each gives
    one extra row in ``X_aug``. Files that fail, including one whose decoder kills its worker
    process (twice), are skipped and listed, never fatal.
    """
    conds = [list(conditions(f)) if conditions else [] for f in files]
    items = [(i, (f.path, c)) for i, (f, c) in enumerate(zip(files, conds))]
    task = functools.partial(_featurise, config=config)
    n_jobs = worker_count(jobs, len(items))
    results: dict[int, tuple[np.ndarray | None, np.ndarray | None, str | None]] = {}
    for i, res in run_batch(task, items, n_jobs=n_jobs, on_death=_worker_died):
        results[i] = res
        if on_progress is not None:
            on_progress(1)
    rows: list[tuple[LabelledFile, np.ndarray, np.ndarray | None]] = []
    skipped: list[tuple[str, str]] = []
    for i, f in enumerate(files):  # in the files' order, whatever order they finished in
        x, aug, err = results.pop(i)
        if err is not None or x is None:
            logger.warning("skipping %s", err)
            skipped.append((f.path, err or "no features"))
        else:
            rows.append((f, x, aug))
    if not rows:
        raise DataError("no training file could be read; see the warnings above")
    X = np.stack([r[1] for r in rows])
    X_aug = (
        np.stack([r[2] for r in rows]) if conds and conds[0] and rows[0][2] is not None else None
    )
    return Dataset(
        X=X,
        y=np.array([r[0].emotion for r in rows]),
        groups=np.array([r[0].speaker for r in rows], dtype=object),
        paths=[r[0].path for r in rows],
        X_aug=X_aug,
        skipped=skipped,
        sources=np.array([r[0].source for r in rows], dtype=object),
    )
