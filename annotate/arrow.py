"""Arrow columns of the output table, built from numpy buffers, and their pandas metadata."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["bool_array", "float_array", "int32_array", "pandas_metadata", "text_array"]


# Arrow arrays are built from their buffers: ``pyarrow.array`` imports pandas (about 1 s with
# its teardown) to check whether its argument is a pandas object.


def _validity(missing: np.ndarray) -> tuple[object, int]:
    import pyarrow as pa

    missing = np.asarray(missing, dtype=bool)
    n_null = int(missing.sum())
    if n_null == 0:
        return None, 0
    return pa.py_buffer(np.packbits(~missing, bitorder="little")), n_null


def float_array(values: np.ndarray) -> pa.Array:
    """float64, NaN as null."""
    data = np.ascontiguousarray(values, dtype=np.float64)
    return _fixed_array(data, np.isnan(data))


def int32_array(values: np.ndarray, missing: np.ndarray) -> pa.Array:
    return _fixed_array(np.ascontiguousarray(values, dtype=np.int32), missing)


def _fixed_array(data: np.ndarray, missing: np.ndarray) -> pa.Array:
    """A fixed-width Arrow array over ``data``'s buffer, null where ``missing``."""
    import pyarrow as pa

    valid, n_null = _validity(missing)
    kind = pa.from_numpy_dtype(data.dtype)
    return pa.Array.from_buffers(kind, len(data), [valid, pa.py_buffer(data)], n_null)


def bool_array(values: np.ndarray, missing: np.ndarray) -> pa.Array:
    import pyarrow as pa

    bits = pa.py_buffer(np.packbits(np.asarray(values, dtype=bool), bitorder="little"))
    valid, n_null = _validity(missing)
    return pa.Array.from_buffers(pa.bool_(), len(values), [valid, bits], n_null)


def text_array(values: Sequence[str | None]) -> pa.Array:
    """large_string (UTF-8), None as null.

    File names that are not valid UTF-8 reach Python as lone surrogates (PEP 383), which
    UTF-8 cannot hold: their bytes are written as ``\\xNN`` escapes (``caf\\xe9.wav``).
    """
    import pyarrow as pa

    encoded = [b"" if v is None else _utf8(str(v)) for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    valid, n_null = _validity(np.array([v is None for v in values], dtype=bool))
    buffers = [valid, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    return pa.Array.from_buffers(pa.large_string(), len(encoded), buffers, n_null)


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogateescape")  # the original bytes
        return raw.decode("utf-8", "backslashreplace").encode("utf-8")


#: pandas dtypes of the Arrow column types of the output table.
_PANDAS_DTYPES: dict[str, tuple[str, str]] = {  # arrow type: (pandas_type, numpy_type)
    "large_string": ("object", "string"),
    "double": ("float64", "float64"),
    "int32": ("int32", "Int32"),
    "bool": ("bool", "boolean"),
}


def pandas_metadata(table: pa.Table) -> dict[str, object]:
    """The ``pandas`` schema metadata that ``pyarrow.Table.from_pandas`` writes for a frame of
    these columns with nullable dtypes, index not kept (without importing pandas)."""
    from importlib.metadata import PackageNotFoundError, version

    import pyarrow as pa

    try:
        pandas_version = version("pandas")
    except PackageNotFoundError:  # pragma: no cover - pandas is a dependency
        pandas_version = None
    cols = []
    for f in table.schema:
        pandas_type, numpy_type = _PANDAS_DTYPES[str(f.type)]
        cols.append(
            {
                "name": f.name,
                "field_name": f.name,
                "pandas_type": pandas_type,
                "numpy_type": numpy_type,
                "metadata": None,
            }
        )
    return {
        "index_columns": [],
        "column_indexes": [],
        "columns": cols,
        "attributes": {},
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": pandas_version,
    }
