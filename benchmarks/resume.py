"""``ser-annotate --resume`` after ``kill -9``: the work lost, and the resumed run's time.

    python benchmarks/resume.py [--files 11000] [--kills 3] [--jobs 2] [--model NAME|PATH]
                                [--seed 0] [--dir /tmp/ser-bench/resume]

Corpus: ``--files`` hard links to 64 synthetic clips of 0.5-1.0 s in nested folders, made
once (``memory.py``'s corpus). Steps, each ``python -m ser.annotate CORPUS --out T --jobs N
--model M --quiet --resume``:

1. a fresh run to the end: the reference table and its wall time;
2. ``--kills`` runs, each killed with SIGKILL at a seeded random moment between 3 s and the
   end of the work that is left (so that each dies mid-work), each resuming the last;
3. a last run that resumes and finishes.

Reports, per killed run: when it was killed, the files in the journal before and after it,
how far the journal lagged behind at the moment of the kill (seconds since its last part
was written; bound: about :data:`~ser.annotate.journal.FLUSH_S` plus the files in the
workers), and the files that lag is worth at the fresh run's rate. Then the last run's time
against the fresh run's, the total time of all runs against the fresh run's (the overhead:
start-ups and lost work), and whether the table equals the reference, row for row and value
for value. Writes ``benchmarks/results/resume.json``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import REPO, bench_model, compile_bytecode, describe, machine, write_results
from memory import make_linked_corpus


def journal_files(out: Path) -> tuple[int, float | None]:
    """Files in the journal of ``out``, and the time its last part was written."""
    import pyarrow as pa

    folder = Path(str(out) + ".partial")
    parts = sorted(folder.glob("part-*.arrow")) if folder.is_dir() else []
    n = 0
    for p in parts:
        with pa.OSFile(str(p)) as f:
            seq = pa.ipc.open_file(f).read_all().column("seq").to_pylist()
        n += sum(1 for s in seq if s == 0)
    return n, max((p.stat().st_mtime for p in parts), default=None)


def command(corpus: Path, out: Path, jobs: int, model: str) -> list[str]:
    return [sys.executable, "-m", "ser.annotate", str(corpus), "-o", str(out), "-j", str(jobs),
            "-m", model, "-q", "--resume"]  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=11_000)
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--model", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "ser-bench", "resume"))
    args = ap.parse_args()
    compile_bytecode()
    import numpy as np
    import pandas as pd

    root = Path(args.dir)
    if root.resolve().is_relative_to(REPO):
        raise SystemExit("--dir must be outside the repository")
    m = machine()
    model = bench_model(args.model)
    corpus = make_linked_corpus(root, args.files)
    print(f"machine: {describe(m)}")
    print(f"model: {model}; --jobs {args.jobs}; {args.files} files")
    tmp = Path(tempfile.mkdtemp(prefix="ser-resume-"))
    reference, out = tmp / "fresh.parquet", tmp / "resumed.parquet"

    t0 = time.perf_counter()
    subprocess.run(command(corpus, reference, args.jobs, model), check=True, cwd=REPO)
    fresh_s = time.perf_counter() - t0
    rate = args.files / fresh_s
    print(f"fresh run: {fresh_s:.1f} s ({rate:.0f} files/s, start-up included)")

    rng = np.random.default_rng(args.seed)
    kills: list[dict[str, Any]] = []
    spent = 0.0
    for k in range(args.kills):
        before, _ = journal_files(out)
        left_s = fresh_s * (1 - before / args.files)
        delay = float(rng.uniform(3.0, max(3.5, 0.9 * left_s)))
        proc = subprocess.Popen(command(corpus, out, args.jobs, model), cwd=REPO)
        t0, started = time.perf_counter(), time.time()
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        killed_at = time.time()
        proc.wait()
        spent += time.perf_counter() - t0
        after, last_part = journal_files(out)
        # since this run's last part (None: it wrote none, e.g. killed while starting up)
        behind = None if last_part is None or last_part < started else killed_at - last_part
        kills.append({
            "killed_after_s": round(delay, 2),
            "journal_files_before": before,
            "journal_files_after": after,
            "journal_behind_s": None if behind is None else round(behind, 2),
            "files_that_lag_is_worth": None if behind is None else round(behind * rate),
        })  # fmt: skip
        print(f"kill {k + 1}: after {delay:.1f} s; journal {before} -> {after} files; it was "
              f"{behind if behind is not None else float('nan'):.2f} s behind (about "
              f"{kills[-1]['files_that_lag_is_worth']} files)")  # fmt: skip
        time.sleep(1.0)  # the killed run's workers exit within a second
    t0 = time.perf_counter()
    subprocess.run(command(corpus, out, args.jobs, model), check=True, cwd=REPO)
    resumed_s = time.perf_counter() - t0
    spent += resumed_s
    equal = True
    try:
        pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(reference),
                                      check_exact=True)  # fmt: skip
    except AssertionError as exc:
        equal = False
        print(f"tables differ: {exc}")
    overhead = spent - fresh_s
    print(f"last run (resumed): {resumed_s:.1f} s = {resumed_s / fresh_s:.2f} of the fresh run; "
          f"all runs together: {spent:.1f} s, {overhead:+.1f} s over the fresh run "
          f"({overhead / max(1, args.kills + 1):.1f} s per run: start-up and lost work); "
          f"table equal to the fresh run's: {equal}")  # fmt: skip
    path = write_results("resume", {
        "machine": m,
        "model": model,
        "jobs": args.jobs,
        "files": args.files,
        "corpus": {"dir": str(root), "files": "hard links to 64 WAV clips of 0.5-1.0 s"},
        "fresh_s": round(fresh_s, 2),
        "kills": kills,
        "resumed_s": round(resumed_s, 2),
        "resumed_over_fresh": round(resumed_s / fresh_s, 3),
        "all_runs_s": round(spent, 2),
        "overhead_s": round(overhead, 2),
        "table_equal": equal,
        "loadavg_end": list(os.getloadavg()),
    })  # fmt: skip
    print(f"wrote {path}")
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
