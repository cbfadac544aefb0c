"""What ``ser-annotate`` says around a run: a warning about unused segment options before it;
after it, the ``--compare`` report on stdout, the summary, the first errors and notes about
normalisation on stderr, and the ``--report`` HTML file."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from ser.common.console import echo_error

if TYPE_CHECKING:
    from .summary import RunSummary

__all__ = ["check_report_option", "print_summary", "warn_unused", "write_report"]


def print_summary(summary: RunSummary, *, quiet: bool) -> None:
    """Print what the run did (only the comparison with ``quiet``)."""
    if summary.comparison is not None:
        from .compare import format_comparison

        typer.echo(format_comparison(summary.comparison))
    if quiet:
        return
    typer.echo(
        f"{summary.n_files} files: {summary.n_ok} ok, {summary.n_errors} errors in "
        f"{summary.seconds:.1f} s ({summary.files_per_s:.1f} files/s) -> {summary.out}",
        err=True,
    )
    if summary.n_rows != summary.n_files:
        typer.echo(
            f"{summary.n_rows} rows (segments); {summary.n_unlabelled} of them without a "
            "prediction (silent or too short)",
            err=True,
        )
    if summary.n_left_out:
        typer.echo(f"left out by the walk: {summary.left_out}", err=True)
    for path, reason in summary.first_errors:
        typer.echo(f"error: {path}: {reason}", err=True)
    if summary.n_errors > len(summary.first_errors):
        typer.echo(f"... and {summary.n_errors - len(summary.first_errors)} more (the error "
                   "column of the table has them all)", err=True)  # fmt: skip
    predicted = sum(summary.normalized.values())
    fallback = summary.normalized.get("training", 0)
    if fallback:
        typer.echo(
            f"note: {fallback} of {predicted} rows were normalised with the model's "
            "training statistics, because their speaker group and the whole run have too "
            "few files; their predictions are less accurate. Annotate each speaker's files "
            "together and name speakers with --speaker-from, or use a model trained with "
            "ser-train --normalize none.",
            err=True,
        )
    corpus = summary.normalized.get("corpus", 0)
    if corpus and summary.normalization == "speaker":
        typer.echo(
            f"note: {corpus} of {predicted} rows were normalised with the statistics of "
            "the whole run, because their speaker group has too few files (or no speaker "
            "was found: see --speaker-from).",
            err=True,
        )


def warn_unused(
    segment: str,
    max_segment: float,
    window: float,
    hop: float,
    quiet: bool,
    defaults: dict[str, float],
) -> None:
    """Say so when a segment option is given that the chosen --segment does not use
    (``defaults``: the options' defaults)."""
    unused = []
    if segment != "window" and (window, hop) != (
        defaults["window"],
        defaults["hop"],
    ):
        unused.append("--window/--hop apply to --segment window only")
    if segment in ("file", "window") and max_segment != defaults["max_segment"]:
        unused.append("--max-segment applies to --segment speech and auto only")
    if unused and not quiet:
        typer.echo(f"warning: {'; '.join(unused)}: ignored", err=True)


def check_report_option(report: str, overwrite: bool) -> None:
    """Refuse an unusable ``--report`` before any work (exit status 2)."""
    from ser.common import SerError
    from ser.report import check_report_path

    try:
        check_report_path(report, overwrite=overwrite)
    except SerError as exc:
        echo_error("ser-annotate", exc)
        raise typer.Exit(2) from None


def write_report(table: str, report: str, quiet: bool) -> None:
    """Write the HTML report of the table just written (exit status 1 if that fails)."""
    from ser.common import SerError
    from ser.report import annotation_report

    try:
        annotation_report(table, report)
    except SerError as exc:
        echo_error("ser-annotate", exc)
        raise typer.Exit(1) from None
    if not quiet:
        typer.echo(f"report -> {report}", err=True)
