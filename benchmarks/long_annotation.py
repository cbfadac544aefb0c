"""``ser-annotate`` on long recordings: segments, emotions, speed and memory against the bars.

A model trained (``ser-train``, default recipe, ``--no-evaluate``, ``--augment N`` with
``--augment``) on RAVDESS actors 01-20 only and cached in ``--out-dir`` (or ``--model PATH``)
annotates the recordings of ``_conversations.py`` (actors 21-24): ``ser-annotate FILE --model M
--segment speech -o T --jobs J`` (``--channels each`` for ``conv_stereo``) as a subprocess,
timed, its CPU time and other processes' load taken from /proc, and the peak RSS (VmHWM,
sampled every 0.2 s) of each of its processes (main and loky workers). ``conv_60min`` runs
``--repeats`` times at ``--jobs`` 1 and 2 (order 1 2 2 1 ...): speed-up = ratio of the median
wall times; with the 180-minute runs, each ``--jobs`` value's wall time splits into a fixed
part and a part per hour of audio. In-process runs on ``conv_60min`` give a time line (progress
callbacks).

Recall and time precision of the rows (per channel for the stereo file):
``_conversations.evaluate``, as in ``long_recordings.py``. Utterance UAR
(``balanced_accuracy_score``, emotions the model lacks left out): from segments, each truth
utterance takes the argmax of the probabilities of the ``ok`` rows overlapping it weighted by
overlap (``weighted``, held to the bar; ``largest``: the row overlapping most); one that no
row overlaps counts as wrong. From files (``--segment file``) of the same utterances:
``clips``, the original RAVDESS clips (the issue's reference), and ``cut``, the utterances cut
from the recording with their noise (what segmentation alone costs), each grouped
``per_actor`` and with ``--normalize corpus``. The segments of a mono recording form one
normalisation group of two speakers (no speaker names), so its fair reference is ``corpus``;
with ``--channels each`` a channel is one speaker: ``per_actor``.

Bars (the issue's): recall >= 0.95 and precision >= 0.90 (also per channel); segment UAR at
most 0.05 below the fair ``clips`` UAR; 60 minutes at ``--jobs 2`` >= 1.6x as fast as at
``--jobs 1``; peak RSS of any process <= 400 MB (10**6 bytes) on 60 minutes.

Usage: python benchmarks/long_annotation.py [--out-dir DIR] [--model PATH] [--repeats 5]
[--augment N]
Writes benchmarks/results/long_annotation.json (long_annotation_augmentN.json with --augment);
about 2 minutes on 2 quiet cores, training included.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _conversations as conv
from _common import (
    REPO,
    compile_bytecode,
    cpu_ticks,
    default_data_dir,
    describe,
    machine,
    write_results,
)

BIN = Path(sys.executable).parent
RECORDINGS = ["conv_10min", "conv_60min", "conv_stereo", "conv_180min"]
UAR_GAP_BAR, SPEEDUP_BAR, RSS_BAR_MB = 0.05, 1.6, 400.0
RECALL_BAR, PRECISION_BAR = conv.RECALL_BAR, conv.PRECISION_BAR
TRAIN_ACTORS = range(1, 21)


def proc_tree(root: int) -> list[int]:
    """``root`` and its living descendants (``/proc/PID/task/TID/children``)."""
    tree = [root]
    for pid in tree:  # grows as it goes
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
                    tree += map(int, f.read().split())
    return tree


def status_kib(pid: int) -> tuple[int, int, str]:
    """(VmRSS, VmHWM) in KiB and the process name; zeros once it has gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            st = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return 0, 0, "?"
    rss, hwm = (int(st.get(k, "0").split()[0]) for k in ("VmRSS", "VmHWM"))
    return rss, hwm, st.get("Name", "?").strip()


