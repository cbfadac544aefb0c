"""What ``ser-app`` tells the Streamlit script it starts: environment variables, read back
by the pages. Light: the standard library only, so ``ser-app --help`` stays fast."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["ENV_LOCAL_PATHS", "ENV_MODEL", "AppSettings", "is_loopback", "settings_from_env"]

#: "1" lets the pages open tables, audio and model files by their path on the server.
ENV_LOCAL_PATHS = "SER_APP_LOCAL_PATHS"
#: The model chosen when a session starts: a bundled model's name or a model file's path.
ENV_MODEL = "SER_APP_MODEL"


@dataclass(frozen=True)
class AppSettings:
    """The app's settings.

    Parameters
    ----------
    local_paths : bool
        Whether the pages may read files on the server by a path typed into the page. Off
        unless ``ser-app`` turned it on (it does when it listens on a loopback address only).
    model : str or None
        The model a new session starts with (None: the bundled default).
    """

    local_paths: bool = False
    model: str | None = None


def settings_from_env(environ: Mapping[str, str] | None = None) -> AppSettings:
    """The settings ``ser-app`` put in the environment (``os.environ`` by default)."""
    env = os.environ if environ is None else environ
    return AppSettings(
        local_paths=env.get(ENV_LOCAL_PATHS, "0").strip().lower() in ("1", "true", "yes"),
        model=env.get(ENV_MODEL) or None,
    )


def is_loopback(host: str) -> bool:
    """True for an address that only this machine can reach (``127.*``, ``::1``, localhost)."""
    host = host.strip().strip("[]").lower()
    return host in ("localhost", "::1", "0:0:0:0:0:0:0:1") or host.startswith("127.")
