"""Export a ``ser-annotate`` table to the files annotators open: one per recording (and channel).

Formats (:data:`~ser.common.choices.EXPORT_FORMATS`, writers in :mod:`.export_formats`): a
Praat TextGrid, an ELAN EAF file, an Audacity label track and WebVTT subtitles. Each labelled
row of the table becomes one segment, labelled with its emotion and confidence
(``"angry 0.83"``); error rows (and rows without an emotion) are skipped and counted. Rows of
one recording share ``path`` (and ``channel``, when the table has that column) and may come
in any order: they are sorted by start. A table without ``start`` and ``end`` (one row per
file) gives one segment from 0 to ``duration_s``. Overlapping segments stay as they are in
Audacity and WebVTT files; in TextGrid and EAF tiers each instant goes to the segment whose
centre is nearest (:func:`~.export_formats.tier_intervals`).

Names: ``DIR/<path>`` with the audio extension replaced by the format's (``.TextGrid``,
``.eaf``, ``.txt``, ``.vtt``), ``/`` kept as sub-folders, and ``.ch<N>`` before the
extension for the table's channel ``N``: ``Actor_01/x.wav`` channel 1 becomes
``DIR/Actor_01/x.ch1.TextGrid``. Recordings that would share a name (``a.wav`` and
``a.flac``) keep their audio extension (``a.wav.vtt``, ``a.flac.vtt``). A path never leaves
``DIR``: a leading ``/`` is dropped, ``..`` becomes ``__`` and ``.`` or empty parts are left
out (``../x.wav`` becomes ``DIR/__/x.vtt``).

Everything is checked before the first file is written: a table that is not a ``ser`` table,
a row with an impossible span, names that still collide, and files that exist already
(unless ``overwrite``). Each file is written atomically (temporary file, then rename).
"""

from __future__ import annotations

import csv
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ser.common import DataError
from ser.common.choices import EXPORT_FORMATS, check_choice

from .export_formats import (
    EXTENSIONS,
    TIER,
    WRITERS,
    Segment,
    tier_intervals,
    write_audacity,
    write_eaf,
    write_textgrid,
    write_vtt,
)

__all__ = [
    "EXTENSIONS",
    "TIER",
    "WRITERS",
    "ExportSummary",
    "Recording",
    "Segment",
    "export_table",
    "output_names",
    "read_recordings",
    "tier_intervals",
    "write_audacity",
    "write_eaf",
    "write_textgrid",
    "write_vtt",
]

logger = logging.getLogger(__name__)

#: Columns a ``ser-annotate`` table always has.
REQUIRED_COLUMNS: tuple[str, ...] = ("path", "emotion", "confidence")
_TEXT, _REAL = ("path", "status", "emotion"), ("start", "end", "duration_s", "confidence")


@dataclass(frozen=True)
class Recording:
    """The segments of one ``path`` (and ``channel``), sorted by start; ``duration_s`` is the
    longest of the file's duration and the last segment's end."""

    path: str
    channel: int | None
    segments: tuple[Segment, ...]
    duration_s: float


@dataclass(frozen=True)
class ExportSummary:
    """What :func:`export_table` wrote.

    ``n_skipped_rows``: error rows and rows without an emotion; ``n_unlabelled``: recordings
    with no labelled row (no file); ``n_cut``: segments whose TextGrid or EAF interval is not
    the table's span because they overlap another.
    """

    table: str
    to: str
    out_dir: str
    files: tuple[str, ...]
    n_segments: int
    n_skipped_rows: int
    n_unlabelled: int
    n_cut: int

    @property
    def n_files(self) -> int:
        return len(self.files)


