"""The installed version of ``ser`` (from the package metadata)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ser")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
