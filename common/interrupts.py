"""Ctrl-C that scikit-learn cannot swallow.

scikit-learn's MLP catches KeyboardInterrupt in its training loop, warns "Training
interrupted by user." and returns the fit cut short: a Ctrl-C during training only shortened
one fit, and the run went on and saved a model. :class:`Interrupted` is what ser raises
instead: the commands install it for Ctrl-C and SIGTERM
(:func:`ser.common.console.sigterm_interrupts`), and :func:`ctrl_c_stops_training` does it
for the Python API.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = ["Interrupted", "ctrl_c_stops_training", "stops_on_ctrl_c"]

F = TypeVar("F", bound=Callable[..., Any])


class Interrupted(BaseException):
    """Ctrl-C (or SIGTERM in the commands) during training. Not a KeyboardInterrupt on
    purpose: scikit-learn's MLP catches those. Nothing catches this."""


@contextlib.contextmanager
def ctrl_c_stops_training() -> Iterator[None]:
    """Within the block Ctrl-C raises :class:`Interrupted`, given back as KeyboardInterrupt
    when it leaves the block, so that a Ctrl-C stops the whole training.

    Only in the main thread, and only where Python's own SIGINT handler is in place: a
    command, or an application, that installed its own keeps it.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise Interrupted

    old = signal.signal(signal.SIGINT, stop)
    try:
        yield
    except Interrupted:
        raise KeyboardInterrupt from None
    finally:
        signal.signal(signal.SIGINT, old)


def stops_on_ctrl_c(fn: F) -> F:
    """Decorate a function that trains models: it runs in :func:`ctrl_c_stops_training`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with ctrl_c_stops_training():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
