"""The noise-floor rule of the active frames: clean and noisy speech, with and without it.

A frame enters the default features' statistics when it is *active*: within
``active_top_db`` (35 dB) of the loudest frame and, since the rule measured here, more than
``active_floor_db`` (10 dB) above the file's noise floor (``ser.features.config``). Without
the second rule, pauses filled with background noise count as speech once the noise is
within 35 dB of the loudest frame, as it is at 20 dB SNR.

For ``active_floor_db`` 0 (the rule off) and 10 (the default), each way:

* features of RAVDESS actors 01-20 (training) and 21-24 (test) are extracted exactly as
  ``process_file`` does, the test clips also with pink noise added before trimming, at
  ``--snr`` dB below the mean power of their frames within 40 dB of the loudest
  (``_conversations.pink_noise``, seeded per file);
* per-speaker normalisation (``normalize_groups(mode="speaker")``, each side on its own
  statistics, as ``ser-train`` and ``ser-annotate`` do) and the bundled recipe's ensemble of
  three MLPs (``ser.train.fit.make_estimator``), all 8 classes;
* UAR on the clean and on the noisy test clips, and the mean active seconds of a clip
  (``active_ratio`` x the seconds analysed).

Then the share of active frames (``active_ratio``, every ``--every``-th file) of RAVDESS and
of CREMA-D (``--cremad``, skipped when absent) as they are, each way.

Usage: python benchmarks/noise_floor.py [--data DIR] [--cremad DIR] [--snr 20] [--jobs 2]
Writes benchmarks/results/noise_floor.json; about 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, default_data_dir, describe, machine, write_results
from _conversations import pink_noise
from normalisation import _fit, list_corpus, uar

TEST_ACTORS = ("rav21", "rav22", "rav23", "rav24")
FLOORS = (0.0, 10.0)


def featurise(path: str, floor: float, snr_db: float | None) -> tuple[np.ndarray, float]:
    """Default features of one file (``active_floor_db=floor``), with pink noise if asked,
    and the seconds analysed (after trimming)."""
    from ser.audio.decode import load_audio, trim_silence
    from ser.features import extract_features, feature_config

    cfg = feature_config("default", active_floor_db=floor)
    y, _ = load_audio(path, sr=cfg.sr, trim=False)
    if snr_db is not None:
        frames = y[: len(y) // 160 * 160].reshape(-1, 160).astype(np.float64)
        power = (frames**2).mean(axis=1)
        speech = power[power > power.max() * 1e-4].mean()  # frames within 40 dB of the top
        rng = np.random.default_rng(zlib.crc32(Path(path).name.encode()))
        noise = pink_noise(len(y), rng) * np.float32(np.sqrt(speech / 10 ** (snr_db / 10)))
        y = (y + noise).astype(np.float32)
    if cfg.params["trim"]:
        y = trim_silence(y, cfg.sr)
    return extract_features(y, config=cfg), len(y) / cfg.sr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=default_data_dir())
    ap.add_argument("--snr", type=float, default=20.0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=3, help="MLPs in the ensemble")
    ap.add_argument(
        "--cremad",
        default=os.environ.get("SER_CREMAD_DIR", str(REPO.parent / "shared/data/crema-d")),
    )
    ap.add_argument("--every", type=int, default=10, help="active shares of every N-th file")
    args = ap.parse_args()

    from joblib import Parallel, delayed

    from ser.features import feature_config, feature_names
    from ser.features.normalize import normalize_groups

    paths, emotions, speakers = list_corpus("ravdess", args.data)
    test = np.isin(speakers, TEST_ACTORS)
    y, spk = np.asarray(emotions), np.asarray(speakers)
    classes = tuple(sorted(set(emotions)))
    print("machine:", describe(machine()))
    print(f"{len(paths)} RAVDESS files: {int((~test).sum())} training (actors 01-20), "
          f"{int(test.sum())} test (actors 21-24); pink noise at {args.snr:g} dB SNR")  # fmt: skip
    results: dict = {}
    for floor in FLOORS:
        jobs = [(p, None) for p in paths] + [(p, args.snr) for p, t in zip(paths, test) if t]
        feats = Parallel(n_jobs=args.jobs)(delayed(featurise)(p, floor, s) for p, s in jobs)
        seconds = np.asarray([s for _, s in feats])
        X = np.asarray([f for f, _ in feats[: len(paths)]])
        noisy = np.asarray([f for f, _ in feats[len(paths) :]])
        Xtr, _ = normalize_groups(X[~test], list(spk[~test]), mode="speaker")
        models = Parallel(n_jobs=args.jobs)(
            delayed(_fit)(Xtr, y[~test], s) for s in range(args.seeds)
        )
        names = feature_names(feature_config("default"))
        ratio = names.index("active_ratio")
        row = {}
        sides = (("clean", X[test], seconds[: len(paths)][test]),
                 ("noisy", noisy, seconds[len(paths) :]))  # fmt: skip
        for name, Xt, secs in sides:
            Xn, _ = normalize_groups(Xt, list(spk[test]), mode="speaker")
            row[name] = {
                "uar": uar(models, Xn, y[test], classes),
                "active_s": float((Xt[:, ratio] * secs).mean()),
            }
        results[f"active_floor_db={floor:g}"] = row
        clean, noisy_row = row["clean"], row["noisy"]
        print(f"active_floor_db {floor:>4g}: UAR clean {clean['uar']:.3f}, noisy "
              f"{noisy_row['uar']:.3f}; active seconds a clip: clean {clean['active_s']:.2f}, "
              f"noisy {noisy_row['active_s']:.2f}")  # fmt: skip
    shares: dict = {}
    for corpus, root in (("ravdess", args.data), ("cremad", args.cremad)):
        if not os.path.isdir(root):
            print(f"{corpus}: no folder {root!r}, skipped")
            continue
        files = list_corpus(corpus, root)[0][:: args.every]
        for floor in FLOORS:
            feats = Parallel(n_jobs=args.jobs)(delayed(featurise)(p, floor, None) for p in files)
            share = float(np.mean([f[ratio] for f, _ in feats]))
            shares.setdefault(corpus, {})[f"active_floor_db={floor:g}"] = share
            print(f"{corpus}, {len(files)} files, active_floor_db {floor:g}: "
                  f"{100 * share:.0f} % of the frames active")  # fmt: skip
    write_results(
        "noise_floor",
        {
            "machine": machine(),
            "snr_db": args.snr,
            "classes": list(classes),
            "results": results,
            "active_share": shares,
        },
    )


if __name__ == "__main__":
    main()
