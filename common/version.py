"""The version of ``ser``: the single source, read by the build backend (hatch) too."""

__all__ = ["__version__"]

__version__ = "0.1.0"
