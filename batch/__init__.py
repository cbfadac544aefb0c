"""``ser.batch``: the one crash-safe batch layer, used by ``ser-annotate`` and ``ser-train``.

:func:`run_batch` runs a task over many items in joblib worker processes and survives workers
that die (:mod:`.runner`); what runs inside each worker around a task (the parent watchdog,
crash markers, quiet native stderr) is in :mod:`.worker`. With ``scheduler=`` the batch runs
on a dask.distributed cluster instead (:mod:`.dask_backend`; the connection, checked before
any work, is :mod:`.dask_client`; the optional ``ser[dask]``).
Importing it is light: joblib loads when a batch starts, distributed when a scheduler is named.
"""

from __future__ import annotations

from .dask_client import SCHEDULER_ENV, DaskScheduler, connect_scheduler, scheduler_session
from .runner import (
    WORKER_DIED,
    is_worker_death,
    prestart_workers,
    run_batch,
    shutdown_workers,
    worker_count,
)

__all__ = [
    "SCHEDULER_ENV",
    "WORKER_DIED",
    "DaskScheduler",
    "connect_scheduler",
    "is_worker_death",
    "prestart_workers",
    "run_batch",
    "scheduler_session",
    "shutdown_workers",
    "worker_count",
]
