"""``ser-annotate --features-out`` and ``--from-features``: a run's features as a table, and
the same table re-predicted from it without decoding, by any model of that configuration."""

from __future__ import annotations

import os
import re

import pandas as pd
import pandas.testing as pdt
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from ser.annotate import annotate_to_file, features_io
from ser.annotate.cli import app
from ser.common import DataError
from ser.features import feature_config, feature_names

runner = CliRunner()


@pytest.fixture
def corpus(tmp_path, write_audio):
    """Two speakers' short clips, a stereo 40 s recording (segments), and an empty file."""
    for i in range(12):
        write_audio(
            tmp_path / "in" / f"spk{i % 2}" / f"f{i:02d}.wav", seconds=0.6 + 0.1 * i, seed=i
        )
    write_audio(tmp_path / "in" / "spk0" / "call.wav", seconds=40.0, channels=2, seed=50)
    (tmp_path / "in" / "spk1" / "empty.wav").write_bytes(b"")
    return tmp_path / "in"


def read(path) -> pd.DataFrame:
    return pd.read_parquet(path)


@pytest.mark.parametrize(
    "options",
    [
        {"normalize": "none"},
        {"normalize": "speaker", "speaker_from": "parent"},
        {"segment": "window", "channels": "each", "normalize": "corpus"},
    ],
)
def test_from_features_gives_the_table_of_annotating_the_audio(
    tmp_path, corpus, tiny_model_path, tiny_speaker_model_path, monkeypatch, options
):
    feats = tmp_path / "feats.parquet"
    annotate_to_file(corpus, out=tmp_path / "a.parquet", model=tiny_model_path, jobs=1,
                     features_out=feats, **options)  # fmt: skip
    direct = tmp_path / "direct.parquet"
    annotate_to_file(corpus, out=direct, model=tiny_speaker_model_path, jobs=1, **options)
    # read back in small pieces: a file's rows may straddle the batches read
    monkeypatch.setattr(features_io, "READ_ROWS", 5)
    again = tmp_path / "again.parquet"
    normalize = options["normalize"]
    summary = annotate_to_file([], out=again, model=tiny_speaker_model_path,
                               from_features=feats, normalize=normalize)  # fmt: skip
    pdt.assert_frame_equal(read(again), read(direct), check_exact=True)
    assert summary.n_files == 14 and summary.n_errors == 1
    assert summary.n_rows == len(read(direct))
    if options.get("segment") == "window":
        assert summary.n_rows > 14 and set(read(again)["channel"].dropna()) == {0, 1}


def test_the_features_table_opens_in_pandas_with_a_named_column_per_feature(
    tmp_path, corpus, tiny_model_path
):
    feats = tmp_path / "feats.parquet"
    annotate_to_file(corpus, out=tmp_path / "a.csv", model=tiny_model_path, jobs=1,
                     features_out=feats)  # fmt: skip
    table = (
        read(tmp_path / "a.csv".replace(".csv", ".csv"))
        if False
        else pd.read_csv(tmp_path / "a.csv")
    )
    frame = read(feats)
    names = feature_names(feature_config())
    assert list(frame.columns[:7]) == ["path", "start", "end", "channel", "speaker", "status",
                                       "error"]  # fmt: skip
    assert list(frame.columns[-len(names) :]) == names
    assert list(frame["path"]) == list(table["path"])
    assert list(frame["start"]) == list(table["start"])
    ok = frame["has_features"]
    assert frame.loc[ok, names].notna().all().all() and frame.loc[~ok, names].isna().all().all()
    meta = pq.read_schema(feats).metadata
    assert b"ser.feature_set" in meta and b"ser.segments" in meta


