"""What ``ser-train`` prints: the run's header, fold scores, evaluation and save lines.

Text only: each function returns the lines the command echoes, so the library never prints
and the report can be tested without a console.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ser.models.metrics import Scores

    from .api import SavedModel
    from .compare import ClassifierRun
    from .crosscorpus import CorpusResult
    from .fit import TrainResult

__all__ = [
    "format_calibration",
    "format_compared",
    "format_corpora",
    "format_corpus",
    "format_evaluation",
    "format_fold",
    "format_header",
    "format_saved",
    "format_tuned",
    "format_used",
]


def format_header(corpus: Any, *, features: str, normalize: str, augment: int) -> str:
    """The lines that open a run: each source's files, speakers and emotions."""
    from ser.corpora import EMOTIONS

    clips = corpus.clips
    sources = list(dict.fromkeys(c.source for c in clips))
    emotions = [e for e in EMOTIONS if e in {c.emotion for c in clips}]
    lines = [
        f"Training on {len(clips)} files of {len(sources)} source(s) ({', '.join(emotions)}), "
        f"features {features}, normalisation {normalize}, {augment} augmented copies per file"
    ]
    for src in sources:
        mine = [c for c in clips if c.source == src]
        counts = {e: sum(c.emotion == e for c in mine) for e in emotions}
        lines.append(
            f"  {src}: {len(mine)} files, {len({c.speaker for c in mine})} speakers; "
            + ", ".join(f"{e} {n}" for e, n in counts.items() if n)
        )
    if corpus.left_out:
        lines.append(f"  left out: {len(corpus.left_out)} clips (see warnings)")
    return "\n".join(lines)


def format_fold(seed: int, fold: int, folds: int, s: Scores) -> str:
    """One cross-validation fold (``fold`` counts from 0)."""
    return (
        f"  seed {seed} fold {fold + 1}/{folds}: UAR {s.uar:.3f}  "
        f"accuracy {s.accuracy:.3f}  macro-F1 {s.macro_f1:.3f}  (n={s.n})"
    )


def format_used(result: TrainResult) -> str:
    """How many files the model was trained on, and how many were skipped."""
    n_skipped = len(result.info["skipped"])
    return f"{len(result.dataset.y)} files used" + (
        f", {n_skipped} skipped (unreadable; see warnings)" if n_skipped else ""
    )


def format_evaluation(result: TrainResult) -> str:
    """Scores over folds (and seeds), choices of ``--tune``, recall and confusion matrix."""
    import numpy as np

    from ser.models.metrics import format_confusion, format_scores

    from .fit import TUNE_GRID

    summary = result.cv_summary()
    cv = result.cv
    lines = [
        f"\nSpeaker-independent {result.info['folds']}-fold cross-validation "
        f"(folds grouped by speaker), {len(cv)} seed(s):"
    ]
    for key, label in (("uar", "UAR"), ("accuracy", "accuracy"), ("macro_f1", "macro-F1")):
        m = summary[key]
        line = f"  {label:9s} {m['mean_over_folds']:.3f} ± {m['std_over_folds']:.3f} over folds"
        if len(cv) > 1:
            line += (
                f"; pooled {m['pooled_mean_over_seeds']:.3f} ± {m['std_over_seeds']:.3f} over seeds"
            )
        lines.append(line)
    if cv[0].chosen:
        lines.append(
            "Nested CV chose, per outer fold: "
            + "; ".join(
                f"{i + 1}: hidden {TUNE_GRID[c].hidden} alpha {TUNE_GRID[c].alpha}"
                f"{' early-stopping' if TUNE_GRID[c].early_stopping else ''}"
                for i, c in enumerate(cv[0].chosen)
            )
        )
    if len(result.dataset.source_names) > 1:
        from .crosscorpus import scores_by_source

        lines.append("Per source (pooled over folds, first seed):")
        for src, s in scores_by_source(result.dataset, cv[0]).items():
            lines.append(f"  {src:12s} {format_scores(s)}")
    lines.append("\nPer-class recall and confusion matrix (pooled over folds, first seed):")
    lines.append(format_confusion(cv[0].pooled))
    if len(cv) > 1:
        recall = summary["recall"]
        lines.append(
            "Recall averaged over seeds: "
            + ", ".join(f"{c} {r:.3f}" for c, r in recall.items() if not np.isnan(r))
        )
    return "\n".join(lines)


def format_tuned(result: TrainResult) -> str:
    """The classifier that ``--tune`` chose for the final model."""
    return f"Final model: {result.model.meta['classifier']} (chosen by CV over all actors)"


def format_saved(saved: SavedModel) -> str:
    """Where the model and its card went."""
    return f"Saved {saved.model_path} (sha256 {saved.sha256[:12]}...) and {saved.card_path}"


def format_corpus(res: CorpusResult) -> str:
    """One leave-one-corpus-out split, as it finishes."""
    from ser.models.metrics import format_scores

    unseen = (
        f"; {res.n_unseen_class} rows of emotions no other source has left out"
        if (res.n_unseen_class)
        else ""
    )
    return f"  trained without {res.source}, tested on it: {format_scores(res.scores)}{unseen}"


def format_compared(run: ClassifierRun) -> str:
    """One classifier of ``--compare-classifiers``, as its cross-validation finishes."""
    if run.error is not None:
        return f"  compared {run.name:6s}: failed: {run.error}"
    s = run.summary()
    return (
        f"  compared {run.name:6s}: UAR {s['uar']['mean_over_folds']:.3f} ± "
        f"{s['uar']['std_over_folds']:.3f} over folds  accuracy "
        f"{s['accuracy']['mean_over_folds']:.3f}  macro-F1 {s['macro_f1']['mean_over_folds']:.3f}"
        f"  (fit {s['fit_seconds_per_fold']:.2f} s per fold)"
    )


def format_corpora(result: TrainResult) -> str:
    """Leave-one-corpus-out results: scores and per-class recall of each held-out corpus."""
    from ser.models.metrics import format_scores

    lines = ["\nLeave-one-corpus-out (train on the other sources, test on this one):"]
    for r in result.corpora:
        lines.append(f"  {r.source:12s} {format_scores(r.scores)}")
        recall = ", ".join(f"{c} {v:.2f}" for c, v in r.scores.recall.items() if v == v)
        lines.append(f"  {'':12s} recall: {recall}")
    return "\n".join(lines)


def format_calibration(result: TrainResult) -> str:
    """The calibration map and ECE before and after it, with a reliability table."""
    from ser.models.metrics import format_reliability

    cal = result.calibration
    assert cal is not None
    lines = [
        f"\nCalibration: temperature {cal.map.temperature:.3f}, fitted on {cal.fitted_on}.",
        "Expected calibration error (10 bins; each fold calibrated without its speakers, "
        "each left-out corpus without its rows):",
        f"  cross-validation: {cal.ece_raw:.3f} uncalibrated, {cal.ece:.3f} calibrated",
    ]
    for src, e in cal.by_source.items():
        lines.append(f"    {src:12s} {e['uncalibrated']:.3f} -> {e['calibrated']:.3f}")
    for src, e in cal.corpora.items():
        lines.append(
            f"  leave-one-corpus-out, {src}: {e['uncalibrated']:.3f} uncalibrated, "
            f"{e['calibrated']:.3f} calibrated (temperature {e['temperature']:.2f})"
        )
    lines.append("Reliability (cross-validation, calibrated):")
    lines.append(format_reliability(cal.reliability))
    return "\n".join(lines)
