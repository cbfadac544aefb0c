"""Does training-time augmentation buy robustness to other recording channels?

In the same 6 actor-grouped folds, a speaker-normalised single MLP is trained without and
with the bundled recipe's 2 augmented copies, and scored on the test actors' clean files and
on the same files through two fixed channels the training augmentation does not draw: a phone
line at 10 dB SNR (band 300-3400 Hz, pink noise) and a reverberant room (RT60 0.7 s, white
noise at 12 dB SNR). Test actors are normalised with their own statistics per channel, as
``ser-annotate`` does for a speaker.

Usage: python benchmarks/robustness.py [--data DIR] [--jobs N] [--subset a,b,c]
Writes benchmarks/results/robustness[_<n>class].json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from ser.corpora import EMOTIONS, load_labelled, validate_subset
from ser.features.config import feature_config
from ser.features.normalize import normalize_groups
from ser.models.metrics import score
from ser.train.augment import Condition, draw_conditions
from ser.train.dataset import Dataset, extract_dataset, labelled_files
from ser.train.evaluate import fold_data, group_folds
from ser.train.fit import MLPSettings, make_estimator

ROOT = Path(__file__).resolve().parents[1]
TEST_CHANNELS = {
    "phone_10dB": Condition(seed=101, band="telephone", snr_db=10.0, noise_decay=-3.0),
    "room_rt60_0.7s": Condition(seed=202, rt60=0.7, snr_db=12.0, noise_decay=0.0),
}
N_AUG = 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("SER_RAVDESS_DIR") or str(ROOT.parent / "shared/data/ravdess-speech")
    ap.add_argument("--data", default=default)
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--subset", default=None)
    args = ap.parse_args()
    subset = validate_subset(args.subset)
    t0 = time.time()
    files = labelled_files(load_labelled([args.data], subset=subset))
    channels = list(TEST_CHANNELS.values())
    full = extract_dataset(
        files,
        config=feature_config(),
        conditions=lambda f: [*draw_conditions(0, f.speaker, N_AUG), *channels],
        jobs=args.jobs,
    )
    assert full.X_aug is not None
    classes = [e for e in EMOTIONS if e in set(full.y)]
    settings = MLPSettings(ensemble=1)
    results: dict[str, dict[str, list[float]]] = {}
    for recipe, X_aug in (("no_augmentation", None), ("augmented", full.X_aug[:, :N_AUG])):
        ds = Dataset(X=full.X, y=full.y, groups=full.groups, paths=full.paths, X_aug=X_aug)
        res: dict[str, list[float]] = {"clean": [], **{k: [] for k in TEST_CHANNELS}}
        for test_mask in group_folds(ds.groups, 6):
            fd = fold_data(ds, test_mask, normalization="speaker")
            est = make_estimator(settings, 0).fit(fd.X_train, fd.y_train)
            res["clean"].append(score(fd.y_test, est.predict(fd.X_test), classes).uar)
            for j, name in enumerate(TEST_CHANNELS):
                Xc = full.X_aug[test_mask, N_AUG + j]
                Xn, _ = normalize_groups(Xc, list(full.groups[test_mask]), mode="speaker")
                res[name].append(score(full.y[test_mask], est.predict(Xn), classes).uar)
            print(recipe, {k: round(v[-1], 3) for k, v in res.items()}, flush=True)
        results[recipe] = res
    summary = {r: {k: float(np.mean(v)) for k, v in res.items()} for r, res in results.items()}
    out = {
        "benchmark": "robustness",
        "protocol": "6-fold CV grouped by actor, speaker normalisation, single MLP, UAR",
        "classes": classes,
        "test_channels": {k: vars(c) for k, c in TEST_CHANNELS.items()},
        "uar_mean_over_folds": summary,
        "uar_per_fold": results,
        "seconds": time.time() - t0,
        "loadavg": os.getloadavg(),
    }
    print(json.dumps(summary, indent=2))
    tag = "" if len(classes) == 8 else f"_{len(classes)}class"
    (ROOT / f"benchmarks/results/robustness{tag}.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
