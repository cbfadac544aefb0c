"""Running a planned annotation: the batch of files, then the pieces of long recordings.

Every file is one item of a first batch, except that a large file in a segmenting mode is
planned here from its header and sends all its pieces (so one long recording keeps every
worker busy from the start). A small file that the worker finds long (a compressed one) comes
back with its first piece's rows and the number of pieces it has; its other pieces then form
a second batch. Results go to the :class:`~.pipeline.Predictor` as they arrive.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from ser.audio.segments import SegmentOptions, file_header, plan_pieces
from ser.batch import run_batch, worker_count
from ser.common import DataError, SerError
from ser.common.ownedfiles import remove_stale
from ser.corpora import FoundFile
from ser.corpora.walk import WalkStats, find_audio_files

from .collect import Collector, run_manifest
from .features_io import write_run_features
from .journal import Journal, journal_folder
from .pipeline import SPOOL_PREFIX, SPOOL_SUFFIX, Predictor
from .segmenting import Piece
from .table import RowStore
from .tally import Tally
from .worker import FileResult, extract_item, worker_died

if TYPE_CHECKING:
    import pyarrow as pa

    from .api import Plan, Progress
    from .output import OutputTarget

__all__ = ["WINDOW", "execute", "execute_to_file", "execute_to_journal"]

logger = logging.getLogger(__name__)


def execute(plan: Plan, *, spool_dir: str | None, progress: Progress | None) -> RowStore:
    seg = plan.segment
    store = RowStore(
        [f.relpath for f in plan.files],
        plan.speakers,
        plan.model.classes,
        channel_column=seg.channels == "each",
    )
    for i, f in enumerate(plan.files):
        if f.error is not None:  # a folder that could not be listed
            store.set_error(i, f.error)
    if progress is not None:
        progress.start(store.n)
    predictor = Predictor(plan.model, store, plan.mode, spool_dir)
    files = [(i, f.path) for i, f in enumerate(plan.files) if f.error is None]
    items = _first_items(files, seg, predictor)
    if not items:
        predictor.close()
        return store
    t0 = time.perf_counter()
    try:
        _batches(plan, items, plan.n_jobs, predictor, lambda i: plan.files[i].path, progress)
        store.close_files(
            "no speech found" if seg.mode in ("auto", "speech") else "no window of 0.2 s or more"
        )
        predictor.finish()
    finally:
        predictor.close()
    plan.timings["predict"] = predictor.seconds
    plan.timings["extract"] = time.perf_counter() - t0 - predictor.seconds
    return store


#: Files at least this large (bytes) have their pieces planned here, from their header, so
#: that all pieces go out in the first batch (a 30 s WAV at 16 kHz, 16-bit, mono is 0.96 MB;
#: a smaller file that turns out long is cut into pieces after its first one came back).
PLAN_HERE_BYTES = 1 << 20


def _first_items(
    files: Iterable[tuple[int, str]], seg: SegmentOptions, predictor: Predictor
) -> list[tuple[int, tuple[int, str, Piece | None]]]:
    """The first batch: every file ``(index, path)``; for a large one in a segmenting mode,
    all its pieces."""
    items: list[tuple[int, tuple[int, str, Piece | None]]] = []
    for i, path in files:
        cores = _planned_pieces(path, seg)
        if cores is None:
            items.append((len(items), (i, path, None)))
            continue
        duration, mode, spans = cores
        predictor.expect_pieces(i, len(spans))
        for k, (start, end) in enumerate(spans):
            items.append((len(items), (i, path, Piece(k, start, end, duration, mode))))
    return items


def _batches(
    plan: Plan,
    items: list[tuple[int, tuple[int, str, Piece | None]]],
    n_jobs: int,
    predictor: Predictor,
    path_of: Callable[[int], str],
    progress: Progress | None,
) -> None:
    """Run the first batch, then the other pieces of the long recordings it revealed."""
    task = functools.partial(extract_item, config=plan.model.features, seg=plan.segment)
    cluster = plan.scheduler
    if cluster is not None:  # the cluster's workers have their own working folder
        items = [(k, (i, os.path.abspath(path), piece)) for k, (i, path, piece) in items]
    pieces: list[tuple[int, tuple[int, str, Piece]]] = []
    for _, res in run_batch(task, items, n_jobs=n_jobs, on_death=worker_died, scheduler=cluster):
        predictor.add(res)
        if res.n_pieces > 1:  # a long recording: its other pieces go to every worker
            path = path_of(res.index)
            if cluster is not None:
                path = os.path.abspath(path)
            pieces += _more_pieces(res, path, plan.segment, len(pieces))
        if progress is not None:
            progress.advance(int(predictor.file_done(res.index)), res.span_s)
    n_jobs = worker_count(plan.jobs, len(pieces)) if pieces else 1
    for _, res in run_batch(task, pieces, n_jobs=n_jobs, on_death=worker_died, scheduler=cluster):
        predictor.add(res)
        if progress is not None:
            progress.advance(int(predictor.file_done(res.index)), res.span_s)


def _planned_pieces(
    path: str, seg: SegmentOptions
) -> tuple[float, str, list[tuple[float, float]]] | None:
    """``(duration, mode, cores)`` of a large file that is cut into pieces, else None (the
    worker decides, as for every small file)."""
    if seg.mode == "file":
        return None
    try:
        if os.stat(path).st_size < PLAN_HERE_BYTES:
            return None
        _, _, duration = file_header(path)
    except (OSError, SerError):  # the worker will say what is wrong
        return None
    mode = seg.mode_for(duration)
    spans = plan_pieces(duration)
    if mode == "file" or len(spans) < 2:
        return None
    return duration, mode, spans


def _more_pieces(
    res: FileResult, path: str, seg: SegmentOptions, first_id: int
) -> list[tuple[int, tuple[int, str, Piece]]]:
    """Batch items for pieces 1.. of a long recording whose piece 0 said how many there are."""
    duration = float(res.duration_s or 0.0)
    mode = seg.mode_for(duration)
    cores = plan_pieces(duration)[1:]
    return [
        (first_id + k, (res.index, path, Piece(k + 1, start, end, duration, mode)))
        for k, (start, end) in enumerate(cores)
    ]


#: Files (not yet in the journal) per window of the streamed walk: each window is one batch
#: of work, so the main process holds this many files' items and facts at most.
WINDOW = 4096


def execute_to_file(
    plan: Plan,
    target: OutputTarget,
    *,
    resume: bool,
    overwrite: bool,
    progress: Progress | None,
    features_out: str | None = None,
) -> Tally:
    """Annotate into the journal of ``target`` (resumed with ``resume``), then write the
    table (and the features table ``features_out``, :mod:`.features_io`) from it and
    remove it; an interrupted or failed run keeps a journal that holds any file (and says
    so)."""
    journal = Journal(
        journal_folder(target.out),
        run_manifest(plan),
        plan.model.n_features,
        resume=resume,
        overwrite=overwrite,
    )

    def journal_rows() -> Iterator[pa.Table]:
        return journal.read_sorted(journal.tail())

    tally = Tally(plan, journal_rows)
    try:
        execute_to_journal(plan, journal, progress)
        t_write = time.perf_counter()
        target.write(tally.tables())
        if features_out is not None:
            write_run_features(journal_rows(), features_out, plan.model.features, plan.metadata)
        plan.timings["predict"] = tally.seconds
        plan.timings["write"] = time.perf_counter() - t_write - tally.seconds
    except BaseException:
        if journal.keep():
            logger.warning(
                "the work done is kept in %s: the same command with --resume continues it",
                journal.folder,
            )
        raise
    journal.discard()
    return tally


def execute_to_journal(plan: Plan, journal: Journal, progress: Progress | None) -> None:
    """Annotate the files of the walk that ``journal`` lacks; their rows go to it.

    The walk streams (:func:`~ser.corpora.walk.find_audio_files`), twice: first to count the
    files and check each one the journal holds (path, size and modification time, before
    any work), then in windows of :data:`WINDOW` files to be done, each run as a batch.
    """
    seg = plan.segment
    # feature spools that killed runs of the in-memory path (or of older versions) left
    remove_stale(os.path.join(os.path.dirname(journal.folder), SPOOL_PREFIX + "*" + SPOOL_SUFFIX))
    t0 = time.perf_counter()
    n, n_done = 0, 0
    for i, f in _walk(plan, WalkStats()):
        n += 1
        if journal.holds(i):
            n_done += journal.done(i, f.relpath, *_stat(f))
    journal.check_count(n)
    plan.timings["walk"] = time.perf_counter() - t0
    if not n:
        logger.warning("no audio files found under %s", ", ".join(plan.paths))
    elif n_done:
        logger.info("resuming: %d of %d files are in the journal already", n_done, n)
    if progress is not None:
        progress.start(n)
        progress.advance(n_done)
    n_jobs = worker_count(plan.jobs, n - n_done)
    reason = "no speech found" if seg.mode in ("auto", "speech") else "no window of 0.2 s or more"
    collector = Collector(journal, plan.model, reason, seg.channels == "each")
    t0 = time.perf_counter()
    for window in _windows(plan, journal, collector):
        items = _first_items(window, seg, collector)
        _batches(plan, items, n_jobs, collector, collector.path, progress)
    if plan.mode != "none":  # the two passes read everything from disk
        journal.flush()
    plan.timings["extract"] = time.perf_counter() - t0 - collector.seconds


def _walk(plan: Plan, stats: WalkStats) -> Iterator[tuple[int, FoundFile]]:
    try:
        yield from enumerate(find_audio_files(plan.paths, pattern=plan.pattern, stats=stats))
    except FileNotFoundError as exc:  # removed since the checks
        raise DataError(str(exc)) from None


def _stat(f: FoundFile) -> tuple[int, int]:
    """``(size, mtime_ns)`` of a found file; ``(-1, -1)`` for an error entry or a file gone."""
    if f.error is not None:
        return -1, -1
    try:
        st = os.stat(f.path)
    except OSError:
        return -1, -1
    return st.st_size, st.st_mtime_ns


def _windows(plan: Plan, journal: Journal, collector: Collector) -> Iterator[list[tuple[int, str]]]:
    """The files to do, ``(index, path)``, in windows of :data:`WINDOW`; each is registered
    with ``collector`` (a folder that could not be listed is finished at once)."""
    window: list[tuple[int, str]] = []
    for i, f in _walk(plan, plan.walk):
        size, mtime_ns = _stat(f)
        if journal.holds(i) and journal.done(i, f.relpath, size, mtime_ns):
            continue
        speaker = None if f.error else plan.speaker_of(f.relpath, f.path)
        truth = None
        if f.error is None and plan.labeller is not None:
            truth = plan.labeller(f.relpath, f.path)
        collector.begin(i, f.relpath, f.path, size, mtime_ns, speaker, truth)
        if f.error is not None:
            collector.failed(i, f.error)
            continue
        window.append((i, f.path))
        if len(window) >= WINDOW:
            yield window
            window = []
    if window:
        yield window
