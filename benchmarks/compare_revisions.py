"""Speed of ``process_file`` (default features) at an older git revision versus the working tree.

    python benchmarks/compare_revisions.py [--rev dc54ad3] [--data DIR] [--files 300]

The ``models/`` folder of ``--rev`` is extracted (``git archive``) into a temporary package
``ser_rev.models`` and imported beside the current ``ser.features`` (where the feature
functions now live); both run in this process
on the same files, interleaved chunk by chunk. The old revision is timed twice: as it runs
by default (BLAS with its default thread count: that is what a user of it got with
``--jobs 1``) and capped at one BLAS thread (as in a loky worker). Also timed, in fresh
subprocesses: the start-up of a worker (import + first file), for both revisions; and the
features alone (``extract_features`` on audio decoded once), interleaved too. Prints
ms/file and speedups and writes ``benchmarks/results/compare_revisions.json``.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from typing import Any

from _common import REPO, default_data_dir, describe, machine, ravdess_files, write_results

FIRST_FILE = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
t0 = time.perf_counter()
mod = __import__(sys.argv[2], fromlist=["x"])
t1 = time.perf_counter()
mod.process_file(sys.argv[3], config=mod.feature_config("default"))
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def extract(rev: str) -> str:
    root = tempfile.mkdtemp(prefix="ser-rev-")
    blob = subprocess.run(["git", "archive", rev, "models"], cwd=REPO, capture_output=True,
                          check=True).stdout  # fmt: skip
    pkg = os.path.join(root, "ser_rev")
    os.makedirs(pkg)
    open(os.path.join(pkg, "__init__.py"), "w").close()
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(pkg, filter="data")
    return root


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rev", default="dc54ad3", help="old revision (default: the first models)")
    ap.add_argument("--data", default=default_data_dir())
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--chunk", type=int, default=20)
    ap.add_argument("--startups", type=int, default=3, help="fresh-process start-up repeats")
    args = ap.parse_args()
    m = machine()
    files = ravdess_files(args.data, args.files)
    root = extract(args.rev)
    sys.path.insert(0, root)
    import numpy as np
    import ser_rev.models as old
    from threadpoolctl import ThreadpoolController

    import ser.audio as new_audio
    import ser.features as new

    cfg_new, cfg_old = new.feature_config("default"), old.feature_config("default")
    for f in files:
        with open(f, "rb") as fh:
            fh.read()
    new.process_file(files[0], config=cfg_new)
    old.process_file(files[0], config=cfg_old)
    ctl = ThreadpoolController()  # after the warm-up: every BLAS library is loaded
    same = all(
        np.array_equal(new.process_file(f, config=cfg_new)[0],
                       old.process_file(f, config=cfg_old)[0])
        for f in files[:: max(1, len(files) // 20)]
    )  # fmt: skip

    def old_default(p: str) -> Any:
        return old.process_file(p, config=cfg_old)

    def old_one(p: str) -> Any:
        with ctl.limit(limits=1, user_api="blas"):
            return old.process_file(p, config=cfg_old)

    def cur(p: str) -> Any:
        return new.process_file(p, config=cfg_new)

    variants = {"old_default_blas": old_default, "old_one_blas_thread": old_one, "new": cur}
    spent = dict.fromkeys(variants, 0.0)
    names = list(variants)
    for i in range(0, len(files), args.chunk):
        chunk = files[i : i + args.chunk]
        k = (i // args.chunk) % len(names)
        for name in names[k:] + names[:k]:
            t0 = time.perf_counter()
            for p in chunk:
                variants[name](p)
            spent[name] += time.perf_counter() - t0
    # features alone, on audio decoded once (the same arrays for both revisions)
    audio = [new_audio.load_audio(p)[0] for p in files]
    feats = {
        "features_old_one_blas_thread": lambda y: old_one_features(y),
        "features_new": lambda y: new.extract_features(y, config=cfg_new),
    }

    def old_one_features(y: Any) -> Any:
        with ctl.limit(limits=1, user_api="blas"):
            return old.extract_features(y, config=cfg_old)

    for name in feats:
        spent[name] = 0.0
    fnames = list(feats)
    for i in range(0, len(audio), args.chunk):
        chunk = audio[i : i + args.chunk]
        k = (i // args.chunk) % 2
        for name in fnames[k:] + fnames[:k]:
            t0 = time.perf_counter()
            for y in chunk:
                feats[name](y)
            spent[name] += time.perf_counter() - t0
    ms = {k: round(1000 * v / len(files), 2) for k, v in spent.items()}

    starts: dict[str, list[list[float]]] = {"old": [], "new": []}
    for _ in range(args.startups):
        for label, path, mod in (("old", root, "ser_rev.models"), ("new", root, "ser.features")):
            out = subprocess.run([sys.executable, "-c", FIRST_FILE, path, mod, files[0]],
                                 capture_output=True, text=True, cwd=REPO, check=True)  # fmt: skip
            starts[label].append([float(x) for x in out.stdout.split()])
    startup = {
        k: {"import_s": round(statistics.median(x[0] for x in v), 3),
            "first_file_s": round(statistics.median(x[1] for x in v), 3)}
        for k, v in starts.items()
    }  # fmt: skip
    print(f"machine: {describe(m)}")
    print(f"{len(files)} files; old = {args.rev}, new = working tree; "
          f"features identical on a sample: {same}")  # fmt: skip
    for k, v in ms.items():
        print(f"  {k:22s} {v:7.2f} ms/file")
    sp1 = ms["old_default_blas"] / ms["new"]
    sp2 = ms["old_one_blas_thread"] / ms["new"]
    print(
        f"  speedup: {sp1:.2f}x against the old code as it ran, "
        f"{sp2:.2f}x against it with one BLAS thread"
    )
    sp3 = ms["features_old_one_blas_thread"] / ms["features_new"]
    print(f"  features alone (decoded audio, one BLAS thread for the old code): {sp3:.2f}x")
    for k, v in startup.items():
        print(f"  worker start-up {k}: import {v['import_s']:.3f} s, "
              f"first file {v['first_file_s']:.3f} s")  # fmt: skip
    path = write_results("compare_revisions", {
        "machine": m, "rev": args.rev, "files": len(files), "identical_sample": same,
        "ms_per_file": ms, "speedup_vs_old_default": round(sp1, 2),
        "speedup_vs_old_one_blas_thread": round(sp2, 2),
        "speedup_features_alone": round(sp3, 2), "startup": startup,
        "loadavg_end": list(os.getloadavg()),
    })  # fmt: skip
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
