"""From worker results to journal entries, and what the journal records.

:class:`Collector` gathers the results of each file (a long recording's pieces arrive apart)
and hands the finished file, as a :class:`FileEntry`, to the run's :class:`~.journal.Journal`;
:func:`entry_batch` is the journal's row format, :func:`run_manifest` what a run is.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ser.features.config import config_changes
from ser.models import Model
from ser.models.model import sha256_file

from .arrow import bool_array, int32_array, text_array
from .pipeline import Predictor
from .truth import TrueLabel
from .worker import FileResult

if TYPE_CHECKING:
    import pyarrow as pa

    from .api import Plan
    from .journal import Journal

__all__ = [
    "FORMAT",
    "Collector",
    "FileEntry",
    "column",
    "entry_batch",
    "file_key",
    "manifest_changes",
    "numeric",
    "run_manifest",
]

#: Version of the journal's format (:func:`entry_batch`, the manifest).
FORMAT = 1
_OK, _ERROR = 1, 2


def file_key(relpath: str, size: int, mtime_ns: int) -> int:
    """A non-zero 64-bit digest of a file's reported path, size and modification time."""
    h = hashlib.blake2b(relpath.encode("utf-8", "surrogateescape"), digest_size=8)
    h.update(struct.pack("<qq", size, mtime_ns))
    return int.from_bytes(h.digest(), "little", signed=True) or 1


@dataclass
class FileEntry:
    """One finished file: its facts and its rows in table order (channel, then start)."""

    index: int
    path: str
    size: int
    mtime_ns: int
    status: int  # 1 ok, 2 error
    error: str | None  # the file's error
    duration: float
    sample_rate: int
    channels: int
    speaker: str | None
    truth: tuple[str, int | None, str | None] | None  # emotion, actor, intensity
    spans: np.ndarray  # (rows, 3): start, end, channel (-1: mixed)
    row_errors: list[str | None]
    file_error: np.ndarray  # bool, per row
    features: np.ndarray  # (rows, n_features) float32, NaN where has is False
    has: np.ndarray  # bool, per row


def numeric(values: np.ndarray) -> pa.Array:
    """A fixed-width Arrow array over a numpy buffer, without nulls."""
    import pyarrow as pa

    data = np.ascontiguousarray(values)
    return pa.Array.from_buffers(
        pa.from_numpy_dtype(data.dtype), len(data), [None, pa.py_buffer(data)]
    )


def take_rows(rows: pa.Table, idx: np.ndarray) -> pa.Table:
    """``rows.take(idx)``, as slices of the runs of consecutive indices where they are few.

    Journal rows are nearly in order, so a reordering is a few runs; slicing them avoids
    ``Table.take``, whose first call imports ``pyarrow.compute``: 0.16 s of every run
    (measured, a fifth of a one-file run's 0.85 s).
    """
    idx = np.asarray(idx, dtype=np.int64)
    if not len(idx):
        return rows.slice(0, 0)
    if np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx))):
        return rows.slice(int(idx[0]), len(idx))
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    if len(breaks) >= _MAX_RUNS:
        return rows.take(numeric(idx))
    import pyarrow as pa

    starts, ends = np.r_[0, breaks], np.r_[breaks, len(idx)]
    return pa.concat_tables([rows.slice(int(idx[a]), int(b - a)) for a, b in zip(starts, ends)])


#: Above this many runs, :func:`take_rows` leaves the reordering to ``Table.take``.
_MAX_RUNS = 256


def column(rows: pa.Table, name: str) -> np.ndarray:
    """A journal column without nulls as a numpy array (features: rows x features).

    Read from the Arrow buffers: ``to_numpy`` and ``take`` with numpy indices would import
    pandas, which writing a table never does (about 1 s).
    """
    arr = rows.column(name).combine_chunks()
    width = 1
    if name == "features":  # (not flatten(), which imports pyarrow.compute; no null lists)
        width = arr.type.list_size
        arr = arr.values.slice(arr.offset * width, len(arr) * width)
    kind = str(arr.type)
    n, at = len(arr), arr.offset
    if kind == "bool":
        bits = np.frombuffer(arr.buffers()[1] or b"", np.uint8)
        return np.unpackbits(bits, count=at + n, bitorder="little")[at:].astype(bool)
    dtype = np.dtype({"double": "float64", "float": "float32"}.get(kind, kind))
    data = arr.buffers()[1]
    values = np.frombuffer(data, dtype, n, at * dtype.itemsize) if n else np.zeros(0, dtype)
    return values.reshape(-1, width) if name == "features" else values


