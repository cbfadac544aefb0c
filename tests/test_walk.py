"""The walk: regular files only, any depth, each file once, failures reported, names distinct."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from ser.annotate import annotate
from ser.annotate.cli import app
from ser.common import DataError
from ser.corpora.walk import WalkStats, find_audio_files


def names(paths, **kwargs) -> list[str]:
    return [f.relpath for f in find_audio_files(paths, **kwargs)]


def test_a_fifo_named_like_audio_is_left_out_and_counted(tmp_path, write_audio):
    write_audio(tmp_path / "a.wav")
    os.mkfifo(tmp_path / "x.wav")  # opening it would block forever
    stats = WalkStats()
    assert names(tmp_path, stats=stats) == ["a.wav"]
    assert stats.not_regular == 1
    assert "1 not regular files" in stats.describe()


def test_a_fifo_on_the_command_line_is_refused_as_not_a_regular_file(tmp_path, tiny_model_path):
    fifo = tmp_path / "x.wav"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match=r"x\.wav: not a regular file"):
        names([fifo])
    result = CliRunner().invoke(app, [str(fifo), "--model", str(tiny_model_path)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"ser-annotate: error: {fifo}: not a regular file"


@pytest.mark.slow
def test_a_fifo_in_the_tree_does_not_hang_the_command(tmp_path, write_audio, tiny_model_path):
    write_audio(tmp_path / "in" / "a.wav")
    os.mkfifo(tmp_path / "in" / "x.wav")
    out = tmp_path / "labels.csv"
    cmd = [sys.executable, "-m", "ser.annotate", str(tmp_path / "in"), "-o", str(out)]
    proc = subprocess.run(
        [*cmd, "-m", str(tiny_model_path), "-j", "2"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert pd.read_csv(out)["path"].tolist() == ["a.wav"]
    assert "left out by the walk: 1 not regular files" in proc.stderr


def test_deep_trees_are_walked_without_recursion(tmp_path):
    deep = tmp_path
    for _ in range(1000):  # pathlib's and os.makedirs' own recursion would not get there
        deep = deep / "d"
        deep.mkdir()
    (deep / "bottom.wav").write_bytes(b"")  # libsndfile refuses such long names
    (tmp_path / "top.wav").write_bytes(b"")
    try:
        assert names(tmp_path) == ["d/" * 1000 + "bottom.wav", "top.wav"]
    finally:  # shutil.rmtree (pytest's clean-up) recurses too: remove it from the bottom
        (deep / "bottom.wav").unlink()
        while deep != tmp_path:
            deep.rmdir()
            deep = deep.parent


def test_order_is_depth_first_in_sorted_name_order(tmp_path, write_audio):
    for rel in ["b.wav", "a/z.wav", "a/b/c.wav", "c/a.wav", "0.wav"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")
    assert names(tmp_path) == ["0.wav", "a/b/c.wav", "a/z.wav", "b.wav", "c/a.wav"]


@pytest.fixture
def unlistable(monkeypatch, tmp_path):
    """Make ``tmp_path/in/locked`` fail to list (chmod cannot stop root, who runs CI)."""
    locked = tmp_path / "in" / "locked"
    locked.mkdir(parents=True)
    real = os.scandir

    def scandir(path="."):
        if os.path.normpath(os.fspath(path)) == str(locked):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr("ser.corpora.walk.os.scandir", scandir)
    return locked


def test_a_folder_that_cannot_be_listed_is_an_error_row(
    tmp_path, write_audio, tiny_model_path, unlistable
):
    write_audio(tmp_path / "in" / "a.wav")
    write_audio(tmp_path / "in" / "z.wav")
    out = tmp_path / "labels.csv"
    args = [str(tmp_path / "in"), "-o", str(out), "-m", str(tiny_model_path), "-j", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    table = pd.read_csv(out)
    assert table["path"].tolist() == ["a.wav", "locked/", "z.wav"]
    row = table.set_index("path").loc["locked/"]
    assert row["status"] == "error"
    assert row["error"] == "cannot list folder: Permission denied"
    assert "3 files: 2 ok, 1 errors" in result.stderr


def test_each_file_appears_once_however_often_it_is_reached(tmp_path, write_audio):
    a = write_audio(tmp_path / "top" / "a.wav")
    write_audio(tmp_path / "top" / "sub" / "b.wav")
    top, sub = str(tmp_path / "top"), str(tmp_path / "top" / "sub")
    assert names([top, top]) == [f"{top}/a.wav", f"{top}/sub/b.wav"]
    assert names([top, sub]) == [f"{top}/a.wav", f"{top}/sub/b.wav"]
    assert names([sub, top]) == [f"{sub}/b.wav", f"{top}/a.wav"]
    assert names([str(a), top]) == [str(a), f"{top}/sub/b.wav"]
    assert names([top, str(a)]) == [f"{top}/a.wav", f"{top}/sub/b.wav"]
    os.symlink(tmp_path / "top", tmp_path / "link")
    assert names([top, str(tmp_path / "link")]) == [f"{top}/a.wav", f"{top}/sub/b.wav"]


def test_two_paths_holding_the_same_name_give_two_rows(tmp_path, write_audio, tiny_model_path):
    write_audio(tmp_path / "day1" / "x.wav", seed=1)
    write_audio(tmp_path / "day2" / "x.wav", seed=2)
    os.chdir(tmp_path)
    try:
        table = annotate(["day1", "day2"], model=tiny_model_path, jobs=1)
    finally:
        os.chdir(Path(__file__).parent)
    assert table["path"].tolist() == ["day1/x.wav", "day2/x.wav"]
    assert table["path"].is_unique
    # one PATH: relative to it, as before
    assert names(tmp_path / "day1") == ["x.wav"]


def test_files_left_out_are_counted_in_the_summary(tmp_path, write_audio, tiny_model_path):
    write_audio(tmp_path / "in" / "a.wav")
    for name in ["call.mid", "memo.mid", "notes.txt", ".hidden.wav", "b.flac.part"]:
        (tmp_path / "in" / name).write_bytes(b"x")
    out = tmp_path / "labels.csv"
    args = [str(tmp_path / "in"), "-o", str(out), "-m", str(tiny_model_path), "-j", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (
        "left out by the walk: 4 with other extensions (.mid 2, .part 1, .txt 1), 1 hidden"
        in result.stderr
    )
