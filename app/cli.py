"""``ser-app``: start the ser web application (Streamlit) on this machine.

The command is thin: it checks its options, builds the ``streamlit run`` command line of
:mod:`ser.app.main` (:func:`streamlit_command`) and replaces itself with it, so that Ctrl-C
and SIGTERM reach the server directly. ``--help`` and ``--version`` import neither Streamlit
nor numpy.

Exit status: that of the server; 1 when Streamlit is not installed; 2 for a usage error (a bad
option, a port in use, a model that does not exist), found before the server starts.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer

from ser.common.console import HELP_OPTIONS, echo_error, run_command, version_callback
from ser.common.errors import DataError, ModelError, SerError

from .settings import ENV_LOCAL_PATHS, ENV_MODEL, is_loopback

__all__ = ["MAIN_SCRIPT", "StreamlitCommand", "app", "main", "streamlit_command"]

PROG = "ser-app"
#: The Streamlit script that ``ser-app`` runs.
MAIN_SCRIPT = Path(__file__).with_name("main.py")
#: Bundled model names (those of :data:`ser.models.BUNDLED_MODELS`, repeated here so that
#: ``--help`` imports no numpy; a test checks they agree).
BUNDLED = ("ser6", "ser4")
INSTALL_HINT = "streamlit is not installed: pip install 'ser[app]'"

app = typer.Typer(name=PROG, add_completion=False, context_settings=HELP_OPTIONS)

_SERVER, _APP = "Server", "App"


@dataclass(frozen=True)
class StreamlitCommand:
    """The server's command line and the environment variables it is started with."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    url: str = ""


def main() -> None:
    """The ``ser-app`` command (console entry point)."""
    run_command(app, PROG)


@app.command()
def app_command(
    host: Annotated[
        str,
        typer.Option(
            "--host",
            metavar="ADDRESS",
            help="Address to listen on; 0.0.0.0 lets other machines in (anyone who can reach "
            "it can use the app).",
            rich_help_panel=_SERVER,
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(
            "--port",
            "-p",
            metavar="PORT",
            min=1,
            max=65535,
            help="TCP port to listen on.",
            rich_help_panel=_SERVER,
        ),
    ] = 8501,
    max_upload_mb: Annotated[
        int,
        typer.Option(
            "--max-upload-mb",
            metavar="MB",
            min=1,
            max=100_000,
            help="Largest file a user may upload (audio, tables, model files).",
            rich_help_panel=_SERVER,
        ),
    ] = 200,
    open_browser: Annotated[
        bool,
        typer.Option(
            "--open", help="Open the app in the default web browser.", rich_help_panel=_SERVER
        ),
    ] = False,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            metavar="NAME|PATH",
            help="Model the pages start with: a bundled model (ser6, ser4) or a model file.",
            show_default="ser6",
            rich_help_panel=_APP,
        ),
    ] = None,
    local_paths: Annotated[
        bool | None,
        typer.Option(
            "--local-paths/--no-local-paths",
            help="Let the pages open tables, audio and model files by their path on this "
            "machine (uploads always work).",
            show_default="on for a loopback --host, off otherwise",
            rich_help_panel=_APP,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=version_callback(PROG),
            is_eager=True,
            help="Show the version and exit.",
            rich_help_panel=_APP,
        ),
    ] = False,
) -> None:
    """Start the ser web app: try clips (upload or microphone), explore ser-annotate tables,
    look at features. Open the URL it prints in a browser; Ctrl-C stops it.

    Examples:

      ser-app                                  (http://127.0.0.1:8501)

      ser-app --port 8600 --model my.skops

      ser-app --host 0.0.0.0 --max-upload-mb 50   (reachable from other machines)
    """
    if importlib.util.find_spec("streamlit") is None:
        echo_error(PROG, INSTALL_HINT)
        raise typer.Exit(1)
    try:
        command = streamlit_command(
            host=host,
            port=port,
            max_upload_mb=max_upload_mb,
            model=model,
            local_paths=local_paths,
            open_browser=open_browser,
        )
        check_port_free(host, port)
    except SerError as exc:
        echo_error(PROG, exc)
        raise typer.Exit(2) from None
    if not is_loopback(host):
        typer.echo(
            f"{PROG}: warning: listening on {host}: anyone who can reach this machine can use "
            f"the app{'' if command.env[ENV_LOCAL_PATHS] == '1' else '; local paths are off'}",
            err=True,
        )
    typer.echo(f"{PROG}: serving {command.url} (Ctrl-C stops it)", err=True)
    sys.stderr.flush()
    sys.stdout.flush()
    exec_command(command)