def run_measured(cmd: list[str], log: Path, period: float = 0.2) -> dict:
    """Run ``cmd``; wall time, exit status, the peak RSS of each process of its tree, its CPU
    time, and the cores that other processes of the machine kept busy meanwhile."""
    peaks: dict[int, dict] = {}
    tree_max = [0]
    stop = threading.Event()
    ticks0, own0, t0 = cpu_ticks(), time.process_time(), time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)

        def sample() -> None:
            while not stop.is_set():
                total = 0
                for pid in proc_tree(proc.pid):
                    rss, hwm, name = status_kib(pid)
                    total += rss
                    p = peaks.setdefault(pid, {"name": name, "hwm_kib": 0})
                    p["hwm_kib"] = max(p["hwm_kib"], hwm, rss)
                tree_max[0] = max(tree_max[0], total)
                stop.wait(period)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall, ticks1 = time.perf_counter() - t0, cpu_ticks()
        stop.set()
        thread.join()
    cpu = usage.ru_utime + usage.ru_stime  # with its reaped children: the workers
    others = None
    if ticks0 and ticks1:
        busy = sum(ticks1.values()) - ticks1["idle"] - ticks1["iowait"]
        busy -= sum(ticks0.values()) - ticks0["idle"] - ticks0["iowait"]
        own = cpu + time.process_time() - own0  # the run's, and this script's sampling
        others = max(busy / os.sysconf("SC_CLK_TCK") - own, 0.0) / wall
    mb = 1024 / 1e6
    procs = {f"{k} {v['name']}": v["hwm_kib"] * mb for k, v in peaks.items()}
    res = {"command": " ".join(cmd), "rc": proc.returncode, "wall_s": wall, "cpu_s": cpu}
    res |= {"others_cores": others, "loadavg_after": list(os.getloadavg())}
    res |= {"peak_rss_mb": max(procs.values(), default=0.0), "peak_rss_mb_by_process": procs}
    return {**res, "tree_rss_sum_mb": tree_max[0] * mb, "log_tail": log.read_text()[-400:]}


def annotate_cmd(src: Path, model: str, out: Path, jobs: int, *extra: str) -> list[str]:
    cmd = [str(BIN / "ser-annotate"), str(src), "--model", model, "-o", str(out)]
    return [*cmd, "--jobs", str(jobs), "--overwrite", "--quiet", *extra]


