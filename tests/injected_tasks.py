"""Tasks that tests inject into the batch layer: they crash their worker on purpose.

Module-level functions, so that loky's workers import them by reference (the tests folder is
on their ``sys.path`` as on the parent's).
"""

from __future__ import annotations

import os
import time

from ser.annotate.worker import FileResult, extract_item

#: A file whose path contains this kills the worker process that featurises it.
CRASH_MARK = "crash_me"


def square_or_die(x: int) -> int:
    """``x * x``; a negative ``x`` kills the worker process (as a segfaulting decoder would)."""
    if x < 0:
        os._exit(70)
    return x * x


def pid_after(seconds: float) -> int:
    """The worker's process id, after sleeping ``seconds``."""
    time.sleep(seconds)
    return os.getpid()


def extract_or_die(item, config, seg) -> FileResult:
    """:func:`ser.annotate.worker.extract_item`, except that a file named ``*crash_me*``
    kills the worker process."""
    if CRASH_MARK in os.path.basename(item[1]):
        os._exit(70)
    return extract_item(item, config, seg)


def featurise_or_die(item, config):
    """``ser-train``'s per-file task, except that a path holding ``crash_me`` kills the
    worker process."""
    from ser.train.dataset import _featurise

    if CRASH_MARK in item[0]:
        os._exit(70)
    return _featurise(item, config)
