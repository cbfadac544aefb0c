"""``ser.report``: self-contained HTML reports of an annotation run and of a training run.

:func:`annotation_report` (``ser-annotate --report``) and :func:`training_report`
(``ser-train --report``) write one HTML file each, with every figure embedded as a PNG
``data:`` URI and nothing fetched from anywhere, so a report opens offline. Plots are drawn
with matplotlib's Agg renderer, imported only when a report is written; every emotion has
the same colour in every plot (:mod:`ser.common.palette`). :func:`check_report_path` is the
rule both commands apply to ``--report`` before any work. Names load on first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ser.common.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "annotation_report": "annotation",
    "training_report": "training",
    "check_report_path": "html",
    "read_annotation_table": "source",
}

if TYPE_CHECKING:
    from .annotation import annotation_report
    from .html import check_report_path
    from .source import read_annotation_table
    from .training import training_report

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

__all__ = ["annotation_report", "check_report_path", "read_annotation_table", "training_report"]
