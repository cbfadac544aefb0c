"""``ser-annotate`` through typer's CliRunner and as a real subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from ser.annotate import read_metadata
from ser.annotate.cli import app
from ser.common.version import __version__

runner = CliRunner()
HEAVY = ("librosa", "sklearn", "joblib", "pandas", "pyarrow")


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if any file is processed."""

    def boom(*args, **kwargs):
        raise AssertionError("work started although the arguments were bad")

    monkeypatch.setattr("ser.annotate.execute.run_batch", boom)


def leftovers(folder: Path) -> list[str]:
    """Temporary files a run may leave in the output folder (it must not)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_hostile_folder_exit_code_1_and_every_row(tmp_path, hostile_folder, tiny_model_path):
    expect = hostile_folder(tmp_path / "root")
    out = tmp_path / "labels.csv"
    args = [str(tmp_path / "root"), "--out", str(out), "--model", str(tiny_model_path)]
    result = runner.invoke(app, [*args, "--jobs", "2"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    n_err = sum(status == "error" for status, _ in expect.values())
    assert f"{len(expect)} files: {len(expect) - n_err} ok, {n_err} errors" in result.stderr
    table = pd.read_csv(out)
    assert sorted(table["path"]) == sorted(expect)
    assert dict(zip(table.path, table.status)) == {k: v[0] for k, v in expect.items()}


@pytest.mark.slow
def test_a_crashing_worker_costs_only_its_file(tmp_path, write_audio, tiny_model_path, monkeypatch):
    from injected_tasks import extract_or_die

    monkeypatch.setattr("ser.annotate.execute.extract_item", extract_or_die)
    for i in range(8):
        write_audio(tmp_path / "c" / f"f{i}.wav", seed=i)
    write_audio(tmp_path / "c" / "crash_me.wav")
    out = tmp_path / "labels.parquet"
    args = [str(tmp_path / "c"), "--out", str(out), "--model", str(tiny_model_path)]
    result = runner.invoke(app, [*args, "--jobs", "2"])
    assert result.exit_code == 1, result.output
    assert "a worker process died" in result.stderr
    table = pd.read_parquet(out).set_index("path")
    assert len(table) == 9
    assert table.loc["crash_me.wav", "status"] == "error"
    assert table.loc["crash_me.wav", "error"] == (
        "worker process died while processing this file (retried once)"
    )
    others = table.drop(index="crash_me.wav")
    assert (others["status"] == "ok").all() and others["emotion"].notna().all()


def test_existing_output_is_refused_without_overwrite(tmp_path, write_audio, tiny_model_path):
    write_audio(tmp_path / "in" / "a.wav")
    out = tmp_path / "labels.parquet"
    out.write_bytes(b"precious")
    args = [str(tmp_path / "in"), "--out", str(out), "--model", str(tiny_model_path), "-j", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "already exists" in result.stderr and "--overwrite" in result.stderr
    assert out.read_bytes() == b"precious"
    result = runner.invoke(app, [*args, "--overwrite"])
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(out)["path"].tolist() == ["a.wav"]
    assert read_metadata(out)["ser.command"] == list(sys.argv)  # the command line of the run
    assert leftovers(tmp_path) == []


def test_an_interrupted_run_leaves_the_old_output(
    tmp_path, write_audio, tiny_model_path, monkeypatch
):
    for i in range(3):
        write_audio(tmp_path / "in" / f"{i}.wav", seed=i)
    out = tmp_path / "labels.parquet"
    out.write_bytes(b"old table")
    from ser.annotate.pipeline import Predictor

    real_add = Predictor.add
    calls = []

    def interrupt(self, res):
        calls.append(res.index)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_add(self, res)

    monkeypatch.setattr(Predictor, "add", interrupt)
    args = [str(tmp_path / "in"), "-o", str(out), "-m", str(tiny_model_path), "-j", "1"]
    result = runner.invoke(app, [*args, "--overwrite", "--normalize", "corpus"])
    assert result.exit_code == 130
    assert "ser-annotate: error: interrupted; no output was written" in result.stderr
    assert out.read_bytes() == b"old table"
    assert leftovers(tmp_path) == []  # no temporary table, no feature spool


def test_a_failed_write_leaves_no_half_written_table(
    tmp_path, write_audio, tiny_model_path, monkeypatch
):
    import pyarrow.parquet as pq

    write_audio(tmp_path / "in" / "a.wav")
    real_write = pq.write_table

    def disk_full(table, where, **kwargs):
        real_write(table.slice(0, 0), where, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", disk_full)
    out = tmp_path / "labels.parquet"
    args = [str(tmp_path / "in"), "-o", str(out), "-m", str(tiny_model_path), "-j", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "No space left on device" in result.stderr and "Traceback" not in result.output
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "labels.xlsx"], "must end in .parquet or .csv"),
        (["--model", "ravdess99"], "unknown model 'ravdess99'"),
        (["{tmp}/nowhere"], "no such file or directory"),
        (["--speaker-from", "spk(\\d+"], "nor a valid regular expression"),
        (["--jobs", "0"], "--jobs"),
        (["--normalize", "global"], "--normalize"),
        (["--compare", "iemocap"], "--compare"),
        (["--no-such-option"], "No such option"),
    ],
)
def test_usage_errors_exit_2_before_any_work(
    tmp_path, tiny_model_path, no_work, monkeypatch, args, message
):
    monkeypatch.chdir(tmp_path)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--model" not in args:
        args += ["--model", str(tiny_model_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_quiet_and_defaults(tmp_path, write_audio, tiny_model_path, monkeypatch):
    write_audio(tmp_path / "rec" / "a.wav")
    monkeypatch.chdir(tmp_path / "rec")
    result = runner.invoke(app, ["--model", str(tiny_model_path), "--jobs", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.output == ""
    table = pd.read_parquet(tmp_path / "rec" / "labels.parquet")  # default PATH and --out
    assert table["path"].tolist() == ["a.wav"]


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"ser-annotate {__version__}"


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_do_not_import_heavy_modules(flag, imported_by):
    code = (
        "from ser.annotate.cli import app\n"
        "try:\n"
        f"    app([{flag!r}])\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
    )
    assert imported_by(code, HEAVY) == []


def test_parsing_the_options_imports_no_pydantic(tmp_path, imported_by):
    # typer 0.29 coerces every option through a pydantic TypeAdapter: importing pydantic and
    # building the adapters added 0.22 s to every run (pyproject.toml caps typer below 0.29)
    code = (
        "from ser.annotate.cli import app\n"
        "try:\n"
        f"    app([{str(tmp_path / 'missing')!r}, '--out', {str(tmp_path / 'o.csv')!r},\n"
        "         '--jobs', '2', '--glob', '*.wav', '--normalize', 'speaker', '--quiet'])\n"
        "except SystemExit as e:\n"
        "    assert e.code == 2, e.code\n"
    )
    assert imported_by(code, ["pydantic"]) == []


def installed_script() -> str | None:
    """``ser-annotate`` on PATH, or beside this Python (a venv that is not activated)."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return shutil.which("ser-annotate", path=path)


