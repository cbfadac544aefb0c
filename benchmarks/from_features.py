"""``ser-annotate --from-features`` against annotating the audio again, with the other model.

On the RAVDESS speech files: ``ser-annotate DATA --model ser6 --features-out F`` once (its
time with and without writing the features table, to show the table's cost), then, ``--repeats``
times each, alternating: ``ser-annotate DATA --model ser4`` (decoding and extracting again)
and ``ser-annotate --from-features F --model ser4``. Reports the median wall times, their
ratio, and whether the two ser4 tables are equal (they must be, value for value).

Usage: python benchmarks/from_features.py [--data DIR] [--jobs 2] [--repeats 3]
Writes benchmarks/results/from_features.json.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import compile_bytecode, default_data_dir, describe, machine, write_results

BIN = Path(sys.executable).parent


def run(*args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([str(BIN / "ser-annotate"), *args, "-q", "--overwrite"], check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=default_data_dir())
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    compile_bytecode()
    m = machine()
    print(describe(m), flush=True)
    jobs = ["--jobs", str(args.jobs)]
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        feats = str(t / "feats.parquet")
        plain_s = run(args.data, "-m", "ser6", "-o", str(t / "ser6.parquet"), *jobs)
        with_s = run(args.data, "-m", "ser6", "-o", str(t / "ser6.parquet"), *jobs,
                     "--features-out", feats)  # fmt: skip
        direct, reused = [], []
        for _ in range(args.repeats):
            direct.append(run(args.data, "-m", "ser4", "-o", str(t / "direct.parquet"), *jobs))
            reused.append(run("--from-features", feats, "-m", "ser4", "-o",
                              str(t / "reused.parquet")))  # fmt: skip
        import pyarrow.parquet as pq

        a = pq.read_table(t / "direct.parquet").replace_schema_metadata()
        b = pq.read_table(t / "reused.parquet").replace_schema_metadata()
        equal = a.equals(b)
        feats_mb = Path(feats).stat().st_size / 1e6
    result = {
        "machine": m,
        "data": args.data,
        "jobs": args.jobs,
        "annotate_ser6_s": round(plain_s, 2),
        "annotate_ser6_with_features_out_s": round(with_s, 2),
        "features_table_mb": round(feats_mb, 1),
        "direct_ser4_s": [round(x, 2) for x in direct],
        "from_features_ser4_s": [round(x, 2) for x in reused],
        "median_direct_s": round(statistics.median(direct), 2),
        "median_from_features_s": round(statistics.median(reused), 2),
        "ratio": round(statistics.median(reused) / statistics.median(direct), 3),
        "tables_equal": equal,
    }
    path = write_results("from_features", result)
    print(f"ser6 with --features-out: {with_s:.2f} s (without: {plain_s:.2f} s), table "
          f"{feats_mb:.1f} MB")  # fmt: skip
    print(f"ser4 direct: median {result['median_direct_s']} s; --from-features: median "
          f"{result['median_from_features_s']} s; ratio {result['ratio']}; tables equal: "
          f"{equal}")  # fmt: skip
    print(f"-> {path}")


if __name__ == "__main__":
    main()
