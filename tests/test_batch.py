"""The batch layer: crashes cost only their item, workers die with their parent, nothing left.

Crashes are injected as tasks (``tests/injected_tasks.py``): production code has no hook.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from conftest import descendants, process_alive, wait_until
from injected_tasks import pid_after, square_or_die

from ser.batch import run_batch, shutdown_workers, worker_count
from ser.common import DataError
from ser.common.choices import resolve_jobs

TESTS = Path(__file__).resolve().parent


def died(x: int) -> str:
    return f"died on {x}"


@pytest.mark.parametrize("jobs", [2, 3])
def test_a_task_that_kills_its_worker_costs_only_its_item(jobs):
    items = [(i, x) for i, x in enumerate([1, 2, -3, 4, 5, 6, -7, 8])]
    got = dict(run_batch(square_or_die, items, n_jobs=jobs, on_death=died))
    assert got == {0: 1, 1: 4, 2: "died on -3", 3: 16, 4: 25, 5: 36, 6: "died on -7", 7: 64}


def test_without_markers_every_unfinished_item_is_retried_alone(monkeypatch):
    """As on a remote cluster, where the parent cannot read the workers' markers."""
    monkeypatch.setattr("ser.batch.runner.read_markers", lambda folder: set())
    items = list(enumerate([3, -1, 4, 5]))
    got = dict(run_batch(square_or_die, items, n_jobs=2, on_death=died))
    assert got == {0: 9, 1: "died on -1", 2: 16, 3: 25}


def test_one_job_runs_in_this_process():
    got = list(run_batch(pid_after, [(0, 0.0), (1, 0.0)], n_jobs=1, on_death=died))
    assert got == [(0, os.getpid()), (1, os.getpid())]


def test_worker_count_caps_at_the_usable_cores_and_takes_joblib_negatives(monkeypatch, caplog):
    monkeypatch.setattr("ser.common.choices.usable_cores", lambda: 8)
    assert worker_count(None, 100) == 8
    assert worker_count(-1, 100) == 8
    assert worker_count(-2, 100) == 7
    assert worker_count(None, 3) == 3
    assert worker_count(4, 1) == 2  # crash protection needs a worker process
    assert worker_count(1, 100) == 1
    assert "more than the 8 usable core(s)" not in caplog.text
    assert worker_count(10_000, 60) == 8
    assert caplog.text == ""  # the caller warns, once
    assert resolve_jobs(10_000) == 8
    assert "--jobs 10000 is more than the 8 usable core(s): using 8" in caplog.text
    for bad in (0, -9, True, 2.5, "2"):
        with pytest.raises(DataError, match="--jobs"):
            worker_count(bad, 10)


def test_stale_marker_folders_of_dead_runs_are_removed():
    dead = Path(tempfile.mkdtemp(prefix="ser-batch-"))
    (dead / "owner.lock").touch()  # nobody holds it: its run is gone
    (dead / "round1").mkdir()
    alive = Path(tempfile.mkdtemp(prefix="ser-batch-"))
    fd = os.open(alive / "owner.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a live run's
    try:
        assert dict(run_batch(square_or_die, [(0, 2), (1, 3)], n_jobs=2, on_death=died)) == {
            0: 4,
            1: 9,
        }
        assert not dead.exists()
        assert alive.exists()
    finally:
        os.close(fd)
        (alive / "owner.lock").unlink()
        alive.rmdir()


def _workers() -> set[int]:
    """This process's loky workers (its resource trackers live as long as it does)."""
    found = set()
    for pid in descendants(os.getpid()):
        try:
            if b"LokyProcess" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.add(pid)
        except OSError:
            pass
    return found


def test_shutdown_leaves_no_worker_processes():
    pids = {p for _, p in run_batch(pid_after, [(0, 0.0), (1, 0.0)], n_jobs=2, on_death=died)}
    assert pids <= _workers()  # loky keeps its workers for the next batch
    shutdown_workers()
    assert wait_until(lambda: not _workers())


@pytest.mark.slow
def test_workers_exit_soon_after_their_parent_is_killed():
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(TESTS)!r})
        from injected_tasks import pid_after
        from ser.batch import run_batch
        items = [(i, 0.0 if i < 2 else 600.0) for i in range(4)]
        for _, pid in run_batch(pid_after, items, n_jobs=2, on_death=str):
            print(pid, flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        first = int(proc.stdout.readline())
        assert wait_until(lambda: len(descendants(proc.pid)) >= 2)
        family = descendants(proc.pid)
        assert first in family
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # the workers (and loky's resource tracker) notice and exit; loky alone took 20 minutes
    assert wait_until(lambda: not any(process_alive(p) for p in family), limit_s=30)
