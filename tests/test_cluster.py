"""The batch layer on a real dask.distributed cluster: a scheduler and two worker processes on
127.0.0.1, started here as a user would (``dask scheduler``, ``dask worker``).

Results must be the local ones bit for bit; a worker killed mid-run costs nothing; a file that
kills its workers becomes ``on_death``'s result, as locally. The scheduler runs without ``ser``
(imports of it are blocked there): only the workers need it. Skipped without dask.distributed
(``pip install 'ser[dask]'``).
"""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import wait_until

from ser.annotate.worker import FileResult, extract_item, worker_died
from ser.audio.segments import SegmentOptions
from ser.batch import WORKER_DIED, connect_scheduler, run_batch, shutdown_workers
from ser.common import DataError, SerError
from ser.features import feature_config

TESTS = Path(__file__).resolve().parent

needs_dask = pytest.mark.skipif(
    not __import__("importlib.util").util.find_spec("distributed"),
    reason="dask.distributed is not installed (pip install 'ser[dask]')",
)

# The scheduler, started with imports of ser (and of these tests) made impossible: it must
# never need them (tasks reach it as bytes, see ser.batch.dask_backend._Job).
_SCHEDULER = """
import sys
class _NoSer:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("ser", "injected_tasks", "test_cluster", "conftest"):
            raise ModuleNotFoundError(f"{name} is blocked on the scheduler")
sys.meta_path.insert(0, _NoSer())
from distributed.cli.dask_scheduler import main
sys.argv = ["dask-scheduler", *sys.argv[1:]]
main()
"""


