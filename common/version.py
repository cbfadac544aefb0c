"""The version of ``ser``: the single source, read by the build backend (hatch) too."""

__version__ = "0.1.0"
