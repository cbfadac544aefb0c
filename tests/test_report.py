"""``ser.report``: self-contained HTML reports, parsed back and checked figure by figure."""

from __future__ import annotations

import base64
import html.parser
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ser.common.errors import DataError, OutputError, SerError
from ser.report import annotation_report, check_report_path, read_annotation_table

CLASSES = ("angry", "happy", "neutral", "sad")
PNG = b"\x89PNG\r\n\x1a\n"


class _Page(html.parser.HTMLParser):
    """What a report holds: figures (id -> img src), every URL-like attribute, tags, text."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, str] = {}
        self.urls: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self.styles: list[str] = []
        self._figure: str | None = None
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "action", "srcset")]
        if "style" in a:
            self.styles.append(a["style"] or "")
        if tag == "figure":
            self._figure = a.get("id")
        elif tag == "img" and self._figure is not None:
            self.figures[self._figure] = a.get("src") or ""
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "figure":
            self._figure = None
        self._in_style = False

    def handle_data(self, data):
        (self.styles if self._in_style else self.text).append(data)


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def assert_self_contained(page: _Page, figures: set[str]) -> None:
    """Every expected figure is there and embedded as a decodable PNG; nothing external."""
    assert figures <= set(page.figures), f"missing {figures - set(page.figures)}"
    for fid, src in page.figures.items():
        assert src.startswith("data:image/png;base64,"), fid
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG), fid
    for url in page.urls:
        assert url.startswith(("data:", "#")), url
    assert not [u for u in page.urls if re.match(r"\s*(https?:)?//", u)]
    for css in page.styles:
        assert not re.search(r"url\(\s*['\"]?\s*(https?:)?//", css), css
    assert "script" not in page.tags and "link" not in page.tags and "iframe" not in page.tags


def _probabilities(rng, emotions):
    P = rng.dirichlet(np.ones(len(CLASSES)), len(emotions))
    for i, e in enumerate(emotions):  # the predicted emotion is the most probable
        j = CLASSES.index(e)
        P[i, j] = P[i].max() + 0.2
    return P / P.sum(axis=1, keepdims=True)


def annotation_table(*, n=40, compare=False, errors=2, seed=0) -> pd.DataFrame:
    """A table shaped like ``ser-annotate``'s: whole files, a few error rows."""
    rng = np.random.default_rng(seed)
    emotions = list(rng.choice(CLASSES, n))
    P = _probabilities(rng, emotions)
    frame = pd.DataFrame(
        {
            "path": [f"Actor_{i % 4 + 1:02d}/clip{i:03d}.wav" for i in range(n)],
            "start": 0.0,
            "end": rng.uniform(2, 4, n),
            "status": "ok",
            "error": pd.Series([None] * n, dtype="string"),
            "duration_s": 0.0,
            "sample_rate": 16000,
            "emotion": pd.Series(emotions, dtype="string"),
            "confidence": P.max(axis=1),
            **{f"prob_{c}": P[:, j] for j, c in enumerate(CLASSES)},
            "speaker": pd.Series([f"Actor_{i % 4 + 1:02d}" for i in range(n)], dtype="string"),
        }
    )
    frame["duration_s"] = frame["end"]
    for i in range(errors):
        frame.loc[i, ["status", "error", "emotion", "confidence"]] = [
            "error",
            f"too short: 0.0{i + 1}0 s, the minimum is 0.2 s" if i % 2 == 0 else "empty file",
            None,
            np.nan,
        ]
        frame.loc[i, [f"prob_{c}" for c in CLASSES]] = np.nan
    if compare:
        truth = [e if rng.random() < 0.7 else str(rng.choice([*CLASSES, "calm"])) for e in emotions]
        frame["true_emotion"] = pd.Series(truth, dtype="string")
        frame["actor"] = pd.array([i % 4 + 1 for i in range(n)], dtype="Int32")
    return frame


def segment_table(seed=0) -> pd.DataFrame:
    """Two long stereo recordings in segments (one silent gap each) and one short file."""
    rng = np.random.default_rng(seed)
    rows = []
    for path, dur in (("calls/long.wav", 300.0), ("calls/mid.wav", 90.0)):
        for ch in (0, 1):
            t = 0.0
            while t < dur - 4:
                length = rng.uniform(1, 4)
                e = str(rng.choice(CLASSES))
                rows.append((path, t, t + length, ch, "ok", None, dur, e, rng.uniform(0.3, 0.9)))
                t += length + rng.uniform(0.2, 2.0)
    rows.append(("calls/mid.wav", 50.0, 50.1, 0, "error", "too short", 90.0, None, None))
    rows.append(("short.wav", 0.0, 2.5, 0, "ok", None, 2.5, "sad", 0.8))
    cols = ["path", "start", "end", "channel", "status", "error", "duration_s", "emotion"]
    frame = pd.DataFrame(rows, columns=[*cols, "confidence"])
    frame["channel"] = frame["channel"].astype("Int32")
    return frame


