"""The one exception hierarchy of ``ser``.

Every error the library raises on purpose derives from :class:`SerError`; each specific
class also derives from the builtin it refines, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = ["AudioError", "DataError", "FeatureError", "ModelError", "OutputError", "SerError"]


class SerError(Exception):
    """Root of all errors raised by ``ser``."""


class AudioError(SerError, ValueError):
    """A file cannot be turned into analysable audio (unreadable, corrupt, empty, silent...).

    The message names the file and the reason.
    """

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class FeatureError(SerError, ValueError):
    """A feature configuration is unknown or inconsistent."""


class ModelError(SerError, ValueError):
    """A model file is missing, invalid, untrusted, or does not fit the data."""


class DataError(SerError, ValueError):
    """A training corpus or option is unusable (no files found, unknown emotion, ...)."""


class OutputError(SerError, OSError):
    """An output cannot be written (locked by another run, disk full, ...); names the file."""
