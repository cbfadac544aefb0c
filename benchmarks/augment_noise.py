"""Does ``ser-train --augment`` help on *another corpus* in background noise?

``long_annotation.py --augment 2`` trains and tests on RAVDESS (other actors, same studio).
Here each model is trained on one corpus and tested on the other (RAVDESS -> CREMA-D and
CREMA-D -> RAVDESS), four classes (neutral, happy, sad, angry), three ways:

* ``none``: clean clips only (the bundled models' recipe);
* ``file``: plus two augmented copies per clip, as ``ser-train --augment 2`` makes them
  (``draw_conditions``; each copy's noise below each file's own power);
* ``speaker``: the same copies with the noise below the speaker's mean speech power
  (``Condition.speech_db``), one level for all of a speaker's files, as a steady noise floor.

Test clips: clean, and with pink noise (-3 dB/octave) 20 dB and 10 dB below their speaker's
mean speech power (a steady noise floor: soft utterances get less SNR than loud ones).
Speaker normalisation on each side's own statistics (augmented copies: one group per speaker
and copy), an ensemble of ``--seeds`` MLPs of the bundled recipe (``normalisation._fit``).

Usage: python benchmarks/augment_noise.py [--data DIR] [--cremad DIR] [--jobs 2] [--seeds 3]
Writes benchmarks/results/augment_noise.json; about 6 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, default_data_dir, describe, machine, write_results
from normalisation import CLASS_SETS, _fit, list_corpus, uar

CLASSES = CLASS_SETS[4]
N_AUG = 2
TEST_SNRS = (20.0, 10.0)
RECIPES = ("none", "file", "speaker")


def speech_power_db(path: str, sr: int) -> float | None:
    """Mean power in dB of a clip as ``ser-train`` reads it (trimmed); None if unreadable."""
    from ser.audio.decode import load_audio
    from ser.train.augment import power_db

    try:
        return power_db(load_audio(path, sr=sr, trim=True)[0])
    except Exception as exc:  # one bad file must not stop the benchmark
        print(f"skipping {path}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


def corpus_rows(name: str, root: str, jobs: int) -> dict:
    """Features of a corpus's clips of CLASSES: clean, each test noise, each recipe's copies."""
    from joblib import Parallel, delayed

    from ser.features import feature_config
    from ser.train.augment import Condition, draw_conditions
    from ser.train.dataset import _featurise

    cfg = feature_config("default")
    paths, emotions, speakers = list_corpus(name, root)
    keep = np.isin(emotions, CLASSES)
    paths = list(np.asarray(paths)[keep])
    y, spk = np.asarray(emotions)[keep], np.asarray(speakers)[keep]
    # pass 1: each speaker's mean speech power (the reference of Condition.speech_db)
    power = Parallel(n_jobs=jobs, batch_size=16)(delayed(speech_power_db)(p, cfg.sr) for p in paths)
    ok = np.array([p is not None for p in power])
    power = np.array([np.nan if p is None else p for p in power])
    level = {s: 10 * np.log10(np.mean(10 ** (power[ok & (spk == s)] / 10))) for s in set(spk[ok])}
    conds = []
    for s in spk:
        tests = [
            Condition(seed=2026, snr_db=snr, noise_decay=-3.0, speech_db=level.get(s))
            for snr in TEST_SNRS
        ]
        aug = draw_conditions(0, s, N_AUG)
        conds.append(
            tests
            + [replace(c, speech_db=level.get(s)) for c in aug]
            + [replace(c, speech_db=None) for c in aug]
        )
    # pass 2: ser-train's own per-file task, the clean clip and each condition
    rows = Parallel(n_jobs=jobs, batch_size=4)(
        delayed(_featurise)((p, c), cfg) for p, c, good in zip(paths, conds, ok) if good
    )
    A = np.stack([r[1] for r in rows])  # (files, tests + 2 * N_AUG, features)
    nt = len(TEST_SNRS)
    return {
        "y": y[ok],
        "spk": spk[ok],
        "clean": np.stack([r[0] for r in rows]),
        "tests": {snr: A[:, i] for i, snr in enumerate(TEST_SNRS)},
        "speaker": A[:, nt : nt + N_AUG],
        "file": A[:, nt + N_AUG :],
    }


def training_set(d: dict, recipe: str) -> tuple[np.ndarray, np.ndarray]:
    """Speaker-normalised training rows of ``recipe``: clean rows, plus the copies."""
    from ser.features.normalize import normalize_groups

    X, y, g = [d["clean"]], [d["y"]], [d["spk"].astype(object)]
    if recipe != "none":
        for k in range(N_AUG):
            X.append(d[recipe][:, k])
            y.append(d["y"])
            g.append(np.array([f"{s}/{k}" for s in d["spk"]], dtype=object))
    Xn, _ = normalize_groups(np.concatenate(X), list(np.concatenate(g)), mode="speaker")
    return Xn, np.concatenate(y)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=default_data_dir())
    ap.add_argument(
        "--cremad",
        default=os.environ.get("SER_CREMAD_DIR", str(REPO.parent / "shared/data/crema-d")),
    )
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=3, help="MLPs in the ensemble")
    args = ap.parse_args()
    from joblib import Parallel, delayed

    from ser.features.normalize import normalize_groups

    print("machine:", describe(machine()), flush=True)
    data = {
        "ravdess": corpus_rows("ravdess", args.data, args.jobs),
        "crema-d": corpus_rows("cremad", args.cremad, args.jobs),
    }
    results: dict = {}
    print(f"\n{'train -> test':22} {'recipe':8} {'clean':>7} " + " ".join(
        f"{f'{snr:g} dB':>7}" for snr in TEST_SNRS))  # fmt: skip
    for train, test in (("ravdess", "crema-d"), ("crema-d", "ravdess")):
        d, t = data[train], data[test]
        sides = {"clean": t["clean"], **{f"{snr:g} dB": t["tests"][snr] for snr in TEST_SNRS}}
        for recipe in RECIPES:
            X, y = training_set(d, recipe)
            models = Parallel(n_jobs=args.jobs)(delayed(_fit)(X, y, s) for s in range(args.seeds))
            row = {}
            for side, Xt in sides.items():
                Xn, _ = normalize_groups(Xt, list(t["spk"]), mode="speaker")
                row[side] = uar(models, Xn, t["y"], CLASSES)
            results[f"{train} -> {test}"] = results.get(f"{train} -> {test}", {}) | {recipe: row}
            print(f"{train + ' -> ' + test:22} {recipe:8} "
                  + " ".join(f"{v:7.3f}" for v in row.values()), flush=True)  # fmt: skip
    path = write_results(
        "augment_noise",
        {
            "machine": machine(),
            "classes": list(CLASSES),
            "test_snr_db": list(TEST_SNRS),
            "augmented_copies": N_AUG,
            "files": {k: len(v["y"]) for k, v in data.items()},
            "uar": results,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
