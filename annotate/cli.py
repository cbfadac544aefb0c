"""``ser-annotate``: label every audio file under some folders with a predicted emotion.

The command function is thin: it turns options into a call of
:func:`ser.annotate.annotate_to_file` and owns the console (progress bar and summary on
stderr, the ``--compare`` report on stdout). Heavy modules (librosa, scikit-learn, joblib,
pandas) are imported only once work starts, so ``--help`` and ``--version`` stay fast.

Exit status: 0 every file annotated; 1 some files failed (their rows are in the table) or the
run failed after it started; 2 usage errors, found before any work; 130 interrupted.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import time
from collections.abc import Iterator
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ser.common.version import __version__

if TYPE_CHECKING:
    from .api import RunSummary

__all__ = ["app"]

app = typer.Typer(
    name="ser-annotate",
    help="Predict the emotion of every audio file under PATH (default: the current folder) "
    "and write one row per file to a Parquet or CSV table.",
    add_completion=False,
    no_args_is_help=False,
)

_INPUT, _OUTPUT, _MODEL, _EVAL, _RUN = "Input", "Output", "Model", "Evaluation", "Run"


class Normalization(str, Enum):
    none = "none"
    corpus = "corpus"
    speaker = "speaker"


class CompareWith(str, Enum):
    ravdess = "ravdess"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"ser-annotate {__version__}")
        raise typer.Exit()


@app.command()
def annotate_command(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="PATH",
            help="Folders (walked recursively; hidden files and folders skipped) or files "
            "(taken whatever their extension).",
            show_default="current folder",
        ),
    ] = None,
    glob: Annotated[
        str | None,
        typer.Option(
            "--glob",
            metavar="PATTERN",
            help='Only files whose name or relative path matches this glob, e.g. "*.wav" '
            'or "Actor_0*/*".',
            rich_help_panel=_INPUT,
        ),
    ] = None,
    out: Annotated[
        str,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            help="Output table; .parquet or .csv picks the format.",
            rich_help_panel=_OUTPUT,
        ),
    ] = "labels.parquet",
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace FILE if it exists.", rich_help_panel=_OUTPUT),
    ] = False,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            metavar="NAME|PATH",
            help="Bundled model (ravdess8, ravdess4) or a model file.",
            show_default="ravdess8",
            rich_help_panel=_MODEL,
        ),
    ] = None,
    normalize: Annotated[
        Normalization | None,
        typer.Option(
            "--normalize",
            help="Feature normalisation per speaker or over the whole run.",
            show_default="as the model was trained",
            rich_help_panel=_MODEL,
        ),
    ] = None,
    speaker_from: Annotated[
        str,
        typer.Option(
            "--speaker-from",
            metavar="auto|parent|REGEX",
            help="Speaker of a file: auto = RAVDESS actor from the file name; parent = its "
            "folder's name; or a regular expression searched in the path (group 1 if any).",
            rich_help_panel=_MODEL,
        ),
    ] = "auto",
    compare: Annotated[
        CompareWith | None,
        typer.Option(
            "--compare",
            help="Compare predictions with the labels in RAVDESS file names and print "
            "UAR, accuracy, macro-F1 and a confusion matrix.",
            rich_help_panel=_EVAL,
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            metavar="N",
            help="Worker processes (1: in this process, no crash protection).",
            show_default="all cores",
            rich_help_panel=_RUN,
        ),
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="No progress bar, summary or warnings.", rich_help_panel=_RUN
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="Show the version and exit.",
            rich_help_panel=_RUN,
        ),
    ] = False,
) -> None:
    """Predict the emotion of every audio file under PATH and write one row per file."""
    _prestart_workers(paths or ["."], glob, jobs, out, overwrite)

    from ser.common import SerError

    from .api import annotate_to_file

    bar = _ProgressBar(enabled=not quiet and sys.stderr.isatty())
    with _log_to_stderr(logging.ERROR if quiet else logging.WARNING), _sigterm_interrupts():
        try:
            summary = annotate_to_file(
                paths or ["."],
                out=out,
                model=model,
                jobs=jobs,
                pattern=glob,
                compare=None if compare is None else compare.value,
                normalize=None if normalize is None else normalize.value,
                speaker_from=speaker_from,
                overwrite=overwrite,
                progress=bar,
            )
        except (SerError, OSError) as exc:
            bar.stop()
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(1 if bar.started else 2) from None
        except KeyboardInterrupt:
            bar.stop()
            typer.echo("Interrupted; no output was written.", err=True)
            raise typer.Exit(130) from None
        bar.stop()
    _report(summary, quiet=quiet)
    raise typer.Exit(1 if summary.n_errors else 0)


def _prestart_workers(
    paths: list[str], glob: str | None, jobs: int | None, out: str, overwrite: bool
) -> None:
    """Start the run's worker processes now, so they start while the rest is loaded.

    Only for a run that will surely use workers: every path exists, ``out`` may be written,
    and the walk finds files. The count is the run's own (:func:`~.runner.worker_count`): the
    walk stops as soon as it has found as many files as workers are wanted, so that the
    workers started here are the ones the run uses.
    """
    import os

    if os.path.exists(out) and not overwrite:
        return
    if not all(os.path.exists(p) for p in paths):
        return
    import sys
    from itertools import islice

    from ser.corpora.walk import find_audio_files

    from .runner import prestart_workers, worker_count

    most = worker_count(jobs, sys.maxsize)  # the workers wanted, however many files
    if most < 2:
        return
    try:
        found = sum(1 for _ in islice(find_audio_files(paths, pattern=glob), most))
    except (OSError, ValueError):  # the run reports it
        return
    if found:
        prestart_workers(worker_count(jobs, found))


def _report(summary: RunSummary, *, quiet: bool) -> None:
    if summary.comparison is not None:
        from .compare import format_comparison

        typer.echo(format_comparison(summary.comparison))
    if not quiet:
        typer.echo(
            f"{summary.n_files} files: {summary.n_ok} ok, {summary.n_errors} errors in "
            f"{summary.seconds:.1f} s ({summary.files_per_s:.1f} files/s) -> {summary.out}",
            err=True,
        )


class _ProgressBar:
    """Rich progress bar on stderr (files, files/s, ETA); also remembers that work started."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.started = False
        self._bar: Any = None
        self._task: Any = None

    def start(self, total: int) -> None:
        self.started = True
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("annotating"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._t0 = time.perf_counter()
        self._task = self._bar.add_task("annotating", total=total, rate="")
        self._bar.start()

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            task = self._bar.tasks[0]
            elapsed = time.perf_counter() - self._t0
            rate = f"{(task.completed + n) / elapsed:.1f} files/s" if elapsed > 0 else ""
            self._bar.update(self._task, advance=n, rate=rate)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Treat SIGTERM (a batch scheduler stopping the job) like Ctrl-C: clean up and exit."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@contextlib.contextmanager
def _log_to_stderr(level: int) -> Iterator[None]:
    """Show ``ser`` log records of ``level`` and above on stderr while the command runs."""
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
