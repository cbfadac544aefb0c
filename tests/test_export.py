"""``ser-export``: tables written with pyarrow, exported to every format and read back with the
libraries annotators' tools use (praatio, pympi) or a few lines of parsing (WebVTT, Audacity)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ser.annotate.export import (
    EXTENSIONS,
    WRITERS,
    Recording,
    Segment,
    export_table,
    output_names,
    tier_intervals,
    write_vtt,
)
from ser.annotate.export_cli import PROG, app
from ser.annotate.output import write_table
from ser.common import DataError
from ser.common.choices import EXPORT_FORMATS
from ser.common.console import run_command

FORMATS = list(EXPORT_FORMATS)
TIERED = ("textgrid", "eaf")  # formats whose tiers cannot overlap
TEXT = ("path", "status", "error", "emotion")
runner = CliRunner()


def make_table(path: Path, rows: list[dict]) -> Path:
    """Write ``rows`` as ser-annotate would (text as large_string: CSV formula guard)."""
    names = list(dict.fromkeys(k for row in rows for k in row))
    cols = {}
    for name in names:
        values = [row.get(name) for row in rows]
        kind = pa.large_string() if name in TEXT else pa.int32() if name == "channel" else None
        cols[name] = pa.array(values, type=kind or pa.float64())
    write_table(pa.table(cols), path, overwrite=True)
    return path


def row(path, emotion, confidence, start=None, end=None, duration=4.5, status="ok", **more):
    """One row of a ser-annotate table (with ``start``/``end`` only when given)."""
    r = {"path": path}
    if start is not None or end is not None:
        r |= {"start": start, "end": end}
    r |= more
    r |= {"status": status, "error": None if status == "ok" else "silent", "duration_s": duration}
    return r | {"emotion": emotion, "confidence": confidence, "prob_x": confidence}


def read_back(to: str, path: Path, *, blanks: bool = False) -> list[tuple[float, float, str]]:
    """``(start, end, label)`` of a written file, in seconds, with each format's own reader."""
    if to == "textgrid":
        from praatio import textgrid

        grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=blanks)
        assert list(grid.tierNames) == ["emotion"]
        return [(e.start, e.end, e.label) for e in grid.getTier("emotion").entries]
    if to == "eaf":
        from pympi.Elan import Eaf

        data = Eaf(str(path)).get_annotation_data_for_tier("emotion")
        return [(a / 1000, b / 1000, label) for a, b, label in sorted(data)]
    text = path.read_text(encoding="utf-8")
    if to == "audacity":
        fields = [line.split("\t") for line in text.splitlines()]
        return [(float(a), float(b), label) for a, b, label in fields]
    assert text.startswith("WEBVTT\n\n") and text.endswith("\n") and "\n\n\n" not in text
    cues = []
    for block in text[len("WEBVTT\n\n") :].rstrip("\n").split("\n\n"):
        ident, timing, label = block.split("\n")
        start, arrow, end = timing.split(" ")
        assert ident.isdigit() and arrow == "-->"
        assert re.fullmatch(r"\d\d+:\d\d:\d\d\.\d\d\d", start), start
        cues.append((vtt_seconds(start), vtt_seconds(end), label))
    return cues


def vtt_seconds(stamp: str) -> float:
    h, m, s = stamp.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def assert_spans(got, want, to="vtt"):
    """Equal labels and times: exactly in a TextGrid, else to the format's precision."""
    assert [label for *_, label in got] == [label for *_, label in want]
    flat = [t for a, b, _ in want for t in (a, b)]
    tolerance = 0 if to == "textgrid" else 5e-4
    assert [t for a, b, _ in got for t in (a, b)] == pytest.approx(flat, abs=tolerance)


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


# --- tables and formats --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["parquet", "csv"])
@pytest.mark.parametrize("to", FORMATS)
def test_whole_file_rows_of_todays_tables_round_trip(tmp_path, to, kind):
    table = make_table(tmp_path / f"labels.{kind}", [
        row("Actor_01/a.wav", "angry", 0.8312, duration=3.25),
        row("broken.wav", None, None, duration=None, status="error"),
        row("b.wav", "sad", 0.5, duration=2.0),
    ])  # fmt: skip
    summary = export_table(table, to=to, out_dir=tmp_path / "out")
    ext = EXTENSIONS[to]
    assert files_under(tmp_path / "out") == sorted([f"Actor_01/a{ext}", f"b{ext}"])
    assert (summary.n_files, summary.n_segments, summary.n_skipped_rows) == (2, 2, 1)
    assert (summary.n_unlabelled, summary.n_cut) == (1, 0)
    got = read_back(to, tmp_path / "out" / "Actor_01" / f"a{ext}", blanks=True)
    assert_spans(got, [(0.0, 3.25, "angry 0.83")], to)
    assert_spans(read_back(to, tmp_path / "out" / f"b{ext}"), [(0.0, 2.0, "sad 0.50")], to)


