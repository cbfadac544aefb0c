"""``ser-app``: the command that starts the Streamlit server (options, checks, errors)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from ser.app import cli
from ser.app.cli import MAIN_SCRIPT, app, streamlit_command
from ser.app.settings import ENV_LOCAL_PATHS, ENV_MODEL, is_loopback, settings_from_env
from ser.common import DataError, ModelError
from ser.common.version import __version__

runner = CliRunner()
HEAVY = ["streamlit", "numpy", "pandas", "librosa", "sklearn", "altair", "matplotlib"]


def _options(argv: list[str]) -> dict[str, str]:
    """The ``--key value`` pairs after ``streamlit run SCRIPT``."""
    rest = argv[argv.index(str(MAIN_SCRIPT)) + 1 :]
    return {rest[i].lstrip("-"): rest[i + 1] for i in range(0, len(rest), 2)}


def test_the_command_runs_the_app_script_with_streamlit_of_this_python():
    command = streamlit_command()
    assert command.argv[:5] == [sys.executable, "-m", "streamlit", "run", str(MAIN_SCRIPT)]
    assert MAIN_SCRIPT.is_file()
    options = _options(command.argv)
    assert options["server.address"] == "127.0.0.1"
    assert options["server.port"] == "8501"
    assert options["server.headless"] == "true"
    assert options["browser.gatherUsageStats"] == "false"
    assert options["server.maxUploadSize"] == "200"
    assert command.url == "http://127.0.0.1:8501"
    assert command.env == {ENV_LOCAL_PATHS: "1"}


def test_host_port_upload_limit_and_browser_are_passed_on():
    command = streamlit_command(host="0.0.0.0", port=9000, max_upload_mb=5, open_browser=True)
    options = _options(command.argv)
    assert options["server.address"] == "0.0.0.0"
    assert options["server.port"] == "9000"
    assert options["server.maxUploadSize"] == "5"
    assert options["server.headless"] == "false"
    assert command.url == "http://localhost:9000"
    # reachable from other machines: no reading of files by path unless asked for
    assert command.env[ENV_LOCAL_PATHS] == "0"
    assert streamlit_command(host="0.0.0.0", local_paths=True).env[ENV_LOCAL_PATHS] == "1"
    assert streamlit_command(local_paths=False).env[ENV_LOCAL_PATHS] == "0"


def test_the_model_is_a_bundled_name_or_an_existing_file_made_absolute(tmp_path, monkeypatch):
    assert streamlit_command(model="ser4").env[ENV_MODEL] == "ser4"
    model = tmp_path / "mine.skops"
    model.write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    assert streamlit_command(model="mine.skops").env[ENV_MODEL] == str(model)
    with pytest.raises(ModelError, match="no such model file, and not a bundled model"):
        streamlit_command(model="missing.skops")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"port": 0}, "--port must be in 1..65535"),
        ({"max_upload_mb": 0}, "at least 1"),
        ({"host": " "}, "--host must not be empty"),
    ],
)
def test_bad_values_are_refused(kwargs, message):
    with pytest.raises(DataError, match=message):
        streamlit_command(**kwargs)


def test_the_bundled_names_repeated_for_a_light_help_are_the_models():
    from ser.models import BUNDLED_MODELS

    assert cli.BUNDLED == BUNDLED_MODELS


def test_settings_are_read_back_from_the_environment():
    assert settings_from_env({}).local_paths is False
    assert settings_from_env({ENV_LOCAL_PATHS: "1", ENV_MODEL: "ser4"}).model == "ser4"
    assert settings_from_env({ENV_LOCAL_PATHS: "1"}).local_paths is True
    assert [is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "10.1.2.3")] == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_the_cli_execs_the_server_after_its_checks(monkeypatch):
    started = []
    monkeypatch.setattr(cli, "exec_command", started.append)
    monkeypatch.setattr(cli, "check_port_free", lambda host, port: None)
    result = runner.invoke(app, ["--port", "8765", "--host", "localhost", "-m", "ser4"])
    assert result.exit_code == 0, result.output
    (command,) = started
    assert _options(command.argv)["server.port"] == "8765"
    assert command.env == {ENV_LOCAL_PATHS: "1", ENV_MODEL: "ser4"}
    assert "serving http://localhost:8765" in result.output


def test_listening_beyond_this_machine_warns(monkeypatch):
    monkeypatch.setattr(cli, "exec_command", lambda command: None)
    monkeypatch.setattr(cli, "check_port_free", lambda host, port: None)
    result = runner.invoke(app, ["--host", "0.0.0.0"])
    assert result.exit_code == 0
    assert "anyone who can reach this machine can use the app; local paths are off" in result.output


def test_a_port_in_use_is_one_line_and_status_2():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "ser.app", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (
        f"ser-app: error: cannot listen on 127.0.0.1:{port}: in use; choose another with --port"
    )


def test_a_missing_model_file_is_a_usage_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "ser.app", "--model", str(tmp_path / "nope.skops")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "no such model file" in proc.stderr


def test_without_streamlit_it_says_how_to_install_it(monkeypatch):
    real = cli.importlib.util.find_spec
    monkeypatch.setattr(
        cli.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "streamlit" else real(name, *a),
    )
    result = runner.invoke(app, [])
    assert result.exit_code == 1
    assert (
        result.output.strip()
        == "ser-app: error: streamlit is not installed: pip install 'ser[app]'"
    )


def test_bad_options_are_one_line_usage_errors():
    proc = subprocess.run(
        [sys.executable, "-m", "ser.app", "--port", "70000"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("ser-app: error:") and proc.stderr.count("\n") == 1


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"ser-app {__version__}"


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_import_neither_streamlit_nor_numpy(flag, imported_by):
    code = (
        "from ser.app.cli import app\n"
        "try:\n"
        f"    app([{flag!r}])\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
    )
    assert imported_by(code, HEAVY) == []


def test_help_shows_the_options():
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    for option in ("--host", "--port", "--max-upload-mb", "--model", "--local-paths", "--open"):
        assert option in result.output


def test_the_installed_script_exists_beside_python():
    script = os.path.join(os.path.dirname(sys.executable), "ser-app")
    if not os.path.exists(script):
        pytest.skip("ser-app is not installed in this environment")
    proc = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == f"ser-app {__version__}"