def export_table(
    table_path: str | os.PathLike[str],
    *,
    to: str,
    out_dir: str | os.PathLike[str],
    overwrite: bool = False,
) -> ExportSummary:
    """Write one ``to`` file per recording (and channel) of a ``ser-annotate`` table.

    Parameters
    ----------
    table_path : path to a .parquet or .csv file
        Written by ``ser-annotate``.
    to : {'textgrid', 'eaf', 'audacity', 'vtt'}
        The format (:data:`~ser.common.choices.EXPORT_FORMATS`).
    out_dir : path
        Folder of the files, created if missing; names as the module describes.
    overwrite : bool
        Replace files that exist; without it they are refused before anything is written.

    Returns
    -------
    ExportSummary

    Raises
    ------
    DataError
        Before anything is written: an unknown ``to``, a table that cannot be read or is not
        a ``ser`` table, a labelled row whose span is not ``0 <= start < end``, names that
        collide, outputs that exist (without ``overwrite``), an unusable ``out_dir``.
    OutputError
        When a file cannot be written (the files written before it are kept, whole).
    """
    to = check_choice("--to", to, EXPORT_FORMATS)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out-dir {os.fspath(out)} exists and is not a folder")
    recordings, n_skipped, n_unlabelled = read_recordings(table_path)
    targets = [out.joinpath(*name.parts) for name in output_names(recordings, to)]
    _check_targets(out, targets, overwrite=overwrite)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"cannot create --out-dir {os.fspath(out)}: {exc.strerror or exc}"
        ) from None
    if not os.access(out, os.W_OK):
        raise DataError(f"cannot write in --out-dir {os.fspath(out)}: permission denied")
    write, n_cut = WRITERS[to], 0
    for rec, target in zip(recordings, targets):
        n_cut += write(rec.segments, target, duration=rec.duration_s, overwrite=overwrite)
        logger.debug("wrote %s (%d segments)", target, len(rec.segments))
    summary = ExportSummary(
        table=os.fspath(table_path),
        to=to,
        out_dir=os.fspath(out),
        files=tuple(os.fspath(t) for t in targets),
        n_segments=sum(len(r.segments) for r in recordings),
        n_skipped_rows=n_skipped,
        n_unlabelled=n_unlabelled,
        n_cut=n_cut,
    )
    logger.info("exported %d %s files to %s", summary.n_files, to, summary.out_dir)
    return summary


# --- reading -------------------------------------------------------------------------------


def read_recordings(table_path: str | os.PathLike[str]) -> tuple[list[Recording], int, int]:
    """The recordings of a ``ser-annotate`` table, in the table's order of first appearance.

    Returns ``(recordings, n_skipped_rows, n_unlabelled)``: the rows left out (status not
    ``ok`` or no emotion) and the paths that have no labelled row at all. In CSV tables the
    ``'`` that ``ser-annotate`` puts before formula-like text is taken off again.

    Raises
    ------
    DataError
        For a table that cannot be read or is not a ``ser`` table, or a labelled row whose
        span is not ``0 <= start < end``.
    """
    name = os.fspath(table_path)
    cols, from_csv = _read_columns(name)
    n = len(cols["path"])
    if from_csv:
        from .output import FORMULA_STARTS

        for c in ("path", "emotion"):
            cols[c] = [_undo_formula_guard(v, FORMULA_STARTS) for v in cols[c]]
    status, channel = cols.get("status", [None] * n), cols.get("channel", [None] * n)
    duration = cols.get("duration_s", [None] * n)
    groups: dict[tuple[str, int | None], list[Segment]] = {}
    longest: dict[tuple[str, int | None], float] = {}
    skipped: set[str | None] = set()
    for i in range(n):
        path, emotion, dur = cols["path"][i], cols["emotion"][i], _finite(duration[i])
        if not emotion or status[i] not in (None, "ok"):
            skipped.add(path)
            continue
        if not path:
            raise DataError(f"{name}: row {i + 1} has an emotion but no path")
        start, end = (cols["start"][i], cols["end"][i]) if "start" in cols else (0.0, dur)
        start, end = _finite(start), _finite(end)
        if start is None or end is None or not 0 <= start < end:
            raise DataError(
                f"{name}: row {i + 1} ({path}) spans {start} to {end} s; a labelled row needs "
                "0 <= start < end"
            )
        key = (path, channel[i])
        groups.setdefault(key, []).append(
            Segment(start, end, emotion, _finite(cols["confidence"][i]))
        )
        longest[key] = max(longest.get(key, 0.0), dur or 0.0, end)
    recordings = [
        Recording(path, ch, tuple(sorted(segs, key=lambda s: (s.start, s.end))), longest[path, ch])
        for (path, ch), segs in groups.items()
    ]
    n_skipped = n - sum(len(r.segments) for r in recordings)
    return recordings, n_skipped, len(skipped - {path for path, _ in groups})


