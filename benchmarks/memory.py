"""Peak memory of ``ser-annotate`` over many short files, and a projection to 1,000,000.

    python benchmarks/memory.py [--sizes 20000,200000] [--corpus links|distinct] [--jobs 2]
                                [--model NAME|PATH] [--dir /tmp/ser-bench/memory]

Corpora (made once, reused while their file count matches, under ``--dir``, outside the
repository): ``links`` (the default) holds hard links to 64 distinct clips, named
``aNNN/bN/fNNNNNNN.wav``, 1,000 per folder, 10 folders per parent, so that 200,000 files
cost a few megabytes of disk and a few seconds to make; ``distinct`` holds as many distinct
WAVs, 1,000 per subfolder. Every clip is a 16-bit, 16 kHz mono WAV of 0.5-1.0 s (a noisy
harmonic tone with a random pitch, level and length, seeded by the clip number).

Then runs ``python -m ser.annotate CORPUS --out T --jobs N --model M --quiet`` for each size,
one after the other, in a wrapper process that records at exit its own peak RSS (VmHWM in
``/proc/self/status``) and that of its reaped children (``getrusage(RUSAGE_CHILDREN)``).
Not ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux carries it across ``exec``, so it counted the
RSS of this script at the moment it started the run (some 175 MB once it had imported
scikit-learn for ``machine()``); it is kept in the JSON as ``main_maxrss_getrusage_mib``.
Meanwhile this script samples every 0.1 s the process tree of the run
(``/proc/PID/status``: VmHWM of each process, VmRSS summed over the tree), and every second
the size of the run's journal (``T.partial/``).

Reports, per size: wall time, files/s, peak RSS of the main process, of the largest worker,
the largest sampled sum over the tree, and the journal's largest size (the JSON also has
the main process's RSS every second, and the most frequent errors, if any); the ratios largest /
smallest size (bar: main process <= 1.10, and under 300 MB); and a projection of the wall
time, main-process peak RSS and journal size for 1,000,000 files, from a straight line
through the measured sizes. Writes ``benchmarks/results/memory.json``.
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

from _common import REPO, bench_model, compile_bytecode, describe, machine, write_results

WRAPPER = r"""
import atexit, json, resource, runpy, sys
out = sys.argv[1]
def _hwm():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
def _report():
    with open(out, "w") as f:
        json.dump({
            "self_hwm_mib": _hwm(),
            "self_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "children_maxrss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        }, f)
