"""What a run reports: :class:`Progress` as it works, and :class:`RunSummary` at the end."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .compare import Comparison

__all__ = ["Progress", "RunSummary"]


class Progress(Protocol):
    """What the library reports while it works (the CLI draws a progress bar with it)."""

    def start(self, total: int) -> None:
        """Called once, when the checks passed and ``total`` files are about to be processed."""

    def advance(self, n: int = 1, seconds: float = 0.0) -> None:
        """Called as work is done: ``n`` files completed, ``seconds`` of audio processed
        (a piece of a long recording advances the seconds alone)."""


@dataclass(frozen=True)
class RunSummary:
    """What :func:`annotate_to_file` did.

    ``left_out`` describes the entries the walk did not take (other extensions, ``--glob``,
    not regular files, hidden), ``n_left_out`` counts them. ``normalized`` counts the rows by
    the statistics that normalised them (``speaker``, ``corpus``, ``training``, ``none``).
    ``timings`` gives the seconds this process spent on each part of the run:
    ``model_load``, ``walk``, ``predict`` (including normalisation), ``write``, and
    ``extract`` (the rest of the batch: waiting for the workers, or the extraction itself
    with one job); the benchmarks read it. ``n_rows`` counts the table's rows (one per file,
    or one per segment), ``n_unlabelled`` the segments of readable files that got no
    prediction (silent or too short); ``first_errors`` the path and reason of the first
    five files that failed, in walk order.
    """

    out: str
    n_files: int
    n_ok: int
    n_errors: int
    seconds: float
    normalization: str
    comparison: Comparison | None
    n_left_out: int = 0
    left_out: str = ""
    normalized: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    n_rows: int = 0
    n_unlabelled: int = 0
    first_errors: tuple[tuple[str, str], ...] = ()

    @property
    def files_per_s(self) -> float:
        return self.n_files / self.seconds if self.seconds > 0 else float("nan")
