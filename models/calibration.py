"""Calibrated confidences: a map from a model's probabilities to ones that mean what they say.

The MLPs (and their soft vote) are over-confident: of the files they label with confidence
0.9, far fewer than 90 % are right on speakers they have not heard. A :class:`Calibration`
is fitted on *out-of-fold* probabilities (cross-validation grouped by speaker, so each row was
predicted by a model that never saw its speaker) and applied after the classifier, to every
row, in :meth:`ser.models.Model.predict_proba`.

The map is temperature scaling (Guo et al. 2017): ``softmax(log(P) / T)`` with the one
number ``T`` that minimises the negative log-likelihood of the out-of-fold labels. It works on
``log P`` (clipped at :data:`EPS`) rather than on logits because a soft vote averages
probabilities, so ``log P`` is the only "logit" the ensemble has; for a single MLP it *is*
the logit, up to a per-row constant that softmax ignores. It keeps every row's ranking of the
classes, so predicted labels (and UAR, accuracy) are unchanged.

Vector scaling (a scale and a bias per class on ``log P``, L2-penalised towards temperature
scaling, :func:`fit_vector_scaling`) was measured against it by cross-validating the
calibrator itself over speakers (:func:`evaluate_calibration`: fit on the out-of-fold rows of
some actors, score the rows of the others, pooled). Data: RAVDESS speech, 8 classes, 1,440
files, 24 actors, speaker normalisation, no augmentation; out-of-fold probabilities from the
6 actor-grouped folds of ``ser-train`` (MLP 256 hidden, alpha 1); the calibrator
cross-validated over 6 folds of 4 actors (24 folds of one actor gave the same ranking).
Top-label ECE (10 bins), NLL, Brier; UAR 0.670 / 0.667 is unchanged by either map:

    ===================  =======================  =======================
    calibration          soft vote of 3 MLPs      one MLP
                         ECE    NLL    Brier      ECE    NLL    Brier
    ===================  =======================  =======================
    none                 0.113  0.965  0.454      0.122  0.984  0.460
    temperature          0.019  0.888  0.435      0.015  0.899  0.438
    vector, penalty .1   0.019  0.890  0.435      0.017  0.900  0.439
    vector, penalty .01  0.025  0.894  0.436      0.027  0.903  0.439
    vector, penalty .001 0.027  0.898  0.437      0.036  0.907  0.440
    ===================  =======================  =======================

(fitted T: 1.52 for the vote, 1.55 for one MLP). Vector scaling is at best a tie on held-out
speakers (with a penalty strong enough to make it nearly temperature scaling) and worse the
freer it is, so only temperature scaling is shipped (:data:`METHODS`);
:func:`fit_vector_scaling` stays for the measurement.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .metrics import (
    _proba_and_targets,
    brier_score,
    expected_calibration_error,
    negative_log_likelihood,
)

__all__ = [
    "EPS",
    "METHODS",
    "T_MAX",
    "T_MIN",
    "Calibration",
    "evaluate_calibration",
    "fit_calibration",
    "fit_temperature",
    "fit_temperature_blocks",
    "fit_vector_scaling",
]

#: Probabilities are clipped to [EPS, 1] before their logarithm (an MLP's softmax can round a
#: class to exactly 0).
EPS = 1e-12
#: The temperatures a fit may choose, and a model file may hold. A temperature below 1
#: sharpens, above 1 softens; beyond these bounds the map says more about the data than the
#: model (a fit that hits a bound is a sign of too few or degenerate out-of-fold rows).
T_MIN, T_MAX = 0.05, 20.0
#: Calibration methods a model file may hold.
METHODS: tuple[str, ...] = ("temperature",)
_KEYS = frozenset({"method", "temperature", "classes", "n"})


@dataclass(frozen=True)
class Calibration:
    """Temperature scaling of a model's probabilities: ``softmax(log(clip(P)) / T)``.

    Parameters
    ----------
    classes : tuple of str
        The model's classes, in its order (the columns of ``P``).
    temperature : float
        ``T`` in [:data:`T_MIN`, :data:`T_MAX`]; 1 leaves probabilities as they are (up to
        the clipping at :data:`EPS`).
    n : int
        Out-of-fold rows it was fitted on (0: unknown).
    """

    classes: tuple[str, ...]
    temperature: float = 1.0
    n: int = 0
    method: str = "temperature"

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
        _validate(self.to_dict())

    def apply(self, P: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for rows ``P`` (n, k): float64, rows summing to 1.

        Deterministic: the same ``P`` gives the same bits, whichever loader built the model.
        """
        P = np.asarray(P, dtype=np.float64)
        if P.ndim != 2 or P.shape[1] != len(self.classes):
            raise ValueError(
                f"probabilities of shape {P.shape} for a calibration of {len(self.classes)} classes"
            )
        return _softmax(_log(P) / self.temperature)

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values (str, float, int, list of str), as a model file stores them."""
        return {
            "method": str(self.method),
            "temperature": float(self.temperature),
            "classes": [str(c) for c in self.classes],
            "n": int(self.n),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Calibration:
        """The calibration of :meth:`to_dict`'s dict; ``ValueError`` (one line) if unsound."""
        _validate(d)
        return cls(
            classes=tuple(d["classes"]),
            temperature=float(d["temperature"]),
            n=int(d.get("n", 0)),
            method=str(d["method"]),
        )


