"""``ser-export``: turn a ``ser-annotate`` table into files for Praat, ELAN, Audacity or a player.

The command function is thin: it calls :func:`ser.annotate.export.export_table` and owns the
console (a summary on stderr). pyarrow, praatio and pympi are imported only once work starts,
so ``--help`` stays fast.

Exit status: 0 done (error rows of the table are skipped, and counted in the summary); 1 a
file could not be written (the files written before it are kept, whole); 2 usage errors,
found before any file is written; 130 interrupted.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from ser.common.choices import EXPORT_FORMATS, choice_enum
from ser.common.console import (
    HELP_OPTIONS,
    echo_error,
    log_to_stderr,
    run_command,
    sigterm_interrupts,
    version_callback,
)

__all__ = ["app", "main"]

PROG = "ser-export"

app = typer.Typer(
    name=PROG,
    add_completion=False,
    no_args_is_help=False,
    context_settings=HELP_OPTIONS,
)

ExportFormat = choice_enum("ExportFormat", EXPORT_FORMATS)


def main() -> None:
    """The ``ser-export`` command (console entry point)."""
    run_command(app, PROG)


@app.command()
def export_command(
    table: Annotated[
        str,
        typer.Argument(metavar="TABLE", help="A ser-annotate output (.parquet or .csv)."),
    ],
    to: Annotated[
        ExportFormat,
        typer.Option(
            "--to",
            "-t",
            help="textgrid: Praat TextGrid; eaf: ELAN; audacity: Audacity label track (.txt); "
            "vtt: WebVTT subtitles.",
        ),
    ],
    out_dir: Annotated[
        str,
        typer.Option(
            "--out-dir",
            "-o",
            metavar="DIR",
            help="Folder of the files (created if missing): one per recording and channel, "
            "named after its path in TABLE, sub-folders kept.",
        ),
    ],
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace files that exist.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=version_callback(PROG),
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    """Write one file per recording (and channel) of TABLE for Praat, ELAN, Audacity or a player.

    Each segment is labelled with its emotion and confidence, e.g. "angry 0.83".

    Examples:

      ser-export labels.parquet --to textgrid --out-dir textgrids

      ser-export labels.csv --to eaf -o elan --overwrite

    Overlaps stay in Audacity and WebVTT files; TextGrid and EAF tiers cut them (nearest centre).

    Exit status: 0 done; 1 a file could not be written;

    2 a usage error, found before any file is written; 130 interrupted.
    """
    from ser.common import DataError, SerError

    from .export import export_table

    try:
        with log_to_stderr(logging.ERROR if quiet else logging.WARNING), sigterm_interrupts():
            summary = export_table(table, to=to.value, out_dir=out_dir, overwrite=overwrite)
    except DataError as exc:
        echo_error(PROG, exc)
        raise typer.Exit(2) from None
    except (SerError, OSError) as exc:
        echo_error(PROG, exc)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        echo_error(PROG, "interrupted; the files written so far are complete")
        raise typer.Exit(130) from None
    if quiet:
        return
    typer.echo(
        f"{summary.n_files} {to.value} files ({summary.n_segments} segments) -> {summary.out_dir}",
        err=True,
    )
    if summary.n_skipped_rows:
        none = summary.n_unlabelled
        typer.echo(
            f"skipped {summary.n_skipped_rows} rows without an emotion (error rows)"
            + (f"; {none} recording(s) had no labelled row and got no file" if none else ""),
            err=True,
        )
    if summary.n_cut:
        typer.echo(
            f"note: {summary.n_cut} overlapping segments were cut to fit the tier (each "
            "instant goes to the segment whose centre is nearest)",
            err=True,
        )


if __name__ == "__main__":
    main()
