"""The annotation library: :func:`annotate` (a DataFrame) and :func:`annotate_to_file`.

Everything that can be wrong with the arguments (missing path, unknown model, bad output
name, existing output, bad regex...) is checked and raised as a :class:`~ser.common.SerError`
*before* any file is processed; after that, a file that cannot be annotated becomes an error
row and never stops the run.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ser.common import DataError, ModelError
from ser.common.version import __version__
from ser.corpora import FoundFile, find_audio_files
from ser.features import NORMALIZATIONS, feature_names
from ser.models import BUNDLED_MODELS, DEFAULT_MODEL, Model, bundled_model_path, resolve_model
from ser.models.model import sha256_file

from .compare import COMPARISONS, Comparison, compare_ravdess
from .pipeline import Predictor
from .runner import extract_files, worker_count
from .speakers import SPEAKER_FROM_DEFAULT, intern_speakers, speaker_function
from .table import RowStore, output_format, write_table
from .worker import TEST_CRASH_ENV, TaskContext

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Progress", "RunSummary", "annotate", "annotate_to_file"]

logger = logging.getLogger(__name__)

PathArg = str | os.PathLike[str]


class Progress(Protocol):
    """What the library reports while it works (the CLI draws a progress bar with it)."""

    def start(self, total: int) -> None:
        """Called once, when the checks passed and ``total`` files are about to be processed."""

    def advance(self, n: int = 1) -> None:
        """Called as files are done."""


@dataclass(frozen=True)
class RunSummary:
    """What :func:`annotate_to_file` did."""

    out: str
    n_files: int
    n_ok: int
    n_errors: int
    seconds: float
    normalization: str
    comparison: Comparison | None

    @property
    def files_per_s(self) -> float:
        return self.n_files / self.seconds if self.seconds > 0 else float("nan")


@dataclass(frozen=True)
class _Plan:
    files: list[FoundFile]
    model: Model
    model_sha256: str | None
    mode: str
    speakers: list[str | None]
    compare: bool
    n_jobs: int
    metadata: dict[str, str]


def annotate(
    paths: PathArg | Iterable[PathArg],
    *,
    model: PathArg | Model | None = None,
    jobs: int | None = None,
    pattern: str | None = None,
    compare: str | None = None,
    normalize: str | None = None,
    speaker_from: str = SPEAKER_FROM_DEFAULT,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Predict the emotion of every audio file under ``paths``; one row per file.

    Parameters
    ----------
    paths : path or iterable of paths
        Folders (walked recursively, hidden entries skipped) and/or files (taken whatever
        their extension).
    model : str, path or Model, optional
        A bundled model name (``"ravdess8"``, the default, or ``"ravdess4"``), a model file,
        or a loaded :class:`~ser.models.Model`.
    jobs : int >= 1, optional
        Worker processes; default ``os.cpu_count()``. ``1`` runs in this process, without
        protection against crashing decoders.
    pattern : str, optional
        Glob that file names or relative paths must match (e.g. ``"*.wav"``).
    compare : {"ravdess"}, optional
        Add ``true_emotion``, ``actor``, ``intensity`` and ``correct`` from RAVDESS names.
    normalize : {"none", "corpus", "speaker"}, optional
        Feature normalisation; default: what the model was trained with.
    speaker_from : {"auto", "parent"} or str
        Speaker of each file (see :func:`~ser.annotate.speakers.speaker_function`).
    progress : Progress, optional

    Returns
    -------
    pandas.DataFrame
        RangeIndex, rows in walk order, columns as in :func:`~ser.annotate.table.columns`:
        ``path, status, error, duration_s, sample_rate, channels, emotion, confidence,
        prob_<class>..., [true_emotion, actor, intensity, correct,] speaker, normalization``.
        ``frame.attrs`` holds the run's metadata (model, sha256, features, version...).

    Raises
    ------
    SerError
        For bad arguments, before any file is processed.
    """
    plan = _prepare(paths, model, jobs, pattern, compare, normalize, speaker_from)
    store = _execute(plan, spool_dir=None, progress=progress)
    frame = store.to_frame(compare=plan.compare)
    frame.attrs.update(plan.metadata)
    return frame