def test_a_model_of_another_feature_configuration_is_refused(tmp_path, corpus, tiny_model_path):
    feats = tmp_path / "feats.parquet"
    annotate_to_file(corpus, out=tmp_path / "a.parquet", model=tiny_model_path, jobs=1,
                     features_out=feats)  # fmt: skip
    table = pq.read_table(feats)
    meta = dict(table.schema.metadata)
    meta[b"ser.feature_set"] = meta[b"ser.feature_set"].replace(b'"fmin": 50.0', b'"fmin": 60.0')
    assert meta[b"ser.feature_set"] != table.schema.metadata[b"ser.feature_set"]
    pq.write_table(table.replace_schema_metadata(meta), tmp_path / "other.parquet")
    args = ["--from-features", str(tmp_path / "other.parquet"), "-m", str(tiny_model_path)]
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "b.parquet")])
    assert result.exit_code == 2
    line = result.stderr.strip().splitlines()[-1]
    assert "another configuration than model 'tiny' was trained on" in line, line
    assert "(table -> model: fmin 60.0 -> 50.0)" in line, line
    assert not (tmp_path / "b.parquet").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["PATH"], "give no PATH"),
        (["--resume"], "--resume does not apply"),
        (["--features-out", "F2"], "--features-out does not apply"),
        (["--scheduler", "tcp://127.0.0.1:9"], "--scheduler does not apply"),
    ],
)
def test_from_features_refuses_what_does_not_apply(tmp_path, corpus, tiny_model_path, args,
                                                   message):  # fmt: skip
    feats = tmp_path / "feats.parquet"
    annotate_to_file(corpus, out=tmp_path / "a.parquet", model=tiny_model_path, jobs=1,
                     features_out=feats)  # fmt: skip
    args = [str(corpus) if a == "PATH" else str(tmp_path / "f2.parquet") if a == "F2" else a
            for a in args]  # fmt: skip
    result = runner.invoke(app, [*args, "--from-features", str(feats), "-o",
                                 str(tmp_path / "b.parquet")])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_a_table_that_is_not_a_features_table_is_a_one_line_error(tmp_path, corpus,
                                                                 tiny_model_path):  # fmt: skip
    out = tmp_path / "a.parquet"
    annotate_to_file(corpus, out=out, model=tiny_model_path, jobs=1)
    for bad in (out, corpus / "spk0" / "f00.wav"):
        with pytest.raises(
            DataError, match=r"--from-features .*(not a features table|cannot read)"
        ):
            annotate_to_file([], out=tmp_path / "b.parquet", from_features=bad)


def test_features_out_is_checked_before_any_work(tmp_path, corpus, tiny_model_path):
    (tmp_path / "exists.parquet").write_bytes(b"x")
    for name, message in (("f.csv", "must end in .parquet"), ("exists.parquet", "exists"),
                          ("a.parquet", "output table itself")):  # fmt: skip
        with pytest.raises(DataError, match=message):
            annotate_to_file(corpus, out=tmp_path / "a.parquet", model=tiny_model_path,
                             features_out=tmp_path / name)  # fmt: skip
    assert sorted(os.listdir(tmp_path)) == ["exists.parquet", "in"]


def test_compare_labels_rows_anew_from_their_paths(tmp_path, write_audio, tiny_model_path):
    names = ["03-01-05-01-01-01-01.wav", "03-01-04-01-01-01-02.wav", "other.wav"]
    for k, name in enumerate(names):
        write_audio(tmp_path / "in" / name, seconds=1.0, seed=k)
    feats = tmp_path / "feats.parquet"
    annotate_to_file(tmp_path / "in", out=tmp_path / "a.parquet", model=tiny_model_path,
                     jobs=1, features_out=feats)  # fmt: skip
    direct = tmp_path / "direct.parquet"
    annotate_to_file(tmp_path / "in", out=direct, model=tiny_model_path, jobs=1,
                     compare="ravdess")  # fmt: skip
    again = tmp_path / "again.parquet"
    summary = annotate_to_file([], out=again, model=tiny_model_path, from_features=feats,
                               compare="ravdess")  # fmt: skip
    pdt.assert_frame_equal(read(again), read(direct), check_exact=True)
    assert summary.comparison is not None
    truth = read(again)["true_emotion"]
    assert truth.tolist()[:2] == ["sad", "angry"] and truth.isna().tolist() == [False, False, True]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda fs: fs.replace(b'"active_floor_db": 10.0', b'"active_floor_db": -1.0'),
         r": feature parameter active_floor_db=-1.0 is out of range"),
        (lambda fs: b"{" + fs, r": bad metadata: "),
    ],
)  # fmt: skip
def test_a_features_table_with_bad_feature_metadata_is_one_clear_line(
    tmp_path, corpus, tiny_model_path, edit, message
):
    feats = tmp_path / "feats.parquet"
    annotate_to_file(corpus, out=tmp_path / "a.parquet", model=tiny_model_path, jobs=1,
                     features_out=feats)  # fmt: skip
    table = pq.read_table(feats)
    meta = dict(table.schema.metadata)
    meta[b"ser.feature_set"] = edit(meta[b"ser.feature_set"])
    pq.write_table(table.replace_schema_metadata(meta), tmp_path / "bad.parquet")
    args = ["--from-features", str(tmp_path / "bad.parquet"), "-m", str(tiny_model_path)]
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "b.parquet")])
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert re.search(rf"--from-features '.*bad.parquet'{message}", line), line
    assert "lacks" not in line
