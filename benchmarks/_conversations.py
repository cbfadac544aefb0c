"""Long conversations built from RAVDESS, and how segments are scored against their truth.

Shared by ``long_recordings.py`` (voice-activity detectors) and ``long_annotation.py``
(``ser-annotate`` on the recordings); not part of the ``ser`` package. :func:`cut_utterances`
writes the truth utterances of a recording as files of their own.

:func:`build_all` writes recordings at 16 kHz, 16-bit, with their ground truth as CSV beside
each WAV (``start, end, channel, actor, emotion, file``; channel -1 for a mono file). The
recordings are those of :data:`CONVERSATIONS`:

- ``conv_10min``: mono, actors 21 and 22, for tuning;
- ``conv_60min``: mono, actors 23 and 24, for testing;
- ``conv_stereo``: ``stereo_minutes`` (10) of actors 22 (left) and 23 (right), each channel
  holding only its speaker's utterances plus its own noise (no cross-talk);
- ``conv_180min``: mono, actors 23 and 24, for memory;
- stress tests: ``conv_10min_snr-10`` (the 10-minute conversation, same speech and noise
  shape, 10 dB less SNR) and ``conv_10min_wobble`` (its noise level swinging +-6 dB over 13 s).

Two speakers take turns of 1-3 utterances, 0.3-1.5 s apart (uniform); after a turn, with
probability ``long_pause_share`` (0.1), the pause is 3-10 s instead: stretches of noise
alone, which a detector that fires on noise pays for (``0`` gives the issue's recipe exactly).
Each RAVDESS clip is trimmed (``load_audio(trim=True)``: 40 dB below its loudest 10 ms, plus
50 ms) before it is placed, so the truth spans are speech. Pink noise (3-pole IIR
approximation of 1/f) is added at ``snr_db`` (20) below the mean power of the speech over the
truth spans, per channel. The actors (21-24) are the last four, so that a reference model
trained on actors 01-20 can be scored on these recordings. Everything is deterministic given
the seed; a recording is rebuilt only when its recipe (kept beside it as
``NAME.recipe.json``) changed.

:func:`evaluate` scores segments against the truth: utterance recall (share of truth
utterances at least half covered), time precision (share of segment time inside truth
utterances widened by :data:`TRUTH_WIDEN_S` each side), and fragmentation;
:func:`utterance_emotions` gives each truth utterance an emotion from the rows overlapping it.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SR = 16_000
# name: (minutes, actors, stereo, seed offset, SNR change in dB, noise wobble in dB)
CONVERSATIONS = {
    "conv_10min": (10.0, (21, 22), False, 0, 0.0, 0.0),
    "conv_60min": (60.0, (23, 24), False, 1, 0.0, 0.0),
    "conv_stereo": (10.0, (22, 23), True, 2, 0.0, 0.0),
    # stress tests (see the module docstring)
    "conv_10min_snr-10": (10.0, (21, 22), False, 0, -10.0, 0.0),
    "conv_10min_wobble": (10.0, (21, 22), False, 0, 0.0, 6.0),
    # memory only
    "conv_180min": (180.0, (23, 24), False, 3, 0.0, 0.0),
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
        del noise
    peak = float(np.abs(y).max())
    if peak > 0.99:  # one gain for the whole file keeps the SNR
        y *= np.float32(0.99 / peak)
    return y, rows


def recording_recipe(
    name: str,
    *,
    data: str,
    seed: int,
    snr_db: float,
    long_pause_share: float,
    stereo_minutes: float,
) -> dict[str, object]:
    """Everything that decides the samples of recording ``name`` (its reuse key)."""
    minutes, actors, stereo, k, snr_change, wobble = CONVERSATIONS[name]
    return {
        "minutes": stereo_minutes if stereo else minutes,
        "actors": list(actors),
        "stereo": stereo,
        "seed": seed * 1000 + k,
        "snr_db": snr_db + snr_change,
        "wobble_db": wobble,
        "long_pause_share": long_pause_share,
        "data": str(Path(data).resolve()),
    }


def build_all(
    names: list[str],
    out: Path,
    *,
    data: str,
    seed: int = 0,
    snr_db: float = 20.0,
    long_pause_share: float = 0.1,
    stereo_minutes: float = 10.0,
) -> tuple[dict[str, Path], dict[str, object]]:
    """Build the recordings ``names`` into ``out``, reusing those whose recipe is unchanged.

    Returns their paths and the recipe of the whole set (seed, SNR, long-pause share, stereo
    minutes, :data:`CONVERSATIONS` rows of ``names``, data folder).
    """
    import soundfile as sf

    recipe = {
        "seed": seed,
        "snr_db": snr_db,
        "long_pause_share": long_pause_share,
        "stereo_minutes": stereo_minutes,
        "recordings": {k: list(map(str, CONVERSATIONS[k])) for k in names},
        "data": str(Path(data).resolve()),
    }
    paths = {name: out / f"{name}.wav" for name in names}
    todo = {}
    for name, path in paths.items():
        r = recording_recipe(
            name,
            data=data,
            seed=seed,
            snr_db=snr_db,
            long_pause_share=long_pause_share,
            stereo_minutes=stereo_minutes,
        )
        kept = path.with_suffix(".recipe.json")
        fresh = kept.is_file() and json.loads(kept.read_text()) == r
        if not (fresh and path.is_file() and path.with_suffix(".csv").is_file()):
            todo[name] = r
    if not todo:
        print(f"reusing the recordings in {out}")
        return paths, recipe
    t0 = time.perf_counter()
    clips = load_clips(data, sorted({a for r in todo.values() for a in r["actors"]}))
    out.mkdir(parents=True, exist_ok=True)
    for name, r in todo.items():
        path = paths[name]
        path.with_suffix(".recipe.json").unlink(missing_ok=True)
        y, rows = build_recording(
            clips,
            minutes=r["minutes"],
            actors=tuple(r["actors"]),
            stereo=r["stereo"],
            seed=r["seed"],
            snr_db=r["snr_db"],
            wobble_db=r["wobble_db"],
            long_pause_share=r["long_pause_share"],
        )
        sf.write(path, y, SR, subtype="PCM_16")
        del y
        with open(path.with_suffix(".csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        path.with_suffix(".recipe.json").write_text(json.dumps(r, indent=1))
    print(f"built {len(todo)} recordings in {out} in {time.perf_counter() - t0:.1f} s")
    return paths, recipe


def read_truth_rows(path: Path) -> list[dict[str, object]]:
    """The truth CSV beside recording ``path``: start, end (float), channel, actor (int),
    emotion, file (str)."""
    with open(path.with_suffix(".csv"), newline="") as f:
        return [
            {
                "start": float(r["start"]),
                "end": float(r["end"]),
                "channel": int(r["channel"]),
                "actor": int(r["actor"]),
                "emotion": r["emotion"],
                "file": r["file"],
            }
            for r in csv.DictReader(f)
        ]


def cut_utterances(path: Path, truth: list[dict], folder: Path) -> None:
    """Write each truth utterance of recording ``path`` (its channel for a stereo file), cut
    exactly at its truth span, noise and all, as ``folder/uNNNNN_aAA.wav`` (NNNNN: its
    index in ``truth``; AA: the actor), 16-bit like the recording (so losslessly)."""
    import shutil

    import soundfile as sf

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with sf.SoundFile(path) as f:
        for k, t in enumerate(truth):
            f.seek(round(t["start"] * f.samplerate))
            y = f.read(
                round((t["end"] - t["start"]) * f.samplerate), dtype="float32", always_2d=True
            )
            name = f"u{k:05d}_a{t['actor']:02d}.wav"
            sf.write(folder / name, y[:, max(t["channel"], 0)], f.samplerate, subtype="PCM_16")


# --------------------------------------------------------------------------- scoring


def evaluate(
    segs: list[tuple[float, float]], truth: list[tuple[float, float]], total: float
) -> dict[str, float]:
    """Recall, time precision and fragmentation of ``segs`` against ``truth`` (both sorted,
    neither overlapping itself)."""
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


def utterance_emotions(
    start: np.ndarray,
    end: np.ndarray,
    channel: np.ndarray,
    probs: np.ndarray,
    truth: list[dict],
    classes: list[str],
) -> dict[str, list[str]]:
    """The emotion of each truth utterance from the rows (``start, end, channel`` and class
    probabilities ``probs``) that overlap it on its channel: ``weighted``, the argmax of their
    probabilities weighted by the overlap; ``largest``, that of the row overlapping most;
    ``"(none)"`` where no row overlaps."""
    weighted, largest = [], []
    for t in truth:
        ov = np.minimum(end, t["end"]) - np.maximum(start, t["start"])
        hit = np.flatnonzero((ov > 0) & (channel == t["channel"]))
        if not len(hit):
            weighted.append("(none)")
            largest.append("(none)")
            continue
        weighted.append(classes[int(np.argmax(ov[hit] @ probs[hit]))])
        largest.append(classes[int(np.argmax(probs[hit[np.argmax(ov[hit])]]))])
    return {"weighted": weighted, "largest": largest}


def merge(iv: np.ndarray) -> np.ndarray:
    """Union of intervals ``(n, 2)``, sorted."""
    out: list[list[float]] = []
    for a, b in iv[np.argsort(iv[:, 0])]:
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return np.asarray(out, float).reshape(-1, 2)


def passes(m: dict[str, float]) -> bool:
    return m["recall"] >= RECALL_BAR and m["precision"] >= PRECISION_BAR
