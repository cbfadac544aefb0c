"""``python -m ser.annotate``: the same as the ``ser-annotate`` command."""

from __future__ import annotations

from .cli import main

main()
