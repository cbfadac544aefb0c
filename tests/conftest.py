"""Shared fixtures: the RAVDESS folder, a synthetic-audio writer, tiny fitted models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY_CLASSES = ("angry", "happy", "neutral", "sad")


@pytest.fixture
def imported_by() -> Callable[[str, Iterable[str]], list[str]]:
    """``imported_by(code, names)``: which of the top-level packages ``names`` a fresh
    interpreter has imported after running ``code`` (sorted); fails if ``code`` fails."""

    def run(code: str, names: Iterable[str]) -> list[str]:
        probe = (
            "\nimport json, sys\n"
            f"print(json.dumps(sorted({{n.split('.')[0] for n in sys.modules}} & {set(names)!r})))"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code + probe], capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])

    return run


@pytest.fixture(scope="session")
def ravdess_dir() -> Path:
    """The RAVDESS speech corpus (``SER_RAVDESS_DIR`` or ``../shared/data/ravdess-speech``)."""
    env = os.environ.get("SER_RAVDESS_DIR")
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "data" / "ravdess-speech"
    if not (path / "Actor_01").is_dir():
        pytest.skip(f"RAVDESS corpus not found at {path} (set SER_RAVDESS_DIR)")
    return path


@pytest.fixture(scope="session")
def cremad_dir() -> Path:
    """The CREMA-D audio (``SER_CREMAD_DIR`` or ``../shared/data/crema-d``)."""
    env = os.environ.get("SER_CREMAD_DIR")
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "data" / "crema-d"
    if not (path.is_dir() and any(p.name.isdigit() and p.is_dir() for p in path.iterdir())):
        pytest.skip(f"CREMA-D corpus not found at {path} (set SER_CREMAD_DIR)")
    return path


def synth_voice(
    seconds: float = 0.6, sr: int = 16_000, *, seed: int = 0, channels: int = 1
) -> np.ndarray:
    """A voice-like test signal: gliding harmonic tone, syllable envelope, a little noise."""
    rng = np.random.default_rng(seed)
    n = round(seconds * sr)
    t = np.arange(n) / sr
    f0 = 110.0 + (20.0 * seed) % 140 + 15.0 * np.sin(2 * np.pi * (1.5 + seed % 3) * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = sum(np.sin(k * phase) / k for k in range(1, 8))
    env = 0.5 * (1 - np.cos(2 * np.pi * np.minimum(t * (2 + seed % 4), 1.0)))
    y = 0.3 * y * (0.2 + env) + 0.01 * rng.standard_normal(n)
    y = y / np.max(np.abs(y)) * 0.5
    if channels > 1:
        y = np.stack([y * (1 - 0.1 * c) for c in range(channels)], axis=1)
    return y.astype(np.float64)


@pytest.fixture
def write_audio() -> Callable[..., Path]:
    """``write_audio(path, seconds=0.6, sr=16000, channels=1, subtype=None, seed=0, data=None)``.

    Writes synthetic voice (or ``data``) with soundfile; the format follows the extension
    (``format=`` overrides it, e.g. for an upper-case ``.WAV``). Returns the path.
    """

    def write(
        path: str | os.PathLike[str],
        *,
        seconds: float = 0.6,
        sr: int = 16_000,
        channels: int = 1,
        subtype: str | None = None,
        seed: int = 0,
        data: np.ndarray | None = None,
        format: str | None = None,
    ) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        y = synth_voice(seconds, sr, seed=seed, channels=channels) if data is None else data
        fmt = format or path.suffix.lstrip(".").upper()
        sf.write(path, y, sr, subtype=subtype, format=fmt)
        return path

    return write


def _build_hostile_folder(root: Path, write_audio) -> dict[str, tuple[str, str | None]]:
    """Every kind of bad file and a few good ones; {reported path: (status, error part)}."""
    expect: dict[str, tuple[str, str | None]] = {}

    def good(rel: str, **kw):
        write_audio(root / rel, **kw)
        expect[rel] = ("ok", None)

    good("a/b/deep.wav", seed=1)
    good("a/stereo48k24.wav", sr=48_000, channels=2, subtype="PCM_24", seed=2)
    good("a/UPPER.WAV", format="WAV", seed=3)
    good("flac/good.flac", seed=4)
    good("sub/good.ogg", seed=5)
    (root / "bad").mkdir()
    (root / "bad/corrupt.wav").write_bytes(os.urandom(4000))
    expect["bad/corrupt.wav"] = ("error", "cannot decode audio")
    full = write_audio(root / "tmp.flac", seconds=1.0)
    data = full.read_bytes()
    full.unlink()
    (root / "bad/truncated.flac").write_bytes(data[: len(data) // 2])
    expect["bad/truncated.flac"] = ("error", "cannot decode audio")
    (root / "bad/zero.wav").write_bytes(b"")
    expect["bad/zero.wav"] = ("error", "empty file (0 bytes)")
    (root / "bad/text.mp3").write_text("this is not an mp3\n" * 20)
    expect["bad/text.mp3"] = ("error", "cannot decode audio")
    nan = np.zeros(8000, np.float32)
    nan[100] = np.nan
    nan[200:300] = 0.5
    write_audio(root / "bad/nan.wav", data=nan, subtype="FLOAT")
    expect["bad/nan.wav"] = ("error", "non-finite samples")
    write_audio(root / "bad/short.wav", seconds=0.05)
    expect["bad/short.wav"] = ("error", "too short")
    write_audio(root / "bad/silent.wav", data=np.zeros(16_000))
    expect["bad/silent.wav"] = ("error", "silent")
    # skipped: hidden files and folders, other extensions, a symbolic link loop
    write_audio(root / ".hidden.wav")
    write_audio(root / "a/.cache/inside.wav")
    (root / "notes.txt").write_text("not audio")
    os.symlink(root, root / "sub" / "loop")
    return expect


@pytest.fixture
def hostile_folder(write_audio) -> Callable[[Path], dict[str, tuple[str, str | None]]]:
    """``hostile_folder(root)`` fills ``root`` with every kind of bad file and a few good ones.

    Returns ``{reported path: (expected status, part of the expected error)}`` for the files
    that must get a row; hidden files and folders, a ``.txt`` file and a symbolic link loop
    are there too and must be skipped. (The unreadable-file case is tested on its own: it
    cannot be built when the tests run as root.)
    """
    return lambda root: _build_hostile_folder(Path(root), write_audio)


def _fit_tiny(normalization: str):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from ser.features import GroupStats, feature_config, feature_names
    from ser.models import Model

    cfg = feature_config()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, len(feature_names(cfg))))
    y = np.asarray(TINY_CLASSES)[np.arange(80) % len(TINY_CLASSES)]
    est = Pipeline(
        [
            ("scale", StandardScaler()),
            ("mlp", MLPClassifier(hidden_layer_sizes=(8,), max_iter=200, random_state=0)),
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    name = "tiny" if normalization == "none" else f"tiny-{normalization}"
    return Model(
        estimator=est,
        features=cfg,
        normalization=normalization,
        train_stats=GroupStats.of(X),
        meta={"name": name},
    )


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny fitted 4-class model file (normalization "none"), classes ``TINY_CLASSES``."""
    from ser.models import save_model

    path = tmp_path_factory.mktemp("models") / "tiny.skops"
    save_model(_fit_tiny("none"), path)
    return path


@pytest.fixture(scope="session")
def tiny_speaker_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model again, trained (so it says) with speaker normalisation."""
    from ser.models import save_model

    path = tmp_path_factory.mktemp("models") / "tiny-speaker.skops"
    save_model(_fit_tiny("speaker"), path)
    return path


def process_alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def descendants(pid: int) -> set[int]:
    """Process ids of the children, grandchildren... of ``pid`` (from /proc)."""
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent_of[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, pp in parent_of.items() if pp in frontier} - found
        found |= frontier
    return found


def wait_until(condition: Callable[[], bool], *, limit_s: float = 20.0) -> bool:
    """Poll ``condition`` until it holds (True) or ``limit_s`` passes (False)."""
    import time

    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.1)
    return condition()
