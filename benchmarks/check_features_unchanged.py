"""Check that the default features (and the audio front end) still give the same numbers.

Speed work on ``audio/decode.py`` and ``features/extract.py`` must not move feature values:
models are trained on them. Run once on the code *before* a change to save a reference, then
after the change to compare::

    python benchmarks/check_features_unchanged.py --save /tmp/ser_features_ref.npz   # before
    python benchmarks/check_features_unchanged.py --ref /tmp/ser_features_ref.npz    # after

What is compared:

* the ``default`` feature vector of every RAVDESS file (all 1,440 unless ``--files N``);
  tolerance per value ``|new - ref| <= 1e-4 * (1 + |ref|)``;
* the front end on synthetic edge cases written to a temporary directory (16/24/32-bit PCM,
  8-bit, float WAV with peaks above 1, stereo and 3-channel, 8/16/44.1/48 kHz, FLAC, OGG,
  long silences for trimming): ``load_audio`` output and default features with the same
  tolerance, and for the bad files (NaN, infinity, silent, too short, zero frames) the exact
  ``AudioError`` message (files the decoder rejects: missing, empty, not audio, are reported
  when their message changed, without failing);
* ser's own mel and chroma filter banks against librosa's, bit for bit.

Exit status 0 when everything matches, 1 otherwise. Keep references outside the repository.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from _common import default_data_dir, describe, machine, ravdess_files

RTOL = 1e-4
#: Files the decoder itself rejects: how their error reads is front-end wording, not a feature
#: value, so a changed message is reported but does not fail the check. The messages of the
#: checks after decoding (non-finite, silent, too short, no samples) must stay exactly the same.
DECODE_FAILURES = frozenset({"missing.wav", "empty.wav", "not_audio.wav"})


def _features(path: str) -> tuple[np.ndarray | None, str | None]:
    from ser.common import AudioError
    from ser.features import feature_config, process_file

    try:
        x, _ = process_file(path, config=feature_config("default"))
        return x, None
    except AudioError as exc:
        return None, f"{type(exc).__name__}: {exc.reason}"


def _synthetic(dirpath: str) -> dict[str, str]:
    """Write the edge-case files; returns name -> path."""
    import soundfile as sf

    rng = np.random.default_rng(20240605)
    out: dict[str, str] = {}

    def speechlike(sr: float, dur: float, amp: float = 0.3) -> np.ndarray:
        t = np.arange(int(sr * dur)) / sr
        f0 = 140 + 30 * np.sin(2 * np.pi * 1.5 * t)
        ph = 2 * np.pi * np.cumsum(f0) / sr
        y = sum(np.sin(k * ph) / k for k in range(1, 12))
        env = 0.5 * (1 - np.cos(2 * np.pi * np.minimum(t / dur, 1)))
        return (amp * y * env / 3 + 0.01 * rng.standard_normal(len(t))).astype(np.float64)

    def write(name: str, data: np.ndarray, sr: int, **kw: object) -> None:
        p = os.path.join(dirpath, name)
        sf.write(p, data, sr, **kw)
        out[name] = p

    base48 = speechlike(48000, 1.2)
    pad = np.zeros(int(48000 * 0.8))
    write("pcm16_48k_mono.wav", base48, 48000, subtype="PCM_16")
    write(
        "pcm16_48k_stereo.wav", np.stack([base48, 0.5 * base48[::-1]], 1), 48000, subtype="PCM_16"
    )
    write("pcm24_44k_mono.flac", speechlike(44100, 1.0), 44100, subtype="PCM_24")
    write("pcm32_22k_mono.wav", speechlike(22050, 0.9), 22050, subtype="PCM_32")
    write("u8_8k_mono.wav", speechlike(8000, 1.0), 8000, subtype="PCM_U8")
    write("pcm16_16k_mono.wav", speechlike(16000, 1.1), 16000, subtype="PCM_16")
    write(
        "pcm16_8k_3ch.wav",
        np.stack([speechlike(8000, 0.7)] * 3, 1) * [1, 0.5, -0.2],
        8000,
        subtype="PCM_16",
    )
    write("float_over1_48k.wav", 5.0 * base48, 48000, subtype="FLOAT")
    write("double_16k.wav", speechlike(16000, 0.5), 16000, subtype="DOUBLE")
    write(
        "padded_silence_48k.flac", np.concatenate([pad, base48, pad, pad]), 48000, subtype="PCM_16"
    )
    write("stereo_flac_48k.flac", np.stack([base48, base48 * 0.9], 1), 48000, subtype="PCM_16")
    write("vorbis_44k.ogg", speechlike(44100, 1.0), 44100, format="OGG", subtype="VORBIS")
    write("quiet_but_ok.wav", base48 * 1e-3, 48000, subtype="FLOAT")
    write("exactly_0.2s.wav", speechlike(16000, 0.2), 16000, subtype="PCM_16")
    nan = base48.copy()
    nan[1000:1003] = np.nan
    write("nan.wav", nan, 48000, subtype="FLOAT")
    inf = base48.copy()
    inf[5] = np.inf
    inf[7] = -np.inf
    write("inf.wav", inf, 48000, subtype="FLOAT")
    nanst = np.stack([base48, base48], 1)
    nanst[10, 1] = np.nan
    write("nan_stereo.wav", nanst, 48000, subtype="FLOAT")
    write("silent.wav", np.zeros(48000), 48000, subtype="PCM_16")
    write("near_silent.wav", np.full(16000, 5e-5), 16000, subtype="FLOAT")
    write("too_short.wav", speechlike(16000, 0.1), 16000, subtype="PCM_16")
    write("zero_frames.wav", np.zeros(0), 16000, subtype="PCM_16")
    p = os.path.join(dirpath, "empty.wav")
    open(p, "wb").close()
    out["empty.wav"] = p
    p = os.path.join(dirpath, "not_audio.wav")
    with open(p, "w") as f:
        f.write("this is not audio\n" * 20)
    out["not_audio.wav"] = p
    out["missing.wav"] = os.path.join(dirpath, "missing.wav")
    return out


def _front_end(paths: dict[str, str]) -> dict[str, object]:
    from ser.audio import load_audio
    from ser.common import AudioError
    from ser.features import feature_config, process_file

    res: dict[str, object] = {}
    for name, path in sorted(paths.items()):
        try:
            y, info = load_audio(path)
            x, _ = process_file(path, config=feature_config("default"))
            res[f"{name}:audio"] = y
            res[f"{name}:info"] = np.asarray([info.sample_rate, info.channels, info.duration_s])
            res[f"{name}:features"] = x
        except AudioError as exc:
            res[f"{name}:error"] = np.asarray(exc.reason)
    return res


def _filter_banks() -> list[str]:
    """Compare ser's own mel/chroma filter banks with librosa's, bit for bit."""
    import librosa

    from ser.features import extract as F

    bad = []
    configs = [(16000, 512, 40, 50.0), (16000, 1024, 64, 0.0), (22050, 2048, 128, 20.0),
               (8000, 256, 20, 100.0), (48000, 512, 40, 1500.0)]  # fmt: skip
    for sr, n_fft, n_mels, fmin in configs:
        pairs = {
            "mel": (F._mel_basis(sr, n_fft, n_mels, fmin),
                    librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin)),
            "chroma": (F._chroma_basis(sr, n_fft), librosa.filters.chroma(sr=sr, n_fft=n_fft)),
            "mel centres": (F._mel_centres(sr, n_mels, fmin),
                            librosa.mel_frequencies(n_mels + 2, fmin=fmin, fmax=sr / 2)[1:-1]),
        }  # fmt: skip
        for name, (ours, theirs) in pairs.items():
            if not np.array_equal(ours, np.asarray(theirs).astype(np.float32)):
                bad.append(f"{name} filters differ from librosa's for sr={sr}, n_fft={n_fft}")
    return bad


def _close(new: np.ndarray, ref: np.ndarray) -> tuple[bool, float]:
    if new.shape != ref.shape:
        return False, float("inf")
    excess = np.abs(new.astype(np.float64) - ref) - RTOL * (1 + np.abs(ref))
    worst = float(np.max(np.abs(new.astype(np.float64) - ref) / (1 + np.abs(ref)), initial=0.0))
    return bool((excess <= 0).all()), worst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--save", metavar="NPZ", help="compute with the current code and save here")
    g.add_argument(
        "--ref",
        metavar="NPZ",
        default="/tmp/ser_features_ref.npz",
        help="reference to compare with (default: %(default)s)",
    )
    ap.add_argument("--data", default=default_data_dir(), help="RAVDESS folder")
    ap.add_argument("--files", type=int, default=None, help="subsample N files (default: all)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    args = ap.parse_args()

    m = machine()
    print(f"machine: {describe(m)}")
    data = os.path.abspath(args.data)
    files = ravdess_files(data, args.files)
    rel = [os.path.relpath(f, data) for f in files]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as ex:
        got = list(ex.map(_features, files, chunksize=16))
    print(f"{len(files)} RAVDESS files in {time.perf_counter() - t0:.1f} s")
    nfeat = max((len(x) for x, _ in got if x is not None), default=0)
    X = np.full((len(files), nfeat), np.nan, np.float32)
    errs = np.asarray(["" if e is None else e for _, e in got])
    for i, (x, _) in enumerate(got):
        if x is not None:
            X[i] = x
    with tempfile.TemporaryDirectory(prefix="ser-check-") as tmp:
        synth = _front_end(_synthetic(tmp))

    if args.save:
        np.savez(
            args.save,
            ravdess=X,
            files=np.asarray(rel),
            errors=errs,
            **{f"synth/{k}": v for k, v in synth.items()},
        )
        print(
            f"saved reference: {args.save} ({X.shape[0]} files x {X.shape[1]} features, "
            f"{len(synth)} synthetic entries)"
        )
        return 0

    ref = np.load(args.ref)
    ok = True
    ref_files = list(ref["files"])
    idx = {f: i for i, f in enumerate(ref_files)}
    missing = [f for f in rel if f not in idx]
    if missing:
        print(f"FAIL: {len(missing)} files not in the reference, e.g. {missing[0]}")
        return 1
    R = ref["ravdess"][[idx[f] for f in rel]].astype(np.float64)
    rerr = ref["errors"][[idx[f] for f in rel]]
    if not (rerr == errs).all():
        ok = False
        print(f"FAIL: error status differs on {int((rerr != errs).sum())} files")
    good = np.all(np.isfinite(R), axis=1) & np.all(np.isfinite(X), axis=1)
    if R.shape[1] != X.shape[1]:
        print(f"FAIL: {X.shape[1]} features, reference has {R.shape[1]}")
        return 1
    diff = np.abs(X[good].astype(np.float64) - R[good])
    bad = diff > RTOL * (1 + np.abs(R[good]))
    rel_err = diff / (1 + np.abs(R[good]))
    print(
        f"RAVDESS: {int(good.sum())} files x {X.shape[1]} features; "
        f"max |diff|/(1+|ref|) = {rel_err.max():.2e} (bound {RTOL:g}); "
        f"max |diff| = {diff.max():.2e}; exactly equal values: {100 * (diff == 0).mean():.1f} %"
    )
    if bad.any():
        ok = False
        r, c = np.unravel_index(np.argmax(rel_err), rel_err.shape)
        print(
            f"FAIL: {int(bad.sum())} values out of tolerance in {int(bad.any(1).sum())} files; "
            f"worst: feature {c} of {np.asarray(rel)[good][r]}"
        )

    fb = _filter_banks()
    for msg in fb:
        ok = False
        print(f"FAIL: {msg}")
    if not fb:
        print("filter banks: mel, chroma and mel centres identical to librosa's (5 configs)")

    sref = {k[len("synth/") :]: ref[k] for k in ref.files if k.startswith("synth/")}
    if set(sref) != set(synth):
        ok = False
        print(
            f"FAIL: synthetic outcomes differ: only in reference {sorted(set(sref) - set(synth))},"
            f" only now {sorted(set(synth) - set(sref))}"
        )
    worst = 0.0
    for k in sorted(set(sref) & set(synth)):
        a, b = np.asarray(synth[k]), sref[k]
        if k.endswith(":error"):
            if str(a) != str(b):
                if k.split(":")[0] in DECODE_FAILURES:
                    print(f"note: {k}: {str(a)!r}, reference {str(b)!r} (decoder error wording)")
                    continue
                ok = False
                print(f"FAIL: {k}: {str(a)!r} != reference {str(b)!r}")
            continue
        same, w = _close(a, b)
        worst = max(worst, w)
        if not same:
            ok = False
            print(f"FAIL: {k}: differs (shape {a.shape} vs {b.shape}, worst {w:.2e})")
    n_err = sum(k.endswith(":error") for k in sref)
    print(
        f"synthetic: {len(sref) - n_err} values arrays, worst |diff|/(1+|ref|) = {worst:.2e}; "
        f"{n_err} error messages compared"
    )
    print("OK: features unchanged" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