def entry_batch(entries: list[FileEntry], n_features: int) -> pa.RecordBatch:
    """The journal rows of finished files: per row its span, error and features, with its
    file's facts repeated (``seq`` numbers a file's rows in table order)."""
    import pyarrow as pa

    entries = sorted(entries, key=lambda e: e.index)  # a part in table order: no take
    n = np.array([len(e.row_errors) for e in entries], dtype=np.int64)

    def per_file(values: list[Any], dtype: Any) -> np.ndarray:
        return np.repeat(np.asarray(values, dtype=dtype), n)

    def texts(values: list[str | None]) -> list[str | None]:
        return [v for v, k in zip(values, n.tolist()) for _ in range(k)]

    spans = np.concatenate([e.spans for e in entries]) if entries else np.zeros((0, 3))
    truth = [e.truth or (None, None, None) for e in entries]
    actor = [t[1] for t in truth]
    no_actor = per_file([a is None for a in actor], bool)
    feats = np.concatenate([e.features for e in entries] or [np.zeros((0, n_features))])
    feats = feats.astype("<f4", copy=False).ravel()
    cols = {
        "file": numeric(per_file([e.index for e in entries], np.int64)),
        "seq": numeric(
            np.concatenate([np.arange(k, dtype=np.int32) for k in n.tolist()] or [[]]).astype(
                np.int32
            )
        ),
        "key": numeric(per_file([file_key(e.path, e.size, e.mtime_ns) for e in entries], np.int64)),
        "size": numeric(per_file([e.size for e in entries], np.int64)),
        "mtime_ns": numeric(per_file([e.mtime_ns for e in entries], np.int64)),
        "path": text_array(texts([e.path for e in entries])),
        "status": numeric(per_file([e.status for e in entries], np.int8)),
        "file_error_text": text_array(texts([e.error for e in entries])),
        "duration": numeric(per_file([e.duration for e in entries], np.float64)),
        "sample_rate": numeric(per_file([e.sample_rate for e in entries], np.int32)),
        "channels": numeric(per_file([e.channels for e in entries], np.int32)),
        "n_rows": numeric(np.repeat(n.astype(np.int32), n)),
        "speaker": text_array(texts([e.speaker for e in entries])),
        "true_emotion": text_array(texts([t[0] for t in truth])),
        "actor": int32_array(per_file([a or 0 for a in actor], np.int32), no_actor),
        "intensity": text_array(texts([t[2] for t in truth])),
        "start": numeric(np.ascontiguousarray(spans[:, 0], np.float64)),
        "end": numeric(np.ascontiguousarray(spans[:, 1], np.float64)),
        "channel": numeric(spans[:, 2].astype(np.int16)),
        "error": text_array([x for e in entries for x in e.row_errors]),
        "file_error": bool_array(
            np.concatenate([e.file_error for e in entries] or [[]]), np.zeros(int(n.sum()), bool)
        ),
        "has_features": bool_array(
            np.concatenate([e.has for e in entries] or [[]]), np.zeros(int(n.sum()), bool)
        ),
        "features": pa.FixedSizeListArray.from_arrays(numeric(feats), n_features),
    }
    return pa.RecordBatch.from_arrays(list(cols.values()), names=list(cols))


