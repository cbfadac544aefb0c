"""Reading a ``ser-annotate`` table (Parquet or CSV) and what the *Explore* page shows of it:
counts, errors by reason, filtered and sorted rows, recordings and their timelines, the
comparison with true labels, and the audio of a row. No Streamlit here.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ser.common.errors import AudioError, DataError

if TYPE_CHECKING:
    import pandas as pd

    from ser.annotate.compare import Comparison

__all__ = [
    "MAX_PLAY_S",
    "REQUIRED_COLUMNS",
    "LoadedTable",
    "audio_roots",
    "classes_of",
    "compare_source",
    "comparison_of",
    "emotion_counts",
    "error_reasons",
    "filter_rows",
    "read_segment",
    "read_table",
    "recordings",
    "resolve_audio",
    "table_summary",
    "timeline_of",
]

logger = logging.getLogger(__name__)

#: Columns without which a table is not a ``ser-annotate`` output.
REQUIRED_COLUMNS: tuple[str, ...] = ("path", "status", "emotion")
#: The longest span a row's player gets (a whole-file row of an hour-long recording is cut).
MAX_PLAY_S = 600.0
_TEXT_COLUMNS = ("path", "status", "error", "emotion", "true_emotion", "speaker", "normalization")


@dataclass(frozen=True)
class LoadedTable:
    """A table read back: its rows, its ``ser.*`` metadata (Parquet only) and its name."""

    frame: pd.DataFrame
    name: str
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None  # where it was read from (None for an upload)

    @property
    def classes(self) -> list[str]:
        return classes_of(self.frame)

    @property
    def labelled(self) -> bool:
        return "true_emotion" in self.frame.columns and bool(
            self.frame["true_emotion"].notna().any()
        )


def read_table(source: str | os.PathLike[str] | bytes, name: str | None = None) -> LoadedTable:
    """Read a ``ser-annotate`` output from a path or from the bytes of an upload.

    Parameters
    ----------
    source : path-like or bytes
        The file, or its content (then ``name`` gives the format by its extension).
    name : str, optional
        The file's name; by default that of ``source``.

    Raises
    ------
    DataError
        Not ``.parquet`` or ``.csv``, unreadable as such, or without the columns of a
        ``ser-annotate`` table. One line, naming the file.
    """
    import pandas as pd

    path = None if isinstance(source, bytes) else Path(source).expanduser()
    name = name or (path.name if path is not None else "table")
    suffix = Path(name).suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise DataError(f"{name}: not a ser-annotate table (expected a .parquet or .csv file)")
    if path is not None and not path.is_file():
        raise DataError(f"{path}: no such file")
    raw: Any = io.BytesIO(source) if isinstance(source, bytes) else path
    meta: dict[str, Any] = {}
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(raw)
            meta = _ser_metadata(table.schema.metadata or {})
            frame = table.to_pandas()
        else:
            frame = pd.read_csv(raw, dtype={c: "string" for c in _TEXT_COLUMNS}, low_memory=False)
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        kind = "Parquet" if suffix == ".parquet" else "CSV"
        detail = " ".join(str(exc).split())[:160]
        raise DataError(f"{name}: cannot read it as {kind} ({detail})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(
            f"{name}: not a ser-annotate table: no {', '.join(missing)} column"
            f"{'s' if len(missing) > 1 else ''}"
        )
    return LoadedTable(_normalised(frame), name, meta, path)


def _ser_metadata(raw: dict[bytes, bytes]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key, value in raw.items():
        k = key.decode(errors="replace")
        if k.startswith("ser."):
            try:
                meta[k] = json.loads(value)
            except ValueError:
                meta[k] = value.decode(errors="replace")
    return meta


def _normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns as the pages expect them: text as strings (CSV's formula guard undone),
    numbers as floats, ``start``/``end`` present."""
    import pandas as pd

    from ser.annotate.output import FORMULA_STARTS

    frame = frame.copy()
    for col in _TEXT_COLUMNS:
        if col in frame.columns:
            text = frame[col].astype("string")
            guarded = text.str.startswith("'", na=False) & text.str[1:2].isin(FORMULA_STARTS)
            frame[col] = text.where(~guarded, text.str[1:])
    numeric = [
        "start",
        "end",
        "duration_s",
        "confidence",
        *[c for c in frame if c.startswith("prob_")],
    ]
    for col in numeric:
        if col in frame.columns:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    if "start" not in frame.columns:
        frame["start"] = 0.0
    if "end" not in frame.columns:
        frame["end"] = frame["duration_s"] if "duration_s" in frame.columns else np.nan
    if "correct" in frame.columns and frame["correct"].dtype == object:
        frame["correct"] = frame["correct"].map(
            {"True": True, "False": False, True: True, False: False}
        )
    return frame