def test_report_of_a_table_without_labels_has_counts_distribution_confidence_errors(tmp_path):
    out = annotation_report(annotation_table(), tmp_path / "r.html")
    page = parse(out)
    assert_self_contained(page, {"fig-emotions", "fig-confidence", "fig-errors"})
    assert not {"fig-confusion", "fig-recall", "fig-reliability"} & set(page.figures)
    text = " ".join(page.text)
    assert "40" in text and "error rows" in text and "speakers" in text
    # errors are grouped by reason: the durations in the message do not split the group
    assert "too short: N s, the minimum is N s" in text and "empty file" in text
    assert "no timeline to draw" in text


def test_report_with_labels_scores_as_ser_annotate_compare_does(tmp_path):
    from ser.annotate.compare import compare_labels

    table = annotation_table(compare=True)
    page = parse(annotation_report(table, tmp_path / "r.html", title="Labels"))
    assert_self_contained(
        page,
        {"fig-emotions", "fig-confidence", "fig-errors", "fig-confusion", "fig-recall"}
        | {"fig-reliability"},
    )
    cmp = compare_labels(table, classes=CLASSES)
    text = " ".join(page.text)
    assert f"{cmp.scores.uar:.3f}" in text and f"{cmp.ece:.3f}" in text
    assert f"{cmp.n_unknown_class} rows of emotions the model does not know (calm)" in text
    assert "<title>Labels</title>" in (tmp_path / "r.html").read_text()


def test_report_of_segments_draws_timelines_of_the_longest_recordings(tmp_path):
    from ser.report.timeline import longest_recordings

    table = segment_table()
    picked = longest_recordings(table, 3)
    assert [(r.path, r.channel) for r in picked] == [
        ("calls/long.wav", 0),
        ("calls/long.wav", 1),
        ("calls/mid.wav", 0),
    ]
    assert all(np.all(np.diff(r.start) > 0) for r in picked)
    assert picked[2].emotion.count(None) == 1  # the error segment, drawn without a colour
    assert longest_recordings(table, 10)[-1].path == "calls/mid.wav"  # short.wav: one row
    page = parse(annotation_report(table, tmp_path / "r.html", longest=3))
    assert_self_contained(page, {"fig-emotions", "fig-confidence", "fig-timelines"})
    text = " ".join(page.text)
    assert "seconds" in text and "one row per segment" in text


def test_every_user_string_is_escaped(tmp_path):
    table = annotation_table(compare=True)
    table.loc[1, "path"] = '<script>alert("x")</script>.wav'  # an error row: shown
    table.loc[0, "error"] = "<img src=http://example.com/x.png>"
    table.loc[6, "emotion"] = "<b>joy</b>"
    out = annotation_report(table, tmp_path / "r.html", title="<i>t</i> & co")
    page = parse(out)
    assert_self_contained(page, {"fig-emotions"})
    assert "i" not in page.tags and page.tags.count("img") == len(page.figures)
    raw = out.read_text()
    assert "&lt;b&gt;joy&lt;/b&gt;" in raw and "&lt;img src=http://example.com/x.png&gt;" in raw
    assert (
        "&lt;script&gt;" in raw and "<script" not in raw and "&lt;i&gt;t&lt;/i&gt; &amp; co" in raw
    )


def test_parquet_and_csv_tables_give_the_same_report_columns(tmp_path):
    table = annotation_table(compare=True)
    table.loc[7, "path"] = "-dash.wav"
    table.to_parquet(tmp_path / "t.parquet")
    csv = table.copy()
    csv["path"] = csv["path"].str.replace(r"^-", "'-", regex=True)  # as ser's CSV writer does
    csv.to_csv(tmp_path / "t.csv", index=False)
    a = read_annotation_table(tmp_path / "t.parquet").frame
    b = read_annotation_table(tmp_path / "t.csv").frame
    assert "sample_rate" not in a.columns  # only the columns a report needs are read
    assert list(a.columns) == list(b.columns)
    assert b.loc[7, "path"] == "-dash.wav"
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    for src in ("t.parquet", "t.csv"):
        page = parse(annotation_report(tmp_path / src, tmp_path / f"{src}.html"))
        assert_self_contained(page, {"fig-confusion", "fig-reliability"})


def test_a_ser_annotate_table_with_its_metadata(tmp_path, write_audio, tiny_model_path):
    from ser.annotate import annotate_to_file

    for i in range(6):
        write_audio(tmp_path / "in" / f"s{i % 2}" / f"c{i}.wav", seconds=1.0, seed=i)
    (tmp_path / "in" / "empty.wav").write_bytes(b"")
    annotate_to_file(tmp_path / "in", out=tmp_path / "t.parquet", model=tiny_model_path, jobs=1)
    page = parse(annotation_report(tmp_path / "t.parquet", tmp_path / "r.html"))
    assert_self_contained(page, {"fig-emotions", "fig-confidence", "fig-errors"})
    raw = (tmp_path / "r.html").read_text()
    assert "model tiny (sha256" in raw and "Annotation report: t.parquet" in raw
    assert "empty file" in " ".join(page.text)


