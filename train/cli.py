"""``ser-train``: build an emotion model from labelled corpora and say honestly how good it is.

The command is thin: it parses options, calls :func:`ser.train.train_to_file` and owns the
console (progress bar and warnings on stderr, fold scores and the evaluation on stdout, via
:mod:`.report`). Heavy modules load only once work starts, so ``-h`` and ``--version`` stay
fast.

Exit status: 0 model saved; 1 the run failed after training started; 2 a bad option, output
or corpus, found before any work; 130 interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ser.common.choices import (
    CLASSIFIERS,
    EVALUATIONS,
    FEATURE_SET_NAMES,
    NORMALIZATIONS,
    choice_enum,
)
from ser.common.console import (
    HELP_OPTIONS,
    Interrupted,
    echo_error,
    log_to_stderr,
    run_command,
    sigterm_interrupts,
    version_callback,
)

from .progress import ProgressBar

__all__ = ["app", "main"]

PROG = "ser-train"

app = typer.Typer(name=PROG, add_completion=False, context_settings=HELP_OPTIONS)

FeatureSet = choice_enum("FeatureSet", FEATURE_SET_NAMES)
Normalization = choice_enum("Normalization", NORMALIZATIONS)
Evaluation = choice_enum("Evaluation", EVALUATIONS)
Classifier = choice_enum("Classifier", CLASSIFIERS)

_DATA, _MODEL, _RUN, _OUTPUT = "Data", "Model", "Run", "Output"

# Rich keeps these line breaks and indents; lines stay under 78 columns so that they do
# not wrap in an 80-column terminal.
_EPILOG = """\
Examples:

  ser-train --data ../shared/data/ravdess-speech --out my8.skops
      all 8 emotions, 6-fold cross-validation, then the final fit
  ser-train --subset neutral,angry,sad,happy --out my4.skops
      4 emotions, from inside a RAVDESS folder (or with SER_DATA_DIR set)
  ser-train --data ravdess --folds 3 --augment 0 --ensemble 1 -o quick.skops
      a quick look: 3 folds, no augmented copies, one MLP
  ser-train --data ravdess --data crema-d --evaluate corpus -o mine.skops
      two corpora; also train on one, test on the other
  ser-train --labels calls/labels.csv --map frustrated=angry -o calls.skops
      your own labelled clips (columns path, emotion, speaker)
  ser-train --data ravdess --compare-classifiers all --report run.html
      also cross-validate knn, svm, tree, forest and mlp on the same folds;
      an HTML report with the figures (the saved model stays the MLP)

