"""``ser.annotate``: apply an emotion model to a corpus.

Find the audio files, featurise them in parallel worker processes, predict in the parent,
write one row per file (Parquet or CSV), and optionally compare with RAVDESS labels.

>>> from ser.annotate import annotate
>>> table = annotate("recordings/", model="ser6", jobs=4)  # doctest: +SKIP

Importing this package is light (no librosa, scikit-learn, joblib or pandas): those load when
work starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ser.batch import WORKER_DIED
from ser.common.lazy import lazy_exports

# Imported from their submodules on first use (PEP 562): `ser-annotate --help` must not pay
# for numpy, pandas or joblib.
_EXPORTS: dict[str, str] = {
    "Progress": "api",
    "RunSummary": "api",
    "annotate": "api",
    "annotate_to_file": "api",
    "Comparison": "compare",
    "compare_labels": "compare",
    "compare_ravdess": "compare",
    "format_comparison": "compare",
    "columns": "table",
    "read_metadata": "table",
}

if TYPE_CHECKING:
    from .api import Progress, RunSummary, annotate, annotate_to_file
    from .compare import Comparison, compare_labels, compare_ravdess, format_comparison
    from .table import columns, read_metadata


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

__all__ = [
    "WORKER_DIED",
    "Comparison",
    "Progress",
    "RunSummary",
    "annotate",
    "annotate_to_file",
    "columns",
    "compare_labels",
    "compare_ravdess",
    "format_comparison",
    "read_metadata",
]
