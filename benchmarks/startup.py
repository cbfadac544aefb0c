"""Start-up costs: ``ser-annotate --help`` and loading the bundled model.

    python benchmarks/startup.py [--repeats 7] [--model NAME|PATH]

Each measurement runs in a fresh subprocess (nothing cached in memory from an earlier
import; the files are in the page cache after the first run), ``--repeats`` times; medians
are reported, with min and max.

* ``python -m ser.annotate --help``: wall time from outside (bar: < 0.5 s). For reference,
  the same for ``python -c pass`` (the interpreter alone), and the modules that ``--help``
  imported (whether numpy, scipy, librosa, sklearn, pandas or joblib were among them).
* loading the model: in a fresh interpreter, ``import ser.models`` (timed), then
  ``ser.models.load_model(path)`` (timed separately; it imports skops and scikit-learn on
  first use); the bar (< 0.5 s) is on that load call. A second fresh interpreter imports
  skops and the estimator modules first (timed) and then loads, which splits the load call
  into its import cost and the reading of the file itself.

The model is ``models/bundled/ravdess8.skops`` when present, else the throwaway model of
``_common.bench_model`` (same estimator kind and input width). Writes
``benchmarks/results/startup.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from _common import REPO, bench_model, describe, machine, write_results

HEAVY = ("numpy", "scipy", "librosa", "sklearn", "pandas", "joblib", "soundfile", "skops")

HELP_PROBE = r"""
import sys, runpy
sys.argv = ["ser-annotate", "--help"]
try:
    runpy.run_module("ser.annotate", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY_NAMES))
sys.stderr.write("HEAVY " + ",".join(heavy) + "\n")
""".replace("HEAVY_NAMES", repr(HEAVY))

LOAD_PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
import ser.models
t1 = time.perf_counter()
deps = 0.0
if sys.argv[2] == "warm":  # import what load_model imports on first use, timed apart
    import skops.io, sklearn.pipeline, sklearn.preprocessing, sklearn.neural_network
    deps = time.perf_counter() - t1
    t1 = time.perf_counter()
m = ser.models.load_model(sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0 - deps, "deps_s": deps, "load_s": t2 - t1}))
"""


def _wall(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    return time.perf_counter() - t0, proc


def _stats(xs: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(xs), 4), "min": round(min(xs), 4),
            "max": round(max(xs), 4)}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--model", default=None, help="model name or file (default: see doc)")
    args = ap.parse_args()
    m = machine()
    model = bench_model(args.model)
    py = sys.executable
    print(f"machine: {describe(m)}")
    print(f"model: {model}")

    bare, help_, help_probe, imp, load, deps, load_warm = [], [], [], [], [], [], []
    heavy: list[str] = []
    _wall([py, "-m", "ser.annotate", "--help"])  # warm the page cache and __pycache__
    for _ in range(args.repeats):  # interleaved, so that load changes hit all alike
        bare.append(_wall([py, "-c", "pass"])[0])
        w, proc = _wall([py, "-m", "ser.annotate", "--help"])
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
            raise SystemExit("ser-annotate --help failed")
        help_.append(w)
        w, proc = _wall([py, "-c", HELP_PROBE])
        help_probe.append(w)
        for line in proc.stderr.splitlines():
            if line.startswith("HEAVY "):
                heavy = [x for x in line[6:].split(",") if x]
        for mode in ("cold", "warm"):
            w, proc = _wall([py, "-c", LOAD_PROBE, model, mode])
            if proc.returncode != 0:
                print(proc.stderr[-2000:], file=sys.stderr)
                raise SystemExit("loading the model failed")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            if mode == "cold":
                imp.append(r["import_s"])
                load.append(r["load_s"])
            else:
                deps.append(r["deps_s"])
                load_warm.append(r["load_s"])

    res: dict[str, Any] = {
        "python_c_pass_s": _stats(bare),
        "help_s": _stats(help_),
        "help_imports_heavy": heavy,
        "import_ser_models_s": _stats(imp),
        "load_model_s": _stats(load),
        "import_skops_sklearn_s": _stats(deps),
        "load_model_after_imports_s": _stats(load_warm),
    }
    h, ld = res["help_s"]["median"], res["load_model_s"]["median"]
    print(f"python -c pass                 : {res['python_c_pass_s']['median']:.3f} s")
    print(f"ser-annotate --help            : {h:.3f} s (min {res['help_s']['min']:.3f}); "
          f"bar < 0.5 s: {'PASS' if h < 0.5 else 'FAIL'}")  # fmt: skip
    print(f"  heavy modules imported by --help: {', '.join(heavy) or 'none'}")
    print(f"import ser.models              : {res['import_ser_models_s']['median']:.3f} s")
    print(
        f"load_model(path), first call   : {ld:.3f} s (min {res['load_model_s']['min']:.3f}); "
        f"bar < 0.5 s: {'PASS' if ld < 0.5 else 'FAIL'}"
    )
    print(f"  of which importing skops + scikit-learn: "
          f"{res['import_skops_sklearn_s']['median']:.3f} s; the load itself once they are "
          f"imported: {res['load_model_after_imports_s']['median']:.3f} s")  # fmt: skip
    path = write_results("startup", {
        "machine": m,
        "model": model,
        "repeats": args.repeats,
        "results": res,
        "bars": {"help_lt_0.5s": h < 0.5, "load_model_lt_0.5s": ld < 0.5},
        "loadavg_end": list(os.getloadavg()),
    })  # fmt: skip
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
