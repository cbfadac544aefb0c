"""The progress bar of ``ser-train``'s feature extraction (rich, on stderr; loaded lazily)."""

from __future__ import annotations

from typing import Any

__all__ = ["ProgressBar"]


class ProgressBar:
    """Rich progress bar on stderr; also remembers that work started (exit 1, not 2)."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.started = False
        self._bar: Any = None
        self._task: Any = None

    def update(self, done: int, total: int) -> None:
        if not self.started and self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self._bar = Progress(
                "features",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._task = self._bar.add_task("features", total=total)
            self._bar.start()
        self.started = True
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
