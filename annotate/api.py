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
import stat
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ser.audio.segments import SegmentOptions
from ser.batch import scheduler_session, worker_count
from ser.common import DataError, ModelError
from ser.common.choices import NORMALIZATIONS, check_choice, resolve_jobs
from ser.common.version import __version__
from ser.corpora import FoundFile
from ser.corpora.walk import WalkStats, find_audio_files
from ser.features import feature_names
from ser.models import BUNDLED_MODELS, DEFAULT_MODEL, Model, bundled_model_path, resolve_model
from ser.models.model import sha256_file

from .compare import compare_labels
from .execute import execute, execute_to_file
from .features_io import check_features_out, execute_from_features, open_features_source
from .output import OutputTarget
from .speakers import SPEAKER_FROM_DEFAULT, intern_speakers, speaker_function
from .summary import Progress, RunSummary
from .table import NORM_LABELS
from .truth import Labeller, TrueLabel, make_labeller, training_actors

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Progress", "RunSummary", "annotate", "annotate_to_file"]

logger = logging.getLogger(__name__)

PathArg = str | os.PathLike[str]


@dataclass(frozen=True)
class Plan:
    files: list[FoundFile]
    walk: WalkStats
    model: Model
    model_sha256: str | None
    mode: str
    speakers: list[str | None]
    compare: str | None
    truth: list[TrueLabel | None] | None  # per file, with compare
    n_jobs: int
    metadata: dict[str, str]
    timings: dict[str, float]
    segment: SegmentOptions
    jobs: int | None
    # the walk, streamed by annotate_to_file (files, speakers and truth are empty then)
    paths: list[str] = field(default_factory=list)
    pattern: str | None = None
    speaker_of: Callable[[str, str], str | None] | None = None
    labeller: Labeller | None = None
    # a connected dask.distributed cluster (ser.batch.DaskScheduler) that runs the batches
    scheduler: Any = None