class Collector(Predictor):
    """Gathers each file's results (its pieces) and hands the finished file to the journal.

    A :class:`~.pipeline.Predictor` (it shares :meth:`add`, with its checks) that predicts
    nothing: :func:`~.pipeline.assemble` does, from the journal. A file's rows are those
    :class:`~.table.RowStore` would give it, in table order (channel, then start).
    """

    def __init__(self, journal: Journal, model: Model, reason: str, channel_column: bool) -> None:
        self.journal = journal
        self.model = model
        self.n_features = model.n_features
        self.reason = reason  # for a working file without any row
        self.channel_column = channel_column
        self.seconds = 0.0
        self._open: dict[int, dict[str, Any]] = {}

    def begin(
        self,
        index: int,
        relpath: str,
        path: str,
        size: int,
        mtime_ns: int,
        speaker: str | None,
        truth: TrueLabel | None,
    ) -> None:
        t = None if truth is None else (truth.emotion, truth.actor, truth.intensity)
        self._open[index] = {
            "facts": (relpath, size, mtime_ns, speaker, t),
            "path": path,
            "left": 1,
            "status": 0,
            "error": None,
            "duration": np.nan,
            "sr": 0,
            "channels": 0,
            "spans": [],
            "errors": [],
            "file_error": [],
            "X": [],
            "has": [],
        }

    def path(self, index: int) -> str:
        return str(self._open[index]["path"])

    def expect_pieces(self, index: int, n: int) -> None:
        self._open[index]["left"] = n

    def file_done(self, index: int) -> bool:
        return index not in self._open

    def failed(self, index: int, error: str) -> None:
        """File ``index`` could not be walked into (a folder): one error row, finished."""
        self._error(self._open[index], error)
        self._finish(index)

    @property
    def held_chunks(self) -> int:
        return 0

    def finish(self) -> None:
        pass

    def close(self) -> None:
        pass

    def _add(self, res: FileResult) -> None:
        o = self._open[res.index]
        if res.duration_s is not None:
            o["duration"] = res.duration_s
        o["sr"] = res.sample_rate or o["sr"]
        o["channels"] = res.channels or o["channels"]
        if res.status != "ok":
            self._error(o, res.error or "failed")
        else:
            if o["status"] != _ERROR:
                o["status"] = _OK
            if res.segments is None:  # the whole file, one utterance
                has = res.features is not None
                X = res.features if has else np.full(self.n_features, np.nan)
                self._rows(o, [[0.0, res.duration_s or np.nan, -1.0]], [None], False, X, [has])
            elif len(res.segments):
                errors = list(res.segment_errors or [None] * len(res.segments))
                X = res.features
                if X is None or not np.size(X):
                    X = np.full((len(errors), self.n_features), np.nan)
                self._rows(o, res.segments, errors, False, X, [e is None for e in errors])
        o["left"] += res.n_pieces - 2
        if o["left"] <= 0:
            self._finish(res.index)

    def _rows(
        self,
        o: dict[str, Any],
        spans: Any,
        errors: list[str | None],
        file_error: bool,
        X: Any,
        has: list[bool],
    ) -> None:
        o["spans"].append(np.asarray(spans, dtype=np.float64).reshape(-1, 3))
        o["errors"] += errors
        o["file_error"] += [file_error] * len(errors)
        o["X"].append(np.asarray(X, dtype=np.float32).reshape(len(errors), -1))
        o["has"] += has

    def _error(self, o: dict[str, Any], error: str) -> None:
        o["status"], o["error"] = _ERROR, error
        self._rows(
            o,
            [[0.0, o["duration"], -1.0]],
            [error],
            True,
            np.full(self.n_features, np.nan),
            [False],
        )

    def _finish(self, index: int) -> None:
        o = self._open.pop(index)
        if o["status"] == _OK and not o["errors"]:
            self._error(o, self.reason)
        if self.channel_column and o["status"] == _OK:
            present = {int(c) for s in o["spans"] for c in s[:, 2]}
            for c in range(int(o["channels"])):
                if c not in present:
                    self._rows(
                        o,
                        [[0.0, o["duration"], float(c)]],
                        [self.reason],
                        False,
                        np.full(self.n_features, np.nan),
                        [False],
                    )
        spans = np.concatenate(o["spans"])
        order = np.lexsort((spans[:, 0], spans[:, 2]))  # channel, then start; stable
        relpath, size, mtime_ns, speaker, truth = o["facts"]
        self.journal.add(
            FileEntry(
                index,
                relpath,
                size,
                mtime_ns,
                o["status"],
                o["error"],
                float(o["duration"]),
                int(o["sr"]),
                int(o["channels"]),
                speaker,
                truth,
                spans[order],
                [o["errors"][k] for k in order.tolist()],
                np.asarray(o["file_error"], bool)[order],
                np.concatenate(o["X"])[order],
                np.asarray(o["has"], bool)[order],
            )
        )


def run_manifest(plan: Plan) -> dict[str, Any]:
    """What a run is, for its journal: a resumed run must be the same run."""
    meta = {k: json.loads(v) for k, v in plan.metadata.items()}
    compare: Any = plan.compare
    if compare is not None and os.path.isfile(compare):  # a labels table: its content too
        compare = {"table": os.path.abspath(compare), "sha256": sha256_file(compare)}
    return {
        "format": FORMAT,
        "ser_version": meta["ser.version"],
        "model": plan.model_sha256 or f"name {plan.model.name}",
        "model_name": plan.model.name,
        "features": meta["ser.feature_set"],
        "n_features": plan.model.n_features,
        "segments": meta["ser.segments"],
        "normalization": plan.mode,
        "speaker_from": meta["ser.speaker_from"],
        "pattern": plan.pattern,
        "compare": compare,
        "paths": [os.path.abspath(p) for p in plan.paths],
    }


_OPTION = {
    "normalization": "--normalize",
    "speaker_from": "--speaker-from",
    "pattern": "--glob",
    "compare": "--compare",
    "paths": "the PATHs",
    "mode": "--segment",
    "channels": "--channels",
    "max_segment": "--max-segment",
    "window": "--window",
    "hop": "--hop",
    "features": "the feature configuration",
    "ser_version": "the ser version",
    "format": "the journal format",
    "n_features": "the number of features",
}


def manifest_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between two manifests, as ``"--segment (auto -> speech)"``."""
    out = []
    for key in sorted((set(old) | set(new)) - {"model_name"}):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if key == "model":
            out.append(
                f"the model ({old.get('model_name')} {_short(a)} -> "
                f"{new.get('model_name')} {_short(b)})"
            )
        elif isinstance(a, dict) and isinstance(b, dict) and key == "segments":
            out += [
                f"{_OPTION.get(k, k)} ({a.get(k)} -> {b.get(k)})"
                for k in sorted(set(a) | set(b))
                if a.get(k) != b.get(k)
            ]
        elif key == "features":
            if changes := config_changes(a or {}, b or {}):  # not a parameter added since
                out.append(f"{_OPTION[key]} ({', '.join(changes)})")
        else:
            out.append(f"{_OPTION.get(key, key)} ({a} -> {b})")
    return out


def _short(sha: Any) -> str:
    return f"sha256 {sha[:12]}..." if isinstance(sha, str) and len(sha) == 64 else str(sha)
