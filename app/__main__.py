"""``python -m ser.app``: the same as the ``ser-app`` command."""

from __future__ import annotations

from .cli import main

main()
