"""Shared helpers of the benchmark scripts: data location, file choice, machine description.

Not part of the ``ser`` package; the scripts import it as a sibling module.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"


def compile_bytecode() -> None:
    """Byte-compile ser's modules in this checkout, as pip does when it installs a package.

    Called by the scripts that time whole runs before they time anything. The project's
    environment is an editable install of this checkout, and where PYTHONDONTWRITEBYTECODE
    is set (as on the project's VMs) each process would otherwise compile ser's modules from
    source on every run (57 modules in the main process of a ``ser-annotate`` run, 0.13 s
    under cProfile, and again in each worker), which an installed ser does not pay.
    """
    import compileall

    for folder in sorted(REPO.iterdir()):
        if (folder / "__init__.py").is_file() and folder.name not in ("tests", "benchmarks"):
            compileall.compile_dir(folder, quiet=1)


def cpu_ticks() -> dict[str, int] | None:
    """Machine-wide CPU time counters (``/proc/stat``, all cores), or None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    return {k: int(v) for k, v in zip(names, fields)}


_TICKS_AT_START = cpu_ticks()


def steal_share() -> float | None:
    """Share of CPU time the hypervisor gave to other guests since this script started
    (``steal`` in /proc/stat). On a shared virtual machine, figures taken while it is more
    than a few per cent are slower than the machine is, and ratios between runs taken at
    different moments are unreliable."""
    now = cpu_ticks()
    if now is None or _TICKS_AT_START is None:
        return None
    delta = {k: now[k] - _TICKS_AT_START[k] for k in now}
    total = sum(delta.values())
    return round(delta["steal"] / total, 4) if total > 0 else None


def default_data_dir() -> str:
    """``$SER_RAVDESS_DIR``, else ``../shared/data/ravdess-speech`` next to the repository."""
    env = os.environ.get("SER_RAVDESS_DIR")
    if env:
        return env
    return str((REPO.parent / "shared" / "data" / "ravdess-speech").resolve())


def ravdess_files(data: str, n: int | None = None) -> list[str]:
    """All audio files under ``data`` (sorted); with ``n``, a deterministic stratified subset.

    The subset takes every k-th file of the sorted list (sorted by actor, then by the
    RAVDESS code), so all actors, emotions and intensities are represented in proportion.
    """
    from ser.corpora import find_audio_files

    files = sorted(str(f.path) for f in find_audio_files([data]))
    if not files:
        raise SystemExit(f"no audio files under {data!r}; pass --data DIR or set SER_RAVDESS_DIR")
    if n is None or n >= len(files):
        return files
    if n <= 0:
        raise SystemExit(f"--files must be > 0, got {n}")
    step = len(files) / n
    return [files[int(i * step)] for i in range(n)]


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM, Python and library versions, load average now."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_gib = round(int(line.split()[1]) / 2**20, 1)
                    break
    except OSError:
        pass
    versions: dict[str, str] = {}
    for mod in ("numpy", "scipy", "librosa", "soundfile", "soxr", "miniaudio", "joblib", "sklearn"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # pragma: no cover - report what is there
            versions[mod] = "missing"
    try:
        import soundfile

        versions["libsndfile"] = soundfile.__libsndfile_version__
    except Exception:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "sched_affinity": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else None,
        "ram_gib": mem_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "loadavg": list(os.getloadavg()),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def describe(m: dict[str, Any]) -> str:
    v = m["versions"]
    la = ", ".join(f"{x:.2f}" for x in m["loadavg"])
    return (
        f"{m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM; Python {m['python']}, "
        f"numpy {v['numpy']}, scipy {v['scipy']}, librosa {v['librosa']}, "
        f"soundfile {v['soundfile']} (libsndfile {v.get('libsndfile', '?')}), "
        f"miniaudio {v.get('miniaudio', '?')}, soxr {v['soxr']}; "
        f"load average {la}"
    )


def maxrss_mib(who: int = resource.RUSAGE_SELF) -> float:
    """Peak RSS in MiB (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(who).ru_maxrss / 1024.0


def proc_rss_mib(pid: int | str = "self") -> tuple[float, float]:
    """(current RSS, peak RSS) of a live process in MiB, from /proc/PID/status."""
    rss = hwm = 0.0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) / 1024.0
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return rss, hwm


def write_results(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    steal = steal_share()
    payload = {
        "benchmark": name,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        **payload,
        "cpu_steal_share": steal,
    }
    if steal is not None:
        print(f"CPU time stolen by the hypervisor during this run: {100 * steal:.1f} %")
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def bench_model(spec: str | None) -> str:
    """Path of the model the annotation benchmarks use.

    ``spec`` (a path or a bundled name) wins; else the bundled default model when its file
    exists; else a throwaway model (scaler + MLP fitted on random rows with the default
    feature set's width and the eight RAVDESS emotions) built once under /tmp. Prediction
    cost depends on the model's size, not on what it learnt, so the throwaway one times the
    pipeline fairly; the result JSON says which model was used.
    """
    from ser.models import BUNDLED_MODELS, DEFAULT_MODEL, bundled_model_path

    if spec:
        return str(bundled_model_path(spec)) if spec in BUNDLED_MODELS else spec
    bundled = bundled_model_path(DEFAULT_MODEL)
    if bundled.is_file():
        return str(bundled)
    path = Path(tempfile.gettempdir()) / "ser-bench" / "throwaway-default.skops"
    if not path.is_file():
        import numpy as np
        from sklearn.neural_network import MLPClassifier
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        from ser.corpora import EMOTIONS
        from ser.features import GroupStats, feature_config, feature_names
        from ser.models import Model, save_model

        cfg = feature_config("default")
        rng = np.random.default_rng(0)
        X = rng.standard_normal((400, len(feature_names(cfg))))
        y = np.asarray(EMOTIONS)[rng.integers(0, len(EMOTIONS), len(X))]
        est = Pipeline(
            [
                ("scale", StandardScaler()),
                ("mlp", MLPClassifier((256,), max_iter=20, random_state=0)),
            ]
        )
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X, y)
        model = Model(est, cfg, "none", GroupStats.of(X), {"name": "throwaway-benchmark"})
        save_model(model, path)
    return str(path)
