"""How far this machine's cores scale, whatever ser does: one busy process against two.

The ceiling of any ``--jobs 2`` / ``--jobs 1`` figure here. Two kinds of work, each a few
seconds long, in worker processes already started: a pure-Python loop and a loop of numpy
float32 FFTs (as the features use). Scaling = 2 x (time of one task alone) / (time of two
tasks at once); 2.0 means two independent cores. ``--rounds`` rounds, medians reported.

Usage: python benchmarks/cpu_scaling.py [--rounds 3] [--seconds 2.5]
Writes benchmarks/results/cpu_scaling.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import describe, machine, write_results


def python_loop(n: int) -> float:
    s = 0
    for i in range(n):
        s += i * i
    return float(s)


def fft_loop(n: int) -> float:
    a = np.random.default_rng(0).standard_normal((512, 2048)).astype(np.float32)
    return float(sum(np.abs(np.fft.rfft(a, axis=1)).sum() for _ in range(n)))


def timed(pool: ProcessPoolExecutor, task, size: int, copies: int) -> float:
    t0 = time.perf_counter()
    list(pool.map(task, [size] * copies))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=2.5, help="length of one task")
    args = ap.parse_args()
    print("machine:", describe(machine()))
    results = {}
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(python_loop, [10, 10]))  # both workers started and warm
        for task, unit in ((python_loop, 1_000_000), (fft_loop, 5)):
            size = max(1, round(args.seconds / timed(pool, task, unit, 1) * unit))
            ratios = []
            for _ in range(args.rounds):
                one, two = timed(pool, task, size, 1), timed(pool, task, size, 2)
                ratios.append(2 * one / two)
            results[task.__name__] = {"per_round": [round(r, 3) for r in ratios],
                                      "median": round(statistics.median(ratios), 3)}  # fmt: skip
            print(f"{task.__name__:12}: two processes at once scale "
                  f"{statistics.median(ratios):.2f}x (rounds: "
                  f"{', '.join(f'{r:.2f}' for r in ratios)})")  # fmt: skip
    write_results("cpu_scaling", {"machine": machine(), "seconds": args.seconds, **results})


if __name__ == "__main__":
    main()
