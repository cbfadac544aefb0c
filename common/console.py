"""The one voice of ``ser-annotate`` and ``ser-train``: errors, help, logging and signals.

Both commands run through :func:`run_command`: a usage error found by the option parser (an
unknown option, a value of the wrong type, a choice that is not offered) and a
:class:`~ser.common.errors.SerError` raised before any work are both printed as one line,
``PROG: error: MESSAGE``, with exit status 2. ``-h`` and ``--help`` both show help.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any

import typer

from .interrupts import Interrupted, signals_raise

__all__ = [
    "HELP_OPTIONS",
    "Interrupted",
    "echo_error",
    "log_to_stderr",
    "native_stderr_silenced",
    "run_command",
    "sigterm_interrupts",
    "version_callback",
]

#: ``context_settings`` of both commands: ``-h`` works as ``--help`` does.
HELP_OPTIONS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}


def version_callback(prog: str) -> Callable[[bool], None]:
    """The ``--version`` option's callback of command ``prog``: print ``PROG VERSION``, exit."""

    def show(value: bool) -> None:
        if value:
            from .version import __version__

            typer.echo(f"{prog} {__version__}")
            raise typer.Exit()

    return show


def echo_error(prog: str, message: object) -> None:
    """Print ``PROG: error: MESSAGE`` on stderr, on one line."""
    text = " ".join(str(message).split())  # one line, whatever the message held
    typer.echo(f"{prog}: error: {text}", err=True)


def run_command(app: typer.Typer, prog: str, args: list[str] | None = None) -> None:
    """Run ``app`` as the command ``prog`` and exit with its status.

    Typer's own usage errors (printed as a framed block by default) become one line in the
    house style, with status 2, and name ``-h`` for help.
    """
    command = typer.main.get_command(app)
    try:
        code = command.main(args=args, prog_name=prog, standalone_mode=False)
    except typer.TyperException as exc:  # the parser's errors (click's, vendored by typer)
        echo_error(prog, f"{exc.format_message()} (see {prog} -h)")
        code = getattr(exc, "exit_code", 2)
    except typer.Abort:
        code = 130
    sys.exit(code if isinstance(code, int) else 0)


@contextlib.contextmanager
def sigterm_interrupts(*, sigint: bool = False) -> Iterator[None]:
    """Treat SIGTERM (a batch scheduler stopping the job) like Ctrl-C: clean up and exit.

    SIGTERM raises KeyboardInterrupt; with ``sigint``, SIGTERM and Ctrl-C raise
    :class:`Interrupted` instead, which no library swallows.
    """
    error: type[BaseException] = Interrupted if sigint else KeyboardInterrupt
    with signals_raise(error, (signal.SIGTERM, signal.SIGINT) if sigint else (signal.SIGTERM,)):
        yield


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


@contextlib.contextmanager
def log_to_stderr(level: int) -> Iterator[None]:
    """Show ``ser`` log records of ``level`` and above on stderr while a command runs."""
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler.setLevel(level)
    logger = logging.getLogger("ser")
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(min(level, old or logging.WARNING))
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


@contextlib.contextmanager
def native_stderr_silenced(quiet: bool) -> Iterator[None]:
    """With ``quiet``, send what C libraries print to file descriptor 2 (libmpg123's "Note:
    Illegal Audio-MPEG-Header") to /dev/null while the run lasts, in this process and in
    the workers it starts; Python's own ``sys.stderr`` keeps the real stderr."""
    if not quiet:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    python_stderr = sys.stderr
    try:
        on_fd2 = python_stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # already redirected (a test's capture)
        on_fd2 = False
    if on_fd2:
        sys.stderr = open(os.dup(saved), "w", buffering=1, encoding="utf-8", errors="replace")
    try:
        yield
    finally:
        if on_fd2:
            sys.stderr.close()
            sys.stderr = python_stderr
        os.dup2(saved, 2)
        os.close(saved)