def annotate_to_file(
    paths: PathArg | Iterable[PathArg],
    *,
    out: PathArg = "labels.parquet",
    model: PathArg | Model | None = None,
    jobs: int | None = None,
    pattern: str | None = None,
    compare: str | None = None,
    normalize: str | None = None,
    speaker_from: str = SPEAKER_FROM_DEFAULT,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> RunSummary:
    """Like :func:`annotate`, but write the table to ``out`` (Parquet or CSV) atomically.

    Parameters
    ----------
    out : path ending in .parquet or .csv
        Written through a temporary file in the same folder that is renamed at the end; an
        interrupted run leaves no partial table. Parquet files carry the run's metadata.
    overwrite : bool
        Replace an existing ``out``; without it an existing file is an error (before work).
    **others
        As for :func:`annotate`.

    Returns
    -------
    RunSummary
        Counts, time and, with ``compare``, the :class:`~ser.annotate.compare.Comparison`.
    """
    output_format(out)
    sout = os.fspath(out)
    if os.path.exists(sout) and not overwrite:
        raise DataError(f"{sout} already exists; pass overwrite=True (--overwrite) to replace it")
    folder = os.path.dirname(os.path.abspath(sout))
    if not os.path.isdir(folder):
        raise DataError(f"cannot write {sout}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise DataError(f"cannot write {sout}: folder {folder} is not writable")
    plan = _prepare(paths, model, jobs, pattern, compare, normalize, speaker_from)
    t0 = time.perf_counter()
    store = _execute(plan, spool_dir=folder, progress=progress)
    table = store.to_arrow(compare=plan.compare, metadata=plan.metadata)
    write_table(table, sout, overwrite=overwrite)
    seconds = time.perf_counter() - t0
    comparison = (
        compare_ravdess(
            table, classes=plan.model.classes, training_actors=plan.model.meta.get("actors")
        )
        if plan.compare
        else None
    )
    summary = RunSummary(sout, store.n, store.n_ok, store.n_errors, seconds, plan.mode, comparison)
    logger.info(
        "wrote %s: %d files, %d ok, %d errors in %.1f s",
        sout,
        summary.n_files,
        summary.n_ok,
        summary.n_errors,
        seconds,
    )
    return summary


def _prepare(
    paths: PathArg | Iterable[PathArg],
    model: PathArg | Model | None,
    jobs: int | None,
    pattern: str | None,
    compare: str | None,
    normalize: str | None,
    speaker_from: str,
) -> _Plan:
    """Check every argument, load the model and walk the folders; no file is processed yet."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise DataError(f"jobs must be a whole number >= 1, got {jobs!r}")
    if compare is not None and compare not in COMPARISONS:
        raise DataError(f"unknown comparison {compare!r}; choose one of {', '.join(COMPARISONS)}")
    if normalize is not None and normalize not in NORMALIZATIONS:
        raise DataError(
            f"unknown normalization {normalize!r}; choose one of {', '.join(NORMALIZATIONS)}"
        )
    speaker_of = speaker_function(speaker_from)
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise DataError(f"no such file or directory: {', '.join(missing)}")
    loaded, sha = _load_model(model)
    n_expected = len(feature_names(loaded.features))
    if loaded.n_features != n_expected:
        raise ModelError(
            f"model {loaded.name!r} expects {loaded.n_features} features, but its feature set "
            f"{loaded.features.name!r} gives {n_expected}; the model file is inconsistent"
        )
    mode = normalize or loaded.normalization
    if mode != loaded.normalization:
        logger.warning(
            "model %r was trained with normalization=%r, annotating with %r",
            loaded.name,
            loaded.normalization,
            mode,
        )
    try:
        files = list(find_audio_files(paths, pattern=pattern))
    except FileNotFoundError as exc:  # removed since the check above
        raise DataError(str(exc)) from None
    if not files:
        logger.warning("no audio files found under %s", ", ".join(paths))
    speakers = intern_speakers([speaker_of(f.relpath, f.path) for f in files])
    n_jobs = worker_count(jobs, len(files))
    meta = {
        "ser.version": __version__,
        "ser.model_name": loaded.name,
        "ser.model_sha256": sha,
        "ser.model_classes": loaded.classes,
        "ser.model_normalization": loaded.normalization,
        "ser.feature_set": loaded.features.to_dict(),
        "ser.normalization": mode,
        "ser.speaker_from": speaker_from,
        "ser.pattern": pattern,
        "ser.command": list(sys.argv),
        "ser.created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    metadata = {k: json.dumps(v, default=str) for k, v in meta.items()}
    return _Plan(files, loaded, sha, mode, speakers, compare is not None, n_jobs, metadata)


def _load_model(spec: PathArg | Model | None) -> tuple[Model, str | None]:
    if isinstance(spec, Model):
        sha = spec.meta.get("sha256")
        return spec, None if sha is None else str(sha)
    name = os.fspath(spec) if spec is not None else DEFAULT_MODEL
    model = resolve_model(name)
    path = bundled_model_path(name) if name in BUNDLED_MODELS else name
    return model, sha256_file(path)


def _execute(plan: _Plan, *, spool_dir: str | None, progress: Progress | None) -> RowStore:
    store = RowStore([f.relpath for f in plan.files], plan.speakers, plan.model.classes)
    ctx = TaskContext(
        plan.model.features,
        parent_pid=os.getpid(),
        crash_pattern=os.environ.get(TEST_CRASH_ENV) or None,
    )
    if progress is not None:
        progress.start(store.n)
    if not plan.files:
        return store
    predictor = Predictor(plan.model, store, plan.mode, spool_dir)
    try:
        items = [(i, f.path) for i, f in enumerate(plan.files)]
        for res in extract_files(items, ctx, n_jobs=plan.n_jobs):
            predictor.add(res)
            if progress is not None:
                progress.advance(1)
        predictor.finish()
    finally:
        predictor.close()
    return store
