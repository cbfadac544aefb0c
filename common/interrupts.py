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
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

__all__ = ["Interrupted", "ctrl_c_stops_training", "signals_raise", "stops_on_ctrl_c"]

F = TypeVar("F", bound=Callable[..., Any])


class Interrupted(BaseException):
    """Ctrl-C (or SIGTERM in the commands) during training. Not a KeyboardInterrupt on
    purpose: scikit-learn's MLP catches those. Nothing catches this."""


@contextlib.contextmanager
def signals_raise(error: type[BaseException], signals: Iterable[int]) -> Iterator[None]:
    """Within the block each of ``signals`` raises ``error``; the handlers before are put
    back after it. Outside the main thread, where handlers cannot be set, nothing changes."""

    def interrupt(signum: int, frame: object) -> None:
        raise error

    try:
        old = {s: signal.signal(s, interrupt) for s in signals}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def ctrl_c_stops_training() -> Iterator[None]:
    """Within the block Ctrl-C raises :class:`Interrupted`, given back as KeyboardInterrupt
    when it leaves the block, so that a Ctrl-C stops the whole training.

    Only where Python's own SIGINT handler is in place (and in the main thread): a command,
    or an application, that installed its own keeps it.
    """
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    try:
        with signals_raise(Interrupted, (signal.SIGINT,)):
            yield
    except Interrupted:
        raise KeyboardInterrupt from None


def stops_on_ctrl_c(fn: F) -> F:
    """Decorate a function that trains models: it runs in :func:`ctrl_c_stops_training`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with ctrl_c_stops_training():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
