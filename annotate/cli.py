"""``ser-annotate``: label every audio file under some folders with a predicted emotion.

The command function is thin: it turns options into a call of
:func:`ser.annotate.annotate_to_file` and owns the console (progress bar and summary on
stderr, the ``--compare`` report on stdout). Heavy modules (librosa, scikit-learn, joblib,
pandas) are imported only once work starts, so ``--help`` and ``--version`` stay fast.

Exit status: 0 every file annotated; 1 some files failed (their rows are in the table) or the
run failed after it started; 2 usage errors, found before any work; 130 interrupted.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ser.common.choices import (
    CHANNEL_MODES,
    NORMALIZATIONS,
    SEGMENT_MODES,
    choice_enum,
)
from ser.common.console import (
    HELP_OPTIONS,
    echo_error,
    log_to_stderr,
    native_stderr_silenced,
    run_command,
    sigterm_interrupts,
    version_callback,
)

from .cli_summary import check_report_option, print_summary, warn_unused, write_report
from .progress import ProgressBar

if TYPE_CHECKING:
    from .api import RunSummary

__all__ = ["app", "main"]

PROG = "ser-annotate"

app = typer.Typer(
    name=PROG,
    add_completion=False,
    no_args_is_help=False,
    context_settings=HELP_OPTIONS,
)

_INPUT, _OUTPUT, _MODEL, _EVAL, _RUN = "Input", "Output", "Model", "Evaluation", "Run"
_SEGMENTS = "Segments (long recordings)"


Normalization = choice_enum("Normalization", NORMALIZATIONS)
Segment = choice_enum("Segment", SEGMENT_MODES)
Channels = choice_enum("Channels", CHANNEL_MODES)
#: Defaults of the segment options (those of :class:`ser.audio.segments.SegmentOptions`,
#: repeated here so that ``--help`` imports no numpy; a test checks they agree).
SEGMENT_DEFAULTS = {"max_segment": 10.0, "window": 3.0, "hop": 3.0}


def main() -> None:
    """The ``ser-annotate`` command (console entry point)."""
    run_command(app, PROG)


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
    from_features: Annotated[
        str | None,
        typer.Option(
            "--from-features",
            metavar="FEATS",
            help="Re-predict the rows of a features table (written by --features-out) with "
            "--model instead of decoding audio: no PATH; same segments and speaker groups. "
            "The model must use the table's feature configuration.",
            show_default=False,
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
    features_out: Annotated[
        str | None,
        typer.Option(
            "--features-out",
            metavar="FEATS",
            help="Also write every row's feature vector (one column per feature) with its "
            "path, span and speaker group to this .parquet table, for --from-features, "
            "pandas, polars or DuckDB.",
            show_default=False,
            rich_help_panel=_OUTPUT,
        ),
    ] = None,
    report: Annotated[
        str | None,
        typer.Option(
            "--report",
            metavar="HTML",
            help="Also write a self-contained HTML report of the table (counts, emotions, "
            "confidences, errors, timelines; with --compare the confusion matrix and "
            "reliability diagram). Opens offline.",
            show_default=False,
            rich_help_panel=_OUTPUT,
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue an interrupted run on FILE (Ctrl-C, SIGTERM, kill -9, a crash) from "
            "its journal FILE.partial/: only the files it lacks are annotated, and the table "
            "is an uninterrupted run's. The options and files must be the same.",
            rich_help_panel=_OUTPUT,
        ),
    ] = False,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            metavar="NAME|PATH",
            help="Bundled model (ser6, ser4) or a model file.",
            show_default="ser6",
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
    segment: Annotated[
        Segment,
        typer.Option(
            "--segment",
            help="Rows per recording: auto = one per file up to 30 s, speech segments for "
            "longer ones; file = one per file; speech = the speech a voice-activity detector "
            "finds; window = fixed windows (--window, --hop).",
            rich_help_panel=_SEGMENTS,
        ),
    ] = Segment.auto,  # type: ignore[attr-defined]
    channels: Annotated[
        Channels,
        typer.Option(
            "--channels",
            help="mix = mix the channels to mono; each = segment and classify every channel "
            "on its own (a channel column).",
            rich_help_panel=_SEGMENTS,
        ),
    ] = Channels.mix,  # type: ignore[attr-defined]
    max_segment: Annotated[
        float,
        typer.Option(
            "--max-segment",
            metavar="SECONDS",
            help="Longest speech segment.",
            rich_help_panel=_SEGMENTS,
        ),
    ] = SEGMENT_DEFAULTS["max_segment"],
    window: Annotated[
        float,
        typer.Option(
            "--window", metavar="SECONDS", help="Window length.", rich_help_panel=_SEGMENTS
        ),
    ] = SEGMENT_DEFAULTS["window"],
    hop: Annotated[
        float,
        typer.Option(
            "--hop", metavar="SECONDS", help="Step between windows.", rich_help_panel=_SEGMENTS
        ),
    ] = SEGMENT_DEFAULTS["hop"],
    compare: Annotated[
        str | None,
        typer.Option(
            "--compare",
            metavar="LABELS",
            help="Compare predictions with true labels: 'ravdess' or 'crema-d' (from the "
            "file names) or a labels table (.csv/.parquet with columns path and emotion); "
            "prints UAR, accuracy, macro-F1, a confusion matrix and the calibration error.",
            rich_help_panel=_EVAL,
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            metavar="N",
            help="Worker processes, at most the usable cores (-1: all of them; 1: in this "
            "process, no crash protection).",
            show_default="all cores",
            rich_help_panel=_RUN,
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            metavar="ADDRESS",
            envvar="SER_SCHEDULER",
            help="Run the work on this dask.distributed scheduler's workers (e.g. "
            "tcp://10.0.0.5:8786; pip install 'ser\\[dask]') instead of local processes; "
            "--jobs is then ignored. The workers read the files themselves: give paths on a "
            "filesystem they share.",
            show_default=False,
            rich_help_panel=_RUN,
        ),
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="No progress bar, summary or warnings (the --compare figures are still printed).",
            rich_help_panel=_RUN,
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=version_callback(PROG),
            is_eager=True,
            help="Show the version and exit.",
            rich_help_panel=_RUN,
        ),
    ] = False,
) -> None:
    """Predict the emotion of every audio file under PATH and write one row per file.

    Examples:

      ser-annotate ./recordings --out labels.parquet

      ser-annotate --jobs 8                       (the current folder, 8 workers)

      ser-annotate ./interviews --speaker-from parent --out labels.csv

      ser-annotate ./ravdess -m ser4 --compare ravdess -o ravdess.parquet --report ravdess.html

      ser-annotate ./recordings -o labels.parquet --resume   (after an interruption)

      ser-annotate /shared/corpus -o labels.parquet --scheduler tcp://10.0.0.5:8786

      ser-annotate ./corpus -o ser6.parquet --features-out feats.parquet

      ser-annotate --from-features feats.parquet -m ser4 -o ser4.parquet

    Exit status: 0 all annotated; 1 a file or the run failed (rows are kept);

    2 a usage error, found before any work; 130 interrupted.
    """
    with native_stderr_silenced(quiet):  # before any worker starts: they inherit it
        warn_unused(segment.value, max_segment, window, hop, quiet, SEGMENT_DEFAULTS)
        segments = {
            "segment": segment.value,
            "channels": channels.value,
            "max_segment": max_segment,
            "window": window,
            "hop": hop,
        }
        io = {
            "resume": resume,
            "scheduler": scheduler or None,
            "features_out": features_out,
            "from_features": from_features,
        }
        if not paths and from_features is None:
            paths = ["."]
        if report is not None:
            check_report_option(report, overwrite)
        summary = _run(paths or [], glob, out, overwrite, model, normalize, speaker_from,
                       compare, jobs, quiet, segments, io)  # fmt: skip
    print_summary(summary, quiet=quiet)
    if report is not None:
        write_report(summary.out, report, quiet)
    raise typer.Exit(1 if summary.n_errors else 0)


def _run(
    paths: list[str],
    glob: str | None,
    out: str,
    overwrite: bool,
    model: str | None,
    normalize: Any,
    speaker_from: str,
    compare: Any,
    jobs: int | None,
    quiet: bool,
    segments: dict[str, Any],
    io: dict[str, Any],
) -> RunSummary:
    if io["scheduler"] is None and io["from_features"] is None:  # else no local worker
        _prestart_workers(paths, glob, jobs, out, overwrite)

    from ser.batch import shutdown_workers
    from ser.common import SerError

    from .api import annotate_to_file

    bar = ProgressBar(enabled=not quiet and sys.stderr.isatty())
    try:
        with log_to_stderr(logging.ERROR if quiet else logging.WARNING), sigterm_interrupts():
            return annotate_to_file(
                paths,
                out=out,
                model=model,
                jobs=jobs,
                pattern=glob,
                compare=compare,
                normalize=None if normalize is None else normalize.value,
                speaker_from=speaker_from,
                overwrite=overwrite,
                **segments,
                **io,
                progress=bar,
            )
    except (SerError, OSError) as exc:
        bar.stop()
        echo_error(PROG, exc)
        raise typer.Exit(1 if bar.started else 2) from None
    except KeyboardInterrupt:
        bar.stop()
        echo_error(PROG, "interrupted; no output was written")
        raise typer.Exit(130) from None
    finally:
        bar.stop()
        shutdown_workers()


def _prestart_workers(
    paths: list[str], glob: str | None, jobs: int | None, out: str, overwrite: bool
) -> None:
    """Start the run's worker processes now, so they start while the rest is loaded.

    Only for a run that will surely use workers: every path exists, ``out`` may be written,
    and the walk finds files. The count is the run's own (:func:`ser.batch.worker_count`):
    the walk stops as soon as it has found as many files as workers are wanted, so that the
    workers started here are the ones the run uses.
    """
    if (os.path.exists(out) and not overwrite) or os.path.isdir(out):
        return
    if not all(os.path.exists(p) for p in paths):
        return
    from itertools import islice

    from ser.batch import prestart_workers, worker_count
    from ser.corpora.walk import find_audio_files

    try:
        most = worker_count(jobs, sys.maxsize)  # the workers wanted, however many files
        if most < 2:
            return
        found = sum(1 for _ in islice(find_audio_files(paths, pattern=glob), most))
    except (OSError, ValueError):  # the run reports it
        return
    if found:
        prestart_workers(worker_count(jobs, found))