def annotate(
    paths: PathArg | Iterable[PathArg],
    *,
    model: PathArg | Model | None = None,
    jobs: int | None = None,
    pattern: str | None = None,
    compare: str | None = None,
    normalize: str | None = None,
    speaker_from: str = SPEAKER_FROM_DEFAULT,
    segment: str = "auto",
    channels: str = "mix",
    max_segment: float = SegmentOptions.max_segment,
    window: float = SegmentOptions.window,
    hop: float = SegmentOptions.hop,
    scheduler: str | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Predict the emotion of every audio file under ``paths``; one row per file.

    Parameters
    ----------
    paths : path or iterable of paths
        Folders (walked recursively, hidden entries skipped) and/or regular files (taken
        whatever their extension). With several, each row's ``path`` starts with the one it
        was found under, as given; a file reached twice is annotated once.
    model : str, path or Model, optional
        A bundled model name (``"ser6"``, the default, or ``"ser4"``), a model file,
        or a loaded :class:`~ser.models.Model`.
    jobs : int, optional
        Worker processes; default (or ``-1``) every usable core, ``-2`` all but one, and
        never more than the usable cores. ``1`` runs in this process, without protection
        against crashing decoders.
    pattern : str, optional
        Glob that file names or relative paths must match (e.g. ``"*.wav"``).
    compare : {"ravdess", "crema-d"} or path of a labels table, optional
        Add ``true_emotion``, ``actor``, ``intensity`` and ``correct``: from RAVDESS or
        CREMA-D file names, or from a labels table (``.csv``/``.parquet``, columns ``path``
        and ``emotion``; :mod:`~ser.annotate.truth`).
    normalize : {"none", "corpus", "speaker"}, optional
        Feature normalisation; default: what the model was trained with.
    speaker_from : {"auto", "parent"} or str
        Speaker of each file (see :func:`~ser.annotate.speakers.speaker_function`).
    scheduler : str, optional
        The address of a running ``dask.distributed`` scheduler (``pip install
        'ser[dask]'``): its workers extract the features instead of local processes, and
        ``jobs`` is ignored. The workers read the files themselves, so every path must be
        reachable from them at the same (absolute) place: a shared filesystem. Checked
        before any work (:func:`~ser.batch.connect_scheduler`).
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
    seg = SegmentOptions(segment, channels, max_segment, window, hop)
    plan = _prepare(paths, model, jobs, pattern, compare, normalize, speaker_from, seg)
    with scheduler_session(scheduler) as cluster:
        store = execute(replace(plan, scheduler=cluster), spool_dir=None, progress=progress)
    frame = store.to_frame(compare=False if plan.truth is None else plan.truth)
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
    segment: str = "auto",
    channels: str = "mix",
    max_segment: float = SegmentOptions.max_segment,
    window: float = SegmentOptions.window,
    hop: float = SegmentOptions.hop,
    overwrite: bool = False,
    resume: bool = False,
    scheduler: str | None = None,
    features_out: PathArg | None = None,
    from_features: PathArg | None = None,
    progress: Progress | None = None,
) -> RunSummary:
    """Like :func:`annotate`, but write the table to ``out`` (Parquet or CSV) atomically.

    Parameters
    ----------
    out : path ending in .parquet or .csv
        Checked before any work (not a folder, not one of the input files, its folder
        writable) and locked while the run lasts (see :mod:`~ser.annotate.output`). Written
        through a temporary file in the same folder that is renamed at the end; an
        interrupted or failed run leaves no partial table. Parquet files carry the run's
        metadata; in CSV files, formula-like text is neutralised.
    overwrite : bool
        Replace an existing ``out``; without it an existing file is an error (before work).
        Without ``resume``, also discard the journal of an interrupted run on ``out``.
    resume : bool
        Continue an interrupted run on ``out`` from its journal (``<out>.partial/``, see
        :mod:`~ser.annotate.journal`), annotating only the files it lacks; the table is an
        uninterrupted run's. Without a journal, the run starts afresh; without ``resume``,
        a journal there is an error (before work) unless ``overwrite``.
    features_out : path ending in .parquet, optional
        Also write every row's feature vector, with its path, span, speaker group and the
        feature configuration, to this table (:mod:`~ser.annotate.features_io`).
    from_features : path, optional
        Re-predict the rows of such a table with ``model`` instead of annotating audio:
        give no ``paths``; the segments and speaker groups are the table's, the
        normalisation is redone (``normalize``), and ``compare`` takes the true labels anew
        from the rows' paths (a corpus' file names). The model must use the table's feature
        configuration.
    **others
        As for :func:`annotate`.

    Returns
    -------
    RunSummary
        Counts, time and, with ``compare``, the :class:`~ser.annotate.compare.Comparison`.

    Raises
    ------
    SerError
        For bad arguments or an unusable ``out``, before any file is processed;
        :class:`~ser.common.OutputError` when another run holds ``out`` or it cannot be
        written (a full disk), naming the file.
    """
    seg = SegmentOptions(segment, channels, max_segment, window, hop)
    source = None
    if from_features is not None:
        source = open_features_source(from_features, paths, features_out, resume, scheduler)
        paths, seg, speaker_from = [], SegmentOptions(**source.segments), source.speaker_from
    target = OutputTarget(out, overwrite=overwrite)
    if features_out is not None:
        features_out = check_features_out(features_out, out=target.out, overwrite=overwrite)
    with target:
        plan = _prepare(paths, model, jobs, pattern, compare, normalize, speaker_from, seg, True)
        target.check_inputs([FoundFile("", p) for p in plan.paths if os.path.isfile(p)])
        t0 = time.perf_counter()
        if source is not None:
            source.check_model(plan.model.features, plan.model.name)
            tally = execute_from_features(plan, source, target, progress)
        else:
            with scheduler_session(scheduler) as cluster:
                tally = execute_to_file(replace(plan, scheduler=cluster), target, resume=resume,
                                        overwrite=overwrite, progress=progress,
                                        features_out=features_out)  # fmt: skip
        table = tally.compared
        seconds = time.perf_counter() - t0
    comparison = (
        compare_labels(
            table,
            classes=plan.model.classes,
            training_actors=training_actors(plan.compare, plan.model.meta),
            source=plan.compare,
        )
        if plan.compare
        else None
    )
    normalized = {k: int(v) for k, v in zip(NORM_LABELS, tally.normalized) if v}
    summary = RunSummary(
        target.out,
        tally.n_files,
        tally.n_ok,
        tally.n_errors,
        seconds,
        plan.mode,
        comparison,
        plan.walk.total,
        plan.walk.describe(),
        normalized,
        dict(plan.timings),
        tally.n_rows,
        tally.n_unlabelled,
        tuple(tally.first_errors),
    )
    logger.info(
        "wrote %s: %d files, %d ok, %d errors in %.1f s",
        target.out,
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
    seg: SegmentOptions,
    stream: bool = False,
) -> Plan:
    """Check every argument, load the model and walk the folders; no file is processed yet.
    With ``stream``, the folders are not walked here (see
    :func:`~.execute.execute_to_journal`)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    resolve_jobs(jobs)  # checks jobs, and says when they are capped
    labeller = None if compare is None else make_labeller(compare)
    if normalize is not None:
        check_choice("--normalize", normalize, NORMALIZATIONS)
    speaker_of = speaker_function(speaker_from)
    _check_paths(paths)
    t0 = time.perf_counter()
    loaded, sha = _load_model(model)
    timings = {"model_load": time.perf_counter() - t0}
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
    walk = WalkStats()
    t0 = time.perf_counter()
    try:
        files = [] if stream else list(find_audio_files(paths, pattern=pattern, stats=walk))
    except FileNotFoundError as exc:  # removed since the check above
        raise DataError(str(exc)) from None
    timings["walk"] = time.perf_counter() - t0
    if not files and not stream:
        logger.warning("no audio files found under %s", ", ".join(paths))
    speakers = intern_speakers([None if f.error else speaker_of(f.relpath, f.path) for f in files])
    truth = None
    if labeller is not None:
        truth = [None if f.error else labeller(f.relpath, f.path) for f in files]
    n_jobs = worker_count(jobs, sum(f.error is None for f in files))
    meta = {
        "ser.version": __version__,
        "ser.model_name": loaded.name,
        "ser.model_sha256": sha,
        "ser.model_classes": loaded.classes,
        "ser.model_normalization": loaded.normalization,
        "ser.feature_set": loaded.features.to_dict(),
        "ser.normalization": mode,
        "ser.speaker_from": speaker_from,
        "ser.segments": seg.to_dict(),
        "ser.pattern": pattern,
        "ser.command": list(sys.argv),
        "ser.created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    metadata = {k: json.dumps(v, default=str) for k, v in meta.items()}
    return Plan(
        files,
        walk,
        loaded,
        sha,
        mode,
        speakers,
        compare,
        truth,
        n_jobs,
        metadata,
        timings,
        seg,
        jobs,
        paths,
        pattern,
        speaker_of,
        labeller,
    )


def _check_paths(paths: list[str]) -> None:
    for p in paths:
        try:
            st = os.stat(p)
        except FileNotFoundError:
            raise DataError(f"{p}: no such file or directory") from None
        except OSError as exc:
            raise DataError(f"{p}: {exc.strerror or exc}") from None
        if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
            raise DataError(f"{p}: not a regular file")


def _load_model(spec: PathArg | Model | None) -> tuple[Model, str | None]:
    if isinstance(spec, Model):
        sha = spec.meta.get("sha256")
        return spec, None if sha is None else str(sha)
    name = os.fspath(spec) if spec is not None else DEFAULT_MODEL
    model = resolve_model(name)
    path = bundled_model_path(name) if name in BUNDLED_MODELS else name
    return model, sha256_file(path)
