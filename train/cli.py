"""``ser-train``: build an emotion model from RAVDESS and say honestly how good it is."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ser.common.version import __version__

app = typer.Typer(
    add_completion=False,
    help="Train an emotion model on RAVDESS, evaluate it speaker-independently, save it.",
    context_settings={"help_option_names": ["-h", "--help"]},
)

_DATA = "Data"
_MODEL = "Model"
_RUN = "Run"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ser-train {__version__}")
        raise typer.Exit()


@app.command()
def main(
    data: Annotated[
        Path | None,
        typer.Option(
            help="Folder with RAVDESS files (searched recursively). "
            "Default: $SER_DATA_DIR, else the current folder.",
            rich_help_panel=_DATA,
            show_default=False,
        ),
    ] = None,
    subset: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated emotions to learn, e.g. neutral,angry,sad,happy. Default: all 8.",
            rich_help_panel=_DATA,
        ),
    ] = None,
    include_song: Annotated[
        bool,
        typer.Option(help="Also use RAVDESS song files (vocal channel 02).", rich_help_panel=_DATA),
    ] = False,
    features: Annotated[
        str, typer.Option(help="Feature set: default or seed.", rich_help_panel=_MODEL)
    ] = "default",
    normalize: Annotated[
        str,
        typer.Option(
            help="Standardise features per speaker (actor), per corpus, or not at all.",
            rich_help_panel=_MODEL,
        ),
    ] = "speaker",
    augment: Annotated[
        int,
        typer.Option(
            min=0,
            help="Augmented copies of each training file (noise, band-limiting, reverberation, "
            "gain, speed), training folds only.",
            rich_help_panel=_MODEL,
        ),
    ] = 2,
    hidden: Annotated[
        str, typer.Option(help="Hidden layer sizes, comma-separated.", rich_help_panel=_MODEL)
    ] = "256",
    alpha: Annotated[
        float, typer.Option(min=0.0, help="L2 penalty of the MLP.", rich_help_panel=_MODEL)
    ] = 1.0,
    ensemble: Annotated[
        int,
        typer.Option(min=1, help="MLPs with different seeds, averaged.", rich_help_panel=_MODEL),
    ] = 3,
    tune: Annotated[
        bool,
        typer.Option(
            help="Choose hidden sizes, alpha, learning rate and early stopping by nested "
            "actor-grouped cross-validation (slow: about 5x16 extra fits).",
            rich_help_panel=_MODEL,
        ),
    ] = False,
    folds: Annotated[
        int,
        typer.Option(min=2, help="Cross-validation folds, grouped by actor.", rich_help_panel=_RUN),
    ] = 6,
    repeat: Annotated[
        int,
        typer.Option(
            min=1, help="Repeat cross-validation with this many seeds.", rich_help_panel=_RUN
        ),
    ] = 1,
    evaluate: Annotated[
        bool, typer.Option(help="Cross-validate before the final fit.", rich_help_panel=_RUN)
    ] = True,
    jobs: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Parallel feature-extraction workers. Default: all cores.",
            rich_help_panel=_RUN,
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.", rich_help_panel=_RUN)] = 0,
    out: Annotated[
        Path,
        typer.Option(
            help="Model file to write (.skops); the model card goes beside it (.json).",
            rich_help_panel=_RUN,
        ),
    ] = Path("model.skops"),
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar.", rich_help_panel=_RUN)
    ] = False,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = None,
) -> None:
    """Train on RAVDESS: features in parallel, actor-grouped cross-validation, final fit, save.

    Examples: ser-train --subset neutral,angry,sad,happy ; ser-train --data ~/ravdess --out m.skops
    """
    from ser.common.errors import SerError

    from .report import run_training

    data_dir = data if data is not None else Path(os.environ.get("SER_DATA_DIR") or ".")
    try:
        code = run_training(
            data_dir=data_dir,
            subset=subset,
            include_song=include_song,
            features=features,
            normalize=normalize,
            augment=augment,
            hidden=hidden,
            alpha=alpha,
            ensemble=ensemble,
            tune=tune,
            folds=folds,
            repeat=repeat,
            evaluate=evaluate,
            jobs=jobs,
            seed=seed,
            out=out,
            quiet=quiet,
        )
    except SerError as exc:
        typer.echo(f"ser-train: error: {exc}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)
