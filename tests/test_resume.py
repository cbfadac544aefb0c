"""``--resume``: an interrupted ``ser-annotate`` (Ctrl-C, SIGTERM, ``kill -9``) continues from
its journal, redoes only what is missing, and writes the table an uninterrupted run writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ser.annotate import annotate, annotate_to_file
from ser.annotate import journal as journal_mod
from ser.annotate.cli import app
from ser.annotate.collect import Collector, FileEntry, column
from ser.annotate.journal import Journal, journal_folder
from ser.models import BUNDLED_MODELS

runner = CliRunner()


def make_corpus(root: Path, write_audio, n: int, seconds: float = 0.3) -> Path:
    """``n`` short clips of 4 speakers in nested folders, and an empty file."""
    for i in range(n):
        rel = f"spk{i % 4}/take{i % 3}/f{i:04d}.wav"
        write_audio(root / rel, seconds=seconds + 0.1 * (i % 4), seed=i)
    (root / "spk0" / "empty.wav").write_bytes(b"")
    return root


def command(corpus: Path, out: Path, model: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ser.annotate", str(corpus), "-o", str(out), "-m", str(model),
            "-j", "2", "-q", "--speaker-from", "parent", *extra]  # fmt: skip


def parts(out: Path) -> list[str]:
    folder = Path(journal_folder(str(out)))
    return sorted(p.name for p in folder.glob("part-*.arrow")) if folder.is_dir() else []


def interrupt_and_resume(
    cmd: list[str], out: Path, signals: list[int], seed: int, wall_s: float
) -> list[tuple[int, int, int, int]]:
    """Run ``cmd --resume`` and stop it with each of ``signals`` in turn; then run it to the
    end. The moments are seeded: every other one uniformly random within ``wall_s`` (an
    uninterrupted run's time: start-up, walk, work, writing), the others a little after the
    journal got a part more (surely mid-work). Returns ``(signal, exit status, parts
    before, parts after)`` of each interrupted run."""
    rng = np.random.default_rng(seed)
    log = []
    for k, sig in enumerate(signals):
        before = parts(out)
        proc = subprocess.Popen([*cmd, "--resume"], stderr=subprocess.PIPE, text=True)
        start = time.monotonic()
        if k % 2:
            time.sleep(rng.uniform(0.2, wall_s))
        else:
            while proc.poll() is None and parts(out) == before and time.monotonic() - start < 60:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        log.append((sig, proc.returncode, len(before), len(parts(out))))
        if out.exists():  # the table was written before the signal came
            break
        # 130: stopped cleanly; -sig: before ser-annotate set up its handlers (start-up)
        assert proc.returncode in (130, -sig), err
    if not out.exists() or os.path.exists(journal_folder(str(out))):
        # (a run killed between writing the table and removing its journal: --overwrite)
        again = ["--overwrite"] if out.exists() else []
        done = subprocess.run([*cmd, "--resume", *again], capture_output=True, text=True,
                              timeout=300)  # fmt: skip
        assert done.returncode == 1, done.stderr  # 1: the empty file is an error row
    return log


def clean_run(cmd: list[str]) -> float:
    """Run ``cmd`` to the end (the reference table); its wall time."""
    start = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stderr  # 1: the empty file is an error row
    return time.monotonic() - start


def check_resumed(out: Path, reference: Path) -> None:
    pdt.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(reference), check_exact=True)
    assert not os.path.exists(journal_folder(str(out)))
    assert not [p for p in os.listdir(out.parent) if p.startswith(".")]


#: Short windows, often: more work per file, so that a run of few files lasts a few seconds.
WINDOWS = ("--segment", "window", "--window", "0.5", "--hop", "0.05")


def test_sigint_sigterm_and_kill_9_then_resume_give_the_clean_table(
    tmp_path, write_audio, tiny_speaker_model_path
):
    corpus = make_corpus(tmp_path / "in", write_audio, 120, seconds=1.5)
    reference = tmp_path / "ref" / "clean.parquet"
    reference.parent.mkdir()
    wall_s = clean_run(command(corpus, reference, tiny_speaker_model_path, *WINDOWS))
    out = tmp_path / "out" / "labels.parquet"
    out.parent.mkdir()
    cmd = command(corpus, out, tiny_speaker_model_path, *WINDOWS)
    signals = [signal.SIGKILL, signal.SIGINT, signal.SIGTERM]
    log = interrupt_and_resume(cmd, out, signals, 7, wall_s)
    check_resumed(out, reference)
    assert any(after > 0 for *_, after in log), log  # some work was kept and resumed


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["none", "speaker", "channels"])
def test_many_interruptions_at_random_moments(
    tmp_path, write_audio, tiny_model_path, tiny_speaker_model_path, mode
):
    corpus = make_corpus(tmp_path / "in", write_audio, 4000, seconds=1.5)
    extra: tuple[str, ...] = ()
    if mode == "channels":  # long stereo recordings too: pieces, rows per channel
        for i in range(4):
            write_audio(corpus / "long" / f"call{i}.wav", seconds=75.0, channels=2, seed=90 + i)
        extra = ("--segment", "window", "--channels", "each")
    model = tiny_model_path if mode == "none" else tiny_speaker_model_path
    reference = tmp_path / "ref" / "clean.parquet"
    reference.parent.mkdir()
    wall_s = clean_run(command(corpus, reference, model, *extra))
    out = tmp_path / "out" / "labels.parquet"
    out.parent.mkdir()
    signals = np.random.default_rng(11).choice([signal.SIGINT, signal.SIGTERM, signal.SIGKILL], 8)
    cmd = command(corpus, out, model, *extra)
    log = interrupt_and_resume(cmd, out, signals.tolist(), 3, wall_s)
    check_resumed(out, reference)
    assert sum(after > before for _, _, before, after in log) >= 2, log  # work was kept


def interrupt_at(monkeypatch, k: int) -> None:
    """Make the k-th finished result interrupt the run, as Ctrl-C would."""
    real = Collector._add
    seen = []

    def add(self, res):
        seen.append(res.index)
        if len(seen) == k:
            raise KeyboardInterrupt
        real(self, res)

    monkeypatch.setattr(Collector, "_add", add)


def test_an_interruption_keeps_every_finished_file_and_resume_does_the_rest(
    tmp_path, write_audio, tiny_model_path, monkeypatch
):
    corpus = make_corpus(tmp_path / "in", write_audio, 30)
    out = tmp_path / "labels.parquet"
    args = [str(corpus), "-o", str(out), "-m", str(tiny_model_path), "-j", "1"]
    interrupt_at(monkeypatch, 12)
    result = runner.invoke(app, args)
    assert result.exit_code == 130
    assert "--resume" in result.stderr  # says where the work is kept
    monkeypatch.undo()
    import pyarrow as pa

    folder = Path(journal_folder(str(out)))
    kept = pa.concat_tables(pa.ipc.open_file(str(p)).read_all() for p in folder.glob("part-*"))
    assert sorted(set(column(kept, "file").tolist())) == list(range(11))  # all 11 finished
    calls = []
    import ser.annotate.execute as execute_mod

    real_task = execute_mod.extract_item

    def counting(item, **kw):
        calls.append(item[0])
        return real_task(item, **kw)

    monkeypatch.setattr(execute_mod, "extract_item", counting)
    result = runner.invoke(app, [*args, "--resume"])
    assert result.exit_code == 1, result.output  # the empty file
    assert sorted(calls) == list(range(11, 31))  # only what was missing
    pdt.assert_frame_equal(pd.read_parquet(out), annotate(corpus, model=tiny_model_path, jobs=1))


@pytest.fixture
def interrupted(tmp_path, write_audio, tiny_model_path, monkeypatch):
    """A corpus and the journal of a run on it interrupted after 8 files; the arguments."""
    corpus = make_corpus(tmp_path / "in", write_audio, 16)
    out = tmp_path / "labels.parquet"
    args = [str(corpus), "-o", str(out), "-m", str(tiny_model_path), "-j", "1"]
    interrupt_at(monkeypatch, 9)
    assert runner.invoke(app, args).exit_code == 130
    monkeypatch.undo()
    assert parts(out)
    return corpus, out, args


def test_a_journal_without_resume_is_an_error_that_says_what_to_do(interrupted):
    _, out, args = interrupted
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "--resume continues it, --overwrite starts afresh" in result.stderr
    result = runner.invoke(app, [*args, "--overwrite"])
    assert result.exit_code == 1, result.output  # starts afresh: the empty file
    assert not os.path.exists(journal_folder(str(out))) and len(pd.read_parquet(out)) == 17


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--normalize", "corpus"], "--normalize (none -> corpus)"),
        (["--segment", "window"], "--segment (auto -> window)"),
        (["--speaker-from", "parent"], "--speaker-from (auto -> parent)"),
        (["--glob", "*.wav"], "--glob (None -> *.wav)"),
        (["--compare", "ravdess"], "--compare (None -> ravdess)"),
        (["-m", BUNDLED_MODELS[-1]], "the model (tiny"),
    ],
)
def test_resuming_with_another_option_or_model_says_what_changed(interrupted, change, message):
    _, _, args = interrupted
    result = runner.invoke(app, [*args, *change, "--resume"])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("ser-annotate: error: cannot resume from ") and message in line, line
    assert line.endswith("--overwrite starts afresh")


def test_resuming_after_a_file_changed_was_added_or_removed_says_so(interrupted, write_audio):
    corpus, _, args = interrupted
    first = corpus / "spk0" / "take0" / "f0000.wav"
    before = first.read_bytes()
    write_audio(first, seconds=0.9, seed=1)  # another size
    result = runner.invoke(app, [*args, "--resume"])
    assert result.exit_code == 2 and "spk0/take0/f0000.wav changed (size" in result.stderr
    first.write_bytes(before)
    os.utime(first, ns=(0, 10**18))  # same bytes, another modification time
    result = runner.invoke(app, [*args, "--resume"])
    assert "spk0/take0/f0000.wav changed (modified since" in result.stderr
    first.unlink()
    result = runner.invoke(app, [*args, "--resume"])
    assert result.exit_code == 2 and "files were added or removed" in result.stderr


def test_resume_without_a_journal_is_a_fresh_run(tmp_path, write_audio, tiny_model_path):
    corpus = make_corpus(tmp_path / "in", write_audio, 5)
    summary = annotate_to_file(corpus, out=tmp_path / "t.csv", model=tiny_model_path, jobs=1,
                               resume=True)  # fmt: skip
    assert summary.n_files == 6 and sorted(os.listdir(tmp_path)) == ["in", "t.csv"]


@pytest.mark.parametrize(
    "kw",
    [
        {"normalize": "none"},
        {"normalize": "speaker", "speaker_from": "parent"},
        {"segment": "window", "window": 0.5, "hop": 0.25, "channels": "each"},
    ],
)
def test_the_file_path_and_the_in_memory_path_give_the_same_table(
    tmp_path, write_audio, tiny_speaker_model_path, monkeypatch, kw
):
    make_corpus(tmp_path / "in", write_audio, 14)
    write_audio(tmp_path / "in" / "st.wav", seconds=2.0, channels=2, seed=3)
    monkeypatch.setattr("ser.annotate.pipeline.CHUNK", 4)  # blocks across journal chunks
    monkeypatch.setattr(journal_mod, "READ_ROWS", 5)
    monkeypatch.setattr(journal_mod, "READ_FILES", 3)
    monkeypatch.setattr(journal_mod, "FLUSH_ROWS", 3)  # many parts
    kw = {"model": tiny_speaker_model_path, "jobs": 2, **kw}
    annotate_to_file(tmp_path / "in", out=tmp_path / "t.parquet", **kw)
    frame = annotate(tmp_path / "in", **kw)
    pdt.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"), frame, check_exact=True)


def _entry(index: int, n_rows: int, n_features: int) -> FileEntry:
    rng = np.random.default_rng(index)
    spans = np.column_stack([np.arange(n_rows), np.arange(n_rows) + 1.0, -np.ones(n_rows)])
    return FileEntry(index, f"f{index}.wav", 100 + index, 7, 1, None, float(n_rows), 16000, 1,
                     None, None, spans, [None] * n_rows, np.zeros(n_rows, bool),
                     rng.standard_normal((n_rows, n_features)).astype(np.float32),
                     np.ones(n_rows, bool))  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 60),
    rows=st.integers(1, 4),
    sessions=st.lists(st.integers(0, 2**31 - 1), min_size=1, max_size=4),
    read_rows=st.integers(1, 12),
    read_files=st.integers(1, 8),
)
def test_the_journal_reads_back_in_table_order_whatever_the_sessions_wrote(
    tmp_path_factory, n, rows, sessions, read_rows, read_files
):
    """Files written in random order, across sessions (some twice), in parts of random size
    and span: read back in file order, each once (from the first part), in chunks of about
    read_rows rows and at most read_files files."""
    folder = str(tmp_path_factory.mktemp("j") / "t.parquet.partial")
    manifest = {"format": 1}
    todo = list(range(n))
    written: dict[int, int] = {}
    for s, seed in enumerate(sessions):
        rng = np.random.default_rng(seed)
        journal = Journal(folder, manifest, 3, resume=s > 0, overwrite=False)
        last = s == len(sessions) - 1
        mine = todo if last else sorted(rng.choice(n, size=rng.integers(0, n + 1), replace=False))
        for i in rng.permutation(mine).tolist():
            if journal.holds(i) and rng.random() < 0.7:
                continue
            journal.add(_entry(i, rows + i % 2, 3))
            written.setdefault(i, s)
            if rng.random() < 0.3:
                journal.flush()
        journal.flush()
    old = journal_mod.READ_ROWS, journal_mod.READ_FILES
    journal_mod.READ_ROWS, journal_mod.READ_FILES = read_rows, read_files
    try:
        chunks = list(Journal(folder, manifest, 3, resume=True, overwrite=False).read_sorted())
    finally:
        journal_mod.READ_ROWS, journal_mod.READ_FILES = old
    files = np.concatenate([column(t, "file") for t in chunks] or [np.zeros(0, int)])
    seq = np.concatenate([column(t, "seq") for t in chunks] or [np.zeros(0, int)])
    expected = [(i, k) for i in range(n) for k in range(rows + i % 2)]
    assert list(zip(files.tolist(), seq.tolist())) == expected
    for t in chunks:
        X = column(t, "features")
        for f, k, x in zip(column(t, "file").tolist(), column(t, "seq").tolist(), X):
            np.testing.assert_array_equal(x, _entry(f, rows + f % 2, 3).features[k])


def test_a_journal_of_features_before_a_parameter_existed_is_the_same_run():
    from ser.annotate.collect import manifest_changes
    from ser.features import feature_config

    old = feature_config(active_floor_db=0.0).to_dict()
    del old["params"]["active_floor_db"]  # a journal written before the parameter existed
    same = {"features": feature_config(active_floor_db=0.0).to_dict()}
    assert manifest_changes({"features": old}, same) == []
    assert manifest_changes({"features": old}, {"features": feature_config().to_dict()}) == [
        "the feature configuration (active_floor_db 0.0 -> 10.0)"
    ]
