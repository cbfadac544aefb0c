"""The classifiers ``ser-train`` can fit: ser's MLP and four scikit-learn baselines.

Every one sits behind the same :class:`~sklearn.preprocessing.StandardScaler` as the MLP
(:func:`.estimator.make_estimator`), so a comparison differs in the classifier only. The
baselines use scikit-learn's defaults, untuned, except where a default would make them
incomparable: the SVM's decision function is turned into probabilities by Platt scaling
fitted on an internal 5-fold CV of the training part (``CalibratedClassifierCV(SVC(),
ensemble=False)``, what ``SVC(probability=True)`` did until scikit-learn 1.9 deprecated it),
and every random choice is seeded. Predictions are always the most probable class, for every
classifier alike (:func:`.evaluate.predicted`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ser.common.choices import CLASSIFIERS, check_choice
from ser.common.errors import DataError

from .estimator import MLPSettings, make_estimator

__all__ = [
    "CLASSIFIER_NAMES",
    "SAVEABLE_CLASSIFIERS",
    "UNTRUSTED_TYPES",
    "check_saveable",
    "classifier_params",
    "make_classifier",
    "parse_classifiers",
]

#: What each name stands for, as the comparison table and the model card show it.
CLASSIFIER_NAMES: dict[str, str] = {
    "knn": "k-nearest neighbours",
    "svm": "support-vector machine, RBF",
    "tree": "decision tree",
    "forest": "random forest",
    "mlp": "ser's MLP",
}

#: Classifiers whose fitted model ``ser.models.load_model`` accepts (tested: every type in it
#: is trusted by ser's loader). The others can be compared but not saved.
SAVEABLE_CLASSIFIERS: tuple[str, ...] = ("mlp", "knn")
#: What keeps the others from being saved: types their fitted models hold that ser's model
#: loader does not trust (yet).
UNTRUSTED_TYPES: dict[str, tuple[str, ...]] = {
    "svm": ("sklearn.calibration._CalibratedClassifier", "sklearn.calibration._SigmoidCalibration"),
    "tree": ("sklearn.tree._tree.Tree",),
    "forest": ("sklearn.tree._tree.Tree",),
}


def parse_classifiers(spec: str | Iterable[str]) -> tuple[str, ...]:
    """The classifiers named by ``"knn,svm"``, ``"all"`` or a sequence of names, in order.

    Repeats are dropped; ``all`` means every one of :data:`~ser.common.choices.CLASSIFIERS`.

    Raises
    ------
    DataError
        For an empty list or an unknown name (the message lists the known ones).
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [str(s).strip().lower() for s in items if str(s).strip()]
    if names == ["all"]:
        return CLASSIFIERS
    if not names:
        raise DataError(
            f"--compare-classifiers needs classifier names, e.g. knn,svm,mlp or all; got {spec!r}"
        )
    for n in names:
        check_choice("--compare-classifiers", n, (*CLASSIFIERS, "all"))
    if "all" in names:
        raise DataError("--compare-classifiers: 'all' stands alone (it means every classifier)")
    return tuple(dict.fromkeys(names))


def check_saveable(name: str) -> str:
    """``name`` if a model with that classifier can be saved and loaded, else DataError."""
    check_choice("--classifier", name, CLASSIFIERS)
    if name not in SAVEABLE_CLASSIFIERS:
        types = ", ".join(UNTRUSTED_TYPES.get(name, ()))
        raise DataError(
            f"--classifier {name}: its model could not be loaded by ser (it holds {types}, "
            "which the model loader does not trust); choose "
            f"{' or '.join(SAVEABLE_CLASSIFIERS)} (all five can be compared with "
            "--compare-classifiers)"
        )
    return name


def classifier_params(name: str, settings: MLPSettings) -> dict[str, Any]:
    """The classifier's settings, as the model card records them (``type`` first)."""
    if name == "mlp":
        return {"type": "mlp", **settings.to_dict()}
    est = _baseline(name, 0)
    keep = ("n_neighbors", "weights", "C", "kernel", "gamma", "max_depth", "min_samples_leaf")
    keep += ("n_estimators", "max_features", "method", "cv")
    params = {}
    for key, value in est.get_params(deep=True).items():
        short = key.removeprefix("estimator__")
        if short in keep:
            params[short] = value
    kind = "SVC" if name == "svm" else type(est).__name__
    if name == "svm":
        params["probabilities"] = "Platt scaling (CalibratedClassifierCV, ensemble=False)"
    return {"type": name, "estimator": kind, "scaler": "StandardScaler", **params}


def make_classifier(name: str, seed: int, *, settings: MLPSettings | None = None) -> Any:
    """An unfitted classifier ``name`` (one of :data:`~ser.common.choices.CLASSIFIERS`).

    ``mlp`` is exactly what plain cross-validation fits, :func:`.estimator.make_estimator`
    with ``settings``; the others are a StandardScaler + scikit-learn pipeline seeded with
    ``seed``.
    """
    check_choice("--classifier", name, CLASSIFIERS)
    if name == "mlp":
        return make_estimator(settings or MLPSettings(), seed)
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), _baseline(name, seed))


def _baseline(name: str, seed: int) -> Any:
    if name == "knn":
        from sklearn.neighbors import KNeighborsClassifier

        return KNeighborsClassifier(n_jobs=1)
    if name == "svm":
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import SVC

        return CalibratedClassifierCV(
            SVC(random_state=seed), method="sigmoid", cv=5, ensemble=False
        )
    if name == "tree":
        from sklearn.tree import DecisionTreeClassifier

        return DecisionTreeClassifier(random_state=seed)
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(random_state=seed, n_jobs=1)