def _read_columns(name: str) -> tuple[dict[str, list], bool]:
    import pyarrow as pa

    kind = Path(name).suffix.lower()
    if kind not in (".parquet", ".csv"):
        raise DataError(f"{name}: TABLE must be a ser-annotate output, a .parquet or .csv file")
    if not os.path.isfile(name):
        raise DataError(f"{name}: {'not a file' if os.path.exists(name) else 'no such file'}")
    try:
        if kind == ".parquet":
            import pyarrow.parquet as pq

            names = pq.read_schema(name).names
        else:
            with open(name, encoding="utf-8", newline="") as f:
                names = next(csv.reader(f), [])
        _check_columns(name, names)
        wanted = [c for c in (*_TEXT, *_REAL, "channel") if c in names]
        if kind == ".parquet":
            table = pq.read_table(name, columns=wanted)
        else:
            import pyarrow.csv as pcsv

            types = {c: pa.string() for c in _TEXT} | {c: pa.float64() for c in _REAL}
            options = pcsv.ConvertOptions(
                include_columns=wanted, column_types=types, strings_can_be_null=True
            )
            parse = pcsv.ParseOptions(newlines_in_values=True)  # error texts may hold some
            table = pcsv.read_csv(name, parse_options=parse, convert_options=options)
    except (pa.ArrowException, OSError, UnicodeDecodeError, csv.Error) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"cannot read {name} as a {kind[1:]} table: {message}") from None
    cols: dict[str, list] = {}
    for c in table.column_names:
        target = pa.string() if c in _TEXT else pa.int64() if c == "channel" else pa.float64()
        try:
            cols[c] = table.column(c).cast(target).to_pylist()
        except pa.ArrowException:
            raise DataError(
                f"{name}: column {c!r} holds {table.schema.field(c).type}, not {target}"
            ) from None
    return cols, kind == ".csv"


def _check_columns(name: str, names: list[str]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise DataError(f"{name} is not a ser-annotate table: no column {', '.join(missing)}")
    if ("start" in names) != ("end" in names):
        raise DataError(f"{name}: a table with a start column needs an end column, and back")
    if "start" not in names and "duration_s" not in names:
        raise DataError(f"{name}: a table without start and end columns needs duration_s")


def _undo_formula_guard(text: str | None, starts: tuple[str, ...]) -> str | None:
    """Take off the ``'`` that ``ser-annotate`` puts before formula-like CSV text."""
    if text and text.startswith("'") and text[1:].startswith(starts):
        return text[1:]
    return text


def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


# --- names ---------------------------------------------------------------------------------


def output_names(recordings: Sequence[Recording], to: str) -> list[PurePosixPath]:
    """The file of each recording, relative to the output folder (see the module's rule).

    Raises
    ------
    DataError
        When two recordings still get the same name.
    """
    ext = EXTENSIONS[check_choice("--to", to, EXPORT_FORMATS)]
    names = [_name(r, ext, keep_suffix=False) for r in recordings]
    seen: dict[PurePosixPath, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    names = [
        _name(r, ext, keep_suffix=True) if seen[name] > 1 else name
        for r, name in zip(recordings, names)
    ]
    firsts: dict[PurePosixPath, Recording] = {}
    for rec, name in zip(recordings, names):
        other = firsts.setdefault(name, rec)
        if other is not rec:
            raise DataError(f"recordings {other.path!r} and {rec.path!r} would both be {name}")
    return names


def _name(rec: Recording, ext: str, *, keep_suffix: bool) -> PurePosixPath:
    parts = []
    for part in rec.path.replace(os.sep, "/").split("/"):
        if part in ("", "."):
            continue
        parts.append("__" if part == ".." else part)
    if not parts:
        raise DataError(f"path {rec.path!r} names no file")
    last = PurePosixPath(parts[-1])
    stem = last.name if keep_suffix else last.stem
    channel = "" if rec.channel is None else f".ch{rec.channel}"
    return PurePosixPath(*parts[:-1], f"{stem}{channel}{ext}")


def _check_targets(out: Path, targets: list[Path], *, overwrite: bool) -> None:
    root = os.path.abspath(out)
    existing = []
    for target in targets:
        if os.path.commonpath([root, os.path.abspath(target)]) != root:
            raise DataError(f"{target} would be outside --out-dir {os.fspath(out)}")
        if target.is_dir():
            raise DataError(f"{target} is a folder; cannot write a file there")
        for parent in target.parents:
            if parent == out:
                break
            if parent.exists() and not parent.is_dir():
                raise DataError(f"cannot write {target}: {parent} is not a folder")
        if target.exists() or target.is_symlink():
            existing.append(target)
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise DataError(f"{existing[0]} already exists{more}; --overwrite replaces them")