def classes_of(frame: pd.DataFrame) -> list[str]:
    """The model's classes, from the ``prob_<class>`` columns, in order."""
    return [c[len("prob_") :] for c in frame.columns if c.startswith("prob_")]


def table_summary(frame: pd.DataFrame) -> dict[str, Any]:
    """Rows, recordings, predicted rows, error rows, mean confidence and hours of audio."""
    ok = frame["status"] == "ok"
    predicted = ok & frame["emotion"].notna()
    durations = frame.drop_duplicates("path")["duration_s"] if "duration_s" in frame else None
    return {
        "rows": len(frame),
        "recordings": int(frame["path"].nunique()),
        "predicted": int(predicted.sum()),
        "errors": int((frame["status"] == "error").sum()),
        "mean_confidence": float(frame.loc[predicted, "confidence"].mean())
        if "confidence" in frame and predicted.any()
        else float("nan"),
        "hours": float(durations.sum() / 3600) if durations is not None else float("nan"),
    }


def emotion_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Predicted rows per emotion (``emotion``, ``rows``, ``share``), in the model's class
    order, classes that were never predicted included with 0."""
    import pandas as pd

    emotions = frame.loc[(frame["status"] == "ok") & frame["emotion"].notna(), "emotion"]
    counts = emotions.value_counts()
    order = [*classes_of(frame), *sorted(set(counts.index) - set(classes_of(frame)))]
    rows = [int(counts.get(e, 0)) for e in order]
    total = max(1, sum(rows))
    return pd.DataFrame({"emotion": order, "rows": rows, "share": [r / total for r in rows]})


def error_reasons(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows without a prediction grouped by reason: the error's text up to its first colon
    (``too short``, ``cannot decode audio``...), numbers masked; with a count and an
    example row (``reason``, ``rows``, ``example``, ``example error``)."""
    import pandas as pd

    failed = frame[(frame["status"] != "ok") | frame["emotion"].isna()]
    if "error" not in failed.columns or failed.empty:
        return pd.DataFrame(columns=["reason", "rows", "example", "example error"])
    errors = failed["error"].fillna("no prediction").astype(str)
    reasons = errors.map(_reason)
    grouped = (
        pd.DataFrame({"reason": reasons, "path": failed["path"].astype(str), "error": errors})
        .groupby("reason", sort=False)
        .agg(rows=("path", "size"), example=("path", "first"), example_error=("error", "first"))
        .reset_index()
        .sort_values(["rows", "reason"], ascending=[False, True], ignore_index=True)
    )
    return grouped.rename(columns={"example_error": "example error"})


def _reason(error: str) -> str:
    head = error.split(":", 1)[0].strip() if ":" in error else error.strip()
    return re.sub(r"-?\d+(\.\d+)?", "#", head) or "unknown"


def filter_rows(
    frame: pd.DataFrame,
    *,
    emotions: Sequence[str] | None = None,
    status: str | None = None,
    confidence: tuple[float, float] = (0.0, 1.0),
    path_contains: str = "",
    correct: bool | None = None,
    sort_by: str | None = None,
    descending: bool = False,
) -> pd.DataFrame:
    """The rows that pass every filter given, sorted by ``sort_by``.

    ``emotions`` keeps rows predicted as one of them; ``status`` rows of that status;
    ``confidence`` rows whose confidence lies in the closed range (rows without one pass
    only the full range); ``path_contains`` rows whose path contains the text (ignoring
    case); ``correct`` rows whose prediction is right (True) or wrong (False).
    """
    keep = np.ones(len(frame), dtype=bool)
    if emotions is not None:
        keep &= frame["emotion"].isin(list(emotions)).fillna(False).to_numpy(dtype=bool)
    if status:
        keep &= (frame["status"] == status).fillna(False).to_numpy(dtype=bool)
    lo, hi = confidence
    if (lo, hi) != (0.0, 1.0) and "confidence" in frame:
        conf = frame["confidence"].to_numpy(dtype=np.float64)
        keep &= (conf >= lo) & (conf <= hi)
    if path_contains:
        keep &= (
            frame["path"]
            .str.contains(path_contains, case=False, regex=False)
            .fillna(False)
            .to_numpy(dtype=bool)
        )
    if correct is not None and "correct" in frame:
        keep &= (frame["correct"] == correct).fillna(False).to_numpy(dtype=bool)
    out = frame[keep]
    if sort_by and sort_by in out.columns:
        out = out.sort_values(sort_by, ascending=not descending, kind="stable", na_position="last")
    return out


