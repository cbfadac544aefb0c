"""Peak memory of ``ser-annotate`` over 20,000 short files versus 2,000.

    python benchmarks/memory.py [--sizes 2000,20000] [--jobs 2] [--model NAME|PATH]
                                [--dir /tmp/ser-bench/memory]

Generates synthetic corpora (once; reused while their file count matches) of 16-bit, 16 kHz
mono WAVs of 0.5-1.0 s each (a noisy harmonic tone with a random pitch, level and length,
seeded by the file number), 1,000 files per subfolder, under ``--dir`` (outside the
repository). Then runs ``python -m ser.annotate CORPUS --out T --jobs N --model M --quiet``
for each size, one after the other, in a wrapper process that records at exit its own peak
RSS (``getrusage(RUSAGE_SELF).ru_maxrss``) and that of its reaped children
(``RUSAGE_CHILDREN``). Meanwhile this script samples every 0.1 s the process tree of the run
(``/proc/PID/status``: VmHWM of each process, VmRSS summed over the tree).

Reports, per size: wall time, files/s, peak RSS of the main process, of the largest worker,
and the largest sampled sum over the tree; and the ratios 20,000 / 2,000 (bar: <= 1.15).
Writes ``benchmarks/results/memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import REPO, bench_model, describe, machine, write_results

WRAPPER = r"""
import atexit, json, resource, runpy, sys
out = sys.argv[1]
def _report():
    with open(out, "w") as f:
        json.dump({
            "self_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "children_maxrss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        }, f)