def _validate(d: Any) -> None:
    """Raise ``ValueError`` unless ``d`` is a sound calibration dict (types, values, sizes)."""
    if not isinstance(d, Mapping):
        raise ValueError(f"the calibration is {type(d).__name__}, not a dict")
    if not all(isinstance(k, str) for k in d) or set(d) - _KEYS:
        raise ValueError(f"the calibration has unknown entries {sorted(map(str, set(d) - _KEYS))}")
    method = d.get("method")
    if not (isinstance(method, str) and method in METHODS):
        raise ValueError(
            f"unknown calibration method {_show(method)} (known: {', '.join(METHODS)})"
        )
    t = d.get("temperature")
    if not (isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t)):
        raise ValueError(f"the calibration temperature is {_show(t)}, not a finite number")
    if not T_MIN <= t <= T_MAX:
        raise ValueError(f"the calibration temperature {t!r} is outside [{T_MIN}, {T_MAX}]")
    classes = d.get("classes")
    if not (isinstance(classes, (list, tuple)) and all(isinstance(c, str) for c in classes)):
        raise ValueError("the calibration's classes are not a list of labels")
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise ValueError("the calibration's classes are not at least two distinct labels")
    n = d.get("n", 0)
    if not (isinstance(n, int) and not isinstance(n, bool) and n >= 0):
        raise ValueError(f"the calibration's row count is {_show(n)}, not a whole number >= 0")


def fit_temperature(P: np.ndarray, y: Sequence[object], classes: Sequence[object]) -> float:
    """The ``T`` in [:data:`T_MIN`, :data:`T_MAX`] minimising the NLL of ``softmax(log P / T)``.

    A bounded scalar search over ``log T`` (the NLL is smooth and, in ``1/T``, convex).
    """
    return fit_temperature_blocks([(P, y, classes)])


def fit_temperature_blocks(
    blocks: Sequence[tuple[np.ndarray, Sequence[object], Sequence[object]]],
) -> float:
    """One ``T`` for several blocks of rows ``(P, y, classes)``, each over its own classes.

    The NLL is summed over every row of every block, so a block weighs as many rows as it
    has. Blocks let predictions of models with different class sets (leave-one-corpus-out
    models trained without some classes) share one temperature.
    """
    from scipy.optimize import minimize_scalar

    parts = [_log_and_targets(P, y, classes) for P, y, classes in blocks if len(P)]
    if not parts:
        raise ValueError("no rows to fit a temperature on")
    n = sum(len(t) for _, t in parts)

    def nll(u: float) -> float:
        return sum(_nll(L * math.exp(-u), t) * len(t) for L, t in parts) / n

    res = minimize_scalar(
        nll, bounds=(math.log(T_MIN), math.log(T_MAX)), method="bounded",
        options={"xatol": 1e-7},
    )  # fmt: skip
    return float(math.exp(res.x))


def fit_calibration(P: np.ndarray, y: Sequence[object], classes: Sequence[object]) -> Calibration:
    """Temperature scaling fitted on out-of-fold probabilities.

    Parameters
    ----------
    P : array (n, k)
        Out-of-fold probabilities: each row predicted by a model that never saw its speaker
        (rows of several cross-validation seeds may be stacked).
    y : sequence (n,)
        True labels, among ``classes``.
    classes : sequence (k,)
        The columns of ``P``: the model's classes, in its order (``estimator.classes_``).

    Speakers play no part in the fit; give them to :func:`evaluate_calibration` to measure
    the calibration on held-out speakers.
    """
    P = np.asarray(P, dtype=np.float64)
    return Calibration(
        classes=tuple(str(c) for c in classes), temperature=fit_temperature(P, y, classes),
        n=len(P),
    )  # fmt: skip