def train_model(out: Path, data: str, augment: int) -> tuple[str, dict]:
    """The reference model on actors 01-20, trained once and kept in ``out``."""
    model = out / f"model_actors01-20{f'_augment{augment}' if augment else ''}.skops"
    folder = out / "train_actors01-20"
    cmd = [str(BIN / "ser-train"), "--data", str(folder), "--no-evaluate", "--jobs", "2"]
    cmd += ["--augment", str(augment)] if augment else []
    cmd += ["--quiet", "--overwrite", "--out", str(model)]
    if model.is_file():
        return str(model), {"command": " ".join(cmd), "cached": True}
    shutil.rmtree(folder, ignore_errors=True)
    for a in TRAIN_ACTORS:
        (folder / f"Actor_{a:02d}").mkdir(parents=True)
        for f in sorted((Path(data) / f"Actor_{a:02d}").iterdir()):
            (folder / f"Actor_{a:02d}" / f.name).symlink_to(f.resolve())
    print(f"training the reference model: {' '.join(cmd)}", flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t0
    return str(model), {"command": " ".join(cmd), "cached": False, "wall_s": wall}


STAGES = """
import json, sys, time
t0 = time.perf_counter()
from ser.batch import prestart_workers  # as ser-annotate does, before the rest is imported
prestart_workers({jobs})
from ser.annotate import annotate_to_file
marks = []
class Marks:
    def start(self, total): marks.append(time.perf_counter())
    def advance(self, n=1, seconds=0.0): marks.append(time.perf_counter())
s = annotate_to_file({src!r}, out={out!r}, model={model!r}, jobs={jobs}, segment="speech",
                     overwrite=True, progress=Marks())
t1 = time.perf_counter()
print(json.dumps({{**s.timings, "imports_and_model_s": marks[0] - t0,
    "to_first_piece_s": marks[1] - marks[0], "other_pieces_s": marks[-1] - marks[1],
    "after_last_piece_s": t1 - marks[-1], "total_s": t1 - t0}}))
"""


def stage_times(src: Path, model: str, out: Path, repeats: int) -> dict:
    """In-process ``annotate_to_file`` runs (fresh interpreters, ``--jobs`` 1 and 2
    alternating): ``RunSummary.timings`` and a time line from the progress callbacks (start,
    first piece back, last piece back); medians by ``--jobs``."""
    runs: dict[int, list[dict]] = {1: [], 2: []}
    for k in range(repeats):
        for j in (1, 2) if k % 2 == 0 else (2, 1):
            code = STAGES.format(
                src=str(src), out=str(out / f"stages.jobs{j}.parquet"), model=model, jobs=j
            )
            r = run_measured([sys.executable, "-c", code], out / "stages.log")
            marks = json.loads((out / "stages.log").read_text().splitlines()[-1])
            runs[j].append({**marks, "cpu_s": r["cpu_s"], "others_cores": r["others_cores"] or 0.0})
    return {j: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for j, rs in runs.items()}


def read_table(path: Path):
    import pyarrow.parquet as pq

    df = pq.read_table(path).to_pandas()
    if "channel" not in df:
        df["channel"] = -1
    return df.sort_values(["channel", "start"]).reset_index(drop=True)


def segment_scores(df, truth: list[dict], total: float, channel: int) -> dict:
    rows = df[df["channel"] == channel]
    segs = list(zip(rows["start"], rows["end"]))
    spans = [(t["start"], t["end"]) for t in truth if t["channel"] == channel]
    m = conv.evaluate(segs, spans, total)
    return {**m, "n_error_rows": int((rows["status"] != "ok").sum())}


def file_emotions(path: Path, truth: list[dict], data: str, model: str, out: Path) -> dict:
    """Emotion of each utterance of ``truth`` annotated as a file of its own: ``clips_*`` the
    original RAVDESS clip, ``cut_*`` the utterance cut from the recording (noise and all);
    ``*_per_actor`` grouped per actor, ``*_corpus`` with ``--normalize corpus``."""
    clips = out / f"clips_{path.stem}"
    shutil.rmtree(clips, ignore_errors=True)
    clips.mkdir(parents=True)
    for name in sorted({t["file"] for t in truth}):
        actor = f"Actor_{int(name.split('-')[6].split('.')[0]):02d}"
        (clips / name).symlink_to((Path(data) / actor / name).resolve())
    cut = out / f"cut_{path.stem}"
    conv.cut_utterances(path, truth, cut)
    res: dict = {"commands": []}
    for key, folder, extra in (
        ("clips_per_actor", clips, ()),
        ("clips_corpus", clips, ("--normalize", "corpus")),
        ("cut_per_actor", cut, ("--speaker-from", r"_a(\d+)\.wav$")),
        ("cut_corpus", cut, ("--normalize", "corpus")),
    ):
        table = out / f"{key}_{path.stem}.parquet"
        cmd = annotate_cmd(folder, model, table, 2, "--segment", "file", *extra)
        subprocess.run(cmd, check=True)
        res["commands"].append(" ".join(cmd))
        df = read_table(table)
        pred = dict(zip(df["path"].map(lambda p: Path(p).name), df["emotion"]))
        if key.startswith("clips"):
            res[key] = [pred[t["file"]] for t in truth]
        else:
            res[key] = [pred[f"u{k:05d}_a{t['actor']:02d}.wav"] for k, t in enumerate(truth)]
    return res


def uar_block(df, truth: list[dict], classes: list[str], files: dict, fair: str, ch=None) -> dict:
    """UARs of the utterances of ``truth`` (on channel ``ch`` if given) whose emotion the
    model knows: from the segment rows and from ``files`` (:func:`file_emotions`)."""
    from sklearn.metrics import balanced_accuracy_score

    keep = [k for k, t in enumerate(truth) if t["emotion"] in classes]
    keep = [k for k in keep if ch is None or truth[k]["channel"] == ch]
    y = [truth[k]["emotion"] for k in keep]
    ok = df[df["status"] == "ok"]
    rows = (ok[k].to_numpy() for k in ("start", "end", "channel"))
    probs = ok[[f"prob_{c}" for c in classes]].to_numpy()
    seg = conv.utterance_emotions(*rows, probs, [truth[k] for k in keep], classes)
    res = {"n_utterances": len(y), "n_uncovered": seg["weighted"].count("(none)")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "(none)" is a prediction outside y_true's classes
        for k, pred in seg.items():
            res[f"segments_{k}"] = balanced_accuracy_score(y, pred)
        for k in ("clips_per_actor", "clips_corpus", "cut_per_actor", "cut_corpus"):
            res[k] = balanced_accuracy_score(y, [files[k][i] for i in keep])
    res["fair"] = fair
    res["gap"] = res[f"clips_{fair}"] - res["segments_weighted"]
    res["gap_to_cut"] = res[f"cut_{fair}"] - res["segments_weighted"]
    res["pass"] = res["gap"] <= UAR_GAP_BAR
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=default_data_dir())
    ap.add_argument("--out-dir", default="/tmp/ser-bench/long_annotation")
    ap.add_argument("--model", default=None, help="a model file (default: train on actors 01-20)")
    ap.add_argument("--repeats", type=int, default=5, help="60-min runs per --jobs value")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--augment", type=int, default=0, help="ser-train --augment N for the trained model"
    )
    args = ap.parse_args()
    compile_bytecode()
    out = Path(args.out_dir).resolve()
    if out.is_relative_to(REPO):
        raise SystemExit(f"--out-dir {out} is inside the repository; choose another folder")
    out.mkdir(parents=True, exist_ok=True)
    m0 = machine()
    print(describe(m0), flush=True)
    t_start = time.perf_counter()
    if args.model:
        model, training = args.model, {"given": args.model}
    else:
        model, training = train_model(out, args.data, args.augment)
    paths, recipe = conv.build_all(RECORDINGS, out, data=args.data, seed=args.seed)
    import soundfile as sf

    audio_s = {k: sf.info(str(p)).duration for k, p in paths.items()}
    runs = measure(paths, audio_s, model, out, args.repeats)
    stages = stage_times(paths["conv_60min"], model, out, 3)
    segments, uar, same = score(paths, audio_s, model, out, args.data)
    wall = {k: statistics.median(r["wall_s"] for r in rs) for k, rs in runs.items()}
    speed: dict = {"wall_s": wall, "stages": stages}
    for j in (1, 2):  # wall = fixed + hours * per_hour, from the 60- and 180-minute runs
        w60, w180 = wall[f"conv_60min --jobs {j}"], wall[f"conv_180min --jobs {j}"]
        speed[j] = {"per_hour_s": (w180 - w60) / 2, "fixed_s": (3 * w60 - w180) / 2}
    for m in (60, 180):
        speed[f"speedup_{m}min"] = wall[f"conv_{m}min --jobs 1"] / wall[f"conv_{m}min --jobs 2"]
    speed["speedup_per_hour"] = speed[1]["per_hour_s"] / speed[2]["per_hour_s"]
    rows = table_rows(segments, uar, speed, runs)
    print(f"\n{'figure':56} {'value':>9}  {'bar':24} result")
    for name, value, bar, res in rows:
        print(f"{name:56} {value:9.3f}  {bar:24} {res}")
    print(f"tables at --jobs 1 and 2 identical (conv_60min): {same}")
    bars = {"recall": RECALL_BAR, "precision": PRECISION_BAR, "uar_gap": UAR_GAP_BAR}
    bars |= {"speedup": SPEEDUP_BAR, "peak_rss_mb_60min": RSS_BAR_MB}
    payload = {"out_dir": str(out), "model": model, "training": training, "recipe": recipe}
    payload |= {"audio_s": audio_s, "bars": bars, "table": rows, "segments": segments}
    payload |= {"uar": uar, "speed": speed, "runs": runs}
    payload |= {"tables_identical_jobs1_jobs2": same, "wall_s_total": time.perf_counter() - t_start}
    payload |= {"machine_start": m0, "machine_end": machine()}
    path = write_results(
        f"long_annotation{f'_augment{args.augment}' if args.augment else ''}", payload
    )
    print(f"load average at the end: {os.getloadavg()}; wrote {path}")


