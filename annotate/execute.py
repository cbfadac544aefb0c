"""Running a planned annotation: the batch of files, then the pieces of long recordings.

Every file is one item of a first batch. A file that is processed whole (``file`` mode)
comes back with its row; the first piece of a long recording comes back with its rows and
the number of pieces it has, and the other pieces then form a second batch, spread over all
workers. Results go to the :class:`~.pipeline.Predictor` as they arrive.
"""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING

from ser.audio.segments import SegmentOptions, plan_pieces
from ser.batch import run_batch, worker_count

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
    items = [(i, (i, f.path, None)) for i, f in enumerate(plan.files) if f.error is None]
    if not items:
        return store
    predictor = Predictor(plan.model, store, plan.mode, spool_dir)
    task = functools.partial(extract_item, config=plan.model.features, seg=seg)
    t0 = time.perf_counter()
    try:
        pieces: list[tuple[int, tuple[int, str, Piece]]] = []
        for _, res in run_batch(task, items, n_jobs=plan.n_jobs, on_death=worker_died):
            predictor.add(res)
            if res.n_pieces > 1:  # a long recording: its other pieces go to every worker
                pieces += _more_pieces(res, plan.files[res.index].path, seg, len(pieces))
            if progress is not None:
                progress.advance(int(res.n_pieces == 1), res.span_s)
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
