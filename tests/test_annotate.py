"""ser.annotate as a library: determinism, formats, metadata, hostile corpora."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
from ser.annotate import annotate, annotate_to_file, columns, read_metadata
from ser.annotate import pipeline as pipeline_mod
from ser.models import DataError, ModelError, SerError
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


def build_hostile_folder(root: Path, write_audio) -> dict[str, tuple[str, str | None]]:
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


def test_hostile_folder_gives_one_row_per_audio_file(tmp_path, write_audio, tiny_model_path):
    expect = build_hostile_folder(tmp_path / "root", write_audio)
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
        ({"jobs": 0}, DataError, "jobs must be a whole number >= 1, got 0"),
        ({"normalize": "global"}, DataError, "unknown normalization 'global'"),
        ({"compare": "iemocap"}, DataError, "unknown comparison 'iemocap'"),
        ({"speaker_from": "(unclosed"}, DataError, "nor a valid regular expression"),
    ],
)
def test_bad_arguments_raise_before_any_work(tmp_path, tiny_model_path, kwargs, error, match):
    kwargs = {"model": tiny_model_path, **kwargs}
    with pytest.raises(error, match=match) as info:
        annotate(tmp_path, **kwargs)
    assert isinstance(info.value, SerError)


def test_missing_path_and_bad_output_name_raise(tmp_path, tiny_model_path):
    with pytest.raises(DataError, match=r"no such file or directory: .*nowhere"):
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
