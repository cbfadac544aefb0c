"""Feature-extraction throughput: ser's default features vs the seeds' recipe vs the floor.

    python benchmarks/throughput.py [--data DIR] [--jobs 1,2] [--files N] [--chunk 96]

On the same files, in one run, interleaved chunk by chunk: in each chunk every variant runs at
every ``--jobs`` value, the orders rotating from chunk to chunk, so that a change in machine
load (this is a shared virtual machine) hits all variants and worker counts alike:

(a) ``ser.features.process_file(path, config=feature_config("default"))``: decode, checks,
    trim, resample to 16 kHz, the 256 default features;
(b) the seeds' per-file recipe, re-implemented faithfully (soundfile read at the native rate,
    ``librosa.stft``, ``librosa.feature.mfcc(n_mfcc=40)``, ``chroma_stft``,
    ``melspectrogram``, each averaged over time);
(c) the floor: the same decoder as (a), mono mix, resampling to 16 kHz with the same soxr
    quality, and one STFT (the default features' 512-point Hann window, hop 160), nothing
    else.

Each variant is warmed up once per process first (imports, filter banks, FFT plans). The
page cache is warmed by reading every file once before timing. ``--jobs 1`` runs in this
process, ``--jobs 2`` in joblib ``Parallel(n_jobs=2, backend="loky")`` workers that are
started once and reused for every chunk: each worker gets one task per chunk, in which it
claims the chunk's files one at a time from a shared counter (a file guarded by ``flock``),
and the time is the wall time of that call, taken here.

Why so: every chunk ends with a barrier (all its files done before the next variant starts),
which annotation does not have (it streams all files through joblib's auto-batching, and a
worker that is free takes the next batch). Split into many small tasks, a chunk pays per-task
dispatch and an idle tail at the barrier, the fast variants most (this script did that until
2026-11-21: 24 files per chunk and worker, tasks of 6). Split into fixed halves (one task per
worker, every second file: this script earlier on 2026-11-21), a chunk waits at the barrier for
the worker whose core the host slowed down most: the workers were busy only 94-96 % of the
wall time. Claiming files as it goes, a worker never waits longer than one file, as with
streaming. What is left is that wait, joblib's dispatch and 10 ms result polling, both
printed as the workers' busy share. ``scheduling.py`` compares these schedules with
streaming; ``end_to_end.py`` measures what ``ser-annotate``'s own scheduling costs.

All variants run with one BLAS thread per process (joblib's loky workers do this by
themselves; for ``--jobs 1`` this script sets it), so the seeds' recipe is not slowed down by
BLAS threads fighting over the cores; ``--blas-default`` leaves the thread count alone instead
(``--jobs 1`` only; results go to ``throughput_blas_default.json``).

Prints files/s, seconds of audio per second, per-core figures, the ratios (a)/(b) and
(a)/(c), the ``--jobs 2``/``--jobs 1`` scaling, and peak RSS (main process and workers);
writes ``benchmarks/results/throughput.json``.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from typing import Any

from _common import (
    compile_bytecode,
    default_data_dir,
    describe,
    machine,
    maxrss_mib,
    ravdess_files,
    write_results,
)

VARIANTS = ("a_default", "b_seeds", "c_floor")
LABELS = {
    "a_default": "(a) ser default features",
    "b_seeds": "(b) seeds' recipe",
    "c_floor": "(c) floor: decode+resample+STFT",
}


def run_files(variant: str, paths: list[str]) -> dict[str, Any]:
    """Process ``paths`` with one variant in this process; returns timing and memory."""
    return _timed(variant, paths)


def run_claimed(variant: str, paths: list[str], counter: str) -> dict[str, Any]:
    """Process the files of ``paths`` that this worker claims, one at a time, from ``counter``.

    ``counter`` is a file holding the index of the next unclaimed file (8 bytes), shared by
    all the workers of one call and guarded by ``flock``: a worker takes the next file when it
    is free, so a worker whose core is slowed down by the host takes fewer files instead of
    holding up the others at the end of the chunk (a claim costs some 10 us).
    """
    import fcntl

    def claims() -> Any:
        fd = os.open(counter, os.O_RDWR)
        try:
            while True:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    i = int.from_bytes(os.pread(fd, 8, 0), "little")
                    os.pwrite(fd, (i + 1).to_bytes(8, "little"), 0)
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                if i >= len(paths):
                    return
                yield paths[i]
        finally:
            os.close(fd)

    return _timed(variant, claims())


def claim_chunk(par: Any, variant: str, chunk: list[str], counter: str, jobs: int) -> list[Any]:
    """One ``run_claimed`` task per worker of ``par`` over ``chunk``, the counter reset first."""
    from joblib import delayed

    with open(counter, "wb") as f:
        f.write(bytes(8))  # next file: 0
    return par(delayed(run_claimed)(variant, chunk, counter) for _ in range(jobs))


def _timed(variant: str, paths: Any) -> dict[str, Any]:
    fn = _VARIANT_FUNCS[variant]
    files = errors = 0
    t0 = time.perf_counter()
    for p in paths:
        files += 1
        try:
            fn(p)
        except Exception:  # a bad file counts, it does not stop the benchmark
            errors += 1
    dt = time.perf_counter() - t0
    return {
        "pid": os.getpid(),
        "seconds": dt,
        "files": files,
        "errors": errors,
        # VmHWM, not ru_maxrss: a loky worker is forked from this process and then exec'd,
        # and ru_maxrss keeps the size of the forked image from before the exec
        "maxrss_mib": _vmhwm_mib(),
    }


def _vmhwm_mib() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _a_default(path: str) -> Any:
    from ser.features import feature_config, process_file

    return process_file(path, config=_config(feature_config))[0]


_CFG: list[Any] = []


def _config(factory: Any) -> Any:
    if not _CFG:
        _CFG.append(factory("default"))
    return _CFG[0]


def _b_seeds(path: str) -> Any:
    import librosa
    import numpy as np
    import soundfile

    with soundfile.SoundFile(path) as sound_file:
        X = sound_file.read(dtype="float32")
        sample_rate = sound_file.samplerate
    if X.ndim > 1:  # the one deviation: the seeds assumed mono files
        X = X.mean(axis=1)
    stft = np.abs(librosa.stft(X))
    result = np.array([])
    mfccs = np.mean(librosa.feature.mfcc(y=X, sr=sample_rate, n_mfcc=40).T, axis=0)
    result = np.hstack((result, mfccs))
    chroma = np.mean(librosa.feature.chroma_stft(S=stft, sr=sample_rate).T, axis=0)
    result = np.hstack((result, chroma))
    mel = np.mean(librosa.feature.melspectrogram(y=X, sr=sample_rate).T, axis=0)
    result = np.hstack((result, mel))
    return result


def _c_floor(path: str) -> Any:
    import numpy as np
    import scipy.fft as sfft
    import soxr
    from numpy.lib.stride_tricks import sliding_window_view

    from ser.audio.decode import ANALYSIS_SR, decode

    data, sr = decode(path)
    y = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)
    y = soxr.resample(y, sr, ANALYSIS_SR, quality="HQ")
    n_fft, hop = 512, 160
    frames = sliding_window_view(y, n_fft)[::hop]
    buf = np.empty(frames.shape, dtype=np.float32)
    np.multiply(frames, np.hanning(n_fft + 1)[:-1].astype(np.float32), out=buf)
    spec = sfft.rfft(buf, axis=1, overwrite_x=True)
    power = np.square(spec.real)
    power += np.square(spec.imag)
    return power


_VARIANT_FUNCS = {"a_default": _a_default, "b_seeds": _b_seeds, "c_floor": _c_floor}


def _chunks(files: list[str], size: int) -> list[list[str]]:
    return [files[i : i + size] for i in range(0, len(files), size)]


def bench_all(
    files: list[str],
    jobs_list: list[int],
    chunk: int,
    warm: str,
    blas_default: bool = False,
) -> dict[int, tuple[dict[str, float], dict[str, int], dict[str, Any], dict[str, float]]]:
    """Seconds per variant (summed over chunks), errors, memory and the workers' busy share,
    for each ``jobs`` value.

    Chunk by chunk, every variant runs at every ``jobs`` value before the next chunk, the
    orders rotating: a burst of load from elsewhere on a shared machine then hits every
    variant and every ``jobs`` value alike, and the ratios compare like with like.
    """
    from contextlib import ExitStack

    from joblib import Parallel, delayed

    seconds = {j: dict.fromkeys(VARIANTS, 0.0) for j in jobs_list}
    busy = {j: dict.fromkeys(VARIANTS, 0.0) for j in jobs_list}  # mean seconds per worker
    errors = {j: dict.fromkeys(VARIANTS, 0) for j in jobs_list}
    worker_rss: dict[int, dict[int, float]] = {j: {} for j in jobs_list}
    chunks = _chunks(files, chunk * max(jobs_list))

    def note(jobs: int, r: dict[str, Any]) -> None:
        rss = worker_rss[jobs]
        rss[r["pid"]] = max(rss.get(r["pid"], 0.0), r["maxrss_mib"])

    with ExitStack() as stack:
        counter = os.path.join(stack.enter_context(tempfile.TemporaryDirectory()), "next")
        pools = {
            j: stack.enter_context(Parallel(n_jobs=j, backend="loky")) for j in jobs_list if j > 1
        }
        if 1 in jobs_list:
            for v in VARIANTS:  # warm-up, not timed
                run_files(v, [warm])
            # one BLAS thread, as in a loky worker; applied after the warm-up has loaded every
            # BLAS library (librosa brings scipy's own OpenBLAS in lazily)
            if not blas_default:
                from threadpoolctl import threadpool_limits

                threadpool_limits(1, user_api="blas")
        for j, par in pools.items():
            # warm-up: every worker imports everything and runs every variant once
            for v in VARIANTS:
                for r in par(delayed(run_files)(v, [warm]) for _ in range(4 * j)):
                    note(j, r)
        for i, ch in enumerate(chunks):
            for v in VARIANTS[i % 3 :] + VARIANTS[: i % 3]:
                k = i % len(jobs_list)
                for jobs in jobs_list[k:] + jobs_list[:k]:
                    if jobs == 1:
                        r = run_files(v, ch)
                        seconds[1][v] += r["seconds"]
                        errors[1][v] += r["errors"]
                        continue
                    t0 = time.perf_counter()
                    # one task per worker, each claiming files from the whole chunk as it
                    # goes (see the module's doc)
                    res = claim_chunk(pools[jobs], v, ch, counter, jobs)
                    seconds[jobs][v] += time.perf_counter() - t0
                    busy[jobs][v] += sum(r["seconds"] for r in res) / jobs
                    if sum(r["files"] for r in res) != len(ch):
                        raise RuntimeError(f"chunk {i}: workers claimed {res}, not {len(ch)}")
                    for r in res:
                        errors[jobs][v] += r["errors"]
                        note(jobs, r)
    out = {}
    for j in jobs_list:
        mem: dict[str, Any] = {"main_peak_rss_mib": maxrss_mib()}
        if j > 1:
            mem["worker_peak_rss_mib"] = {
                str(k): round(v, 1) for k, v in sorted(worker_rss[j].items())
            }
            mem["workers_seen"] = len(worker_rss[j])
        share = {v: busy[j][v] / seconds[j][v] if j > 1 else 1.0 for v in VARIANTS}
        out[j] = (seconds[j], errors[j], mem, share)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=default_data_dir(), help="RAVDESS folder")
    ap.add_argument("--files", type=int, default=None, help="use N files (stratified); default all")
    ap.add_argument("--jobs", default="1,2", help="comma-separated worker counts (default 1,2)")
    ap.add_argument(
        "--chunk",
        type=int,
        default=96,
        help="files per chunk and worker; the variants alternate every chunk",
    )
    ap.add_argument(
        "--blas-default",
        action="store_true",
        help="--jobs 1: leave BLAS at its default thread count (the seeds' recipe as it runs "
        "out of the box; ser caps its own calls at one thread)",
    )
    args = ap.parse_args()
    compile_bytecode()
    jobs_list = [int(j) for j in args.jobs.split(",") if j.strip()]

    import soundfile as sf

    m = machine()
    files = ravdess_files(args.data, args.files)
    durations = []
    for f in files:  # warms the page cache too
        with open(f, "rb") as fh:
            while fh.read(1 << 20):
                pass
        durations.append(sf.info(f).duration)
    audio_s = float(sum(durations))
    print(f"machine: {describe(m)}")
    print(f"data: {len(files)} files, {audio_s / 60:.1f} min of audio, from {args.data}")

    results: dict[str, Any] = {}
    t0 = time.perf_counter()
    measured = bench_all(files, jobs_list, args.chunk, files[0], args.blas_default)
    wall = time.perf_counter() - t0
    for jobs in jobs_list:
        seconds, errors, mem, share = measured[jobs]
        per: dict[str, Any] = {}
        for v in VARIANTS:
            fps = len(files) / seconds[v]
            per[v] = {
                "seconds": round(seconds[v], 3),
                "files_per_s": round(fps, 2),
                "files_per_s_per_core": round(fps / jobs, 2),
                "audio_s_per_s": round(audio_s / seconds[v], 1),
                "ms_per_file_per_core": round(1000 * seconds[v] * jobs / len(files), 2),
                "errors": errors[v],
                "worker_busy_share": round(share[v], 3),
            }
        a, b, c = (per[v]["files_per_s"] for v in VARIANTS)
        results[str(jobs)] = {
            "variants": per,
            "ratio_a_over_b": round(a / b, 2),
            "ratio_a_over_c": round(a / c, 3),
            "memory": mem,
        }
        print(f"\n--jobs {jobs}")
        print(f"  {'':34s} {'files/s':>8s} {'/core':>7s} {'audio s/s':>10s} {'ms/file/core':>13s}")
        for v in VARIANTS:
            r = per[v]
            err = f"  ({r['errors']} errors)" if r["errors"] else ""
            print(
                f"  {LABELS[v]:34s} {r['files_per_s']:8.1f} {r['files_per_s_per_core']:7.1f} "
                f"{r['audio_s_per_s']:10.0f} {r['ms_per_file_per_core']:13.2f}{err}"
            )
        print(f"  ratio (a)/(b) = {a / b:.2f}x   ratio (a)/(c) = {a / c:.3f}")
        if jobs > 1:
            print(
                "  workers busy (share of the wall time): "
                + ", ".join(f"{v[0]} {per[v]['worker_busy_share']:.3f}" for v in VARIANTS)
            )
        mm = mem.get("worker_peak_rss_mib")
        print(
            f"  peak RSS: main {mem['main_peak_rss_mib']:.0f} MiB"
            + (f", workers {', '.join(f'{x:.0f}' for x in mm.values())} MiB" if mm else "")
        )

    scaling = {}
    if "1" in results and "2" in results:
        for v in VARIANTS:
            s = (
                results["2"]["variants"][v]["files_per_s"]
                / results["1"]["variants"][v]["files_per_s"]
            )
            scaling[v] = round(s, 2)
        print(
            "\nscaling --jobs 2 / --jobs 1 (files/s): "
            + ", ".join(f"{v} {s:.2f}x" for v, s in scaling.items())
        )
    bars = {}
    if "1" in results:
        bars["a_over_b_jobs1_ge_8"] = results["1"]["ratio_a_over_b"] >= 8.0
    if scaling:
        bars["jobs2_over_jobs1_ge_1.8"] = scaling["a_default"] >= 1.8
    for k, ok in bars.items():
        print(f"bar {k}: {'PASS' if ok else 'FAIL'}")
    path = write_results(
        "throughput_blas_default" if args.blas_default else "throughput",
        {
            "machine": m,
            "data": args.data,
            "files": len(files),
            "audio_s": round(audio_s, 1),
            "chunk_per_worker": args.chunk,
            "tasks_per_chunk_and_variant": "one per worker, files claimed one at a time (jobs > 1)",
            "blas_threads_per_process": "default (jobs 1)" if args.blas_default else 1,
            "results": results,
            "scaling_jobs2_over_jobs1": scaling,
            "bars": bars,
            "wall_s": round(wall, 1),
            "loadavg_end": list(os.getloadavg()),
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
