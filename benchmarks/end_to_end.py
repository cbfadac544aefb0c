"""``ser-annotate`` end to end against the bare feature extraction, at the same ``--jobs``.

    python benchmarks/end_to_end.py [--data DIR] [--jobs 1,2] [--files N] [--repeats 5]
                                    [--model NAME|PATH]

Both sides run as fresh subprocesses, timed from outside, ``--repeats`` rounds; each round
runs every ``--jobs`` value and both sides (their order alternating), so that the VM's speed,
which drifts over minutes, hits them alike. Medians are reported (on this shared VM one run of
either side swings by 10-20 %, as much as the bar's margin, so one or two repeats decide
nothing):

E  ``python -m ser.annotate DATA --out T --jobs N --model M --quiet --overwrite``: start-up,
   model loading, walking, worker start-up, extraction, scheduling, prediction, writing;
B  the bare extraction of the throughput benchmark's (a): ``process_file(path,
   config=feature_config("default"))`` over the same files (a list, no walk), with
   ``joblib.Parallel(n_jobs=N, backend="loky")`` (a plain loop for N=1), features kept in
   memory, nothing written. It also reports its own import and extraction times.

Throughput ratio = B wall / E wall (bar: at least 0.90). Speed-up of each ``--jobs`` value
against the first, for E and for B: the ratio of the medians, and the median of the ratios
taken within each round; E's speed-up over B's is the share of the machine's own scaling
that ``ser-annotate`` keeps (bar for E: 1.8x at ``--jobs 2``). Then one in-process
``ser.annotate.annotate_to_file`` run per ``--jobs`` gives the breakdown of where E's extra
time goes, from the parts the run times itself (``RunSummary.timings``: model loading, walk,
prediction, table writing, and the extraction or the wait for the workers). With
``--files N`` a temporary folder of symbolic links to N stratified files stands in for the
corpus. Writes
``benchmarks/results/end_to_end.json``; uses the bundled default model when present, else
a throwaway model of the same input width (see ``_common.bench_model``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    REPO,
    bench_model,
    compile_bytecode,
    default_data_dir,
    describe,
    machine,
    ravdess_files,
    write_results,
)


def bare(list_file: str, jobs: int) -> None:
    """The B side (runs in its own subprocess): extract, keep, print timings as JSON."""
    t0 = time.perf_counter()
    from ser.features import feature_config, process_file

    files = Path(list_file).read_text().splitlines()
    cfg = feature_config("default")
    t1 = time.perf_counter()

    def one(p: str) -> Any:
        try:
            return process_file(p, config=cfg)
        except Exception as exc:  # same as annotate: a bad file is a row, not a crash
            return exc

    if jobs == 1:
        out = [one(p) for p in files]
    else:
        from joblib import Parallel, delayed

        out = Parallel(n_jobs=jobs, backend="loky")(delayed(one)(p) for p in files)
    t2 = time.perf_counter()
    ok = sum(not isinstance(r, Exception) for r in out)
    print(json.dumps({"import_s": t1 - t0, "extract_s": t2 - t1, "ok": ok, "n": len(files)}))


def _run(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    return time.perf_counter() - t0, proc


def _breakdown(data: str, jobs: int, model: str, out: str) -> dict[str, float]:
    """One in-process annotate_to_file run, with the parts it times itself (its summary's
    ``timings``)."""
    from ser.annotate import annotate_to_file

    t0 = time.perf_counter()
    summary = annotate_to_file([data], out=out, model=model, jobs=jobs, overwrite=True)
    total = time.perf_counter() - t0
    res = {k: round(v, 3) for k, v in summary.timings.items()}
    res["total"] = round(total, 3)
    res["summary_seconds"] = round(summary.seconds, 3)
    res["n_ok"] = summary.n_ok
    res["n_files"] = summary.n_files
    return res


def _speedup(base: dict[str, list], runs: dict[str, list], j0: int, j: int) -> dict[str, float]:
    """``--jobs j`` against ``--jobs j0``: ratio of the median walls of each side, and the
    median of the per-round ratios (each round ran both values within seconds); printed."""
    out: dict[str, float] = {}
    for side, name in (("E", "ser-annotate"), ("B", "bare extraction")):
        medians = statistics.median(base[side]) / statistics.median(runs[side])
        paired = statistics.median(a / b for a, b in zip(base[side], runs[side]))
        out[f"{name}_medians"], out[f"{name}_per_round"] = round(medians, 3), round(paired, 3)
        print(f"  --jobs {j} against --jobs {j0}, {name:15}: {medians:.2f}x (median of "
              f"per-round ratios {paired:.2f}x)")  # fmt: skip
    kept = out["ser-annotate_per_round"] / out["bare extraction_per_round"]
    out["annotate_share_of_bare_speedup"] = round(kept, 3)
    print(f"  ser-annotate keeps {100 * kept:.0f} % of the bare extraction's speed-up "
          f"(per-round ratios); bar for ser-annotate: 1.8x at --jobs 2")  # fmt: skip
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=default_data_dir(), help="RAVDESS folder")
    ap.add_argument("--files", type=int, default=None, help="use N files (stratified)")
    ap.add_argument("--jobs", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--repeats", type=int, default=5, help="runs of each side per --jobs")
    ap.add_argument("--model", default=None, help="model name or file (default: see doc)")
    ap.add_argument("--no-breakdown", action="store_true", help="skip the in-process run")
    ap.add_argument("--bare", metavar="LIST", help=argparse.SUPPRESS)
    args = ap.parse_args()
    compile_bytecode()
    jobs_list = [int(j) for j in args.jobs.split(",") if j.strip()]
    if args.bare:
        bare(args.bare, jobs_list[0])
        return 0

    m = machine()
    model = bench_model(args.model)
    files = ravdess_files(args.data, args.files)
    tmp = tempfile.mkdtemp(prefix="ser-e2e-")
    if args.files is not None and len(files) < len(ravdess_files(args.data)):
        corpus = os.path.join(tmp, "corpus")
        for f in files:  # keep Actor_NN/name so that the walk and the speakers look the same
            link = os.path.join(corpus, os.path.relpath(f, args.data))
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(os.path.abspath(f), link)
    else:
        corpus = os.path.abspath(args.data)
    list_file = os.path.join(tmp, "files.txt")
    Path(list_file).write_text("\n".join(os.path.abspath(f) for f in files) + "\n")
    for f in files:  # warm the page cache
        Path(f).read_bytes()
    print(f"machine: {describe(m)}")
    print(f"data: {len(files)} files from {args.data}; model: {model}")

    py = sys.executable
    runs: dict[int, dict[str, list]] = {
        j: {"E": [], "B": [], "inner": [], "rc": []} for j in jobs_list
    }
    # Rounds interleave the --jobs values as well as the two sides, so that the VM's speed,
    # which drifts over minutes, hits every --jobs value alike.
    for r in range(args.repeats):
        for jobs in jobs_list:
            out = os.path.join(tmp, f"labels-{jobs}.parquet")
            e_cmd = [py, "-m", "ser.annotate", corpus, "--out", out, "--jobs", str(jobs),
                     "--model", model, "--quiet", "--overwrite"]  # fmt: skip
            b_cmd = [py, str(Path(__file__).resolve()), "--bare", list_file, "--jobs", str(jobs)]
            for side in ("E", "B") if r % 2 == 0 else ("B", "E"):
                wall, proc = _run(e_cmd if side == "E" else b_cmd)
                if side == "E" and proc.returncode not in (0, 1):
                    print(proc.stderr[-2000:], file=sys.stderr)
                    raise SystemExit(f"ser-annotate failed with exit status {proc.returncode}")
                if side == "B" and proc.returncode != 0:
                    print(proc.stderr[-2000:], file=sys.stderr)
                    raise SystemExit("bare extraction failed")
                runs[jobs][side].append(wall)
                if side == "E":
                    runs[jobs]["rc"].append(proc.returncode)
                else:
                    runs[jobs]["inner"].append(json.loads(proc.stdout.strip().splitlines()[-1]))

    results: dict[str, Any] = {}
    for jobs in jobs_list:
        e_walls, b_walls, b_inner = runs[jobs]["E"], runs[jobs]["B"], runs[jobs]["inner"]
        e, b = statistics.median(e_walls), statistics.median(b_walls)
        res: dict[str, Any] = {
            "annotate_wall_s": [round(x, 3) for x in e_walls],
            "annotate_exit_status": runs[jobs]["rc"],
            "bare_wall_s": [round(x, 3) for x in b_walls],
            "bare_inner": b_inner,
            "annotate_files_per_s": round(len(files) / e, 2),
            "bare_files_per_s": round(len(files) / b, 2),
            "throughput_ratio": round(b / e, 3),
            "overhead_share": round(1 - b / e, 3),
        }
        inner = statistics.median(x["extract_s"] for x in b_inner)
        print(f"\n--jobs {jobs}")
        print(f"  ser-annotate end to end : {e:7.2f} s  {len(files) / e:7.1f} files/s")
        print(
            f"  bare extraction         : {b:7.2f} s  {len(files) / b:7.1f} files/s "
            f"(of which extraction {inner:.2f} s, the rest interpreter, imports, exit)"
        )
        print(
            f"  throughput ratio annotate/bare = {b / e:.3f}  "
            f"(overhead share {100 * (1 - b / e):.1f} %)  bar >= 0.90: "
            f"{'PASS' if b / e >= 0.9 else 'FAIL'}"
        )
        if jobs != jobs_list[0]:
            res["speedup"] = _speedup(runs[jobs_list[0]], runs[jobs], jobs_list[0], jobs)
        if not args.no_breakdown:
            bd = _breakdown(corpus, jobs, model, os.path.join(tmp, f"bd-{jobs}.parquet"))
            res["breakdown_in_process"] = bd
            parts = ", ".join(
                f"{k} {v:.3f} s" for k, v in bd.items() if k not in ("n_ok", "n_files")
            )
            print(f"  in-process breakdown: {parts}")
        results[str(jobs)] = res

    path = write_results("end_to_end", {
        "machine": m,
        "data": args.data,
        "files": len(files),
        "model": model,
        "repeats": args.repeats,
        "results": results,
        "bars": {f"ratio_jobs{j}_ge_0.90": r["throughput_ratio"] >= 0.9
                 for j, r in results.items()},
        "interleaved": "each round runs every --jobs value, both sides, in alternating order",
        "loadavg_end": list(os.getloadavg()),
    })  # fmt: skip
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
