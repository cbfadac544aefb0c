"""A run's features as a reusable table: ``--features-out`` writes it, ``--from-features``
re-predicts from it without decoding a file.

The table is the run's journal (:mod:`.journal`) in table order, with the feature vector
spread over one named ``float32`` column per feature (:func:`~ser.features.extract.feature_names`),
so it opens in pandas, polars or DuckDB as it is. Its columns:

* ``path``, ``start``, ``end``, ``channel`` (-1: channels mixed): the row, as in the table;
* ``speaker``: the row's speaker group (``--speaker-from`` as the run had it);
* ``status`` (1 ok, 2 error), ``error``, ``file_error``, ``file_error_text``,
  ``has_features`` (false for an error or a silent segment), ``duration``, ``sample_rate``,
  ``channels``, ``true_emotion``, ``actor``, ``intensity`` (with ``--compare``);
* ``file``, ``seq``, ``n_rows``, ``key``, ``size``, ``mtime_ns``: the file's walk index, the
  row's place in it and the file's row count; what identified the file on disk;
* one column per feature.

The Parquet schema metadata holds the feature configuration (``ser.feature_set``), the
segment options, ``--speaker-from`` and the model the features were extracted for. Any
model with the same feature configuration can re-predict from the table; predictions are
bit for bit those of annotating the files again (normalisation is redone, with the
``--normalize`` chosen then).
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ser.common.errors import DataError, FeatureError, OutputError
from ser.features.config import FeatureConfig, config_changes
from ser.features.extract import feature_names

from .collect import column, numeric
from .tally import Tally

if TYPE_CHECKING:
    import pyarrow as pa

    from .api import Plan, Progress
    from .output import OutputTarget
    from .truth import Labeller

__all__ = [
    "FeaturesSource",
    "check_features_out",
    "execute_from_features",
    "open_features_source",
    "write_run_features",
]

#: Metadata keys of the run that a features table keeps (the rest of a run's metadata is
#: about its predictions).
KEPT_METADATA = (
    "ser.version",
    "ser.feature_set",
    "ser.segments",
    "ser.speaker_from",
    "ser.pattern",
    "ser.model_name",
    "ser.model_sha256",
    "ser.created_utc",
)
#: The metadata keys that --from-features reads.
_READ_METADATA = ("ser.feature_set", "ser.segments", "ser.speaker_from")
#: Rows per batch read back.
READ_ROWS = 4096


def check_features_out(path: str | os.PathLike[str], *, out: str, overwrite: bool) -> str:
    """``path`` if ``--features-out`` may write it (before any work), else an error."""
    path = os.fspath(path)
    if not path.lower().endswith(".parquet"):
        raise DataError(f"--features-out must end in .parquet, got {path!r}")
    if os.path.isdir(path):
        raise DataError(f"--features-out {path!r} is a folder")
    if os.path.abspath(path) == os.path.abspath(out):
        raise DataError(f"--features-out {path!r} is the output table itself")
    if os.path.exists(path) and not overwrite:
        raise DataError(f"--features-out {path!r} exists; give --overwrite to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.access(folder, os.W_OK):
        raise DataError(f"--features-out {path!r}: cannot write to folder {folder!r}")
    return path


def write_run_features(
    chunks: Iterable[pa.Table],
    out: str | os.PathLike[str],
    config: FeatureConfig,
    metadata: Mapping[str, str],
) -> Path:
    """Write journal rows in table order (``chunks``) to the features table ``out``, through
    a temporary file in the same folder that is renamed at the end."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = feature_names(config)
    meta = {k: v for k, v in metadata.items() if k in KEPT_METADATA}
    out = Path(out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    writer = None
    try:
        for rows in chunks:
            X = column(rows, "features")
            table = rows.select([*_FIRST, *(c for c in _ROW_COLUMNS if c not in _FIRST)])
            for j, name in enumerate(names):
                table = table.append_column(pa.field(name, pa.float32()), numeric(X[:, j]))
            if writer is None:
                schema = table.schema.with_metadata(meta)
                writer = pq.ParquetWriter(tmp, schema)
            writer.write_table(table.replace_schema_metadata(meta))
        if writer is None:
            raise DataError("no rows to write")  # not reached: a run has its table's rows
        writer.close()
        writer = None
        os.replace(tmp, out)
    except OSError as exc:
        raise OutputError(f"cannot write {os.fspath(out)!r}: {exc.strerror or exc}") from None
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    return out


def open_features_source(
    path: str | os.PathLike[str],
    paths: object,
    features_out: object,
    resume: bool,
    scheduler: object,
) -> FeaturesSource:
    """The features table of ``from_features``, opened and checked, and the options that
    cannot go with it refused."""
    if isinstance(paths, (str, os.PathLike)) or list(paths):  # type: ignore[call-overload]
        raise DataError("--from-features re-predicts the rows of a features table: give no PATH")
    for given, name in ((features_out, "--features-out"), (resume, "--resume"),
                        (scheduler, "--scheduler")):  # fmt: skip
        if given:
            raise DataError(f"--from-features decodes nothing: {name} does not apply")
    return FeaturesSource(path)


class FeaturesSource:
    """A features table opened for ``--from-features``: its facts, checked, and its rows
    as journal rows (:meth:`tables`), in table order, in tables of whole files.

    Raises
    ------
    DataError
        When ``path`` is not a features table that ``ser-annotate --features-out`` wrote.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        import pyarrow.parquet as pq

        self.path = os.fspath(path)
        try:
            self._file = pq.ParquetFile(self.path)
        except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError
            raise DataError(f"--from-features {self.path!r}: cannot read it: {exc}") from None
        raw = self._file.schema_arrow.metadata or {}
        self.metadata = {k.decode(): v.decode() for k, v in raw.items()}
        try:
            stored = {k: json.loads(self.metadata[k]) for k in _READ_METADATA}
        except KeyError as exc:
            raise DataError(
                f"--from-features {self.path!r} is not a features table of ser-annotate "
                f"--features-out (its metadata lacks {exc})"
            ) from None
        except ValueError as exc:
            raise DataError(f"--from-features {self.path!r}: bad metadata: {exc}") from None
        try:
            self.config = FeatureConfig.from_dict(stored["ser.feature_set"])
        except FeatureError as exc:
            raise DataError(f"--from-features {self.path!r}: {exc}") from None
        self.segments: dict[str, Any] = stored["ser.segments"]
        self.speaker_from: str = stored["ser.speaker_from"]
        self.names = feature_names(self.config)
        have = set(self._file.schema_arrow.names)
        missing = [n for n in (*_ROW_COLUMNS, *self.names) if n not in have]
        if missing:
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise DataError(
                f"--from-features {self.path!r} is not a features table of ser-annotate "
                f"--features-out (columns missing: {', '.join(missing[:5])}{more})"
            )
        self.n_rows = self._file.metadata.num_rows

    def check_model(self, model_config: FeatureConfig, model_name: str) -> None:
        """A :class:`DataError` unless the model extracts the features the table holds."""
        if changes := config_changes(self.config.to_dict(), model_config.to_dict()):
            raise DataError(
                f"--from-features {self.path!r} holds features {self.config.name!r} "
                f"({len(self.names)} values) of another configuration than model "
                f"{model_name!r} was trained on (table -> model: {', '.join(changes)}); "
                "annotate the audio with it instead"
            )

    def tables(self) -> Iterator[pa.Table]:
        """The rows as journal rows, in tables of whole files (about :data:`READ_ROWS`)."""
        import pyarrow as pa

        held: pa.Table | None = None
        for batch in self._file.iter_batches(batch_size=READ_ROWS):
            t = pa.Table.from_batches([batch])
            held = t if held is None else pa.concat_tables([held, t])
            starts = np.flatnonzero(column(held, "seq") == 0)
            cut = int(starts[-1]) if len(starts) else 0  # the last file may go on
            if cut:
                yield self._journal_rows(held.slice(0, cut))
                held = held.slice(cut)
        if held is not None and held.num_rows:
            yield self._journal_rows(held)

    def _journal_rows(self, t: pa.Table) -> pa.Table:
        import pyarrow as pa

        X = np.column_stack([column(t, n) for n in self.names]).astype("<f4").ravel()
        rows = t.select(list(_ROW_COLUMNS)).combine_chunks()
        feats = pa.FixedSizeListArray.from_arrays(numeric(X), len(self.names))
        return rows.append_column("features", feats)


def execute_from_features(
    plan: Plan, source: FeaturesSource, target: OutputTarget, progress: Progress | None
) -> Tally:
    """Write the table of ``plan.model`` on the rows of a features table (``--from-features``),
    without decoding a file; with ``plan.labeller``, the true labels are taken anew from the
    rows' paths."""
    read = source.tables
    if plan.labeller is not None:
        read = functools.partial(_relabelled, source.tables, plan.labeller)
    tally = Tally(plan, read)
    if progress is not None:
        progress.start(source.n_rows)
    t0 = time.perf_counter()
    target.write(tally.tables(progress))
    plan.timings["predict"] = tally.seconds
    plan.timings["write"] = time.perf_counter() - t0 - tally.seconds
    return tally


def _relabelled(tables: Callable[[], Iterable[pa.Table]], labeller: Labeller) -> Iterator[pa.Table]:
    """``tables()`` with the true-label columns of each row's path from ``labeller``."""
    import pyarrow as pa

    for t in tables():
        labels = [labeller(p, p) for p in t.column("path").to_pylist()]
        emotion = pa.array([x.emotion if x else None for x in labels], pa.string())
        actor = pa.array([x.actor if x else None for x in labels], pa.int32())
        intensity = pa.array([x.intensity if x else None for x in labels], pa.string())
        for name, values in (("true_emotion", emotion), ("actor", actor),
                             ("intensity", intensity)):  # fmt: skip
            k = t.schema.get_field_index(name)
            t = t.set_column(k, pa.field(name, values.type), values)
        yield t


#: The columns a features table begins with (those a reader looks at first).
_FIRST = ("path", "start", "end", "channel", "speaker", "status", "error")
#: The journal's columns (:func:`~.collect.entry_batch`) other than the features.
_ROW_COLUMNS = (
    "file",
    "seq",
    "key",
    "size",
    "mtime_ns",
    "path",
    "status",
    "file_error_text",
    "duration",
    "sample_rate",
    "channels",
    "n_rows",
    "speaker",
    "true_emotion",
    "actor",
    "intensity",
    "start",
    "end",
    "channel",
    "error",
    "file_error",
    "has_features",
)