NOT_SER = r"table: not a ser-annotate table \(no column 'status', 'emotion'\)"


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda d: pd.DataFrame({"path": ["a.wav"], "x": [1]}), NOT_SER),
        (lambda d: pd.DataFrame({"path": ["a"], "status": ["x"], "emotion": ["sad"]}), "holds 'x'"),
        (lambda d: d / "missing.parquet", r"missing\.parquet: not found"),
        (lambda d: d / "labels.txt", r"labels\.txt: a report reads a \.parquet or \.csv table"),
        (lambda d: _write(d / "bad.parquet", b"PAR1 not really"), r"bad\.parquet: cannot read"),
        (lambda d: _write(d / "other.csv", b"a,b\n1,2\n"), r"other\.csv: not a ser-annotate"),
        (lambda d: 42, r"a report needs a ser-annotate table"),
    ],
)
def test_bad_input_is_a_one_line_ser_error(tmp_path, make, match):
    with pytest.raises(DataError, match=match) as exc:
        annotation_report(make(tmp_path), tmp_path / "r.html")
    assert isinstance(exc.value, SerError) and "\n" not in str(exc.value)
    assert not (tmp_path / "r.html").exists()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_an_unwritable_report_is_a_one_line_output_error(tmp_path):
    with pytest.raises(OutputError, match=r"nowhere/r\.html: cannot write the report") as exc:
        annotation_report(annotation_table(), tmp_path / "nowhere" / "r.html")
    assert "\n" not in str(exc.value)
    assert list(tmp_path.iterdir()) == []


def test_check_report_path(tmp_path):
    assert check_report_path(tmp_path / "r.html") == tmp_path / "r.html"
    (tmp_path / "old.html").write_text("x")
    with pytest.raises(DataError, match="already exists; --overwrite replaces it"):
        check_report_path(tmp_path / "old.html")
    assert check_report_path(tmp_path / "old.html", overwrite=True).name == "old.html"
    with pytest.raises(DataError, match=r"--report must end in \.html"):
        check_report_path(tmp_path / "r.pdf")
    with pytest.raises(DataError, match="does not exist"):
        check_report_path(tmp_path / "no" / "r.html")
    (tmp_path / "d.html").mkdir()
    with pytest.raises(DataError, match="is a folder"):
        check_report_path(tmp_path / "d.html")
    with pytest.raises(DataError, match="--report needs a file name"):
        check_report_path("")


def test_confusion_matrices_and_recall_list_emotions_in_one_order():
    from ser.report.figures import confusion_figure, emotion_order, recall_bars

    classes = ["angry", "happy", "neutral", "zest"]  # a model's (alphabetical) order
    cm = np.array([[5, 1, 0, 0], [2, 6, 0, 0], [0, 0, 7, 1], [0, 0, 0, 3]])
    assert emotion_order(classes) == ["neutral", "happy", "angry", "zest"]
    ax = confusion_figure(cm, classes, title="t").axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["neutral", "happy", "angry", "zest"]
    cells = {
        (round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts
    }
    assert cells[(0, 0)].startswith("7\n") and cells[(0, 3)].startswith("1\n")  # neutral row
    assert cells[(2, 1)].startswith("1\n")  # angry predicted happy
    ax = recall_bars({"recall": dict(zip(classes, [0.1, 0.2, 0.3, 0.4]))}, classes).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["neutral", "happy", "angry", "zest"]


def test_importing_ser_report_loads_no_plotting_library(imported_by):
    code = "import ser.report\nfrom ser.report import check_report_path"
    assert imported_by(code, ("matplotlib", "pandas", "numpy")) == []


def test_a_figure_leaves_pyplot_and_the_global_backend_alone(imported_by):
    """Figures are drawn without pyplot, so a user's backend (a notebook's) is never switched."""
    code = (
        "from ser.report.figures import recall_bars\nfrom ser.report.html import figure_data_uri\n"
        "figure_data_uri(recall_bars({'r': {'sad': 0.5}}, ['sad']))\n"
        "import sys\nassert 'matplotlib.pyplot' not in sys.modules"
    )
    assert imported_by(code, ("matplotlib",)) == ["matplotlib"]


def test_timelines_of_long_recordings_tick_on_whole_minutes():
    import matplotlib

    matplotlib.use("Agg")
    from ser.report.timeline import Recording, minute_step, timeline_figure

    assert [minute_step(s) for s in (121, 600, 601, 3000, 3600, 18000, 36000, 90000)] == [
        60, 60, 120, 300, 600, 1800, 3600, 10800
    ]  # fmt: skip
    starts = np.arange(0.0, 1500.0, 30.0)
    rec = Recording("call.wav", None, 1500.0, starts, starts + 20.0,
                    ["angry"] * len(starts), np.full(len(starts), 0.7))  # fmt: skip
    fig = timeline_figure([rec], ["angry"])
    ticks = fig.axes[0].get_xticks()
    assert len(ticks) > 3 and all(t % 300 == 0 for t in ticks)  # 25 min: every 5 minutes
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert "5:00" in labels and "10:00" in labels
