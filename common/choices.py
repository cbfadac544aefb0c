"""Every choice the API and both commands accept, defined once, with the rule that checks it.

The commands build their option types from these tuples (:func:`choice_enum`), and the
library functions check their arguments with :func:`check_choice` and :func:`resolve_jobs`,
so a mode added here is accepted everywhere and a bad value gets the same one-line
:class:`~ser.common.errors.DataError` from the API and from either command. Light: no numpy.
"""

from __future__ import annotations

import logging
import os
from enum import Enum

from .errors import DataError

__all__ = [
    "CHANNEL_MODES",
    "CLASSIFIERS",
    "COMPARISONS",
    "EVALUATIONS",
    "EXPORT_FORMATS",
    "FEATURE_SET_NAMES",
    "NORMALIZATIONS",
    "SEGMENT_MODES",
    "check_choice",
    "choice_enum",
    "resolve_jobs",
    "usable_cores",
]

logger = logging.getLogger(__name__)

#: Feature normalisation: none, over the whole run (corpus), or per speaker group.
NORMALIZATIONS: tuple[str, ...] = ("none", "corpus", "speaker")
#: Named feature sets (their parameters live in :mod:`ser.features.config`).
FEATURE_SET_NAMES: tuple[str, ...] = ("default", "seed")
#: Corpora whose file names ``--compare`` reads labels from (it also takes a labels table).
COMPARISONS: tuple[str, ...] = ("ravdess", "crema-d")
#: ``ser-train --evaluate``: speaker-grouped cross-validation; that plus leave-one-corpus-out;
#: nothing (the final fit only, uncalibrated).
EVALUATIONS: tuple[str, ...] = ("cv", "corpus", "none")
#: How a recording is cut into rows: ``auto`` (``file`` for short files, ``speech`` for long
#: ones), one row per ``file``, the ``speech`` regions a voice-activity detector finds, or
#: fixed ``window``\ s.
SEGMENT_MODES: tuple[str, ...] = ("auto", "file", "speech", "window")
#: The channels of a recording: mixed to mono, or each classified on its own.
CHANNEL_MODES: tuple[str, ...] = ("mix", "each")
#: What ``ser-export`` writes: a Praat TextGrid, an ELAN EAF file, an Audacity label track or
#: WebVTT subtitles (:mod:`ser.annotate.export`).
EXPORT_FORMATS: tuple[str, ...] = ("textgrid", "eaf", "audacity", "vtt")
#: Classifiers ``ser-train --compare-classifiers`` runs through the same speaker-grouped folds
#: (:mod:`ser.train.classifiers`): k-nearest neighbours, an RBF support-vector machine, a
#: decision tree, a random forest and ser's own MLP (the default, and what ``ser-train`` saves
#: unless ``--classifier`` says otherwise). Each behind the MLP's standard scaler.
CLASSIFIERS: tuple[str, ...] = ("knn", "svm", "tree", "forest", "mlp")


def check_choice(option: str, value: str, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, else a :class:`DataError` that lists them."""
    if value not in choices:
        raise DataError(f"{option}: unknown value {value!r}; choose one of {', '.join(choices)}")
    return value


def choice_enum(name: str, choices: tuple[str, ...]) -> type[Enum]:
    """A ``str`` Enum of ``choices``, which Typer shows and checks as a choice option."""
    return Enum(name, {c.replace("-", "_"): c for c in choices}, type=str)  # type: ignore[return-value]


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the system has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def resolve_jobs(jobs: int | None, *, warn: bool = True) -> int:
    """Worker processes for ``--jobs``: a count of 1 or more, capped at the usable cores.

    ``None`` means every usable core; negative values count from the cores as joblib's do
    (``-1`` all of them, ``-2`` all but one). More than there are cores is capped, with a
    warning (unless ``warn`` is False): extra workers would only compete for the same cores,
    each with its own memory.

    Raises
    ------
    DataError
        For 0, a count below ``-cores``, or anything that is not a whole number.
    """
    cores = usable_cores()
    if jobs is None:
        return cores
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs == 0:
        raise DataError(
            f"--jobs must be a whole number of workers (-1 for every core), got {jobs!r}"
        )
    if jobs < 0:
        if jobs < -cores:
            raise DataError(
                f"--jobs {jobs} leaves no worker: this machine has {cores} usable core(s)"
            )
        return cores + 1 + jobs
    if jobs > cores:
        if warn:
            logger.warning(
                "--jobs %d is more than the %d usable core(s): using %d", jobs, cores, cores
            )
        return cores
    return jobs
