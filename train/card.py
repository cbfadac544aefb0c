"""The JSON model card written beside a model file: what it learnt from, how good it is.

It holds the classes, each source's files, speakers and emotions, the clips left out and
why, speaker-grouped cross-validation (pooled and per source), leave-one-corpus-out results,
the calibration and its expected calibration error, the exact command, and each source's
licence.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from .crosscorpus import scores_by_source
from .fit import TrainResult

__all__ = ["LICENCES", "licence_of", "write_card"]

#: What each known corpus' terms say, quoted in the card of a model trained on it. ser makes
#: no legal claim beyond the corpora's own terms.
LICENCES: dict[str, str] = {
    "ravdess": (
        "RAVDESS (Livingstone & Russo 2018, https://zenodo.org/record/1188976) is licensed "
        "CC BY-NC-SA 4.0: non-commercial use, share-alike, attribution; a model trained on it "
        "is distributed under the same terms."
    ),
    "crema-d": (
        "CREMA-D (Cao et al. 2014, https://github.com/CheyneyComputerScience/CREMA-D) is "
        "licensed under the Open Database License (ODbL 1.0), its contents under the "
        "Database Contents License (DbCL 1.0): commercial use is allowed, with attribution, "
        "and share-alike for derived databases."
    ),
}


def licence_of(sources: Iterable[str]) -> list[str]:
    """The terms of each training source, as the model card states them."""
    return [
        LICENCES.get(
            src,
            f"{src}: the terms of this labelled data, which ser does not know; the model "
            "is bound by them",
        )
        for src in sources
    ]


def write_card(
    result: TrainResult, model_path: str | os.PathLike[str], *, sha256: str, command: str | None
) -> Path:
    """Write the JSON model card beside the model file (atomically) and return its path."""
    model = result.model
    ds = result.dataset
    path = Path(model_path).with_suffix(".json")
    corpus = result.info.get("corpus")
    sources = {}
    for src in ds.source_names:
        m = ds.sources == src
        emotions, counts = np.unique(ds.y[m], return_counts=True)
        sources[src] = {
            "path": corpus.source_paths.get(src) if corpus is not None else None,
            "files": int(m.sum()),
            "speakers": len(set(ds.groups[m].tolist())),
            "emotions": {str(e): int(n) for e, n in zip(emotions, counts)},
        }
    card: dict[str, Any] = {
        "name": model.name,
        "model_file": Path(model_path).name,
        "sha256": sha256,
        "classes": model.classes,
        "features": model.features.to_dict(),
        "sample_rate": model.features.sr,
        "normalization": model.normalization,
        "classifier": model.meta.get("classifier"),
        "training": {
            "sources": sources,
            "files": len(ds.y),
            "speakers": model.meta.get("sources"),
            "left_out": [list(s) for s in corpus.left_out] if corpus is not None else [],
            "skipped": [list(s) for s in result.info.get("skipped", [])],
            "augmented_copies_per_file": model.meta.get("augment", 0),
            "seed": model.meta.get("seed"),
            "command": command,
        },
        "evaluation": None,
        "leave_one_corpus_out": None,
        "calibration": None if result.calibration is None else result.calibration.to_dict(),
        "licence": licence_of(ds.source_names),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
    }
    if result.cv:
        card["evaluation"] = {
            "protocol": (
                f"{result.info['folds']}-fold cross-validation grouped by speaker (no speaker "
                "in both training and test of a fold; every fold holds speakers of every "
                f"source), repeated over {result.info['repeat']} seed(s); augmentation on "
                "training folds only; normalisation statistics of test speakers from their "
                "own unlabelled features"
            ),
            "headline_metric": "uar",
            **result.cv_summary(),
            "by_source": {
                src: s.to_dict() for src, s in scores_by_source(ds, result.cv[0]).items()
            },
        }
    if result.corpora:
        card["leave_one_corpus_out"] = {
            "protocol": (
                "for each source: trained on all the other sources, tested on all of it; "
                "rows of an emotion no other source has are left out"
            ),
            "results": {
                r.source: {
                    **r.scores.to_dict(),
                    "trained_on_classes": r.classes,
                    "rows_of_unseen_classes": r.n_unseen_class,
                }
                for r in result.corpora
            },
        }
    if result.comparison:
        card["classifier_comparison"] = {
            "protocol": (
                "each classifier cross-validated with the same speaker-grouped folds, seeds and "
                "features, behind the same standard scaler; scikit-learn defaults, untuned; "
                "times are wall clock on the training machine"
            ),
            "results": {r.name: r.summary() for r in result.comparison},
        }
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def _versions() -> dict[str, str]:
    from ser.common.version import __version__

    out = {"python": platform.python_version(), "ser": __version__}
    for pkg in ("scikit-learn", "numpy", "scipy", "librosa", "soundfile", "soxr", "skops"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out