def segmented_rows() -> list[dict]:
    """Two recordings, rows out of order: overlapping windows (the last one shorter) with an
    error row, and separate segments with gaps under a formula-like path."""
    return [
        row("long/x.wav", "sad", 0.5, 2.0, 4.0),
        row("=y.wav", "angry", 0.9, 2.0, 3.0, duration=4.0),
        row("long/x.wav", "angry", 0.83, 0.0, 2.0),
        row("long/x.wav", None, None, 0.0, 4.5, status="error") | {"error": "no:\n=bad"},
        row("long/x.wav", "happy", 0.6, 1.0, 3.0),
        row("=y.wav", "happy", 0.4, 0.5, 1.5, duration=4.0),
        row("long/x.wav", "sad", 0.7, 3.0, 4.5),
    ]


@pytest.mark.parametrize("to", FORMATS)
def test_segments_in_any_order_overlaps_and_gaps(tmp_path, to):
    table = make_table(tmp_path / "labels.csv", segmented_rows())
    assert "'=y.wav" in table.read_text()  # the CSV formula guard, taken off again
    summary = export_table(table, to=to, out_dir=tmp_path / "out")
    ext = EXTENSIONS[to]
    assert files_under(tmp_path / "out") == sorted([f"long/x{ext}", f"=y{ext}"])
    assert (summary.n_segments, summary.n_skipped_rows, summary.n_unlabelled) == (6, 1, 0)

    apart = [(0.5, 1.5, "happy 0.40"), (2.0, 3.0, "angry 0.90")]  # the table's, exactly
    assert_spans(read_back(to, tmp_path / "out" / f"=y{ext}"), apart, to)
    windows = [(0, 2, "angry 0.83"), (1, 3, "happy 0.60"), (2, 4, "sad 0.50"), (3, 4.5, "sad 0.70")]
    got = read_back(to, tmp_path / "out" / "long" / f"x{ext}")
    if to in TIERED:  # cut where the centres are equally near: 1.5, 2.5, (3 + 3.75) / 2
        cut = [(0, 1.5), (1.5, 2.5), (2.5, 3.375), (3.375, 4.5)]
        assert_spans(got, [(a, b, w[2]) for (a, b), w in zip(cut, windows)], to)
        assert summary.n_cut == 4
    else:  # Audacity labels and WebVTT cues may overlap: the table's windows
        assert_spans(got, windows, to)
        assert summary.n_cut == 0
    if to == "textgrid":  # a full tier from 0 to the duration, gaps as empty intervals
        full = read_back(to, tmp_path / "out" / "=y.TextGrid", blanks=True)
        assert_spans(full, [(0, 0.5, ""), apart[0], (1.5, 2, ""), apart[1], (3, 4, "")], to)


def test_a_channel_column_gives_a_file_per_channel(tmp_path):
    table = make_table(tmp_path / "labels.parquet", [
        row("st.wav", "sad", 0.5, 1.0, 2.0, channel=1),
        row("st.wav", "angry", 0.75, 0.0, 2.0, channel=0),
        row("st.wav", "happy", 0.25, 0.0, 1.0, channel=1),
        row("mono.wav", "calm", 0.5, 0.0, 1.0, channel=None),
    ])  # fmt: skip
    export_table(table, to="textgrid", out_dir=tmp_path / "out")
    out = tmp_path / "out"
    assert files_under(out) == ["mono.TextGrid", "st.ch0.TextGrid", "st.ch1.TextGrid"]
    assert_spans(read_back("textgrid", out / "st.ch0.TextGrid"), [(0, 2, "angry 0.75")])
    want = [(0, 1, "happy 0.25"), (1, 2, "sad 0.50")]
    assert_spans(read_back("textgrid", out / "st.ch1.TextGrid"), want)