def recordings(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per recording (``path``, ``rows``, ``duration_s``), those with most rows (the
    segmented ones) first, then the longest."""
    duration = frame["duration_s"] if "duration_s" in frame else frame["end"]
    grouped = (
        frame.assign(_d=duration)
        .groupby("path", sort=False)
        .agg(rows=("status", "size"), duration_s=("_d", "max"))
        .reset_index()
    )
    return grouped.sort_values(["rows", "duration_s"], ascending=False, ignore_index=True)


def timeline_of(frame: pd.DataFrame, path: str) -> pd.DataFrame:
    """The rows of one recording in time order (by channel first, when there is one)."""
    rows = frame[frame["path"] == path]
    keys = [k for k in ("channel", "start") if k in rows.columns]
    return rows.sort_values(keys, kind="stable", ignore_index=True)


def compare_source(meta: dict[str, Any]) -> str | None:
    """The ``--compare`` value of the run that wrote a table (from its command line)."""
    command = meta.get("ser.command")
    if isinstance(command, str):
        command = shlex.split(command)
    if not isinstance(command, list):
        return None
    for i, arg in enumerate(command):
        if arg == "--compare" and i + 1 < len(command):
            return str(command[i + 1])
        if isinstance(arg, str) and arg.startswith("--compare="):
            return arg.split("=", 1)[1]
    return None


def comparison_of(frame: pd.DataFrame, *, training_actors: Sequence[int] = ()) -> Comparison | None:
    """The comparison with the true labels (as ``ser-annotate --compare`` prints it), or None
    for a table without labels."""
    if "true_emotion" not in frame.columns or not frame["true_emotion"].notna().any():
        return None
    from ser.annotate.compare import compare_labels

    return compare_labels(frame, classes=classes_of(frame), training_actors=training_actors)


def audio_roots(
    meta: dict[str, Any], table_path: Path | None, extra: Sequence[str] = ()
) -> list[Path]:
    """Folders a row's ``path`` may be relative to: those given (``extra``), the folders
    named on the run's command line (``ser.command``), and the table's own folder."""
    roots = [Path(e).expanduser() for e in extra if e]
    command = meta.get("ser.command")
    if isinstance(command, list):
        roots += [Path(a) for a in command[1:] if isinstance(a, str) and not a.startswith("-")]
    if table_path is not None:
        roots.append(table_path.resolve().parent)
    found: list[Path] = []
    for root in roots:
        for candidate in (root, root.parent):  # several PATHs: rows start with the PATH
            if candidate.is_dir() and candidate not in found:
                found.append(candidate)
    return found


def resolve_audio(row_path: str, roots: Sequence[Path]) -> Path | None:
    """The file a row's ``path`` names, if one of ``roots`` (or the path itself) reaches it."""
    path = Path(row_path)
    if path.is_absolute():
        return path if path.is_file() else None
    for root in roots:
        candidate = root / path
        if candidate.is_file():
            return candidate
    return None


def read_segment(
    path: str | os.PathLike[str], start: float, end: float, *, channel: int | None = None
) -> tuple[np.ndarray, int]:
    """The samples of ``path`` from ``start`` to ``end`` seconds (at most :data:`MAX_PLAY_S`),
    at the file's own rate: one channel, or the channels mixed.

    Raises
    ------
    AudioError
        The file cannot be decoded, or the span is empty.
    """
    from ser.audio.decode import decode

    spath = os.fspath(path)
    start = max(0.0, float(start) if np.isfinite(start) else 0.0)
    end = float(end) if np.isfinite(end) else start + MAX_PLAY_S
    end = min(end, start + MAX_PLAY_S)
    data, sr = _read_span(spath, start, end)
    if data is None:
        full, sr = decode(spath)
        data = full[int(start * sr) : int(end * sr)]
    if len(data) == 0:
        raise AudioError(spath, f"no audio between {start:.2f} s and {end:.2f} s")
    if channel is not None and 0 <= channel < data.shape[1]:
        mono = data[:, channel]
    else:
        mono = data.mean(axis=1)
    return np.ascontiguousarray(mono, dtype=np.float32), int(sr)


def _read_span(path: str, start: float, end: float) -> tuple[np.ndarray | None, int]:
    """The span read by seeking with libsndfile, or ``(None, 0)`` where it cannot."""
    import soundfile as sf

    try:
        with sf.SoundFile(os.fsencode(path)) as f:
            sr = f.samplerate
            f.seek(min(int(start * sr), f.frames))
            return f.read(int((end - start) * sr), dtype="float32", always_2d=True), sr
    except (RuntimeError, OSError, ValueError, TypeError):
        return None, 0
