"""``ser.batch``: the one crash-safe batch layer, used by ``ser-annotate`` and ``ser-train``.

:func:`run_batch` runs a task over many items in joblib worker processes and survives workers
that die (:mod:`.runner`); what runs inside each worker around a task (the parent watchdog,
crash markers, quiet native stderr) is in :mod:`.worker`. Importing it is light: joblib
loads when a batch starts.
"""

from __future__ import annotations

from .runner import (
    WORKER_DIED,
    is_worker_death,
    prestart_workers,
    run_batch,
    shutdown_workers,
    worker_count,
)

__all__ = [
    "WORKER_DIED",
    "is_worker_death",
    "prestart_workers",
    "run_batch",
    "shutdown_workers",
    "worker_count",
]
