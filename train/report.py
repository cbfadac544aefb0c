"""The console side of ``ser-train``: option checks, progress, the evaluation printout."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import typer

from ser.common.errors import DataError
from ser.corpora import validate_subset
from ser.features.extract import FEATURE_SETS
from ser.features.normalize import NORMALIZATIONS
from ser.models.metrics import Scores, format_confusion

if TYPE_CHECKING:
    from .fit import TrainResult

__all__ = ["run_training"]


def _parse_hidden(hidden: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(h) for h in hidden.split(",") if h.strip())
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise DataError(f"--hidden must be positive integers separated by commas, got {hidden!r}")
    return sizes


def run_training(
    *,
    data_dir: Path,
    subset: str | None,
    include_song: bool,
    features: str,
    normalize: str,
    augment: int,
    hidden: str,
    alpha: float,
    ensemble: int,
    tune: bool,
    folds: int,
    repeat: int,
    evaluate: bool,
    jobs: int | None,
    seed: int,
    out: Path,
    quiet: bool,
) -> int:
    """Validate options, train, print the evaluation, save model and card. Returns 0."""
    from .fit import MLPSettings, command_line, train_model

    emotions = validate_subset(subset)
    if features not in FEATURE_SETS:
        raise DataError(f"--features must be one of {', '.join(FEATURE_SETS)}, got {features!r}")
    if normalize not in NORMALIZATIONS:
        raise DataError(
            f"--normalize must be one of {', '.join(NORMALIZATIONS)}, got {normalize!r}"
        )
    if out.suffix != ".skops":
        raise DataError(f"--out must end in .skops, got {str(out)!r}")
    settings = MLPSettings(hidden=_parse_hidden(hidden), alpha=alpha, ensemble=ensemble)
    show_progress = not quiet and sys.stderr.isatty()

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    err = Console(stderr=True)
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not show_progress,
    )
    task = progress.add_task("features", total=None)

    def on_progress(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    def on_fold(r: int, i: int, s: Scores) -> None:
        typer.echo(
            f"  seed {seed + r} fold {i + 1}/{folds}: UAR {s.uar:.3f}  "
            f"accuracy {s.accuracy:.3f}  macro-F1 {s.macro_f1:.3f}  (n={s.n})"
        )

    typer.echo(
        f"Training on {data_dir} ({', '.join(emotions)}), features {features}, "
        f"normalisation {normalize}, {augment} augmented copies per file"
    )
    with progress:
        result = train_model(
            data_dir,
            subset=emotions,
            features=features,
            folds=folds,
            jobs=jobs,
            seed=seed,
            repeat=repeat,
            normalization=normalize,
            augment=augment,
            settings=settings,
            include_song=include_song,
            evaluate=evaluate,
            tune=tune,
            name=out.stem,
            on_progress=on_progress,
            on_fold=on_fold if evaluate else None,
        )
    n_skipped = len(result.info["skipped"])
    typer.echo(
        f"{len(result.dataset.y)} files used"
        + (f", {n_skipped} skipped (unreadable; see warnings)" if n_skipped else "")
    )
    if evaluate:
        _print_evaluation(result, folds)
    if tune:
        typer.echo(f"Final model: {result.model.meta['classifier']} (chosen by CV over all actors)")
    sha = _save(result, out, command_line())
    typer.echo(f"Saved {out} (sha256 {sha[:12]}...) and {out.with_suffix('.json')}")
    return 0


def _print_evaluation(result: TrainResult, folds: int) -> None:
    summary = result.cv_summary()
    cv = result.cv
    typer.echo(
        f"\nSpeaker-independent {folds}-fold cross-validation (folds grouped by actor), "
        f"{len(cv)} seed(s):"
    )
    for key, label in (("uar", "UAR"), ("accuracy", "accuracy"), ("macro_f1", "macro-F1")):
        m = summary[key]
        line = f"  {label:9s} {m['mean_over_folds']:.3f} ± {m['std_over_folds']:.3f} over folds"
        if len(cv) > 1:
            line += (
                f"; pooled {m['pooled_mean_over_seeds']:.3f} ± {m['std_over_seeds']:.3f} over seeds"
            )
        typer.echo(line)
    if cv[0].chosen:
        from .fit import TUNE_GRID

        typer.echo(
            "Nested CV chose, per outer fold: "
            + "; ".join(
                f"{i + 1}: hidden {TUNE_GRID[c].hidden} alpha {TUNE_GRID[c].alpha}"
                f"{' early-stopping' if TUNE_GRID[c].early_stopping else ''}"
                for i, c in enumerate(cv[0].chosen)
            )
        )
    typer.echo("\nPer-class recall and confusion matrix (pooled over folds, first seed):")
    typer.echo(format_confusion(cv[0].pooled))
    if len(cv) > 1:
        recall = summary["recall"]
        typer.echo(
            "Recall averaged over seeds: "
            + ", ".join(f"{c} {r:.3f}" for c, r in recall.items() if not np.isnan(r))
        )


def _save(result: TrainResult, out: Path, command: str) -> str:
    from ser.models.model import save_model

    from .fit import write_card

    sha = save_model(result.model, out)
    write_card(result, out, sha256=sha, command=command)
    return sha
