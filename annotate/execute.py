"""Running a planned annotation: the batch of files, then the pieces of long recordings.

Every file is one item of a first batch, except that a large file in a segmenting mode is
planned here from its header and sends all its pieces (so one long recording keeps every
worker busy from the start). A small file that the worker finds long (a compressed one) comes
back with its first piece's rows and the number of pieces it has; its other pieces then form
a second batch. Results go to the :class:`~.pipeline.Predictor` as they arrive.
"""

from __future__ import annotations

import functools
import os
import time
from typing import TYPE_CHECKING

from ser.audio.segments import SegmentOptions, file_header, plan_pieces
from ser.batch import run_batch, worker_count
from ser.common import SerError

from .pipeline import Predictor
from .segmenting import Piece
from .table import RowStore
from .worker import FileResult, extract_item, worker_died

if TYPE_CHECKING:
    from .api import Plan, Progress

__all__ = ["execute"]


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
    items = _first_items(plan, predictor)
    if not items:
        predictor.close()
        return store
    task = functools.partial(extract_item, config=plan.model.features, seg=seg)
    t0 = time.perf_counter()
    try:
        pieces: list[tuple[int, tuple[int, str, Piece]]] = []
        for _, res in run_batch(task, items, n_jobs=plan.n_jobs, on_death=worker_died):
            predictor.add(res)
            if res.n_pieces > 1:  # a long recording: its other pieces go to every worker
                pieces += _more_pieces(res, plan.files[res.index].path, seg, len(pieces))
            if progress is not None:
                progress.advance(int(predictor.file_done(res.index)), res.span_s)
        n_jobs = worker_count(plan.jobs, len(pieces)) if pieces else 1
        for _, res in run_batch(task, pieces, n_jobs=n_jobs, on_death=worker_died):
            predictor.add(res)
            if progress is not None:
                progress.advance(int(predictor.file_done(res.index)), res.span_s)
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
    plan: Plan, predictor: Predictor
) -> list[tuple[int, tuple[int, str, Piece | None]]]:
    """The first batch: every file; for a large one in a segmenting mode, all its pieces."""
    seg = plan.segment
    items: list[tuple[int, tuple[int, str, Piece | None]]] = []
    for i, f in enumerate(plan.files):
        if f.error is not None:
            continue
        cores = _planned_pieces(f.path, seg)
        if cores is None:
            items.append((len(items), (i, f.path, None)))
            continue
        duration, mode, spans = cores
        predictor.expect_pieces(i, len(spans))
        for k, (start, end) in enumerate(spans):
            items.append((len(items), (i, f.path, Piece(k, start, end, duration, mode))))
    return items


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