def test_vtt_timestamps_and_escaping(tmp_path):
    out = tmp_path / "a.vtt"
    write_vtt([Segment(3725.5, 3727.25, "a<b&c", None), Segment(1.0, 2.0, "x", 0.125)], out)
    assert out.read_text() == (
        "WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.000\nx 0.12\n\n"
        "2\n01:02:05.500 --> 01:02:07.250\na&lt;b&amp;c\n"
    )


def test_every_format_has_a_writer_and_an_extension():
    assert set(WRITERS) == set(EXTENSIONS) == set(EXPORT_FORMATS)


# --- the overlap rule ----------------------------------------------------------------------


def test_a_segment_containing_another_is_split_around_it_and_ties_go_to_the_later():
    outer, inner = Segment(0.0, 10.0, "a"), Segment(2.0, 3.0, "b")
    assert tier_intervals([outer, inner]) == [(0.0, 2.0, 0), (2.0, 3.0, 1), (3.0, 10.0, 0)]
    twins = [Segment(1.0, 2.0, "a"), Segment(1.0, 2.0, "b")]
    assert tier_intervals(twins) == [(1.0, 2.0, 1)]


spans = st.tuples(st.integers(0, 40), st.integers(1, 12)).map(
    lambda p: Segment(p[0] / 4, (p[0] + p[1]) / 4, "x")
)


@settings(max_examples=150, deadline=None)
@given(st.lists(spans, max_size=8))
def test_tier_intervals_tile_the_covered_time_without_overlap(segments):
    pieces = tier_intervals(segments)
    for (a, b, i), nxt in zip(pieces, [*pieces[1:], None]):
        assert a < b and segments[i].start <= a and b <= segments[i].end
        assert nxt is None or b <= nxt[0]
    # together they cover what the segments cover
    assert sum(b - a for a, b, _ in pieces) == pytest.approx(_union_length(segments))
    centres = [(s.start + s.end) / 2 for s in segments]
    for i, c in enumerate(centres):  # none is lost but a twin of a later one's centre
        if centres.count(c) == 1:
            assert any(k == i for *_, k in pieces)
    for i, s in enumerate(segments):  # alone where it lies: exactly its span
        if not any(o.start < s.end and s.start < o.end for j, o in enumerate(segments) if j != i):
            assert [(a, b) for a, b, k in pieces if k == i] == [(s.start, s.end)]


def _union_length(segments) -> float:
    total, end = 0.0, float("-inf")
    for s in sorted(segments, key=lambda s: s.start):
        if s.end > end:
            total += s.end - max(s.start, end)
            end = s.end
    return total


# --- names and refusals --------------------------------------------------------------------


def recordings(*paths: str) -> list[Recording]:
    return [Recording(p, None, (Segment(0.0, 1.0, "x"),), 1.0) for p in paths]


def test_paths_never_leave_the_output_folder(tmp_path):
    names = output_names(recordings("/abs/p.wav", "../up.wav", "a/../../b.wav", "./c.wav"), "vtt")
    assert [n.as_posix() for n in names] == ["abs/p.vtt", "__/up.vtt", "a/__/__/b.vtt", "c.vtt"]
    table = make_table(tmp_path / "t.parquet", [row("../../up.wav", "sad", 0.5)])
    export_table(table, to="audacity", out_dir=tmp_path / "deep" / "out")
    assert files_under(tmp_path) == ["deep/out/__/__/up.txt", "t.parquet"]


def test_names_that_would_collide_keep_their_audio_extension():
    names = output_names(recordings("a.wav", "a.flac", "b.wav"), "eaf")
    assert [n.as_posix() for n in names] == ["a.wav.eaf", "a.flac.eaf", "b.eaf"]
    with pytest.raises(DataError, match=r"would both be a\.wav\.eaf"):
        output_names(recordings("a.wav.x", "a.wav", "a.flac"), "eaf")


