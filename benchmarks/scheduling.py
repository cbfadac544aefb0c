"""How the way files are handed to 2 workers changes the measured ``--jobs 2`` scaling.

    python benchmarks/scheduling.py [--data DIR] [--files N] [--rounds 4]

Times ser's default feature extraction, (a) of ``throughput.py``, over the same files with
``Parallel(n_jobs=2)`` (loky workers started once), scheduled four ways, each right after a
``--jobs 1`` reference on every fourth file (so that each ratio compares two measurements taken
moments apart on this shared VM), rounds interleaved:

- ``small_tasks``: chunks of 48 files (24 per worker), tasks of 6 files, one call per chunk,
  as ``throughput.py`` did before 2026-11-21;
- ``task_per_worker``: chunks of 192 files, one task per worker (every second file), as
  ``throughput.py`` did earlier on 2026-11-21;
- ``claimed``: chunks of 192 files, one task per worker, in which each worker claims the
  chunk's files one at a time from a shared counter, as ``throughput.py`` does now;
- ``stream``: every file as its own task through ``Parallel(return_as="generator_unordered")``
  with joblib's auto-batching, one call for all files, as ``ser-annotate`` does.

Prints the scaling (files/s at 2 jobs over files/s at 1) of each round and the medians, and
writes ``benchmarks/results/scheduling.json``. The figures swing with the load of other guests
on the host; compare the rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from _common import default_data_dir, describe, machine, ravdess_files, write_results
from joblib import delayed
from throughput import _chunks, claim_chunk, run_files

VARIANT = "a_default"


def small_tasks(par: Any, gen: Any, files: list[str]) -> float:
    t0 = time.perf_counter()
    for ch in _chunks(files, 48):
        par(delayed(run_files)(VARIANT, b) for b in _chunks(ch, 6))
    return len(files) / (time.perf_counter() - t0)


def task_per_worker(par: Any, gen: Any, files: list[str]) -> float:
    t0 = time.perf_counter()
    for ch in _chunks(files, 192):
        par(delayed(run_files)(VARIANT, ch[w::2]) for w in range(2))
    return len(files) / (time.perf_counter() - t0)


def claimed(par: Any, gen: Any, files: list[str]) -> float:
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        counter = os.path.join(tmp, "next")
        t0 = time.perf_counter()
        for ch in _chunks(files, 192):
            claim_chunk(par, VARIANT, ch, counter, 2)
        return len(files) / (time.perf_counter() - t0)


def stream(par: Any, gen: Any, files: list[str]) -> float:
    t0 = time.perf_counter()
    for _ in gen(delayed(run_files)(VARIANT, [f]) for f in files):
        pass
    return len(files) / (time.perf_counter() - t0)


MODES = {
    "small_tasks": small_tasks,
    "task_per_worker": task_per_worker,
    "claimed": claimed,
    "stream": stream,
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=default_data_dir(), help="RAVDESS folder")
    ap.add_argument("--files", type=int, default=None, help="use N files (stratified); default all")
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()

    from joblib import Parallel
    from threadpoolctl import threadpool_limits

    m = machine()
    files = ravdess_files(args.data, args.files)
    print(f"machine: {describe(m)}")
    print(f"data: {len(files)} files from {args.data}")
    run_files(VARIANT, files[:4])  # warm-up of this process
    threadpool_limits(1, user_api="blas")  # as in a loky worker
    ref = files[::4]
    scaling: dict[str, list[float]] = {k: [] for k in MODES}
    with Parallel(n_jobs=2) as par:
        gen = Parallel(n_jobs=2, return_as="generator_unordered")
        par(delayed(run_files)(VARIANT, files[:4]) for _ in range(8))  # warm the workers
        for r in range(args.rounds):
            k = r % len(MODES)
            order = list(MODES)[k:] + list(MODES)[:k]
            for name in order:
                t0 = time.perf_counter()
                run_files(VARIANT, ref)
                one = len(ref) / (time.perf_counter() - t0)
                scaling[name].append(round(MODES[name](par, gen, files) / one, 3))
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}x" for k, v in scaling.items()))
    medians = {k: round(statistics.median(v), 3) for k, v in scaling.items()}
    print("median --jobs 2 / --jobs 1: " + ", ".join(f"{k} {v:.2f}x" for k, v in medians.items()))
    path = write_results(
        "scheduling",
        {
            "machine": m,
            "files": len(files),
            "variant": VARIANT,
            "scaling_per_round": scaling,
            "median_scaling": medians,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