atexit.register(_report)  # registered first, so it runs after joblib's own exit handlers
sys.argv = ["ser-annotate"] + sys.argv[2:]
runpy.run_module("ser.annotate", run_name="__main__", alter_sys=True)
"""


def make_corpus(root: Path, n: int) -> Path:
    """``n`` synthetic WAVs under ``root/n<n>`` (made once, reused when complete)."""
    import numpy as np
    import soundfile as sf

    folder = root / f"n{n}"
    done = folder / ".complete"
    if done.is_file() and done.read_text().strip() == str(n):
        return folder
    sr = 16000
    t0 = time.perf_counter()
    for i in range(n):
        rng = np.random.default_rng(i)
        dur = rng.uniform(0.5, 1.0)
        t = np.arange(int(sr * dur)) / sr
        f0 = rng.uniform(90, 300) * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(1, 4) * t))
        ph = 2 * np.pi * np.cumsum(f0) / sr
        y = sum(np.sin(k * ph) / k for k in range(1, 6)) * np.hanning(len(t))
        y = rng.uniform(0.05, 0.5) * y / 2.3 + rng.uniform(0.001, 0.02) * rng.standard_normal(
            len(t)
        )
        sub = folder / f"s{i // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        sf.write(sub / f"f{i:06d}.wav", y, sr, subtype="PCM_16")
    done.write_text(str(n))
    print(f"generated {n} files in {folder} in {time.perf_counter() - t0:.1f} s")
    return folder


def _tree(root_pid: int) -> list[int]:
    """The pids of ``root_pid`` and all its descendants (from /proc)."""
    parents: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(d))
    out, todo = [], [root_pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += parents.get(p, [])
    return out


def _status(pid: int) -> tuple[float, float]:
    rss = hwm = 0.0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) / 1024
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1]) / 1024
    except OSError:
        pass
    return rss, hwm


def run_annotate(corpus: Path, jobs: int, model: str, tmp: str) -> dict[str, Any]:
    report = os.path.join(tmp, f"rss-{corpus.name}.json")
    out = os.path.join(tmp, f"labels-{corpus.name}.parquet")
    cmd = [sys.executable, "-c", WRAPPER, report, str(corpus), "--out", out, "--jobs",
           str(jobs), "--model", model, "--quiet", "--overwrite"]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    hwm: dict[int, float] = {}
    peak_sum = 0.0
    samples = 0
    while proc.poll() is None:
        total = 0.0
        for pid in _tree(proc.pid):
            rss, h = _status(pid)
            total += rss
            if h:
                hwm[pid] = max(hwm.get(pid, 0.0), h)
        peak_sum = max(peak_sum, total)
        samples += 1
        time.sleep(0.1)
    wall = time.perf_counter() - t0
    _, err = proc.communicate()
    if proc.returncode not in (0, 1):
        print(err.decode()[-3000:], file=sys.stderr)
        raise SystemExit(f"ser-annotate failed with exit status {proc.returncode}")
    with open(report) as f:
        rep = json.load(f)
    workers = {p: h for p, h in hwm.items() if p != proc.pid}
    import pandas as pd

    table = pd.read_parquet(out, columns=["status"])
    return {
        "exit_status": proc.returncode,
        "wall_s": round(wall, 2),
        "files": len(table),
        "ok": int((table["status"] == "ok").sum()),
        "main_peak_rss_mib": round(rep["self_maxrss_mib"], 1),
        "children_peak_rss_mib": round(rep["children_maxrss_mib"], 1),
        "worker_peak_rss_mib_sampled": round(max(workers.values(), default=0.0), 1),
        "workers_seen": len(workers),
        "tree_rss_sum_peak_mib_sampled": round(peak_sum, 1),
        "samples": samples,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="2000,20000", help="corpus sizes, smallest first")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--model", default=None, help="model name or file (default: see doc)")
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "ser-bench", "memory"))
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    root = Path(args.dir)
    if root.resolve().is_relative_to(REPO):
        raise SystemExit("--dir must be outside the repository")
    m = machine()
    model = bench_model(args.model)
    corpora = {n: make_corpus(root, n) for n in sizes}
    print(f"machine: {describe(m)}")
    print(f"model: {model}; --jobs {args.jobs}")
    tmp = tempfile.mkdtemp(prefix="ser-mem-")
    results: dict[str, Any] = {}
    for n in sizes:
        r = run_annotate(corpora[n], args.jobs, model, tmp)
        r["files_per_s"] = round(r["files"] / r["wall_s"], 1)
        results[str(n)] = r
        print(f"{n:>7} files: {r['wall_s']:7.1f} s ({r['files_per_s']:.0f} files/s, {r['ok']} ok); "
              f"peak RSS main {r['main_peak_rss_mib']:.0f} MiB, largest worker "
              f"{r['worker_peak_rss_mib_sampled']:.0f} MiB, reaped children "
              f"{r['children_peak_rss_mib']:.0f} MiB, tree sum "
              f"{r['tree_rss_sum_peak_mib_sampled']:.0f}"
              " MiB")  # fmt: skip
    ratios: dict[str, float] = {}
    if len(sizes) >= 2:
        lo, hi = results[str(sizes[0])], results[str(sizes[-1])]
        for k in ("main_peak_rss_mib", "worker_peak_rss_mib_sampled",
                  "tree_rss_sum_peak_mib_sampled"):  # fmt: skip
            ratios[k] = round(hi[k] / lo[k], 3) if lo[k] else float("nan")
        ok = all(v <= 1.15 for v in ratios.values())
        print(f"ratios {sizes[-1]}/{sizes[0]}: "
              + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items())
              + f"; bar <= 1.15: {'PASS' if ok else 'FAIL'}")  # fmt: skip
    path = write_results("memory", {
        "machine": m,
        "model": model,
        "jobs": args.jobs,
        "corpus": {"dir": str(root), "files": "16-bit 16 kHz mono WAV, 0.5-1.0 s, noisy tones"},
        "results": results,
        "ratios_largest_over_smallest": ratios,
        "bar_within_15_percent": bool(ratios) and all(v <= 1.15 for v in ratios.values()),
        "loadavg_end": list(os.getloadavg()),
    })  # fmt: skip
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
