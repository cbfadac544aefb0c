"""Feature vectors as a table: one row per clip, one named column per feature.

A features table is a reusable artefact: ``ser-train --features-out`` writes the training
features with each clip's source, speaker and label, ready for pandas, polars or DuckDB. The
feature configuration travels in the Parquet schema's metadata (``ser.feature_set``), so a
reader can tell which model the features fit.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ser.common.errors import OutputError

from .config import FeatureConfig
from .extract import feature_names

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["FEATURES_TABLE_SUFFIXES", "features_table", "write_features_table"]

#: What a features table's file name may end with.
FEATURES_TABLE_SUFFIXES: tuple[str, ...] = (".parquet", ".csv")


def features_table(
    X: np.ndarray,
    config: FeatureConfig,
    columns: Mapping[str, Sequence[Any]],
    *,
    metadata: Mapping[str, Any] | None = None,
) -> pa.Table:
    """``columns`` (e.g. path, source, speaker, emotion) then one float64 column per feature.

    The feature columns are named by :func:`~ser.features.extract.feature_names`; the schema
    metadata holds ``ser.feature_set`` (the configuration) and each entry of ``metadata``,
    as JSON.
    """
    import pyarrow as pa

    X = np.asarray(X, dtype=np.float64)
    names = feature_names(config)
    if X.ndim != 2 or X.shape[1] != len(names):
        raise ValueError(f"features of shape {X.shape} for {len(names)} feature names")
    arrays = {k: pa.array(list(v)) for k, v in columns.items()}
    arrays |= {name: pa.array(X[:, j]) for j, name in enumerate(names)}
    table = pa.Table.from_pydict(arrays)
    meta = {"ser.feature_set": config.to_dict(), **(metadata or {})}
    return table.replace_schema_metadata({k: json.dumps(v, default=str) for k, v in meta.items()})


def write_features_table(table: pa.Table, out: str | os.PathLike[str]) -> Path:
    """Write ``table`` to ``out`` (``.parquet`` or ``.csv``) atomically; returns the path.

    Raises
    ------
    OutputError
        For another extension, or when the file cannot be written.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in FEATURES_TABLE_SUFFIXES:
        raise OutputError(f"--features-out must end in .parquet or .csv, got {str(out)!r}")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, tmp)
        else:
            import pyarrow.csv as pcsv

            pcsv.write_csv(table, tmp)
        os.replace(tmp, out)
    except OSError as exc:
        raise OutputError(f"cannot write {str(out)!r}: {exc.strerror or exc}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return out
