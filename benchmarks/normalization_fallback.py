"""How much a speaker-normalised model loses on a file annotated alone.

With several files of a speaker, ``ser-annotate`` standardises features with that speaker's own
statistics; a file alone falls back to the training statistics stored in the model. This
measures both, and the model trained without normalisation, in the same 6 actor-grouped folds
(bundled recipe without the ensemble, to keep it short).

Usage: python benchmarks/normalization_fallback.py [--data DIR] [--jobs N]
Writes benchmarks/results/normalization_fallback.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from ser.corpora import load_labelled
from ser.features.config import feature_config
from ser.features.normalize import GroupStats
from ser.models.metrics import score
from ser.train.augment import draw_conditions
from ser.train.dataset import extract_dataset, labelled_files
from ser.train.evaluate import fold_data, group_folds
from ser.train.fit import MLPSettings, make_estimator

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("SER_RAVDESS_DIR") or str(ROOT.parent / "shared/data/ravdess-speech")
    ap.add_argument("--data", default=default)
    ap.add_argument("--jobs", type=int, default=None)
    args = ap.parse_args()
    t0 = time.time()
    files = labelled_files(load_labelled([args.data]))
    ds = extract_dataset(
        files,
        config=feature_config(),
        conditions=lambda f: draw_conditions(0, f.speaker, 2),
        jobs=args.jobs,
    )
    classes = sorted(set(ds.y))
    settings = MLPSettings(ensemble=1)
    uar: dict[str, list[float]] = {"own_speaker_stats": [], "training_stats": [], "no_norm": []}
    for test_mask in group_folds(ds.groups, 6):
        fd = fold_data(ds, test_mask, normalization="speaker")
        est = make_estimator(settings, 0).fit(fd.X_train, fd.y_train)
        uar["own_speaker_stats"].append(score(fd.y_test, est.predict(fd.X_test), classes).uar)
        fallback = GroupStats.of(ds.X[~test_mask])  # what a model stores as train_stats
        alone = fallback.apply(ds.X[test_mask])
        uar["training_stats"].append(score(ds.y[test_mask], est.predict(alone), classes).uar)
        raw = fold_data(ds, test_mask, normalization="none")
        est0 = make_estimator(settings, 0).fit(raw.X_train, raw.y_train)
        uar["no_norm"].append(score(raw.y_test, est0.predict(raw.X_test), classes).uar)
        print({k: round(v[-1], 3) for k, v in uar.items()}, flush=True)
    result = {
        "benchmark": "normalization_fallback",
        "protocol": "6-fold CV grouped by actor, 8 classes, 2 augmented copies, single MLP",
        "uar_mean_over_folds": {k: float(np.mean(v)) for k, v in uar.items()},
        "uar_per_fold": uar,
        "seconds": time.time() - t0,
        "cpu": os.cpu_count(),
        "loadavg": os.getloadavg(),
    }
    print(json.dumps(result["uar_mean_over_folds"], indent=2))
    out = ROOT / "benchmarks/results/normalization_fallback.json"
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
