"""``ser-annotate``'s progress bar: files and seconds of audio, rates and time left."""

from __future__ import annotations

import time
from typing import Any

__all__ = ["ProgressBar"]


class ProgressBar:
    """Rich progress bar on stderr; also remembers that work started (exit 1, not 2).

    It counts files, and the seconds of audio done, so that one long recording shows
    progress too: ``annotating ━━━━━━━ 3/10 files  41.2 min audio  88x real time``.
    """

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.started = False
        self._bar: Any = None
        self._task: Any = None
        self._audio_s = 0.0

    def start(self, total: int) -> None:
        self.started = True
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._bar = Progress(
            TextColumn("annotating"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files {task.fields[audio]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        self._t0 = time.perf_counter()
        self._task = self._bar.add_task("annotating", total=total, audio="")
        self._bar.start()

    def advance(self, n: int = 1, seconds: float = 0.0) -> None:
        self._audio_s += seconds
        if self._bar is not None:
            elapsed = time.perf_counter() - self._t0
            speed = f"  {self._audio_s / elapsed:.0f}x real time" if elapsed > 0 else ""
            audio = f" {self._audio_s / 60:.1f} min audio{speed}"
            self._bar.update(self._task, advance=n, audio=audio)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
