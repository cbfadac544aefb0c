"""What ``ser-train`` prints: the run's header, fold scores, evaluation and save lines.

Text only: each function returns the lines the command echoes, so the library never prints
and the report can be tested without a console.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ser.models.metrics import Scores

    from .api import SavedModel
    from .fit import TrainResult

__all__ = [
    "format_evaluation",
    "format_fold",
    "format_header",
    "format_saved",
    "format_tuned",
    "format_used",
]


def format_header(
    data: object, emotions: Sequence[str], *, features: str, normalize: str, augment: int
) -> str:
    """The line that opens a run."""
    return (
        f"Training on {data} ({', '.join(emotions)}), features {features}, "
        f"normalisation {normalize}, {augment} augmented copies per file"
    )


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

    from ser.models.metrics import format_confusion

    from .fit import TUNE_GRID

    summary = result.cv_summary()
    cv = result.cv
    lines = [
        f"\nSpeaker-independent {result.info['folds']}-fold cross-validation "
        f"(folds grouped by actor), {len(cv)} seed(s):"
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