@pytest.mark.parametrize("how", ["module", "script"])
def test_real_subprocess(tmp_path, write_audio, tiny_model_path, how):
    if how == "script":
        script = installed_script()
        if script is None:
            pytest.skip("ser-annotate is not installed (pip install . puts it on PATH)")
        command = [script]
    else:
        command = [sys.executable, "-m", "ser.annotate"]
    write_audio(tmp_path / "recordings" / "a.wav")
    (tmp_path / "recordings" / "b.wav").write_bytes(b"")
    command += ["./recordings", "--out", "labels.csv", "--model", str(tiny_model_path)]
    proc = subprocess.run(
        [*command, "--jobs", "1"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1, proc.stderr
    assert "2 files: 1 ok, 1 errors" in proc.stderr
    assert "Traceback" not in proc.stderr
    table = pd.read_csv(tmp_path / "labels.csv")
    assert table["status"].tolist() == ["ok", "error"]


def test_compare_warns_when_files_were_in_training():
    import pandas as pd

    from ser.annotate.compare import compare_ravdess, format_comparison

    table = pd.DataFrame(
        {
            "path": ["a", "b"],
            "status": ["ok", "ok"],
            "emotion": ["sad", "angry"],
            "true_emotion": ["sad", "sad"],
            "actor": pd.array([1, 2], dtype="Int32"),
            "prob_angry": [0.1, 0.9],
            "prob_sad": [0.9, 0.1],
        }
    )
    text = format_comparison(compare_ravdess(table, training_actors=[2, 3]))
    assert "1 of the 2 scored rows are by actors the model was trained on" in text
    assert "trained on" not in format_comparison(compare_ravdess(table, training_actors=[5]))


# Workers started early (while the rest of ser-annotate loads), for runs that will use them


@pytest.fixture
def prestarts(monkeypatch):
    """Record the worker counts ser-annotate asks to start early (and start none)."""
    calls: list[int] = []
    monkeypatch.setattr("ser.batch.prestart_workers", calls.append)
    monkeypatch.setattr("ser.common.choices.usable_cores", lambda: 8)
    return calls


@pytest.mark.parametrize(
    ("n_files", "jobs", "expected"), [(5, "2", [2]), (1, "3", [2]), (2, "4", [2]), (5, "3", [3])]
)
def test_workers_are_started_early_as_many_as_the_run_uses(
    tmp_path, write_audio, tiny_model_path, prestarts, n_files, jobs, expected
):
    for i in range(n_files):
        write_audio(tmp_path / "c" / f"f{i}.wav", seed=i)
    out = tmp_path / "labels.csv"
    args = [str(tmp_path / "c"), "--out", str(out), "--model", str(tiny_model_path)]
    result = runner.invoke(app, [*args, "--jobs", jobs])
    assert result.exit_code == 0, result.output
    assert prestarts == expected
    assert len(pd.read_csv(out)) == n_files


@pytest.mark.parametrize("case", ["one_job", "missing_path", "out_exists", "no_audio"])
def test_no_workers_are_started_early_for_a_run_that_will_not_use_them(
    tmp_path, write_audio, tiny_model_path, prestarts, case
):
    write_audio(tmp_path / "c" / "f.wav")
    (tmp_path / "empty").mkdir()
    out = tmp_path / "labels.csv"
    folder, jobs = str(tmp_path / "c"), "2"
    if case == "one_job":
        jobs = "1"
    elif case == "missing_path":
        folder = str(tmp_path / "nope")
    elif case == "out_exists":
        out.write_text("keep me\n")
    else:
        folder = str(tmp_path / "empty")
    args = [folder, "--out", str(out), "--model", str(tiny_model_path), "--jobs", jobs]
    result = runner.invoke(app, args)
    assert prestarts == []
    if case == "one_job":  # the run happens, in this process
        assert result.exit_code == 0, result.output
        assert pd.read_csv(out)["status"].tolist() == ["ok"]
    elif case == "no_audio":  # an empty table
        assert result.exit_code == 0, result.output
        assert len(pd.read_csv(out)) == 0
    else:  # refused before any work
        assert result.exit_code == 2, result.output
        assert ("no such file" if case == "missing_path" else "already exists") in result.stderr


def _mp3_with_bad_frame_headers(path: Path) -> Path:
    """An MP3 whose decoder (libmpg123) prints "Note: Illegal Audio-MPEG-Header" to fd 2."""
    import numpy as np
    import soundfile as sf

    y = (0.3 * np.sin(np.arange(48_000) * 0.05)).astype("float32")
    sf.write(path, y, 16_000, format="MP3")
    data = bytearray(path.read_bytes())
    syncs = [i for i in range(len(data) - 4) if data[i] == 0xFF and data[i + 1] & 0xE0 == 0xE0]
    for i in syncs[5:15]:
        data[i + 1], data[i + 2] = 0xE1, 0x00
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_quiet_silences_what_native_decoders_print(tmp_path, tiny_model_path, jobs):
    (tmp_path / "in").mkdir()
    _mp3_with_bad_frame_headers(tmp_path / "in" / "bad.mp3")
    cmd = [sys.executable, "-m", "ser.annotate", str(tmp_path / "in"), "-m", str(tiny_model_path)]
    cmd += ["-j", jobs, "--overwrite", "-o", str(tmp_path / "labels.csv")]
    loud = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert "Illegal Audio-MPEG-Header" in loud.stderr  # the file does make libmpg123 talk
    quiet = subprocess.run([*cmd, "--quiet"], capture_output=True, text=True, timeout=300)
    assert quiet.returncode == loud.returncode == 0, quiet.stderr
    assert quiet.stderr == "" and quiet.stdout == ""


def test_the_summary_says_how_many_rows_fell_back_to_training_statistics(
    tmp_path, write_audio, tiny_speaker_model_path
):
    for i in range(3):  # too few for statistics of their own
        write_audio(tmp_path / "in" / f"f{i}.wav", seed=i)
    out = tmp_path / "labels.csv"
    args = [str(tmp_path / "in"), "-o", str(out), "-m", str(tiny_speaker_model_path), "-j", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out)["normalization"].tolist() == ["training"] * 3
    assert "note: 3 of 3 rows were normalised with the model's training statistics" in result.stderr
    assert "--speaker-from" in result.stderr and "--normalize none" in result.stderr


def test_the_summary_says_nothing_of_fallbacks_when_there_were_none(
    tmp_path, write_audio, tiny_model_path
):
    write_audio(tmp_path / "in" / "f.wav")
    args = [str(tmp_path / "in"), "-o", str(tmp_path / "l.csv"), "-m", str(tiny_model_path)]
    result = runner.invoke(app, [*args, "-j", "1"])
    assert result.exit_code == 0, result.output
    assert "note:" not in result.stderr


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--jobs", "x"], "Invalid value for '--jobs' / '-j': 'x' is not a valid int."),
        (["--normalize", "global"], "Invalid value for '--normalize'"),
        (["--no-such-option"], "No such option: --no-such-option"),
        (["--jobs", "0"], "--jobs must be a whole number of workers (-1 for every core), got 0"),
    ],
)
def test_every_usage_error_is_one_line_with_status_2(tmp_path, args, line):
    proc = subprocess.run(
        [sys.executable, "-m", "ser.annotate", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    (only,) = proc.stderr.splitlines()
    assert only.startswith("ser-annotate: error: ") and line in only


def test_help_with_h_shows_examples_and_choices():
    proc = subprocess.run(
        [sys.executable, "-m", "ser.annotate", "-h"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0
    assert "ser-annotate ./recordings --out labels.parquet" in proc.stdout
    assert "none|corpus|speaker" in proc.stdout and "--compare" in proc.stdout
    assert "LABELS" in proc.stdout and "crema-d" in proc.stdout


def test_report_is_written_after_the_table_and_checked_before_any_work(
    tmp_path, write_audio, tiny_model_path
):
    for i in range(6):
        write_audio(tmp_path / "in" / f"f{i}.wav", seconds=1.0, seed=i)
    out, report = tmp_path / "t.parquet", tmp_path / "r.html"
    args = [str(tmp_path / "in"), "-o", str(out), "-m", str(tiny_model_path), "-j", "1"]
    result = runner.invoke(app, [*args, "--report", str(report)])
    assert result.exit_code == 0, result.output
    page = report.read_text(encoding="utf-8")
    assert "data:image/png;base64," in page and "http://" not in page and "https://" not in page
    # an existing report is refused before any work, as an existing table is
    out.unlink()
    result = runner.invoke(app, [*args, "--report", str(report)])
    assert result.exit_code == 2 and "--overwrite replaces it" in result.stderr
    assert not out.exists()
    result = runner.invoke(app, [*args, "--report", str(tmp_path / "r.txt")])
    assert result.exit_code == 2 and "--report must end in .html" in result.stderr