def fit_vector_scaling(
    P: np.ndarray, y: Sequence[object], classes: Sequence[object], *, penalty: float = 0.01
) -> tuple[np.ndarray, np.ndarray]:
    """Per-class scale ``a`` and bias ``b``: ``softmax(a * log P + b)``, minimising the mean
    NLL plus ``penalty * (|d|^2 + |b|^2)``, where ``a = (1 + d) / T`` and ``T`` is
    :func:`fit_temperature`'s (so a large penalty gives temperature scaling back)."""
    from scipy.optimize import minimize

    L, t = _log_and_targets(P, y, classes)
    n, k = L.shape
    s = 1.0 / fit_temperature(P, y, classes)
    onehot = np.zeros_like(L)
    onehot[np.arange(n), t] = 1.0

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        d, b = theta[:k], theta[k:]
        z = L * (s * (1.0 + d)) + b
        g = (_softmax(z) - onehot) / n  # d NLL / d z
        value = _nll(z, t) + penalty * float(theta @ theta)
        grad = np.concatenate([s * (g * L).sum(axis=0), g.sum(axis=0)]) + 2 * penalty * theta
        return value, grad

    res = minimize(objective, np.zeros(2 * k), jac=True, method="L-BFGS-B")
    return s * (1.0 + res.x[:k]), res.x[k:]


def evaluate_calibration(
    P: np.ndarray,
    y: Sequence[object],
    classes: Sequence[object],
    groups: Sequence[object],
    *,
    n_folds: int = 6,
    n_bins: int = 10,
    vector_penalties: Sequence[float] = (),
) -> dict[str, dict[str, float]]:
    """Cross-validate the calibrator itself over speakers: fit it on the out-of-fold rows of
    some groups, score the rows of the others; pooled over folds.

    Returns ``{method: {"ece", "nll", "brier"}}`` for ``"none"`` (the probabilities as they
    are), ``"temperature"`` (with the mean fitted ``T`` as ``"T"``) and, per penalty ``p`` in
    ``vector_penalties``, ``"vector(p)"``. Groups are sorted and dealt round-robin into
    ``min(n_folds, number of groups)`` folds; at least 2 groups are needed.
    """
    P = np.asarray(P, dtype=np.float64)
    y = np.asarray([str(v) for v in y], dtype=object)
    groups = np.asarray(groups, dtype=object)
    uniq = sorted(set(groups.tolist()), key=str)
    if len(uniq) < 2:
        raise ValueError("evaluating a calibration over groups needs at least 2 groups")
    fold_of = {g: i % min(n_folds, len(uniq)) for i, g in enumerate(uniq)}
    folds = np.array([fold_of[g] for g in groups.tolist()])
    names = ["none", "temperature", *(f"vector({p:g})" for p in vector_penalties)]
    out = {name: np.empty_like(P) for name in names}
    temps = []
    for f in np.unique(folds):
        fit, test = folds != f, folds == f
        out["none"][test] = P[test]
        cal = fit_calibration(P[fit], y[fit], classes)
        temps.append(cal.temperature)
        out["temperature"][test] = cal.apply(P[test])
        for p in vector_penalties:
            a, b = fit_vector_scaling(P[fit], y[fit], classes, penalty=p)
            out[f"vector({p:g})"][test] = _softmax(_log(P[test]) * a + b)
    result = {
        name: {
            "ece": expected_calibration_error(Q, y, classes, n_bins=n_bins),
            "nll": negative_log_likelihood(Q, y, classes),
            "brier": brier_score(Q, y, classes),
        }
        for name, Q in out.items()
    }
    result["temperature"]["T"] = float(np.mean(temps))
    return result


def _log_and_targets(
    P: np.ndarray, y: Sequence[object], classes: Sequence[object]
) -> tuple[np.ndarray, np.ndarray]:
    P, t = _proba_and_targets(P, y, classes)
    if not np.isfinite(P).all():
        raise ValueError("the probabilities hold NaN or infinite values")
    return _log(P), t


def _log(P: np.ndarray) -> np.ndarray:
    return np.log(np.clip(P, EPS, 1.0))


def _softmax(Z: np.ndarray) -> np.ndarray:
    Z = Z - Z.max(axis=1, keepdims=True)
    np.exp(Z, out=Z)
    Z /= Z.sum(axis=1, keepdims=True)
    return Z


def _nll(Z: np.ndarray, t: np.ndarray) -> float:
    """Mean negative log-likelihood of targets ``t`` under ``softmax(Z)``."""
    m = Z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(Z - m).sum(axis=1)) + m[:, 0]
    return float(np.mean(lse - Z[np.arange(len(t)), t]))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."
