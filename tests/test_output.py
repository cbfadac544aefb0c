"""The output file: refused before any work when it cannot be right, locked, named on failure,
and safe in a spreadsheet."""

from __future__ import annotations

import csv
import fcntl
import os
import subprocess

import pandas as pd
import pytest
from typer.testing import CliRunner

from ser.annotate.cli import app

runner = CliRunner()


@pytest.fixture
def no_work(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("work started although the output was bad")

    monkeypatch.setattr("ser.annotate.execute.run_batch", boom)


def run(*args: str):
    return runner.invoke(app, list(args))


def test_an_existing_folder_as_out_is_refused_before_any_work(
    tmp_path, write_audio, tiny_model_path, no_work
):
    write_audio(tmp_path / "in" / "a.wav")
    (tmp_path / "out.csv").mkdir()
    result = run(str(tmp_path / "in"), "-o", str(tmp_path / "out.csv"), "--overwrite",
                 "-m", str(tiny_model_path))  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"ser-annotate: error: --out {tmp_path / 'out.csv'} is a folder; give a .parquet or "
        ".csv file name\n"
    )


def test_an_input_file_as_out_is_refused_and_left_alone(tmp_path, write_audio, tiny_model_path):
    take = write_audio(tmp_path / "take.csv", format="WAV")  # audio, named like a table
    before = take.read_bytes()
    result = run(str(take), "-o", str(take), "--overwrite", "-m", str(tiny_model_path))
    assert result.exit_code == 2, result.output
    assert f"--out {take} is one of the input files" in result.stderr
    assert take.read_bytes() == before


def test_a_second_run_on_the_same_out_is_refused_while_the_first_holds_it(
    tmp_path, write_audio, tiny_model_path, no_work
):
    write_audio(tmp_path / "in" / "a.wav")
    out = tmp_path / "labels.parquet"
    fd = os.open(tmp_path / ".labels.parquet.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as the first run holds it
    try:
        result = run(str(tmp_path / "in"), "-o", str(out), "-m", str(tiny_model_path))
    finally:
        os.close(fd)
    assert result.exit_code == 2, result.output
    assert "another run is writing" in result.stderr and str(out) in result.stderr
    assert not out.exists()


def test_a_lock_left_by_a_dead_run_is_taken_over(tmp_path, write_audio, tiny_model_path):
    write_audio(tmp_path / "in" / "a.wav")
    (tmp_path / ".labels.parquet.lock").write_text("")  # its run was killed: nobody holds it
    (tmp_path / ".ser-features-x1y2z3.f32").write_bytes(b"\0" * 1024)  # its spool
    (tmp_path / ".labels.parquet.4242.tmp").write_bytes(b"half a table")
    out = tmp_path / "labels.parquet"
    result = run(str(tmp_path / "in"), "-o", str(out), "-m", str(tiny_model_path),
                 "--normalize", "corpus", "-j", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(tmp_path)) == ["in", "labels.parquet"]


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB tmpfs (needs root, as CI has; skipped elsewhere)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {proc.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


@pytest.mark.parametrize("mode", ["spool", "table"])
def test_a_full_disk_is_an_error_naming_the_file_and_leaves_nothing(
    tmp_path, write_audio, tiny_model_path, small_disk, mode
):
    for i in range(24):
        write_audio(tmp_path / "in" / f"f{i:02d}.wav", seed=i)
    # room for a few of the 24 spool rows (1 KiB each); or, with no spool, not for the table
    free = 8 << 10 if mode == "spool" else 2 << 10
    stat = os.statvfs(small_disk)
    (small_disk / "filler").write_bytes(b"\0" * (stat.f_bavail * stat.f_frsize - free))
    out = small_disk / "labels.parquet"
    spool = ["--normalize", "corpus"] if mode == "spool" else []
    result = run(str(tmp_path / "in"), "-o", str(out), "-m", str(tiny_model_path), "-j", "2",
                 *spool)  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    (line,) = [ln for ln in result.stderr.splitlines() if ln.startswith("ser-annotate: error")]
    if mode == "spool":
        assert line.startswith(f"ser-annotate: error: cannot write the feature spool {small_disk}")
    else:
        assert line.startswith(f"ser-annotate: error: cannot write {out}")
    assert line.endswith("No space left on device")
    assert sorted(os.listdir(small_disk)) == ["filler"]


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(
    tmp_path, write_audio, tiny_model_path
):
    names = ["=HYPERLINK(1).wav", "+cmd.wav", "-2.wav", "@SUM(A1).wav", "\tx.wav", "plain.wav"]
    for i, name in enumerate(names):
        write_audio(tmp_path / "in" / name, seed=i)
    csv_out, pq_out = tmp_path / "labels.csv", tmp_path / "labels.parquet"
    for out in (csv_out, pq_out):
        result = run(str(tmp_path / "in"), "-o", str(out), "-m", str(tiny_model_path), "-j", "1")
        assert result.exit_code == 0, result.output
    with open(csv_out, newline="", encoding="utf-8") as f:
        paths = [row["path"] for row in csv.DictReader(f)]
    expected = sorted(names)
    assert paths == [n if n == "plain.wav" else "'" + n for n in expected]
    assert pd.read_parquet(pq_out)["path"].tolist() == expected  # Parquet keeps values
    # numbers are not text: a negative number stays a number
    assert all(not p.startswith("'") for p in pd.read_csv(csv_out)["confidence"].astype(str))


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda t: t / "sub", "is a folder; give a file name such as x.html"),
        (lambda t: t / "missing" / "r.html", "missing' does not exist"),
        (lambda t: t / "file.txt" / "r.html", "file.txt' is not a folder"),
    ],
)
def test_check_writable_folder_names_the_option_the_file_and_the_reason(tmp_path, make, reason):
    from ser.common import DataError
    from ser.common.ownedfiles import check_writable_folder

    (tmp_path / "sub").mkdir()
    (tmp_path / "file.txt").write_text("x")
    target = make(tmp_path)
    with pytest.raises(DataError) as err:
        check_writable_folder(target, option="--report", example="x.html")
    assert str(err.value).startswith("--report: ") and reason in str(err.value)
    check_writable_folder(tmp_path / "ok.html", option="--report", example="x.html")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_check_writable_folder_refuses_a_read_only_folder(tmp_path):
    from ser.common import DataError
    from ser.common.ownedfiles import check_writable_folder

    tmp_path.chmod(0o500)
    try:
        with pytest.raises(DataError, match="is not writable"):
            check_writable_folder(tmp_path / "m.skops", option="--out", example="m.skops")
    finally:
        tmp_path.chmod(0o700)
