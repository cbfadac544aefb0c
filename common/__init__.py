"""``ser.common``: what every ``ser`` package shares.

The error family (:mod:`.errors`), the version (:mod:`.version`), the rules for the choices
that the API and both commands accept (:mod:`.choices`), the commands' shared voice
(:mod:`.console`), and lazy package exports (:mod:`.lazy`). Importing it is light.
"""

from __future__ import annotations

from .errors import AudioError, DataError, FeatureError, ModelError, OutputError, SerError
from .version import __version__

__all__ = [
    "AudioError",
    "DataError",
    "FeatureError",
    "ModelError",
    "OutputError",
    "SerError",
    "__version__",
]