atexit.register(_report)  # registered first, so it runs after joblib's own exit handlers
sys.argv = ["ser-annotate"] + sys.argv[2:]
runpy.run_module("ser.annotate", run_name="__main__", alter_sys=True)
"""


def _clip(i: int, sr: int = 16000):
    import numpy as np

    rng = np.random.default_rng(i)
    dur = rng.uniform(0.5, 1.0)
    t = np.arange(int(sr * dur)) / sr
    f0 = rng.uniform(90, 300) * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(1, 4) * t))
    ph = 2 * np.pi * np.cumsum(f0) / sr
    y = sum(np.sin(k * ph) / k for k in range(1, 6)) * np.hanning(len(t))
    return rng.uniform(0.05, 0.5) * y / 2.3 + rng.uniform(0.001, 0.02) * rng.standard_normal(len(t))


def make_corpus(root: Path, n: int) -> Path:
    """``n`` distinct synthetic WAVs under ``root/n<n>`` (made once, reused when complete)."""
    import soundfile as sf

    folder = root / f"n{n}"
    done = folder / ".complete"
    if done.is_file() and done.read_text().strip() == str(n):
        return folder
    t0 = time.perf_counter()
    for i in range(n):
        sub = folder / f"s{i // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        sf.write(sub / f"f{i:06d}.wav", _clip(i), 16000, subtype="PCM_16")
    done.write_text(str(n))
    print(f"generated {n} files in {folder} in {time.perf_counter() - t0:.1f} s")
    return folder


def make_linked_corpus(root: Path, n: int, distinct: int = 64) -> Path:
    """``n`` hard links to ``distinct`` clips under ``root/links-n<n>`` (made once)."""
    import soundfile as sf

    clips = root / "clips"
    clips.mkdir(parents=True, exist_ok=True)
    for k in range(distinct):
        if not (clips / f"c{k:03d}.wav").is_file():
            sf.write(clips / f"c{k:03d}.wav", _clip(k), 16000, subtype="PCM_16")
    folder = root / f"links-n{n}"
    done = folder / ".complete"
    if done.is_file() and done.read_text().strip() == str(n):
        return folder
    t0 = time.perf_counter()
    for i in range(n):
        sub = folder / f"a{i // 10_000:03d}" / f"b{(i // 1000) % 10}"
        if i % 1000 == 0:
            sub.mkdir(parents=True, exist_ok=True)
        dst = sub / f"f{i:07d}.wav"
        if not dst.exists():
            os.link(clips / f"c{i % distinct:03d}.wav", dst)
    done.write_text(str(n))
    print(f"linked {n} files in {folder} in {time.perf_counter() - t0:.1f} s")
    return folder


def _du(folder: str) -> int:
    """Bytes of the files in ``folder`` (0 when it does not exist)."""
    try:
        with os.scandir(folder) as it:
            return sum(e.stat().st_size for e in it if e.is_file())
    except OSError:
        return 0


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
    journal_peak = 0
    timeline: list[tuple[float, float]] = []  # (s, main RSS MiB) every second
    while proc.poll() is None:
        if samples % 10 == 0:
            journal_peak = max(journal_peak, _du(out + ".partial"))
            timeline.append((round(time.perf_counter() - t0, 1), round(_status(proc.pid)[0], 1)))
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

    table = pd.read_parquet(out, columns=["status", "error"])
    errors = table["error"].value_counts().head(3).to_dict()
    return {
        "exit_status": proc.returncode,
        "wall_s": round(wall, 2),
        "files": len(table),
        "ok": int((table["status"] == "ok").sum()),
        "main_peak_rss_mib": round(rep["self_hwm_mib"], 1),
        "main_maxrss_getrusage_mib": round(rep["self_maxrss_mib"], 1),
        "children_peak_rss_mib": round(rep["children_maxrss_mib"], 1),
        "worker_peak_rss_mib_sampled": round(max(workers.values(), default=0.0), 1),
        "workers_seen": len(workers),
        "tree_rss_sum_peak_mib_sampled": round(peak_sum, 1),
        "journal_peak_mib_sampled": round(journal_peak / 2**20, 1),
        "errors": {str(k): int(v) for k, v in errors.items()},
        "samples": samples,
        "main_rss_timeline": timeline[:: max(1, len(timeline) // 200)],
    }


def project(sizes: list[int], results: dict[str, Any], n: int = 1_000_000) -> dict[str, Any]:
    """Wall time, main-process peak RSS and journal size at ``n`` files, from a straight
    line (least squares) through the measured sizes."""
    import numpy as np

    x = np.array(sizes, dtype=float)
    out: dict[str, Any] = {"files": n}
    for key in ("wall_s", "main_peak_rss_mib", "journal_peak_mib_sampled"):
        y = np.array([results[str(s)][key] for s in sizes], dtype=float)
        slope, intercept = np.polyfit(x, y, 1) if len(x) > 1 else (y[0] / x[0], 0.0)
        out[key] = round(float(intercept + slope * n), 1)
        out[f"{key}_per_1000_files"] = round(float(slope * 1000), 4)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="20000,200000", help="corpus sizes, smallest first")
    ap.add_argument("--corpus", choices=["links", "distinct"], default="links")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--model", default=None, help="model name or file (default: see doc)")
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "ser-bench", "memory"))
    args = ap.parse_args()
    compile_bytecode()
    sizes = [int(s) for s in args.sizes.split(",")]
    root = Path(args.dir)
    if root.resolve().is_relative_to(REPO):
        raise SystemExit("--dir must be outside the repository")
    m = machine()
    model = bench_model(args.model)
    make = make_linked_corpus if args.corpus == "links" else make_corpus
    corpora = {n: make(root, n) for n in sizes}
    print(f"machine: {describe(m)}")
    print(f"model: {model}; --jobs {args.jobs}; corpus: {args.corpus}")
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
              f"{r['tree_rss_sum_peak_mib_sampled']:.0f} MiB; journal "
              f"{r['journal_peak_mib_sampled']:.0f} MiB")  # fmt: skip
        for f in Path(tmp).glob("labels-*.parquet"):
            f.unlink()  # a few MB each
    ratios: dict[str, float] = {}
    projection: dict[str, Any] = {}
    bar_ok = None
    if len(sizes) >= 2:
        lo, hi = results[str(sizes[0])], results[str(sizes[-1])]
        for k in ("main_peak_rss_mib", "worker_peak_rss_mib_sampled",
                  "tree_rss_sum_peak_mib_sampled"):  # fmt: skip
            ratios[k] = round(hi[k] / lo[k], 3) if lo[k] else float("nan")
        bar_ok = ratios["main_peak_rss_mib"] <= 1.10 and hi["main_peak_rss_mib"] < 300 / 1.048576
        print(f"ratios {sizes[-1]}/{sizes[0]}: "
              + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items())
              + f"; bar (main <= 1.10 and < 300 MB): {'PASS' if bar_ok else 'FAIL'}")  # fmt: skip
        projection = project(sizes, results)
        print(f"projected for {projection['files']:,} files: {projection['wall_s']:.0f} s, "
              f"main peak RSS {projection['main_peak_rss_mib']:.0f} MiB "
              f"({projection['main_peak_rss_mib_per_1000_files']:+.3f} MiB per 1,000 files), "
              f"journal {projection['journal_peak_mib_sampled']:.0f} MiB on disk")  # fmt: skip
    path = write_results("memory", {
        "machine": m,
        "model": model,
        "jobs": args.jobs,
        "corpus": {"dir": str(root), "kind": args.corpus,
                   "files": "16-bit 16 kHz mono WAV, 0.5-1.0 s, noisy tones"
                            + (" (hard links to 64 clips)" if args.corpus == "links" else "")},
        "results": results,
        "ratios_largest_over_smallest": ratios,
        "bar_main_within_10_percent_and_under_300_mb": bar_ok,
        "projection": projection,
        "loadavg_end": list(os.getloadavg()),
    })  # fmt: skip
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