Exit status: 0 saved; 1 failed after training started; 2 bad option or data,
nothing done; 130 interrupted (Ctrl-C or SIGTERM)."""


@app.command(epilog=_EPILOG)
def train_command(
    data: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="PATH",
            help="A labelled corpus: a RAVDESS or CREMA-D folder (recognised by the file "
            "names), a folder per emotion (angry/x.wav), or a labels table (.csv/.parquet). "
            "Give it once per corpus.",
            show_default="$SER_DATA_DIR, else the current folder",
            rich_help_panel=_DATA,
        ),
    ] = None,
    labels: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="TABLE",
            help="A labels table (.csv or .parquet) with columns path and emotion, and "
            "optionally speaker; paths relative to the table's folder. Repeatable.",
            rich_help_panel=_DATA,
        ),
    ] = None,
    map_labels: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            metavar="OLD=NEW",
            help="Read the label OLD as the emotion NEW (e.g. frustrated=angry); NEW may be "
            "'drop' to leave those clips out. Repeatable.",
            rich_help_panel=_DATA,
        ),
    ] = None,
    speaker_from: Annotated[
        str | None,
        typer.Option(
            metavar="RULE",
            help="Speaker of each clip: 'parent' (its folder), 'none', or a regular "
            "expression on the path (its first group).",
            show_default="the corpus' convention or the table's speaker column",
            rich_help_panel=_DATA,
        ),
    ] = None,
    subset: Annotated[
        str | None,
        typer.Option(
            metavar="EMOTIONS",
            help="Comma-separated emotions to learn, e.g. neutral,angry,sad,happy.",
            show_default="every emotion the data has",
            rich_help_panel=_DATA,
        ),
    ] = None,
    include_song: Annotated[
        bool,
        typer.Option(help="Also use RAVDESS song files (vocal channel 02).", rich_help_panel=_DATA),
    ] = False,
    features: Annotated[
        FeatureSet,  # type: ignore[valid-type]
        typer.Option(help="Feature set.", rich_help_panel=_MODEL),
    ] = FEATURE_SET_NAMES[0],  # type: ignore[assignment]
    normalize: Annotated[
        Normalization,  # type: ignore[valid-type]
        typer.Option(
            help="Standardise features per speaker (actor), per corpus, or not at all.",
            rich_help_panel=_MODEL,
        ),
    ] = "speaker",  # type: ignore[assignment]
    augment: Annotated[
        int,
        typer.Option(
            min=0,
            help="Augmented copies of each training file (noise, band-limiting, reverberation, "
            "gain, speed), training folds only.",
            rich_help_panel=_MODEL,
        ),
    ] = 0,
    hidden: Annotated[
        str,
        typer.Option(
            metavar="SIZES", help="Hidden layer sizes, comma-separated.", rich_help_panel=_MODEL
        ),
    ] = "256",
    alpha: Annotated[
        float, typer.Option(min=0.0, help="L2 penalty of the MLP.", rich_help_panel=_MODEL)
    ] = 1.0,
    ensemble: Annotated[
        int,
        typer.Option(min=1, help="MLPs with different seeds, averaged.", rich_help_panel=_MODEL),
    ] = 3,
    classifier: Annotated[
        Classifier,  # type: ignore[valid-type]
        typer.Option(
            help="The saved model's classifier: ser's MLP, or the k-nearest-neighbours "
            "baseline (svm, tree and forest can be compared but not saved: ser's model loader "
            "does not trust their types). The MLP options apply to mlp only.",
            rich_help_panel=_MODEL,
        ),
    ] = "mlp",  # type: ignore[assignment]
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
        typer.Option(
            min=2,
            help="Cross-validation folds, grouped by actor (at most the number of actors).",
            rich_help_panel=_RUN,
        ),
    ] = 6,
    repeat: Annotated[
        int,
        typer.Option(
            min=1, help="Repeat cross-validation with this many seeds.", rich_help_panel=_RUN
        ),
    ] = 1,
    evaluate: Annotated[
        Evaluation,  # type: ignore[valid-type]
        typer.Option(
            help="cv: cross-validation grouped by speaker (it also fits the calibration); "
            "corpus: that and leave-one-corpus-out; none: the final fit only (uncalibrated).",
            rich_help_panel=_RUN,
        ),
    ] = "cv",  # type: ignore[assignment]
    compare_classifiers: Annotated[
        str | None,
        typer.Option(
            metavar="NAMES",
            help="Also cross-validate these classifiers on the same speaker-grouped folds and "
            "features, and print a table (UAR, accuracy, macro-F1, fit time): knn, svm, tree, "
            "forest, mlp, comma-separated, or all.",
            rich_help_panel=_RUN,
        ),
    ] = None,
    no_evaluate: Annotated[
        bool, typer.Option("--no-evaluate", help="Same as --evaluate none.", hidden=True)
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            metavar="N",
            help="Feature-extraction workers; -1 every core, -2 all but one.",
            show_default="all cores",
            rich_help_panel=_RUN,
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.", rich_help_panel=_RUN)] = 0,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="No progress bar or warnings.", rich_help_panel=_RUN),
    ] = False,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            help="Model file to write (.skops); the model card goes beside it (.json).",
            rich_help_panel=_OUTPUT,
        ),
    ] = Path("model.skops"),
    features_out: Annotated[
        Path | None,
        typer.Option(
            metavar="TABLE",
            help="Also write the training features (.parquet or .csv): path, source, speaker, "
            "emotion and one named column per feature.",
            rich_help_panel=_OUTPUT,
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            metavar="REPORT.html",
            help="Also write a self-contained HTML report: cross-validation and "
            "leave-one-corpus-out confusion matrices, recall, calibration, every fold, and "
            "the classifier comparison.",
            rich_help_panel=_OUTPUT,
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace FILE, its card, the features table and the report if they exist.",
            rich_help_panel=_OUTPUT,
        ),
    ] = False,
    version: Annotated[
        bool | None,
        typer.Option(
            "--version", callback=version_callback(PROG), is_eager=True, help="Print the version."
        ),
    ] = None,
) -> None:
    """Train an emotion model on labelled corpora, evaluate it honestly, save it.

    Features are extracted in parallel; the model is cross-validated with
    folds grouped by speaker (no speaker in both training and test, every
    source in every fold), optionally tested on each corpus left out of
    training, calibrated on the out-of-fold predictions, then fitted on
    every file and saved with a JSON model card beside it.
    """
    options = {
        "subset": subset,
        "include_song": include_song,
        "features": features.value,
        "normalize": normalize.value,
        "augment": augment,
        "hidden": hidden,
        "alpha": alpha,
        "ensemble": ensemble,
        "tune": tune,
        "folds": folds,
        "repeat": repeat,
        "evaluate": "none" if no_evaluate else evaluate.value,
        "classifier": classifier.value,
        "compare_classifiers": compare_classifiers or (),
        "report": report,
        "labels": labels or [],
        "features_out": features_out,
        "mapping": map_labels or [],
        "speaker_from": speaker_from,
        "jobs": jobs,
        "seed": seed,
        "overwrite": overwrite,
    }
    from ser.batch import shutdown_workers

    data_dirs = list(data or [])
    if not data_dirs and not labels:
        data_dirs = [Path(os.environ.get("SER_DATA_DIR") or ".")]
    level = logging.ERROR if quiet else logging.WARNING
    bar = ProgressBar(enabled=not quiet and sys.stderr.isatty())
    before = _stamp(out)
    try:
        with log_to_stderr(level), sigterm_interrupts(sigint=True):
            code = _train(data_dirs, out, options, bar)
    except (Interrupted, KeyboardInterrupt):  # Ctrl-C or SIGTERM (sigterm_interrupts)
        bar.stop()
        kept = _stamp(out) == before  # the model is replaced atomically, at the very end
        echo_error(PROG, "interrupted" + ("; no model was written" if kept else ""))
        code = 130
    finally:
        bar.stop()
        shutdown_workers()  # no worker process outlives the command
    raise typer.Exit(code)


def _train(data: list[Path], out: Path, options: dict[str, Any], bar: ProgressBar) -> int:
    """Run :func:`~ser.train.train_to_file` and print as it goes; returns the exit status."""
    from ser.common.errors import SerError

    from . import report

    def on_progress(done: int, total: int) -> None:
        if not bar.started:  # the checks passed: say what is about to happen
            keys = ("features", "normalize", "augment")
            typer.echo(report.format_header(sources[0], **{k: options[k] for k in keys}))
        bar.update(done, total)
        if done == total:
            bar.stop()  # the fold scores follow on stdout

    def on_fold(r: int, i: int, s: Any) -> None:
        typer.echo(report.format_fold(options["seed"] + r, i, options["folds"], s))

    def on_corpus(res: Any) -> None:
        typer.echo(report.format_corpus(res))

    def on_compared(run: Any) -> None:
        typer.echo(report.format_compared(run))

    sources: list[Any] = [None]

    def on_sources(corpus: Any) -> None:
        sources[0] = corpus

    try:
        from .api import command_line, train_to_file

        saved = train_to_file(
            data,
            out=out,
            command=command_line(),
            on_progress=on_progress,
            on_fold=on_fold,
            on_corpus=on_corpus,
            on_sources=on_sources,
            on_compared=on_compared,
            **options,
        )
    except (SerError, OSError) as exc:
        bar.stop()
        echo_error(PROG, exc)
        return 1 if bar.started else 2
    typer.echo(report.format_used(saved.result))
    if saved.result.cv:
        typer.echo(report.format_evaluation(saved.result))
    if saved.result.corpora:
        typer.echo(report.format_corpora(saved.result))
    if saved.result.calibration is not None:
        typer.echo(report.format_calibration(saved.result))
    if saved.result.comparison:
        from .compare import format_comparison

        typer.echo(
            format_comparison(
                saved.result.comparison, folds=options["folds"], repeat=options["repeat"]
            )
        )
    if options["tune"]:
        typer.echo(report.format_tuned(saved.result))
    typer.echo(report.format_saved(saved))
    if saved.report_path is not None:
        typer.echo(f"Report: {saved.report_path}")
    return 0


def _stamp(path: Path) -> tuple[int, int] | None:
    """Identity and age of a file, to tell whether a run replaced it; None if missing."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def main() -> None:
    """The ``ser-train`` console script."""
    run_command(app, PROG)