def _stop(proc: subprocess.Popen) -> None:
    """End a process this test started, and its children (its own process group)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def cluster_address(tmp_path_factory):
    """A scheduler and one ``dask worker`` with two worker processes of one thread each."""
    pytest.importorskip("distributed", reason="dask.distributed is not installed")
    tmp = tmp_path_factory.mktemp("dask")
    sched_file = tmp / "scheduler.json"
    path = os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    common = {"start_new_session": True, "stdout": subprocess.DEVNULL, "cwd": tmp}
    logs = [open(tmp / "scheduler.log", "wb"), open(tmp / "workers.log", "wb")]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _SCHEDULER, "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(sched_file)],
            stderr=logs[0], **common,
        )
    ]  # fmt: skip
    try:
        assert wait_until(sched_file.exists, limit_s=60), (tmp / "scheduler.log").read_text()
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
                 str(sched_file), "--nworkers", "2", "--nthreads", "1", "--host", "127.0.0.1",
                 "--no-dashboard", "--local-directory", str(tmp)],
                stderr=logs[1], env=env, **common,
            )
        )  # fmt: skip
        address = json.loads(sched_file.read_text())["address"]
        _wait_for_workers(address, 2)
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)
        for f in logs:
            f.close()


def _wait_for_workers(address: str, n: int) -> None:
    from distributed import Client

    with Client(address, set_as_default=False, timeout=30) as client:
        client.wait_for_workers(n, timeout=60)


@pytest.fixture
def cluster(cluster_address):
    """A connected :class:`~ser.batch.DaskScheduler`, its two workers up (after a test that
    killed one, its nanny has started another)."""
    _wait_for_workers(cluster_address, 2)
    with connect_scheduler(cluster_address) as handle:
        yield handle


# --- tasks the workers run (this module is on their PYTHONPATH) ------------------------------


def slow_extract(item, config, seg):
    """``extract_item`` a little slower, so that a run lasts long enough to be interrupted."""
    time.sleep(0.15)
    return extract_item(item, config, seg)


def blas_threads(_: object) -> int:
    from threadpoolctl import threadpool_info

    blas = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    return max(blas or [1])


def worker_pid(_: object) -> int:
    time.sleep(0.05)
    return os.getpid()


# --- data ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """40 files: voices of several lengths, rates and channels, a 35 s one (segmented), and
    bad ones (empty, corrupt, too short). Returns the items as ``ser-annotate`` builds them."""
    import soundfile as sf
    from conftest import synth_voice

    root = tmp_path_factory.mktemp("corpus")
    paths = []
    for k in range(35):
        sr = (16_000, 22_050, 44_100)[k % 3]
        p = root / f"voice_{k:02d}.{'flac' if k % 5 == 0 else 'wav'}"
        sf.write(p, synth_voice(0.4 + 0.05 * k, sr, seed=k, channels=1 + k % 2), sr)
        paths.append(p)
    sf.write(root / "long.wav", np.tile(synth_voice(5.0, 16_000, seed=3), 7), 16_000)
    (root / "empty.wav").write_bytes(b"")
    (root / "corrupt.wav").write_bytes(os.urandom(3000))
    sf.write(root / "short.wav", synth_voice(0.05, 16_000), 16_000)
    (root / "crash_me.wav").write_bytes((root / "voice_01.wav").read_bytes())
    paths += [root / n for n in ("long.wav", "empty.wav", "corrupt.wav", "short.wav")]
    crash = (len(paths), (len(paths), str(root / "crash_me.wav"), None))
    return [(i, (i, str(p), None)) for i, p in enumerate(paths)], crash


@pytest.fixture(scope="module")
def local_results(corpus):
    items, _ = corpus
    task = _task(extract_item)
    try:
        return dict(run_batch(task, items, n_jobs=2, on_death=worker_died))
    finally:
        shutdown_workers()


def _task(func):
    return functools.partial(func, config=feature_config(), seg=SegmentOptions())


def _assert_same(a: FileResult, b: FileResult) -> None:
    for name in FileResult.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            assert isinstance(x, np.ndarray) and isinstance(y, np.ndarray), name
            assert x.dtype == y.dtype and x.shape == y.shape, name
            assert x.tobytes() == y.tobytes(), f"{name} of file {a.index} differs"  # bit for bit
        else:
            assert x == y, (name, x, y)


# --- the tests ----------------------------------------------------------------------------------


def test_without_dask_the_scheduler_option_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    with pytest.raises(DataError, match=r"pip install 'ser\[dask\]'"):
        connect_scheduler("tcp://127.0.0.1:8786")


@needs_dask
@pytest.mark.parametrize("address", ["tcp://127.0.0.1:9", "nonsense://what", "  ", "silent"])
def test_an_unreachable_scheduler_is_a_one_line_error_before_any_work(address):
    t0 = time.monotonic()
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, and never answers
        if address == "silent":
            address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(DataError) as caught:
            connect_scheduler(address, timeout=2)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("--scheduler")
    assert time.monotonic() - t0 < 10


@needs_dask
@pytest.mark.slow
def test_a_worker_address_is_not_taken_for_a_scheduler(cluster):
    worker = next(iter(cluster.client.nthreads()))
    with pytest.raises(DataError, match="that is a Dask Worker, not a scheduler"):
        connect_scheduler(worker, timeout=5)


@needs_dask
@pytest.mark.slow
def test_the_cluster_gives_the_local_results_bit_for_bit(cluster, corpus, local_results):
    items, _ = corpus
    got = dict(run_batch(_task(extract_item), items, n_jobs=2, on_death=worker_died,
                         scheduler=cluster))  # fmt: skip
    assert sorted(got) == sorted(local_results)
    for i, res in got.items():
        _assert_same(res, local_results[i])
    statuses = [r.status for r in got.values()]
    assert statuses.count("error") == 3 and got[35].segments is not None  # bad ones; long one


@needs_dask
@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_nothing(cluster, corpus, local_results):
    items, _ = corpus
    pids = set(cluster.client.run(os.getpid).values())
    assert len(pids) == 2
    got = {}
    for i, res in run_batch(_task(slow_extract), items, n_jobs=2, on_death=worker_died,
                            scheduler=cluster):  # fmt: skip
        got[i] = res
        if len(got) == 6:
            os.kill(min(pids), signal.SIGKILL)  # busy: tasks are queued on both workers
    assert sorted(got) == sorted(local_results)
    for i, res in got.items():
        _assert_same(res, local_results[i])
    assert WORKER_DIED not in {r.error for r in got.values()}
    assert wait_until(lambda: len(cluster.client.nthreads()) == 2, limit_s=30)
    assert min(pids) not in cluster.client.run(os.getpid).values()  # killed, and replaced


@needs_dask
@pytest.mark.slow
def test_a_file_that_kills_its_workers_becomes_an_error_row(cluster, corpus, local_results):
    from injected_tasks import extract_or_die

    items, crash_item = corpus
    items = [*items[:10], crash_item, *items[10:]]
    got = dict(run_batch(_task(extract_or_die), items, n_jobs=2, on_death=worker_died,
                         scheduler=cluster))  # fmt: skip
    assert got[crash_item[0]].error == WORKER_DIED
    del got[crash_item[0]]
    assert sorted(got) == sorted(local_results)
    for i, res in got.items():
        _assert_same(res, local_results[i])


@needs_dask
@pytest.mark.slow
def test_annotate_on_the_cluster_writes_the_local_table(cluster, corpus, monkeypatch):
    """The whole annotation (rows, predictions, normalisation), one worker killed mid-run."""
    import ser.annotate.execute
    from ser.annotate import annotate

    items, _ = corpus
    folder = str(Path(items[0][1][1]).parent)
    local = annotate(folder, jobs=2, pattern="[!c]*")
    shutdown_workers()
    real = ser.annotate.execute.run_batch
    pids = sorted(cluster.client.run(os.getpid).values())

    def on_the_cluster(task, batch, **kw):
        assert kw["scheduler"] is not None
        for n, got in enumerate(real(functools.partial(slow_extract, **task.keywords),
                                     batch, **kw)):  # fmt: skip
            if n == 5:
                os.kill(pids[0], signal.SIGKILL)
            yield got

    monkeypatch.setattr(ser.annotate.execute, "run_batch", on_the_cluster)
    remote = annotate(folder, jobs=2, pattern="[!c]*", scheduler=cluster.address)
    import pandas as pd

    pd.testing.assert_frame_equal(local, remote, check_exact=True)
    assert (local["status"] == "ok").sum() >= 30


@needs_dask
@pytest.mark.slow
def test_workers_run_one_blas_thread(cluster):
    got = dict(run_batch(blas_threads, [(0, None), (1, None)], n_jobs=2, on_death=str,
                         scheduler=cluster))  # fmt: skip
    assert got == {0: 1, 1: 1}


@needs_dask
@pytest.mark.slow
def test_stopping_early_cancels_this_runs_tasks_and_leaves_the_cluster_running(cluster):
    from injected_tasks import pid_after

    gen = run_batch(pid_after, [(i, 0.3) for i in range(40)], n_jobs=2, on_death=str,
                    scheduler=cluster.address)  # fmt: skip
    assert len([next(gen) for _ in range(3)]) == 3
    gen.close()  # as Ctrl-C or an error of the consumer would

    def ours_left() -> int:
        return cluster.client.run_on_scheduler(
            lambda dask_scheduler: sum(str(k).startswith("ser-") for k in dask_scheduler.tasks)
        )

    assert wait_until(lambda: ours_left() == 0, limit_s=20)
    assert len(cluster.client.nthreads()) == 2  # the cluster is the user's: still running


@needs_dask
@pytest.mark.slow
def test_a_worker_with_another_ser_version_is_refused(cluster_address, monkeypatch):
    monkeypatch.setattr("ser.batch.dask_client.__version__", "0.0.0-other")
    with pytest.raises(DataError, match=r"runs ser .* this is ser 0\.0\.0-other"):
        connect_scheduler(cluster_address)


@needs_dask
def test_a_task_carries_the_path_never_the_audio(corpus):
    from ser.batch.dask_backend import _Job

    items, _ = corpus
    long_item = items[35][1]  # a 35 s recording (1.1 MB): the task is the same few bytes
    assert os.path.getsize(long_item[1]) > 1_000_000
    assert len(_Job(_task(extract_item), [long_item]).blob()) < 2_000


@needs_dask
@pytest.mark.slow
def test_losing_the_scheduler_is_a_ser_error_that_names_it():
    """An in-process cluster (threads of this process, closed here); its tasks leave this
    process's BLAS threads as they were (no tuning of the caller's own process)."""
    from distributed import LocalCluster
    from injected_tasks import pid_after
    from threadpoolctl import threadpool_info

    def blas() -> list[int]:
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    before = blas()
    options = {"protocol": "tcp", "host": "127.0.0.1", "scheduler_port": 0}
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=":0", **options) as local:  # fmt: skip
        gen = run_batch(pid_after, [(i, 0.2) for i in range(20)], n_jobs=2, on_death=str,
                        scheduler=local.scheduler_address)  # fmt: skip
        assert next(gen)[1] == os.getpid()
        address = local.scheduler_address
        local.close()
        with pytest.raises(SerError, match=f"lost the Dask scheduler at {address}"):
            list(gen)
    assert blas() == before


@needs_dask
@pytest.mark.slow
def test_ser_annotate_scheduler_writes_the_local_table(cluster_address, corpus, tmp_path):
    """The command: ``SER_SCHEDULER`` (and ``--scheduler``) against ``--jobs 2``; an
    unreachable scheduler is a one-line usage error, exit status 2, before any work."""
    import pyarrow.parquet as pq

    _wait_for_workers(cluster_address, 2)
    items, _ = corpus
    folder = str(Path(items[0][1][1]).parent)

    def run(out: str, *extra: str, env: dict[str, str] | None = None):
        cmd = [sys.executable, "-m", "ser.annotate", folder, "--glob", "[!c]*", "-o",
               str(tmp_path / out), "-q", *extra]  # fmt: skip
        return subprocess.run(
            cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}
        )

    assert run("local.parquet", "-j", "2").returncode in (0, 1)
    assert run("env.parquet", env={"SER_SCHEDULER": cluster_address}).returncode in (0, 1)
    assert run("option.parquet", "--scheduler", cluster_address).returncode in (0, 1)
    local = pq.read_table(tmp_path / "local.parquet").replace_schema_metadata()
    for name in ("env.parquet", "option.parquet"):
        assert pq.read_table(tmp_path / name).replace_schema_metadata().equals(local), name
    bad = run("bad.parquet", "--scheduler", "tcp://127.0.0.1:9")
    assert bad.returncode == 2
    (line,) = bad.stderr.strip().splitlines()
    assert line.startswith(
        "ser-annotate: error: --scheduler tcp://127.0.0.1:9: no Dask scheduler answers there ("
    )
    assert not (tmp_path / "bad.parquet").exists()


@needs_dask
@pytest.mark.slow
def test_resume_on_the_cluster_gives_the_local_table(cluster, corpus, tmp_path, monkeypatch):
    """A run on the cluster stopped after some files (as Ctrl-C stops it) keeps them in its
    journal; ``resume`` on the cluster does only the rest and writes the local table."""
    import pyarrow.parquet as pq

    import ser.annotate.execute
    from ser.annotate import annotate_to_file
    from ser.annotate.journal import journal_folder

    items, _ = corpus
    folder = str(Path(items[0][1][1]).parent)
    real = ser.annotate.execute.run_batch
    done: list[int] = []

    def counted(task, batch, **kw):
        for got in real(task, batch, **kw):
            done.append(got[0])
            yield got

    def stopped_after_ten(task, batch, **kw):
        for got in real(task, batch, **kw):
            if len(done) == 10:
                raise KeyboardInterrupt
            done.append(got[0])
            yield got

    monkeypatch.setattr(ser.annotate.execute, "run_batch", counted)
    annotate_to_file(folder, out=tmp_path / "local.parquet", jobs=2, pattern="[!c]*")
    shutdown_workers()
    n_items = len(done)
    done.clear()
    out = tmp_path / "cluster.parquet"
    monkeypatch.setattr(ser.annotate.execute, "run_batch", stopped_after_ten)
    with pytest.raises(KeyboardInterrupt):
        annotate_to_file(folder, out=out, pattern="[!c]*", scheduler=cluster.address)
    assert os.path.isdir(journal_folder(str(out))) and not out.exists()
    done.clear()
    monkeypatch.setattr(ser.annotate.execute, "run_batch", counted)
    annotate_to_file(folder, out=out, pattern="[!c]*", scheduler=cluster.address, resume=True)
    local = pq.read_table(tmp_path / "local.parquet").replace_schema_metadata()
    assert pq.read_table(out).replace_schema_metadata().equals(local)
    assert 0 < len(done) < n_items  # what the journal kept was not done again
