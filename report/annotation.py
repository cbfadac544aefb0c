"""The report of an annotation run (``ser-annotate --report REPORT.html``).

One self-contained HTML page (:mod:`.html`) that shows, without writing any pandas: how
many files, rows, errors and speakers the table holds; the distribution of the predicted
emotions (rows, and seconds of audio for segments); the confidences; the errors grouped by
reason; with true labels (``--compare``), the confusion matrix, per-class recall and the
reliability diagram with its expected calibration error, scored exactly as ``ser-annotate``
prints them (:func:`ser.annotate.compare.compare_labels`); the timelines of the longest
segmented recordings; and the least confident predictions, to listen to first.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ser.common.errors import DataError
from ser.corpora.emotions import emotion_order

from .html import Page, write_page
from .source import AnnotationTable, read_annotation_table

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["annotation_report", "emotion_order", "error_groups"]

logger = logging.getLogger(__name__)

_LEAST_CONFIDENT = 10
_MAX_REASONS = 30


def annotation_report(
    table: pd.DataFrame | str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    title: str | None = None,
    longest: int = 5,
) -> Path:
    """Write the HTML report of a ``ser-annotate`` table to ``out``.

    Parameters
    ----------
    table : pandas.DataFrame or path
        What :func:`ser.annotate.annotate` returned, or a ``.parquet``/``.csv`` file that
        ``ser-annotate`` wrote (only the columns the report needs are read).
    out : path
        The HTML file to write (atomically; an existing file is replaced, so a command
        checks it first with :func:`ser.report.check_report_path`).
    title : str, optional
        The page's title; default "Annotation report: <table file name>".
    longest : int >= 0
        Timelines are drawn for this many of the longest recordings with several rows.

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    DataError
        ``table`` is missing, unreadable or not a ser table (one line naming the file).
    OutputError
        ``out`` cannot be written (one line naming it).
    """
    if isinstance(longest, bool) or not isinstance(longest, int) or longest < 0:
        raise DataError(f"longest must be a whole number >= 0, got {longest!r}")
    data = read_annotation_table(table)
    name = "table" if data.name == "table" else Path(data.name).name
    page = Page(title or f"Annotation report: {name}", subtitle=_subtitle(data))
    _overview(page, data)
    _distribution(page, data)
    _confidence(page, data)
    _errors(page, data)
    if "true_emotion" in data.frame.columns and data.frame["true_emotion"].notna().any():
        _comparison(page, data)
    _timelines(page, data, longest)
    _least_confident(page, data)
    path = write_page(page, out)
    logger.info("wrote %s (%d figures)", path, len(page.figure_ids))
    return path


def error_groups(frame: pd.DataFrame) -> list[tuple[str, int, int, list[str]]]:
    """Error rows grouped by reason: ``(reason, rows, files, first three paths)``, most
    rows first. A reason is the ``error`` text without the file's own name before it, and
    with decimal numbers (durations, levels) written as ``N`` so that alike errors group."""
    err = frame[frame["status"] == "error"]
    if err.empty:
        return []
    texts = err["error"].astype(object).where(err["error"].notna(), "(no reason given)")
    reasons = [_reason(str(t), str(p)) for t, p in zip(texts, err["path"])]
    groups: dict[str, list[str]] = {}
    for r, p in zip(reasons, err["path"].astype(str)):
        groups.setdefault(r, []).append(p)
    out = [(r, len(ps), len(set(ps)), list(dict.fromkeys(ps))[:3]) for r, ps in groups.items()]
    return sorted(out, key=lambda g: (-g[1], g[0]))


def _reason(text: str, path: str) -> str:
    head, sep, tail = text.partition(": ")
    if sep and tail and (head == path or head.endswith("/" + path.rsplit("/", 1)[-1])):
        text = tail
    return re.sub(r"\d+\.\d+", "N", text)


def _subtitle(data: AnnotationTable) -> str:
    m = data.metadata
    parts = []
    if m.get("ser.model_name"):
        sha = str(m.get("ser.model_sha256") or "")[:12]
        parts.append(f"model {m['ser.model_name']}" + (f" (sha256 {sha}…)" if sha else ""))
    if m.get("ser.version"):
        parts.append(f"ser {m['ser.version']}")
    if m.get("ser.created_utc"):
        parts.append(f"annotated {m['ser.created_utc']}")
    if data.name != "table":
        parts.append(f"table {data.name}")
    return "; ".join(parts)


def _ok(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[(frame["status"] == "ok").fillna(False) & frame["emotion"].notna()]


def _confidences(frame: pd.DataFrame) -> np.ndarray:
    if "confidence" in frame.columns:
        return frame["confidence"].to_numpy(dtype=float, na_value=np.nan)
    probs = [c for c in frame.columns if str(c).startswith("prob_")]
    if not probs:
        return np.full(len(frame), np.nan)
    return frame[probs].to_numpy(dtype=float, na_value=np.nan).max(axis=1)


def _overview(page: Page, data: AnnotationTable) -> None:
    f = data.frame
    page.section("overview", "Overview")
    is_error = (f["status"] == "error").fillna(False)
    n_files = int(f["path"].nunique())
    speakers = int(f["speaker"].nunique()) if "speaker" in f.columns else 0
    tiles: list[tuple[str, object]] = [("files", f"{n_files:,}"), ("rows", f"{len(f):,}")]
    tiles += [("error rows", f"{int(is_error.sum()):,}")]
    tiles += [("files with an error", f"{int(f.loc[is_error, 'path'].nunique()):,}")]
    tiles += [("speakers", f"{speakers:,}" if speakers else "–")]
    if "duration_s" in f.columns:
        seconds = float(f.groupby("path")["duration_s"].max().sum())
        tiles.append(("hours of audio", f"{seconds / 3600:,.2f}"))
    page.key_figures(tiles)
    if len(f) > n_files:
        page.text(
            f"{len(f):,} rows for {n_files:,} file{'' if n_files == 1 else 's'}: long "
            "recordings have one row per segment "
            "(and channel); the distribution below counts rows and seconds of audio.",
            kind="note",
        )
    if not speakers and "speaker" in f.columns:
        page.text(
            "No speaker column values: speakers were not found from the file names "
            "(--speaker-from), so each recording was normalised as its own group.",
            kind="note",
        )
    m = data.metadata
    if m.get("ser.command"):
        cmd = m["ser.command"]
        shown = shlex.join(map(str, cmd)) if isinstance(cmd, list) else str(cmd)
        page.table(["run", ""], [["command", shown], ["normalisation", m.get("ser.normalization")]])


def _distribution(page: Page, data: AnnotationTable) -> None:
    from .figures import emotion_distribution

    ok = _ok(data.frame)
    page.section("emotions", "Predicted emotions")
    if ok.empty:
        page.text("No row has a prediction.", kind="warn")
        return
    counts = ok["emotion"].astype(str).value_counts()
    order = emotion_order(list(counts.index))
    rows = [int(counts[e]) for e in order]
    seconds = None
    if len(data.frame) > data.frame["path"].nunique() and {"start", "end"} <= set(ok.columns):
        span = (ok["end"] - ok["start"]).astype(float)
        by = span.groupby(ok["emotion"].astype(str)).sum()
        seconds = [float(by.get(e, 0.0)) for e in order]
    fig = emotion_distribution(order, rows, seconds)
    caption = f"Predicted emotion of the {len(ok):,} rows with a prediction"
    caption += ": rows (left) and seconds of audio (right)." if seconds else "."
    page.figure(fig, id="fig-emotions", caption=caption)
    header = ["emotion", "rows", "share"] + (["seconds"] if seconds else [])
    table = [
        [e, n, f"{n / len(ok):.1%}"] + ([round(seconds[i])] if seconds else [])
        for i, (e, n) in enumerate(zip(order, rows))
    ]
    page.table(header, table)


def _confidence(page: Page, data: AnnotationTable) -> None:
    from .figures import confidence_histogram

    ok = _ok(data.frame)
    conf = _confidences(ok)
    keep = ~np.isnan(conf)
    page.section("confidence", "Confidence")
    if not keep.any():
        page.text("The table has no confidence or prob_* columns with values.", kind="warn")
        return
    emotion = ok["emotion"].astype(str).to_numpy()[keep]
    order = emotion_order(list(set(emotion)))
    fig = confidence_histogram(conf[keep], emotion, order)
    page.figure(
        fig,
        id="fig-confidence",
        caption="Confidence of each prediction (the probability of the predicted emotion), "
        "stacked by predicted emotion. Whether a confidence can be trusted as a probability "
        "is what the reliability diagram shows, when true labels are given.",
    )
    rows = []
    for e in order:
        c = conf[keep][emotion == e]
        rows.append([e, len(c), float(np.mean(c)), float(np.median(c)), float(np.mean(c < 0.5))])
    page.table(["emotion", "rows", "mean", "median", "share below 0.5"], rows)


def _errors(page: Page, data: AnnotationTable) -> None:
    from .figures import error_reasons

    page.section("errors", "Errors by reason")
    groups = error_groups(data.frame)
    if not groups:
        page.text("No row has an error.")
        return
    n = sum(g[1] for g in groups)
    page.text(
        f"{n:,} rows with status 'error' (a file that could not be read, or a segment without "
        "a prediction), in {len(groups)} reason(s). The table's error column has each one."
    )
    fig = error_reasons([g[0] for g in groups[:15]], [g[1] for g in groups[:15]])
    page.figure(fig, id="fig-errors", caption="Error rows per reason (the 15 most frequent).")
    shown = [[r, n, k, ", ".join(p)] for r, n, k, p in groups[:_MAX_REASONS]]
    page.table(["reason", "rows", "files", "for example"], shown)
    if len(groups) > _MAX_REASONS:
        rest = sum(g[1] for g in groups[_MAX_REASONS:])
        page.text(f"… and {len(groups) - _MAX_REASONS:,} more reasons ({rest:,} rows).")


def _trained_actors(data: AnnotationTable) -> set[int]:
    """Actors (RAVDESS 1-24, CREMA-D 1001-1091: disjoint) the table's bundled model was
    trained on, from its model card; empty when the model is not a bundled one."""
    import json

    from ser.annotate.truth import training_actors
    from ser.models import BUNDLED_MODELS, bundled_model_path

    name, sha = data.metadata.get("ser.model_name"), data.metadata.get("ser.model_sha256")
    if name not in BUNDLED_MODELS or not sha:
        return set()
    try:
        card = json.loads(bundled_model_path(str(name)).with_suffix(".json").read_text())
    except (OSError, ValueError):
        return set()
    if card.get("sha256") != sha:
        return set()
    meta = {"sources": (card.get("training") or {}).get("speakers") or {}}
    return set(training_actors("ravdess", meta)) | set(training_actors("crema-d", meta))


def _comparison(page: Page, data: AnnotationTable) -> None:
    from ser.annotate.compare import compare_labels

    from .figures import confusion_figure, recall_bars, reliability_diagram

    page.section("comparison", "Comparison with the true labels")
    classes = data.classes
    if not any(str(c).startswith("prob_") for c in data.frame.columns):
        page.text("The table has no prob_* columns: the comparison needs them.", kind="warn")
        return
    trained = _trained_actors(data)
    cmp = compare_labels(data.frame, classes=classes, training_actors=sorted(trained))
    if left := cmp.left_out():
        page.text("Left out of the scores: " + "; ".join(left) + ".", kind="note")
    if cmp.scores is None:
        page.text("No row could be scored.", kind="warn")
        return
    s = cmp.scores
    if note := cmp.training_set_note():
        page.text(note + ".", kind="warn")
    tiles = [("UAR", f"{s.uar:.3f}"), ("accuracy", f"{s.accuracy:.3f}")]
    tiles += [("macro-F1", f"{s.macro_f1:.3f}"), ("ECE", f"{cmp.ece:.3f}"), ("rows", f"{s.n:,}")]
    page.key_figures(tiles)
    fig = confusion_figure(s.confusion, s.classes, title=f"{s.n:,} scored rows")
    page.figure(
        fig,
        id="fig-confusion",
        caption="Confusion matrix: rows are the true emotions, columns the predicted ones; "
        "each cell's share is of its true emotion, so the diagonal is the recall.",
    )
    fig = recall_bars({"recall": s.recall}, s.classes)
    page.figure(fig, id="fig-recall", caption=f"Recall per emotion; UAR (their mean) {s.uar:.3f}.")
    support, predicted = s.confusion.sum(axis=1), s.confusion.sum(axis=0)
    page.table(  # (compare_labels lists the classes in the order of emotions)
        ["emotion", "rows", "recall", "predicted as it"],
        [[c, int(support[i]), s.recall[c], int(predicted[i])] for i, c in enumerate(s.classes)],
    )
    fig = reliability_diagram({"predictions": (cmp.reliability, float(cmp.ece or 0.0))})
    page.figure(
        fig,
        id="fig-reliability",
        caption="Reliability: in each confidence bin, how often the prediction is right "
        "against the mean confidence; on the diagonal, a confidence of 0.7 is right 70 % of "
        f"the time. Expected calibration error (10 bins): {cmp.ece:.3f}.",
    )


def _timelines(page: Page, data: AnnotationTable, longest: int) -> None:
    from .timeline import longest_recordings, timeline_figure

    page.section("timelines", "Timelines of the longest recordings")
    recordings = longest_recordings(data.frame, longest)
    if not recordings:
        page.text(
            "Every recording is one row (a whole file), so there is no timeline to draw: "
            "recordings get one row per segment with --segment speech or window, or by "
            "default when they are longer than 30 s.",
            kind="note",
        )
        return
    order = emotion_order([e for r in recordings for e in r.emotion if e is not None])
    page.figure(
        timeline_figure(recordings, order),
        id="fig-timelines",
        caption=f"The {len(recordings)} longest segmented recording(s): each segment in the "
        "colour of its predicted emotion, its confidence as a bar beneath; blank where no "
        "speech was found.",
    )


def _least_confident(page: Page, data: AnnotationTable) -> None:
    import pandas as pd

    ok = _ok(data.frame)
    conf = _confidences(ok)
    if not len(ok) or np.isnan(conf).all():
        return
    page.section("least-confident", "Least confident predictions")
    idx = np.argsort(np.where(np.isnan(conf), np.inf, conf), kind="stable")[:_LEAST_CONFIDENT]
    cols = [c for c in ("path", "start", "end", "emotion", "true_emotion") if c in ok.columns]
    if "channel" in ok.columns and ok["channel"].notna().any():  # --channels each
        cols.insert(1, "channel")
    rows: list[list[Any]] = []
    for i in idx:
        row = ok.iloc[int(i)]
        rows.append([None if pd.isna(row[c]) else row[c] for c in cols])
        rows[-1].append(float(conf[i]))
    page.text("The predictions to check first: the lowest confidences in the table.")
    page.table([*cols, "confidence"], rows)