def measure(paths: dict, audio_s: dict, model: str, out: Path, repeats: int) -> dict:
    """The measured ``ser-annotate`` runs, by ``"NAME --jobs J"``."""
    runs: dict[str, list[dict]] = {}

    def annotate(name: str, jobs: int, *extra: str) -> None:
        table = out / f"{name}.jobs{jobs}.parquet"
        cmd = annotate_cmd(paths[name], model, table, jobs, "--segment", "speech", *extra)
        r = run_measured(cmd, out / f"{name}.jobs{jobs}.log")
        if r["rc"] != 0:
            raise SystemExit(f"{r['command']} failed ({r['rc']}):\n{r['log_tail']}")
        r["x_real_time"] = audio_s[name] / r["wall_s"]
        runs.setdefault(f"{name} --jobs {jobs}", []).append(r)
        print(
            f"{name} --jobs {jobs}: {r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s, peak RSS "
            f"{r['peak_rss_mb']:.0f} MB, others {r['others_cores'] or 0:.2f} cores",
            flush=True,
        )

    annotate("conv_10min", 2)
    annotate("conv_stereo", 2, "--channels", "each")
    for k in range(repeats):
        for jobs in (1, 2) if k % 2 == 0 else (2, 1):
            annotate("conv_60min", jobs)
    annotate("conv_180min", 2)
    annotate("conv_180min", 1)
    return runs