@pytest.mark.parametrize(
    ("name", "rows", "message"),
    [
        ("t.parquet", [{"path": "a.wav", "emotion": "sad"}], "not a ser-annotate table: no col"),
        ("t.csv", [{"path": "a.wav", "confidence": 0.5}], "not a ser-annotate table: no col"),
        ("t.csv", [row("a.wav", "sad", 0.5, 2.0, 2.0)], r"needs 0 <= start < end"),
        ("t.xlsx", None, "must be a ser-annotate output"),
    ],
)
def test_a_bad_table_is_refused_before_anything_is_written(tmp_path, name, rows, message):
    table = tmp_path / name
    if rows is None:
        table.write_text("path,emotion,confidence\n")
    else:
        make_table(table, rows)
    with pytest.raises(DataError, match=message):
        export_table(table, to="textgrid", out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_column_of_the_wrong_type_is_refused(tmp_path):
    table = tmp_path / "t.parquet"
    columns = {"path": ["a.wav"], "duration_s": [1.0], "emotion": ["sad"], "confidence": ["hi"]}
    pq.write_table(pa.table(columns), table)
    with pytest.raises(DataError, match="column 'confidence' holds string, not double"):
        export_table(table, to="eaf", out_dir=tmp_path / "out")


def test_existing_files_need_overwrite_and_are_replaced_whole(tmp_path):
    table = make_table(tmp_path / "t.parquet", [row("a.wav", "sad", 0.5), row("b.wav", "x", 1)])
    export_table(table, to="vtt", out_dir=tmp_path / "out")
    (tmp_path / "out" / "b.vtt").write_text("mine")
    with pytest.raises(
        DataError, match=r"a\.vtt already exists \(and 1 more\); --overwrite replaces them"
    ):
        export_table(table, to="vtt", out_dir=tmp_path / "out")
    assert (tmp_path / "out" / "b.vtt").read_text() == "mine"
    export_table(table, to="vtt", out_dir=tmp_path / "out", overwrite=True)
    assert read_back("vtt", tmp_path / "out" / "b.vtt") == [(0.0, 4.5, "x 1.00")]
    assert files_under(tmp_path / "out") == ["a.vtt", "b.vtt"]  # no temporary files


# --- the command ---------------------------------------------------------------------------


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        run_command(app, PROG, list(args))
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


@pytest.mark.parametrize("case", ["not ser", "unknown --to", "exists", "no --to"])
def test_usage_errors_are_one_line_with_status_2(tmp_path, capsys, case):
    good = make_table(tmp_path / "t.parquet", [row("a.wav", "sad", 0.5)])
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.eaf").write_text("mine")
    args = {
        "not ser": [str(bad), "--to", "vtt", "--out-dir", str(tmp_path / "new")],
        "unknown --to": [str(good), "--to", "docx", "--out-dir", str(tmp_path / "new")],
        "exists": [str(good), "--to", "eaf", "--out-dir", str(tmp_path / "out")],
        "no --to": [str(good), "--out-dir", str(tmp_path / "new")],
    }[case]
    code, out, err = run_main(capsys, *args)
    assert code == 2 and out == ""
    assert err.startswith(f"{PROG}: error: ") and err.count("\n") == 1, err
    assert {
        "not ser": "not a ser-annotate table: no column path, emotion, confidence",
        "unknown --to": "'docx' is not one of 'textgrid', 'eaf', 'audacity', 'vtt'",
        "exists": "a.eaf already exists",
        "no --to": "Missing option '--to'",
    }[case] in err
    assert not (tmp_path / "new").exists() and (tmp_path / "out" / "a.eaf").read_text() == "mine"


def test_the_summary_counts_files_segments_skipped_rows_and_cuts(tmp_path):
    table = make_table(tmp_path / "t.csv", segmented_rows())
    result = runner.invoke(app, [str(table), "--to", "textgrid", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert f"2 textgrid files (6 segments) -> {tmp_path / 'out'}" in result.stderr
    assert "skipped 1 rows without an emotion" in result.stderr
    assert "note: 4 overlapping segments were cut" in result.stderr
    quiet = runner.invoke(app, [str(table), "-t", "vtt", "-o", str(tmp_path / "v"), "-q"])
    assert (quiet.exit_code, quiet.output) == (0, "")


def test_real_subprocess_and_help(tmp_path, imported_by):
    table = make_table(tmp_path / "t.parquet", [row("a.wav", "sad", 0.5)])
    cmd = [sys.executable, "-m", "ser.annotate.export_cli"]
    proc = subprocess.run([*cmd, str(table), "--to", "audacity", "--out-dir", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert read_back("audacity", tmp_path / "o" / "a.txt") == [(0.0, 4.5, "sad 0.50")]
    helped = subprocess.run([*cmd, "-h"], capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and "--out-dir" in helped.stdout and "textgrid" in helped.stdout
    code = (
        "import sys\nfrom ser.annotate.export_cli import main\nsys.argv = ['ser-export', '-h']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    assert imported_by(code, ["pyarrow", "praatio", "pympi", "pandas", "numpy"]) == []
