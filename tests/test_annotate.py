"""ser.annotate as a library: determinism, formats, metadata, hostile corpora."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ser.annotate import annotate, annotate_to_file, columns, read_metadata
from ser.annotate import pipeline as pipeline_mod
from ser.common import DataError, ModelError, SerError
from ser.models.model import sha256_file

TINY_CLASSES = ("angry", "happy", "neutral", "sad")  # as in conftest


def make_corpus(root: Path, write_audio, n: int = 10) -> list[str]:
    """``n`` good files in nested folders (mixed formats) and one empty file; reported paths."""
    fmts = [
        (".wav", {}),
        (".flac", {}),
        (".wav", {"sr": 48_000, "channels": 2, "subtype": "PCM_24"}),
        (".ogg", {"sr": 22_050}),
    ]
    paths = []
    for i in range(n):
        ext, kw = fmts[i % len(fmts)]
        rel = f"spk{i % 3}/take{i:02d}{ext}"
        write_audio(root / rel, seed=i, **kw)
        paths.append(rel)
    (root / "spk0" / "empty.wav").write_bytes(b"")
    paths.append("spk0/empty.wav")
    return sorted(paths, key=lambda p: p.split("/"))


def test_one_and_two_jobs_give_identical_tables(
    tmp_path, write_audio, tiny_model_path, monkeypatch
):
    make_corpus(tmp_path / "c", write_audio)
    monkeypatch.setattr(pipeline_mod, "CHUNK", 4)  # several chunks, completed in any order
    one = annotate(tmp_path / "c", model=tiny_model_path, jobs=1)
    two = annotate(tmp_path / "c", model=tiny_model_path, jobs=2)
    pdt.assert_frame_equal(one, two, check_exact=True)
    assert list(one.columns) == columns(TINY_CLASSES, compare=False)
    assert one["status"].tolist().count("error") == 1
    probs = one.loc[one.status == "ok", [f"prob_{c}" for c in TINY_CLASSES]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_one_and_two_jobs_identical_with_speaker_normalisation(
    tmp_path, write_audio, tiny_speaker_model_path, monkeypatch
):
    make_corpus(tmp_path / "c", write_audio, n=14)
    monkeypatch.setattr(pipeline_mod, "CHUNK", 4)
    kw = {"model": tiny_speaker_model_path, "speaker_from": "parent"}
    one = annotate(tmp_path / "c", jobs=1, **kw)
    two = annotate(tmp_path / "c", jobs=2, **kw)
    pdt.assert_frame_equal(one, two, check_exact=True)
    assert set(one["normalization"].dropna()) == {"corpus"}  # every speaker has < 10 files


def test_rows_follow_walk_order_and_columns_have_stable_dtypes(
    tmp_path, write_audio, tiny_model_path
):
    expected = make_corpus(tmp_path / "c", write_audio, n=6)
    table = annotate([tmp_path / "c"], model=tiny_model_path, jobs=2)
    assert table["path"].tolist() == expected
    assert isinstance(table.index, pd.RangeIndex)
    dtypes = table.dtypes.astype(str).to_dict()
    assert dtypes["path"] == dtypes["status"] == dtypes["error"] == "string"
    assert dtypes["sample_rate"] == dtypes["channels"] == "Int32"
    assert dtypes["duration_s"] == dtypes["confidence"] == "float64"
    stereo = table[table.path.str.endswith("take02.wav")].iloc[0]
    assert (stereo.sample_rate, stereo.channels) == (48_000, 2)
    assert stereo.duration_s == pytest.approx(0.6)
    err = table[table.status == "error"].iloc[0]
    assert err.error == "empty file (0 bytes)"
    assert pd.isna(err.emotion) and pd.isna(err.confidence) and pd.isna(err.normalization)
    ok = table[table.status == "ok"]
    assert ok["error"].isna().all()
    best = ok[[f"prob_{c}" for c in TINY_CLASSES]].to_numpy()
    assert ok["emotion"].tolist() == [TINY_CLASSES[i] for i in best.argmax(axis=1)]
    np.testing.assert_array_equal(ok["confidence"].to_numpy(), best.max(axis=1))
    assert table.attrs["ser.model_name"] == '"tiny"'


def test_csv_and_parquet_hold_the_same_rows(tmp_path, write_audio, tiny_model_path):
    make_corpus(tmp_path / "c", write_audio, n=5)
    kw = {"model": tiny_model_path, "jobs": 2, "compare": "ravdess"}
    annotate_to_file(tmp_path / "c", out=tmp_path / "t.parquet", **kw)
    annotate_to_file(tmp_path / "c", out=tmp_path / "t.csv", **kw)
    pq_table = pd.read_parquet(tmp_path / "t.parquet")
    csv_table = pd.read_csv(tmp_path / "t.csv", dtype=pq_table.dtypes.to_dict())
    pdt.assert_frame_equal(pq_table, csv_table, check_exact=True)
    assert list(pq_table.columns) == columns(TINY_CLASSES, compare=True)
    assert pq_table.dtypes["actor"] == "Int32" and pq_table.dtypes["correct"] == "boolean"


def test_parquet_metadata_describes_the_run(tmp_path, write_audio, tiny_model_path):
    write_audio(tmp_path / "a.wav")
    out = tmp_path / "labels.parquet"
    summary = annotate_to_file(tmp_path / "a.wav", out=out, model=tiny_model_path, jobs=1)
    assert (summary.n_files, summary.n_ok, summary.n_errors) == (1, 1, 0)
    meta = read_metadata(out)
    assert meta["ser.model_name"] == "tiny"
    assert meta["ser.model_sha256"] == sha256_file(tiny_model_path)
    assert meta["ser.model_classes"] == list(TINY_CLASSES)
    assert meta["ser.feature_set"]["name"] == "default"
    assert {"version", "params"} <= set(meta["ser.feature_set"])
    assert isinstance(meta["ser.version"], str) and isinstance(meta["ser.command"], list)
    assert str(meta["ser.created_utc"]).endswith("+00:00")
    # a file PATH is reported as given
    assert pd.read_parquet(out)["path"].tolist() == [str(tmp_path / "a.wav")]


def test_hostile_folder_gives_one_row_per_audio_file(tmp_path, hostile_folder, tiny_model_path):
    expect = hostile_folder(tmp_path / "root")
    table = annotate(tmp_path / "root", model=tiny_model_path, jobs=2)
    assert sorted(table["path"]) == sorted(expect)
    assert table["path"].is_unique
    for row in table.itertuples():
        status, reason = expect[row.path]
        assert row.status == status, (row.path, row.error)
        if status == "ok":
            assert pd.isna(row.error) and row.emotion in TINY_CLASSES
        else:
            assert reason in row.error, (row.path, row.error)
            assert "Traceback" not in row.error and pd.isna(row.emotion)
    nan_row = table[table.path == "bad/nan.wav"].iloc[0]
    assert nan_row.sample_rate == 16_000  # header still read for a decodable error file


def test_unreadable_file_is_an_error_row(tmp_path, write_audio, tiny_model_path):
    if os.geteuid() == 0:
        pytest.skip("running as root: chmod 000 does not stop root from reading a file")
    write_audio(tmp_path / "fine.wav")
    write_audio(tmp_path / "locked.wav").chmod(0)
    try:
        table = annotate(tmp_path, model=tiny_model_path, jobs=1)
    finally:
        (tmp_path / "locked.wav").chmod(0o644)
    assert table.set_index("path")["error"].to_dict() == {
        "fine.wav": pd.NA,
        "locked.wav": "permission denied",
    }


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"model": "no-such-model"}, ModelError, "unknown model 'no-such-model'"),
        ({"jobs": 0}, DataError, r"--jobs must be a whole number of workers \(-1 for every"),
        ({"normalize": "global"}, DataError, "--normalize: unknown value 'global'; choose one"),
        ({"compare": "iemocap"}, DataError, "--compare: unknown value 'iemocap'; choose one of"),
        ({"speaker_from": "(unclosed"}, DataError, "nor a valid regular expression"),
    ],
)
def test_bad_arguments_raise_before_any_work(tmp_path, tiny_model_path, kwargs, error, match):
    kwargs = {"model": tiny_model_path, **kwargs}
    with pytest.raises(error, match=match) as info:
        annotate(tmp_path, **kwargs)
    assert isinstance(info.value, SerError)


def test_missing_path_and_bad_output_name_raise(tmp_path, tiny_model_path):
    with pytest.raises(DataError, match=r"nowhere: no such file or directory"):
        annotate([tmp_path, tmp_path / "nowhere"], model=tiny_model_path)
    with pytest.raises(DataError, match=r"must end in \.parquet or \.csv"):
        annotate_to_file(tmp_path, out=tmp_path / "labels.xlsx", model=tiny_model_path)
    (tmp_path / "labels.csv").write_text("keep me")
    with pytest.raises(DataError, match="already exists"):
        annotate_to_file(tmp_path, out=tmp_path / "labels.csv", model=tiny_model_path)
    assert (tmp_path / "labels.csv").read_text() == "keep me"


def test_an_empty_folder_gives_an_empty_table(tmp_path, tiny_model_path):
    table = annotate(tmp_path, model=tiny_model_path, jobs=2)
    assert len(table) == 0 and list(table.columns) == columns(TINY_CLASSES, compare=False)


@pytest.fixture(scope="module")
def tiny_models(tiny_model_path, tiny_speaker_model_path):
    from ser.models import load_model

    return {"none": load_model(tiny_model_path), "speaker": load_model(tiny_speaker_model_path)}


def _feed(model, mode, order, X, speakers, spool_dir, chunk):
    from ser.annotate.pipeline import Predictor
    from ser.annotate.table import RowStore
    from ser.annotate.worker import FileResult

    store = RowStore([f"f{i}.wav" for i in range(len(X))], speakers, model.classes)
    predictor = Predictor(model, store, mode, spool_dir, chunk=chunk)
    most_held = 0
    for i in order:
        if np.isnan(X[i, 0]):
            predictor.add(FileResult(int(i), "error", "broken"))
        else:
            predictor.add(FileResult(int(i), "ok", None, 1.0, 16_000, 1, X[i]))
        most_held = max(most_held, predictor.held_chunks)
    predictor.finish()
    return store, most_held


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    window=st.integers(1, 60),
    mode=st.sampled_from(["none", "speaker"]),
)
def test_predictions_do_not_depend_on_arrival_order(
    tiny_models, tmp_path_factory, seed, window, mode
):
    """Any arrival order (disorder up to ``window``) gives the in-order result, bit for bit,
    and only the chunks that still wait for a file hold feature vectors."""
    rng = np.random.default_rng(seed)
    model, n, chunk = tiny_models[mode], 150, 8
    X = rng.standard_normal((n, model.n_features)).astype(np.float32)
    X[rng.random(n) < 0.1] = np.nan  # error rows
    speakers = [f"s{k}" for k in rng.integers(0, 4, n)]
    order = np.argsort(np.arange(n) + rng.integers(0, window, n), kind="stable")
    spool = str(tmp_path_factory.mktemp("spool"))
    in_order, _ = _feed(model, mode, range(n), X, speakers, spool, chunk)
    shuffled, most_held = _feed(model, mode, order, X, speakers, spool, chunk)
    assert shuffled.to_arrow(compare=False).equals(in_order.to_arrow(compare=False))
    assert most_held <= window // chunk + 2
    assert os.listdir(spool) == []  # the spool is gone


@pytest.mark.slow
def test_a_file_that_kills_its_worker_becomes_an_error_row(
    tmp_path, write_audio, tiny_model_path, monkeypatch
):
    from injected_tasks import extract_or_die

    from ser.annotate import WORKER_DIED

    monkeypatch.setattr("ser.annotate.execute.extract_item", extract_or_die)
    for i in range(4):
        write_audio(tmp_path / f"f{i}.wav", seed=i)
    write_audio(tmp_path / "crash_me.wav")
    table = annotate(tmp_path, model=tiny_model_path, jobs=2).set_index("path")
    assert table.loc["crash_me.wav", "error"] == WORKER_DIED
    assert (table.drop(index="crash_me.wav")["status"] == "ok").all()


def test_prestarted_workers_are_the_ones_the_run_uses(tmp_path, write_audio):
    from injected_tasks import pid_after
    from joblib.externals.loky import reusable_executor

    from ser.batch import prestart_workers, runner, shutdown_workers

    shutdown_workers()
    assert prestart_workers(2)
    runner._await_prestart()
    executor = reusable_executor._executor
    pids = set(executor._processes)
    assert len(pids) == 2
    items = [(i, 0.2) for i in range(6)]
    used = {pid for _, pid in runner.run_batch(pid_after, items, n_jobs=2, on_death=str)}
    # not restarted: the same executor and the same worker processes did the work
    assert reusable_executor._executor is executor
    assert used <= pids


def test_no_early_workers_for_one_job_or_another_backend():
    from joblib import parallel_config

    from ser.batch import prestart_workers, runner

    assert not prestart_workers(1)
    with parallel_config(backend="threading"):
        assert not prestart_workers(2)
    assert runner._PRESTART == []


def test_one_job_runs_in_a_plain_loop_without_joblib(
    tmp_path, write_audio, tiny_model_path, imported_by
):
    # joblib's sequential mode would cost a 1,440-file run 0.1 s of import and per-task work
    write_audio(tmp_path / "c" / "a.wav")
    code = (
        "from ser.annotate import annotate\n"
        f"t = annotate({str(tmp_path / 'c')!r}, model={str(tiny_model_path)!r}, jobs=1)\n"
        "assert list(t['status']) == ['ok'], t\n"
    )
    assert imported_by(code, ["joblib"]) == []


@pytest.mark.parametrize("jobs", [1, 2])
def test_writing_a_table_does_not_import_pyarrow_compute(tmp_path, write_audio, tiny_model_path,
                                                         jobs):  # fmt: skip
    # its import took 0.16 s of every run (Table.take on the journal's parts)
    for i in range(12):
        write_audio(tmp_path / "c" / f"s{i % 3}" / f"a{i:02d}.wav", seconds=0.6 + 0.1 * i, seed=i)
    out = tmp_path / "t.parquet"
    code = (
        "import sys\nfrom ser.annotate import annotate_to_file\n"
        f"annotate_to_file({str(tmp_path / 'c')!r}, out={str(out)!r}, "
        f"model={str(tiny_model_path)!r}, jobs={jobs}, normalize='speaker', "
        "speaker_from='parent')\n"
        "print('pyarrow.compute' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "False"


def test_take_rows_equals_table_take():
    import pyarrow as pa

    from ser.annotate.collect import take_rows

    t = pa.table({"a": np.arange(50), "b": [f"r{i}" for i in range(50)]})
    rng = np.random.default_rng(0)
    for idx in (np.arange(5, 20), np.r_[3:9, 0:3, 30:40], rng.permutation(50), np.zeros(0, int)):
        assert take_rows(t, idx).equals(t.take(pa.array(idx, pa.int64())))


def test_predictions_run_on_one_blas_thread(tmp_path, write_audio, tiny_model_path, monkeypatch):
    # the BLAS threads a chunk would start keep spinning afterwards, on the workers' cores
    from threadpoolctl import threadpool_info, threadpool_limits

    from ser.models import Model

    def blas_threads() -> list[int]:
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    make_corpus(tmp_path / "c", write_audio, n=4)
    seen: list[list[int]] = []
    real = Model.predict_proba

    def spy(self, X):
        seen.append(blas_threads())
        return real(self, X)

    monkeypatch.setattr(Model, "predict_proba", spy)
    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        table = annotate(tmp_path / "c", model=tiny_model_path, jobs=1)
        after = blas_threads()
    assert before and all(n == 2 for n in before), "no BLAS library found: nothing to test"
    assert (table["status"] == "ok").sum() == 4
    assert seen and all(n == [1] * len(before) for n in seen), seen
    assert after == before  # the caller's setting is restored