def score(paths: dict, audio_s: dict, model: str, out: Path, data: str) -> tuple:
    """Segment scores and UARs from the ``--jobs 2`` tables; whether the 60-minute tables
    at ``--jobs 1`` and ``--jobs 2`` are equal."""
    tables = {k: read_table(out / f"{k}.jobs2.parquet") for k in paths if k != "conv_180min"}
    same = read_table(out / "conv_60min.jobs1.parquet").equals(tables["conv_60min"])
    classes = [c[5:] for c in tables["conv_60min"].columns if c.startswith("prob_")]
    segments, uar = {}, {}
    for name, channels, fair in (
        ("conv_10min", [-1], "corpus"),
        ("conv_60min", [-1], "corpus"),
        ("conv_stereo", [0, 1], "per_actor"),
    ):
        df, truth = tables[name], conv.read_truth_rows(paths[name])
        files = file_emotions(paths[name], truth, data, model, out)
        uar[name] = uar_block(df, truth, classes, files, fair)
        uar[name]["file_commands"] = files["commands"]
        for ch in channels:
            key = name if ch < 0 else f"{name} ch{ch}"
            segments[key] = segment_scores(df, truth, audio_s[name], ch)
            if ch >= 0:
                uar[key] = uar_block(df, truth, classes, files, fair, ch)
    return segments, uar, same


def table_rows(segments: dict, uar: dict, speed: dict, runs: dict) -> list[list]:
    """[figure, value, bar, PASS/FAIL or ''] for every figure."""
    rows: list[list] = []

    def add(name: str, value: float, bar: str = "", ok: bool | None = None) -> None:
        rows.append([name, value, bar, "" if ok is None else ("PASS" if ok else "FAIL")])

    for k, m in segments.items():
        rec, prec = m["recall"], m["precision"]
        add(f"{k}: utterance recall", rec, f">= {RECALL_BAR}", rec >= RECALL_BAR)
        add(f"{k}: time precision", prec, f">= {PRECISION_BAR}", prec >= PRECISION_BAR)
        add(f"{k}: segments per truth utterance", m["regions_per_utterance"])
    for k, u in uar.items():
        for ref in ("clips_per_actor", "clips_corpus", "cut_per_actor", "cut_corpus"):
            add(f"{k}: UAR files, {ref}", u[ref])
        add(f"{k}: UAR segments, largest overlap", u["segments_largest"])
        bar = f">= clips_{u['fair']} - {UAR_GAP_BAR}"
        add(f"{k}: UAR segments, overlap-weighted", u["segments_weighted"], bar, u["pass"])
        add(f"{k}: UAR cut_{u['fair']} - segments", u["gap_to_cut"])
    for k, rs in runs.items():
        keys = ("x_real_time", "cpu_s", "others_cores")
        med = {key: statistics.median(r[key] or 0.0 for r in rs) for key in keys}
        add(f"{k}: x real time (median of {len(rs)})", med["x_real_time"])
        add(f"{k}: CPU s of the run (median)", med["cpu_s"])
        add(f"{k}: cores kept busy by other processes (median)", med["others_cores"])
        bar = f"<= {RSS_BAR_MB:g}" if k.startswith("conv_60min") else ""
        mb = max(r["peak_rss_mb"] for r in rs)
        add(f"{k}: peak RSS of any process, MB", mb, bar, mb <= RSS_BAR_MB if bar else None)
    up = speed["speedup_60min"]
    add("conv_60min: speed-up --jobs 2 / 1 (medians)", up, f">= {SPEEDUP_BAR}", up >= SPEEDUP_BAR)
    add("conv_180min: speed-up --jobs 2 / 1 (one run each)", speed["speedup_180min"])
    for j in (1, 2):
        add(f"--jobs {j}: fixed s per run (from 60 and 180 min)", speed[j]["fixed_s"])
        add(f"--jobs {j}: s per hour of audio (from 60 and 180 min)", speed[j]["per_hour_s"])
    add("speed-up --jobs 2 / 1 per hour of audio, fixed cost aside", speed["speedup_per_hour"])
    stage = ("imports_and_model_s", "to_first_piece_s", "other_pieces_s", "after_last_piece_s")
    for j, st in speed["stages"].items():
        for k in (*stage, "cpu_s", "others_cores"):
            add(f"conv_60min --jobs {j} in-process (median of 3): {k}", st[k])
    return rows


if __name__ == "__main__":
    main()
