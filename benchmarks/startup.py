"""Start-up costs: ``ser-annotate --help`` and loading the bundled model.

    python benchmarks/startup.py [--repeats 7] [--model NAME|PATH]

Each measurement runs in a fresh subprocess (nothing cached in memory from an earlier
import; the files are in the page cache after the first run), ``--repeats`` times; medians
are reported, with min and max.

* ``python -m ser.annotate --help``: wall time from outside (bar: < 0.5 s). For reference,
  the same for ``python -c pass`` (the interpreter alone), and the modules that ``--help``
  imported (whether numpy, scipy, librosa, sklearn, pandas or joblib were among them).
* loading the model: in a fresh interpreter, ``import ser.models``, then
  ``ser.models.load_model(path)`` (numpy prediction, no scikit-learn), then a first
  ``predict_proba`` on one row, each timed, and whether scikit-learn or skops got imported.
  The bar (< 0.5 s) is on all three together: from a fresh interpreter to a model that has
  predicted. For reference, a second fresh interpreter loads the scikit-learn estimator
  (``load_model(path, sklearn=True)``: skops and scikit-learn imports, timed apart, then the
  load), which is what loading cost before the numpy path.

The model is the bundled default model when present, else the throwaway model of
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
if sys.argv[2] == "sklearn":  # the scikit-learn estimator; its imports timed apart
    import skops.io, sklearn.pipeline, sklearn.preprocessing, sklearn.neural_network
    deps = time.perf_counter() - t1
    t1 = time.perf_counter()
m = ser.models.load_model(sys.argv[1], sklearn=sys.argv[2] == "sklearn")
t2 = time.perf_counter()
import numpy as np
m.predict_proba(np.zeros((1, m.n_features)))
t3 = time.perf_counter()
heavy = sorted({n.split(".")[0] for n in sys.modules} & {"sklearn", "skops"})
print(json.dumps({"import_s": t1 - t0 - deps, "deps_s": deps, "load_s": t2 - t1,
                  "predict_s": t3 - t2, "total_s": t3 - t0, "heavy": heavy}))
"""


WORKER_PROBE = r"""
import json, os, sys, time
t0 = time.perf_counter()
import joblib.externals.loky.backend.popen_loky_posix  # a loky worker's entry module
from ser.batch.worker import warm_up
warm_up(os.getpid())  # its own pid as owner: no parent watchdog here
from ser.annotate.worker import extract_file
from ser.features import feature_config
cfg = feature_config("default")
t1 = time.perf_counter()
assert extract_file((0, sys.argv[1]), cfg).status == "ok"
t2 = time.perf_counter()
assert extract_file((1, sys.argv[2]), cfg).status == "ok"
t3 = time.perf_counter()
scipy = any(m.split(".")[0] == "scipy" for m in sys.modules)
print(json.dumps({"import_s": t1 - t0, "first_file_s": t2 - t1, "second_file_s": t3 - t2,
                  "total_s": t2 - t0, "scipy": scipy}))
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
    compile_bytecode()
    m = machine()
    model = bench_model(args.model)
    py = sys.executable
    print(f"machine: {describe(m)}")
    print(f"model: {model}")

    bare, help_, help_probe = [], [], []
    runs: dict[str, list[dict[str, Any]]] = {"numpy": [], "sklearn": []}
    worker: list[dict[str, Any]] = []
    two = ravdess_files(default_data_dir(), 2) if os.path.isdir(default_data_dir()) else []
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
        for mode in runs:
            w, proc = _wall([py, "-c", LOAD_PROBE, model, mode])
            if proc.returncode != 0:
                print(proc.stderr[-2000:], file=sys.stderr)
                raise SystemExit("loading the model failed")
            runs[mode].append(json.loads(proc.stdout.strip().splitlines()[-1]))
        if len(two) == 2:
            w, proc = _wall([py, "-c", WORKER_PROBE, *two])
            if proc.returncode != 0:
                print(proc.stderr[-2000:], file=sys.stderr)
                raise SystemExit("the worker probe failed")
            worker.append({**json.loads(proc.stdout.strip().splitlines()[-1]), "wall_s": w})

    def col(mode: str, key: str) -> dict[str, float]:
        return _stats([r[key] for r in runs[mode]])

    res: dict[str, Any] = {
        "python_c_pass_s": _stats(bare),
        "help_s": _stats(help_),
        "help_imports_heavy": heavy,
        "import_ser_models_s": col("numpy", "import_s"),
        "load_model_s": col("numpy", "load_s"),
        "first_predict_s": col("numpy", "predict_s"),
        "import_load_predict_s": col("numpy", "total_s"),
        "load_model_imported": runs["numpy"][-1]["heavy"],
        "sklearn_import_skops_sklearn_s": col("sklearn", "deps_s"),
        "sklearn_load_model_after_imports_s": col("sklearn", "load_s"),
        "sklearn_import_load_predict_s": col("sklearn", "total_s"),
    }
    if worker:
        for key in ("import_s", "first_file_s", "second_file_s", "total_s", "wall_s"):
            res[f"worker_{key}"] = _stats([r[key] for r in worker])
        res["worker_imported_scipy"] = any(r["scipy"] for r in worker)
    h, ld = res["help_s"]["median"], res["import_load_predict_s"]["median"]
    print(f"python -c pass                 : {res['python_c_pass_s']['median']:.3f} s")
    print(f"ser-annotate --help            : {h:.3f} s (min {res['help_s']['min']:.3f}); "
          f"bar < 0.5 s: {'PASS' if h < 0.5 else 'FAIL'}")  # fmt: skip
    print(f"  heavy modules imported by --help: {', '.join(heavy) or 'none'}")
    print(f"loading the model, fresh process: {ld:.3f} s (min "
          f"{res['import_load_predict_s']['min']:.3f}); bar < 0.5 s: "
          f"{'PASS' if ld < 0.5 else 'FAIL'}")  # fmt: skip
    print(f"  import ser.models {res['import_ser_models_s']['median']:.3f} s, load_model "
          f"{res['load_model_s']['median']:.3f} s, first predict_proba "
          f"{res['first_predict_s']['median']:.3f} s; scikit-learn/skops imported: "
          f"{', '.join(res['load_model_imported']) or 'no'}")  # fmt: skip
    print(f"  for reference, load_model(sklearn=True): "
          f"{res['sklearn_import_load_predict_s']['median']:.3f} s in all, of which importing "
          f"skops + scikit-learn {res['sklearn_import_skops_sklearn_s']['median']:.3f} s and the "
          f"load itself {res['sklearn_load_model_after_imports_s']['median']:.3f} s")  # fmt: skip
    if worker:
        print(f"a worker, fresh process to first file featurised: "
              f"{res['worker_total_s']['median']:.3f} s (imports and warm-up "
              f"{res['worker_import_s']['median']:.3f} s, first file "
              f"{res['worker_first_file_s']['median']:.3f} s, a second file "
              f"{res['worker_second_file_s']['median']:.3f} s); process wall "
              f"{res['worker_wall_s']['median']:.3f} s; scipy imported: "
              f"{'yes' if res['worker_imported_scipy'] else 'no'}")  # fmt: skip
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
