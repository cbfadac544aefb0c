"""Profile the default feature extraction (decode + front end + features) with pyinstrument.

    python benchmarks/profile_features.py [--data DIR] [--files 200] [--blas-threads N] [--tag T]

Writes ``benchmarks/results/profile_default[_T].txt``: the machine, then pyinstrument's call
tree of ``process_file`` over the files (one warm-up file first, not profiled), and a
``.json`` with the timing. ``--blas-threads`` caps the BLAS thread pool (threadpoolctl) the
way a joblib/loky worker does; by default the library's own default is left alone.
"""

from __future__ import annotations

import argparse
import time

from _common import RESULTS, default_data_dir, describe, machine, ravdess_files, write_results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=default_data_dir())
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--blas-threads", type=int, default=None)
    ap.add_argument("--tag", default="")
    ap.add_argument("--interval", type=float, default=0.0005, help="sampling interval, s")
    args = ap.parse_args()

    from pyinstrument import Profiler

    from ser.features import feature_config, process_file

    m = machine()
    files = ravdess_files(args.data, args.files)
    cfg = feature_config("default")
    limiter = None
    if args.blas_threads is not None:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(args.blas_threads, user_api="blas")
    process_file(files[0], config=cfg)  # warm-up: imports, filter banks
    prof = Profiler(interval=args.interval)
    t0 = time.perf_counter()
    prof.start()
    for f in files:
        process_file(f, config=cfg)
    prof.stop()
    dt = time.perf_counter() - t0
    if limiter is not None:
        limiter.restore_original_limits()
    name = "profile_default" + (f"_{args.tag}" if args.tag else "")
    header = (
        "# pyinstrument profile of "
        "ser.features.process_file(path, config=feature_config('default'))\n"
        f"# {len(files)} RAVDESS files from {args.data}; BLAS threads: "
        f"{'library default' if args.blas_threads is None else args.blas_threads}\n"
        f"# machine: {describe(m)}\n"
        f"# wall {dt:.2f} s, {1000 * dt / len(files):.2f} ms/file (profiler overhead included)\n\n"
    )
    text = prof.output_text(unicode=False, color=False, show_all=False)
    (RESULTS / f"{name}.txt").write_text(header + text)
    write_results(
        name,
        {
            "machine": m,
            "files": len(files),
            "blas_threads": args.blas_threads,
            "wall_s": dt,
            "ms_per_file": 1000 * dt / len(files),
        },
    )
    print(header + text)


if __name__ == "__main__":
    main()
