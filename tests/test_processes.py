"""``ser-annotate`` as a process: nothing outlives it, whether it ends or is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from conftest import descendants, process_alive, wait_until


@pytest.fixture
def corpus(tmp_path, write_audio):
    for i in range(40):
        write_audio(tmp_path / "in" / f"f{i:02d}.wav", seconds=3.0, seed=i)
    return tmp_path / "in"


def command(corpus, out, model, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ser.annotate", str(corpus), "-o", str(out), "-m", str(model),
            "-j", "2", "--normalize", "corpus", "-q", *extra]  # fmt: skip


#: Short windows, often (60 per file): a run of these 40 files lasts seconds, not a fraction of
#: one, so that a kill lands mid-run even on a fast machine.
SLOW = ("--segment", "window", "--window", "0.5", "--hop", "0.05")


@pytest.mark.slow
def test_kill_9_leaves_no_process_and_the_next_run_resumes(tmp_path, corpus, tiny_model_path):
    out = tmp_path / "labels.parquet"
    journal = tmp_path / "labels.parquet.partial"
    proc = subprocess.Popen(command(corpus, out, tiny_model_path, *SLOW))
    try:
        # the workers are up and the journal holds a part: the run is under way
        assert wait_until(
            lambda: len(descendants(proc.pid)) >= 3 and any(journal.glob("part-*.arrow"))
        )
        family = descendants(proc.pid)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert wait_until(lambda: not any(process_alive(p) for p in family), limit_s=30)
    assert journal.is_dir() and not out.exists()  # the dead run's work is kept
    # without --resume, the journal is not thrown away: a one-line error that says what to do
    refused = subprocess.run(command(corpus, out, tiny_model_path, *SLOW), capture_output=True,
                             text=True)  # fmt: skip
    assert refused.returncode == 2, refused.stderr
    assert "--resume" in refused.stderr and "--overwrite" in refused.stderr
    # the next run takes the dead run's lock over, finishes, and removes the journal
    done = subprocess.run([*command(corpus, out, tiny_model_path, *SLOW), "--resume"],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(tmp_path)) == ["in", "labels.parquet"]


@pytest.mark.slow
def test_a_normal_exit_leaves_no_process(tmp_path, corpus, tiny_model_path):
    out = tmp_path / "labels.parquet"
    proc = subprocess.Popen(command(corpus, out, tiny_model_path))
    seen: set[int] = set()
    while proc.poll() is None:
        seen |= descendants(proc.pid)
    assert proc.returncode == 0
    assert len(seen) >= 2  # it did start workers
    assert wait_until(lambda: not any(process_alive(p) for p in seen), limit_s=10)
