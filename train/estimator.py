"""The classifier: scikit-learn MLPs (one, or a soft-voting ensemble) and their settings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ser.common.errors import DataError

__all__ = ["TUNE_GRID", "MLPSettings", "check_count", "make_estimator", "parse_hidden"]


def parse_hidden(hidden: str | Iterable[int]) -> tuple[int, ...]:
    """Hidden layer sizes from ``"256,128"`` or a sequence of whole numbers >= 1.

    Raises
    ------
    DataError
        For an empty list or a size that is not a whole number >= 1.
    """
    items = hidden.split(",") if isinstance(hidden, str) else list(hidden)
    sizes: list[int] = []
    for h in items:
        if isinstance(h, str) and not h.strip():
            continue  # "256," or " , 128"
        if isinstance(h, str) and h.strip().isdigit():
            sizes.append(int(h))
        elif isinstance(h, (int, np.integer)) and not isinstance(h, bool):
            sizes.append(int(h))
        else:
            sizes = []
            break
    if not sizes or min(sizes) < 1:
        raise DataError(
            f"--hidden must be layer sizes >= 1 separated by commas (e.g. 256,128), got {hidden!r}"
        )
    return tuple(sizes)


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def check_count(option: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise DataError(f"{option} must be a whole number >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class MLPSettings:
    """Hyperparameters of the classifier (a StandardScaler + MLPClassifier pipeline).

    Raises
    ------
    DataError
        For hidden sizes that are not whole numbers >= 1, a negative ``alpha``, a
        non-positive learning rate or ``max_iter``, or ``ensemble < 1``.
    """

    hidden: tuple[int, ...] = (256,)
    alpha: float = 1.0
    learning_rate_init: float = 1e-3
    max_iter: int = 300
    early_stopping: bool = False
    ensemble: int = 1  # MLPs with different seeds, probabilities averaged

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", parse_hidden(self.hidden))
        if not _is_number(self.alpha) or not self.alpha >= 0:
            raise DataError(f"--alpha must be a number >= 0, got {self.alpha!r}")
        if not _is_number(self.learning_rate_init) or not self.learning_rate_init > 0:
            raise DataError(f"learning_rate_init must be > 0, got {self.learning_rate_init!r}")
        check_count("max_iter", self.max_iter, 1)
        check_count("--ensemble", self.ensemble, 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "hidden": list(self.hidden),
            "alpha": self.alpha,
            "learning_rate_init": self.learning_rate_init,
            "max_iter": self.max_iter,
            "early_stopping": self.early_stopping,
            "ensemble": self.ensemble,
        }


#: Candidates of ``--tune`` (nested CV): hidden sizes, L2 penalty, learning rate, early stopping.
TUNE_GRID: tuple[MLPSettings, ...] = (
    MLPSettings(hidden=(256,), alpha=1.0),
    MLPSettings(hidden=(256,), alpha=0.1),
    MLPSettings(hidden=(512,), alpha=1.0),
    MLPSettings(hidden=(256, 128), alpha=1.0),
    MLPSettings(hidden=(256,), alpha=1.0, learning_rate_init=3e-4, early_stopping=True),
)


def make_estimator(settings: MLPSettings, seed: int) -> Any:
    """StandardScaler + MLPClassifier; with ``ensemble > 1`` a soft-voting set of them."""
    from sklearn.ensemble import VotingClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def one(s: int) -> Any:
        return make_pipeline(
            StandardScaler(),
            MLPClassifier(
                hidden_layer_sizes=settings.hidden,
                alpha=settings.alpha,
                learning_rate_init=settings.learning_rate_init,
                max_iter=settings.max_iter,
                early_stopping=settings.early_stopping,
                random_state=s,
            ),
        )

    if settings.ensemble <= 1:
        return one(seed)
    members = [(f"mlp{i}", one(seed * 1000 + i)) for i in range(settings.ensemble)]
    return VotingClassifier(members, voting="soft")
