"""Local worker processes against a localhost Dask cluster with the same number of workers.

    python benchmarks/cluster.py [--data DIR] [--files N] [--workers 2] [--rounds 3]

Starts a Dask scheduler and ``dask worker --nworkers W --nthreads 1`` on 127.0.0.1 (as a user
would, ``dask[distributed]`` needed: ``pip install '.[dask]'``), then featurises the same
files with ``ser.batch.run_batch`` both ways, as ``ser-annotate`` does (its task,
``extract_item``, with the default features): ``n_jobs=W`` local loky processes, and
``scheduler=`` the cluster. Both are warmed up first (workers started, modules imported);
rounds alternate which goes first, so that load from elsewhere on this shared VM hits both
alike. Checks that both give the same results bit for bit, prints each round's seconds and the
ratio cluster / local with their medians, and writes ``benchmarks/results/cluster.json``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    compile_bytecode,
    default_data_dir,
    describe,
    machine,
    ravdess_files,
    write_results,
)


def start_cluster(workers: int, folder: Path) -> tuple[str, list[subprocess.Popen]]:
    """A scheduler and ``workers`` worker processes (one thread each) on 127.0.0.1."""
    sched_file = folder / "scheduler.json"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
             "--port", "0", "--no-dashboard", "--scheduler-file", str(sched_file)],
            start_new_session=True, **quiet,
        )
    ]  # fmt: skip
    end = time.monotonic() + 60
    while not sched_file.exists():
        if time.monotonic() > end:
            raise SystemExit("the Dask scheduler did not start within 60 s")
        time.sleep(0.1)
    procs.append(
        subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
             str(sched_file), "--nworkers", str(workers), "--nthreads", "1", "--host",
             "127.0.0.1", "--no-dashboard", "--local-directory", str(folder)],
            start_new_session=True, **quiet,
        )
    )  # fmt: skip
    return json.loads(sched_file.read_text())["address"], procs


def stop_cluster(procs: list[subprocess.Popen]) -> None:
    for proc in reversed(procs):
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def timed(run: Any) -> tuple[float, dict[int, Any]]:
    t0 = time.perf_counter()
    got = dict(run())
    return time.perf_counter() - t0, got


def same(a: dict[int, Any], b: dict[int, Any]) -> bool:
    """Bit for bit: every field, feature arrays by their bytes."""
    if a.keys() != b.keys():
        return False
    for k, x in a.items():
        y = b[k]
        for name in type(x).__dataclass_fields__:
            u, v = getattr(x, name), getattr(y, name)
            if hasattr(u, "tobytes") or hasattr(v, "tobytes"):
                if not (hasattr(u, "tobytes") and hasattr(v, "tobytes")):
                    return False
                if (u.dtype, u.shape, u.tobytes()) != (v.dtype, v.shape, v.tobytes()):
                    return False
            elif u != v:
                return False
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=default_data_dir(), help="RAVDESS folder")
    ap.add_argument("--files", type=int, default=None, help="use N files (stratified); default all")
    ap.add_argument("--workers", type=int, default=2, help="local jobs = Dask worker processes")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    compile_bytecode()

    from ser.annotate.worker import extract_item, worker_died
    from ser.audio.segments import SegmentOptions
    from ser.batch import connect_scheduler, run_batch, shutdown_workers
    from ser.features import feature_config

    m = machine()
    files = ravdess_files(args.data, args.files)
    items = [(i, (i, os.path.abspath(f), None)) for i, f in enumerate(files)]
    task = functools.partial(extract_item, config=feature_config(), seg=SegmentOptions())
    w = args.workers
    print(f"machine: {describe(m)}")
    print(f"data: {len(files)} files from {args.data}; {w} local jobs vs {w} Dask workers")

    def local() -> Any:
        return run_batch(task, items, n_jobs=w, on_death=worker_died)

    with tempfile.TemporaryDirectory(prefix="ser-bench-dask-") as tmp:
        address, procs = start_cluster(w, Path(tmp))
        try:
            from distributed import Client

            t0 = time.perf_counter()
            with Client(address, set_as_default=False) as client:
                client.wait_for_workers(w, timeout=120)
            start_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            with connect_scheduler(address) as cluster:  # what a run pays to connect and check
                connect_s = time.perf_counter() - t0

                def remote() -> Any:
                    return run_batch(task, items, n_jobs=w, on_death=worker_died,
                                     scheduler=cluster)  # fmt: skip

                warm = items[: 8 * w]
                dict(run_batch(task, warm, n_jobs=w, on_death=worker_died))
                dict(run_batch(task, warm, n_jobs=w, on_death=worker_died, scheduler=cluster))
                rounds: list[dict[str, float]] = []
                identical = True
                for r in range(args.rounds):
                    order = [("local", local), ("cluster", remote)]
                    if r % 2:
                        order.reverse()
                    row: dict[str, float] = {}
                    results = {}
                    for name, run in order:
                        row[name], results[name] = timed(run)
                    identical &= same(results["local"], results["cluster"])
                    row["ratio"] = row["cluster"] / row["local"]
                    rounds.append(row)
                    print(f"round {r + 1}: local {row['local']:.2f} s, cluster "
                          f"{row['cluster']:.2f} s, cluster / local "
                          f"{row['ratio']:.2f}")  # fmt: skip
        finally:
            shutdown_workers()
            stop_cluster(procs)
    med = {k: statistics.median(r[k] for r in rounds) for k in ("local", "cluster", "ratio")}
    print(f"median: local {med['local']:.2f} s ({len(files) / med['local']:.0f} files/s), "
          f"cluster {med['cluster']:.2f} s ({len(files) / med['cluster']:.0f} files/s), "
          f"cluster / local {med['ratio']:.2f}")  # fmt: skip
    print(f"connecting (scheduler checked, workers asked for their ser version): "
          f"{connect_s:.2f} s; results identical bit for bit: {identical}")  # fmt: skip
    path = write_results(
        "cluster",
        {
            "machine": m,
            "files": len(files),
            "workers": w,
            "rounds": rounds,
            "median_s": {k: round(v, 3) for k, v in med.items()},
            "connect_s": round(connect_s, 3),
            "cluster_start_s": round(start_s, 3),
            "identical": identical,
            "loadavg_end": list(os.getloadavg()),
        },
    )
    print(f"wrote {path}")
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