def streamlit_command(
    *,
    host: str = "127.0.0.1",
    port: int = 8501,
    max_upload_mb: int = 200,
    model: str | None = None,
    local_paths: bool | None = None,
    open_browser: bool = False,
    python: str | None = None,
) -> StreamlitCommand:
    """The ``python -m streamlit run`` command line that serves the app.

    Parameters
    ----------
    host : str
        ``--server.address``.
    port : int in 1 .. 65535
        ``--server.port``.
    max_upload_mb : int >= 1
        ``--server.maxUploadSize``, in megabytes.
    model : str, optional
        A bundled model name or a model file (made absolute): the model sessions start with.
    local_paths : bool, optional
        Whether the pages may read files by path; default: only when ``host`` is a loopback
        address.
    open_browser : bool
        Open a browser tab (``--server.headless false``).
    python : str, optional
        The interpreter (default: this one).

    Raises
    ------
    DataError
        A bad host, port or upload limit.
    ModelError
        ``model`` is neither a bundled model nor an existing file.
    """
    if not host.strip():
        raise DataError("--host must not be empty")
    if not 1 <= port <= 65535:
        raise DataError(f"--port must be in 1..65535, got {port}")
    if max_upload_mb < 1:
        raise DataError(f"--max-upload-mb must be at least 1, got {max_upload_mb}")
    env = {
        ENV_LOCAL_PATHS: "1" if (is_loopback(host) if local_paths is None else local_paths) else "0"
    }
    if model is not None:
        if model not in BUNDLED:
            path = Path(model).expanduser()
            if not path.is_file():
                raise ModelError(
                    f"--model {model!r}: no such model file, and not a bundled model "
                    f"({', '.join(BUNDLED)})"
                )
            model = str(path.resolve())
        env[ENV_MODEL] = model
    options = {
        "server.address": host,
        "server.port": str(port),
        "server.headless": "false" if open_browser else "true",
        "server.maxUploadSize": str(max_upload_mb),
        "server.fileWatcherType": "none",
        "browser.gatherUsageStats": "false",
        "client.toolbarMode": "minimal",
    }
    argv = [python or sys.executable, "-m", "streamlit", "run", str(MAIN_SCRIPT)]
    for key, value in options.items():
        argv += [f"--{key}", value]
    shown = "localhost" if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return StreamlitCommand(argv=argv, env=env, url=f"http://{shown}:{port}")


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`DataError` when ``host:port`` cannot be listened on (in use, or an
    address this machine does not have), so that the user gets one line before any wait."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise DataError(f"--host {host!r}: cannot resolve it ({exc.strerror or exc})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            reason = "in use" if exc.errno in (98, 48, 10048) else (exc.strerror or str(exc))
            raise DataError(
                f"cannot listen on {host}:{port}: {reason}; choose another with --port"
            ) from None


def exec_command(command: StreamlitCommand) -> None:
    """Replace this process with the server (on Windows, run it and exit with its status)."""
    env = {**os.environ, **command.env}
    if os.name == "nt":  # os.exec* does not replace the process there
        sys.exit(subprocess.call(command.argv, env=env))
    os.execve(command.argv[0], command.argv, env)  # pragma: no cover - replaces the process
