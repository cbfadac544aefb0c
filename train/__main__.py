"""``python -m ser.train``: the same as the ``ser-train`` command."""

from __future__ import annotations

from .cli import main

main()
