"""``ser-train`` as a command: help, one-line errors before work, warnings, SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ser.common.console import run_command
from ser.train.cli import app

PROG = "ser-train"
COMMAND = [sys.executable, "-c", "from ser.train.cli import main; main()"]


def run(args: list[str], capsys) -> tuple[int, str, str]:
    """Run ``ser-train ARGS`` in this process as the console script does; (status, out, err)."""
    with pytest.raises(SystemExit) as exc:
        run_command(app, PROG, [str(a) for a in args])
    captured = capsys.readouterr()
    return exc.value.code, captured.out, captured.err


@pytest.fixture
def corpus(write_audio):
    """``corpus(root, actors=4, per=4, seconds=0.5)``: RAVDESS-named voices, sad and angry."""

    def make(root: Path, actors: int = 4, per: int = 4, seconds: float = 0.5) -> Path:
        for a in range(1, actors + 1):
            for code in (4, 5):
                for k in range(per):
                    inten, stmt, rep = k // 4 % 2 + 1, k // 2 % 2 + 1, k % 2 + 1
                    name = f"03-01-{code:02d}-{inten:02d}-{stmt:02d}-{rep:02d}-{a:02d}.wav"
                    path = root / f"Actor_{a:02d}" / name
                    write_audio(path, seconds=seconds, seed=100 * a + 10 * code + k)
        return root

    return make


@pytest.fixture
def no_extraction(monkeypatch):
    """Fail the test if feature extraction starts."""

    def boom(*args, **kwargs):
        raise AssertionError("feature extraction started although an argument was bad")

    monkeypatch.setattr("ser.train.fit.extract_dataset", boom)


def test_help_lists_choices_examples_and_works_with_h(capsys):
    code, out, _ = run(["-h"], capsys)
    assert code == 0
    assert "--overwrite" in out
    assert "default|seed" in out and "none|corpus|speaker" in out
    assert "ser-train --data ../shared/data/ravdess-speech --out my8.skops" in out
    assert "ser-train --subset neutral,angry,sad,happy --out my4.skops" in out
    assert "130 interrupted" in out


def test_help_imports_nothing_heavy(imported_by):
    code = (
        "import sys\nsys.argv = ['ser-train', '-h']\nfrom ser.train.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    heavy = ("numpy", "librosa", "sklearn", "joblib", "pandas", "rich")
    assert imported_by(code, heavy) == ["rich"]  # rich draws the help; nothing else loads


def test_console_script_runs_main():
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name=PROG)
    assert script.value == "ser.train.cli:main"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--features", "mfcc"], "Invalid value for '--features': 'mfcc' is not one of"),
        (["--normalize", "gender"], "'gender' is not one of 'none', 'corpus', 'speaker'"),
        (["--folds", "1"], "Invalid value for '--folds'"),
        (["--bogus"], "No such option: --bogus"),
    ],
)
def test_parser_errors_are_one_line(capsys, args, message):
    code, out, err = run(args, capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(f"{PROG}: error: ")
    assert message in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--folds", "10"], "--folds 10 is more than the 6 actors found in"),
        (["--jobs", "0"], "--jobs must be a whole number of workers (-1 for every core), got 0"),
        (["--hidden", "8,x"], "--hidden must be layer sizes >= 1 separated by commas"),
        (["--subset", "neutral,joy"], "unknown emotion(s) 'joy'"),
        (["--out", "{tmp}/file.txt/model.skops"], "file.txt' is not a folder"),
        (["--out", "{tmp}/missing/model.skops"], "missing' does not exist"),
        (["--out", "{tmp}/model.txt"], "--out must end in .skops"),
        (["--out", "{tmp}/old.skops"], "old.skops' already exists; --overwrite replaces it"),
    ],
)
def test_bad_options_fail_in_one_line_before_extraction(
    tmp_path, capsys, corpus, no_extraction, args, message
):
    data = corpus(tmp_path / "data", actors=6, per=1, seconds=0.3)
    (tmp_path / "file.txt").write_text("a file, not a folder")
    (tmp_path / "old.skops").write_text("an older model")
    args = [a.format(tmp=tmp_path) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "m.skops")]
    code, out, err = run(["--data", str(data), *args], capsys)
    assert code == 2, err
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(f"{PROG}: error: "), err
    assert message in err
    assert (tmp_path / "old.skops").read_text() == "an older model"


def test_jobs_minus_one_means_every_core(tmp_path, capsys, corpus, no_extraction):
    data = corpus(tmp_path / "data", actors=2, per=1, seconds=0.3)
    args = ["--data", data, "--jobs", "-1", "--folds", "3", "--out", tmp_path / "m.skops"]
    code, _, err = run(args, capsys)
    assert code == 2
    assert "--folds 3 is more than the 2 actors" in err  # -1 itself was accepted


def test_workers_are_shut_down_after_an_error(tmp_path, capsys, corpus, monkeypatch):
    calls = []
    monkeypatch.setattr("ser.batch.shutdown_workers", lambda: calls.append("shutdown"))
    data = corpus(tmp_path / "data", actors=2, per=1, seconds=0.3)
    code, _, _ = run(["--data", data, "--folds", "3", "--out", tmp_path / "m.skops"], capsys)
    assert code == 2
    assert calls == ["shutdown"]


@pytest.mark.slow
def test_small_run_prints_one_convergence_line_and_overwrites(tmp_path, corpus):
    data = corpus(tmp_path / "data")
    out = tmp_path / "m.skops"
    out.write_text("an older model")
    (tmp_path / "m.json").write_text("{}")
    args = ["--data", data, "--out", out, "--overwrite", "--folds", "2", "--augment", "0"]
    args += ["--ensemble", "2", "--hidden", "8", "--jobs", "1"]
    proc = subprocess.run([*COMMAND, *map(str, args)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "ConvergenceWarning" in line]
    assert len(lines) == 1, proc.stderr
    assert re.fullmatch(
        r"WARNING: \d of 6 MLP fits stopped at max_iter before converging .*", lines[0]
    )
    assert "Speaker-independent 2-fold cross-validation" in proc.stdout
    assert f"Saved {out}" in proc.stdout
    from ser.models import load_model

    assert load_model(out).classes == ["angry", "sad"]  # the older file was replaced
    assert '"sha256"' in (tmp_path / "m.json").read_text()


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        kids = _children(todo.pop())
        found += kids
        todo += kids
    return found


def _running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (a zombie has exited; only unreaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_sigterm_stops_like_ctrl_c_and_leaves_no_workers(tmp_path, corpus):
    from ser.common.choices import usable_cores

    if usable_cores() < 2:
        pytest.skip("needs 2 cores, so that features are extracted in worker processes")
    data = corpus(tmp_path / "data", actors=4, per=8, seconds=2.0)
    out = tmp_path / "m.skops"
    args = ["--data", data, "--out", out, "--folds", "2", "--augment", "2", "--jobs", "2"]
    proc = subprocess.Popen(
        [*COMMAND, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not any("loky" in _cmdline(p) for p in _descendants(proc.pid)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no worker process started"
            time.sleep(0.05)
        time.sleep(0.3)  # extracting
        family = _descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert stderr.splitlines()[-1] == f"{PROG}: error: interrupted; no model was written", stderr
    assert "Traceback" not in stderr
    assert "Training on" in stdout
    assert not out.exists()
    deadline = time.monotonic() + 10
    while any(_running(p) for p in family) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [p for p in family if _running(p)] == []


def test_two_sources_with_a_labels_table_end_to_end(tmp_path, corpus, write_audio):
    """A RAVDESS-named tree and a labels table: per-source CV, leave-one-corpus-out,
    calibration and the features table, all from one ``ser-train`` run."""
    import pandas as pd

    rav = corpus(tmp_path / "rav")
    table_dir = tmp_path / "mine"
    rows = []
    for spk in range(4):
        for k, label in enumerate(["Sadness", "anger", "sad", "ANG", "frustrated"]):
            rel = f"s{spk}/c{k}.wav"
            write_audio(table_dir / rel, seconds=0.5, seed=1000 + 10 * spk + k)
            rows.append({"path": rel, "emotion": label, "speaker": f"p{spk}"})
    pd.DataFrame(rows).to_csv(table_dir / "labels.csv", index=False)
    out, feats = tmp_path / "m.skops", tmp_path / "f.parquet"
    args = ["--data", rav, "--labels", table_dir / "labels.csv", "--map", "frustrated=drop"]
    args += ["--evaluate", "corpus", "--folds", "2", "--augment", "1", "--ensemble", "1"]
    args += ["--hidden", "8", "--jobs", "1", "--out", out, "--features-out", feats]
    proc = subprocess.run([*COMMAND, *map(str, args)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "ravdess: 32 files, 4 speakers" in proc.stdout
    assert "labels: 16 files, 4 speakers" in proc.stdout  # frustrated dropped
    assert re.search(r"Per source .*\n  ravdess +UAR .*\n  labels +UAR", proc.stdout)
    assert "trained without labels, tested on it: UAR" in proc.stdout
    assert "Calibration: temperature" in proc.stdout
    card = json.loads(out.with_suffix(".json").read_text())
    assert set(card["training"]["sources"]) == {"ravdess", "labels"}
    assert card["training"]["sources"]["labels"]["emotions"] == {"angry": 8, "sad": 8}
    assert set(card["evaluation"]["by_source"]) == {"ravdess", "labels"}
    assert set(card["leave_one_corpus_out"]["results"]) == {"ravdess", "labels"}
    assert 0 <= card["calibration"]["cv_ece"] <= 1
    assert "labels" in card["licence"][1] and "RAVDESS" in card["licence"][0]
    table = pd.read_parquet(feats)
    assert list(table.columns[:4]) == ["path", "source", "speaker", "emotion"]
    assert len(table) == 48 and set(table["speaker"]) >= {"labels:p0", "ravdess:01"}
    from ser.features import feature_config
    from ser.features.extract import feature_names

    assert list(table.columns[4:]) == feature_names(feature_config("default"))
    from ser.models import load_model

    model = load_model(out)
    assert model.calibration is not None
    assert model.meta["sources"]["labels"]["speakers"] == [f"labels:p{i}" for i in range(4)]


def test_group_folds_put_speakers_of_every_source_in_every_fold():
    import numpy as np

    from ser.train import group_folds

    groups = np.array([f"a:{i}" for i in range(8)] + [f"b:{i}" for i in range(30)], object)
    sources = np.array(["a"] * 8 + ["b"] * 30, object)
    masks = group_folds(groups, 4, sources)
    for m in masks:
        assert {"a", "b"} <= set(sources[m])
    assert sum(int(m.sum()) for m in masks) == len(groups)  # each speaker tested once
    # one source alone: as before, consecutive pairs dealt round-robin
    rav = np.array([f"ravdess:{i:02d}" for i in range(1, 25)], object)
    first = group_folds(rav, 6)[0]
    assert rav[first].tolist() == ["ravdess:01", "ravdess:02", "ravdess:13", "ravdess:14"]


def test_ctrl_c_stops_training_from_the_python_api_too():
    """Outside the commands (a notebook, a script), train_model runs in
    ctrl_c_stops_training: Ctrl-C comes out of an MLP fit as KeyboardInterrupt."""
    import threading

    import numpy as np
    from sklearn.neural_network import MLPClassifier

    from ser.common.interrupts import ctrl_c_stops_training
    from ser.train import train_model

    assert train_model.__wrapped__  # the API's entry point runs inside the guard
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((2000, 40)), rng.integers(0, 4, 2000)
    mlp = MLPClassifier((256, 256), max_iter=200, tol=0, n_iter_no_change=10_000)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    with pytest.raises(KeyboardInterrupt):
        with ctrl_c_stops_training():
            timer.start()
            try:
                mlp.fit(X, y)
            finally:
                timer.cancel()
    assert mlp.n_iter_ < 200  # stopped, not finished
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # given back


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_stop_an_mlp_fit_that_would_swallow_them(signum):
    """scikit-learn's MLP catches KeyboardInterrupt in its training loop and returns the fit
    cut short, so ser-train went on and saved a model; the signal now gets through."""
    import threading

    import numpy as np
    from sklearn.neural_network import MLPClassifier

    from ser.common.console import Interrupted, sigterm_interrupts

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((2000, 40)), rng.integers(0, 4, 2000)
    # about 15 s of training here, so that a swallowed signal fails the test, not hangs it
    mlp = MLPClassifier((256, 256), max_iter=200, tol=0, n_iter_no_change=10_000)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signum))
    with sigterm_interrupts(sigint=True):
        timer.start()
        try:
            with pytest.raises(Interrupted):
                mlp.fit(X, y)
        finally:
            timer.cancel()
