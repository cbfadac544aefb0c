"""*Explore a table*: a ``ser-annotate`` output (Parquet or CSV, uploaded or by path): its
counts, the emotion distribution, the confidences, errors grouped by reason, the rows
(filtered, sorted, and played when the audio is reachable), the timeline of one recording,
and, with labels, the confusion matrix, per-class recall and the reliability diagram.

Streamlit runs this file as the page's script; the functions are importable for tests.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pandas as pd
import streamlit as st

from ser.app import charts
from ser.app.tables import (
    LoadedTable,
    audio_roots,
    compare_source,
    comparison_of,
    emotion_counts,
    error_reasons,
    filter_rows,
    read_segment,
    read_table,
    recordings,
    resolve_audio,
    table_summary,
    timeline_of,
)
from ser.app.ui import current_settings, reported_errors

__all__ = ["MAX_PICKABLE_ROWS", "render", "row_label", "training_actors_of"]

#: Rows offered by the "listen to a row" picker (the first ones of the filtered view).
MAX_PICKABLE_ROWS = 2000
#: The columns the rows table shows first (what a row says), then the others in table order.
LEADING_COLUMNS = ("path", "start", "end", "channel", "emotion", "confidence", "true_emotion",
                   "correct", "status", "error")  # fmt: skip


@st.cache_data(max_entries=4, show_spinner="Reading the table…")
def _read_upload(digest: str, name: str, _data: bytes) -> LoadedTable:
    return read_table(_data, name)


@st.cache_data(max_entries=4, show_spinner="Reading the table…")
def _read_path(path: str, stamp: tuple[int, int]) -> LoadedTable:
    return read_table(path)


@st.cache_data(max_entries=8, show_spinner=False)
def training_actors_of(meta: dict[str, Any]) -> list[int]:
    """Actors of the table's ``--compare`` corpus that its model was trained on, when the
    model is a bundled one (recognised by its sha256); empty otherwise."""
    from ser.annotate.truth import training_actors
    from ser.models import BUNDLED_MODELS, bundled_model_path, resolve_model, sha256_file

    name, source = meta.get("ser.model_name"), compare_source(meta)
    if name not in BUNDLED_MODELS or source is None:
        return []
    if sha256_file(bundled_model_path(str(name))) != meta.get("ser.model_sha256"):
        return []
    return training_actors(source, resolve_model(str(name)).meta)


def row_label(row: Any) -> str:
    """How the row picker names a row: path, span, emotion and confidence."""
    span = (
        f" [{row.start:.1f}–{row.end:.1f} s]" if pd.notna(row.start) and pd.notna(row.end) else ""
    )
    said = (
        f" {row.emotion} {row.confidence:.0%}"
        if isinstance(row.emotion, str)
        else f" ({row.status})"
    )
    return f"{row.path}{span}{said}"


def render() -> None:
    """Draw the page."""
    st.title("Explore a table")
    st.caption("Open a table written by ser-annotate (`--out labels.parquet` or `.csv`).")
    settings = current_settings()
    left, right = st.columns(2)
    upload = left.file_uploader("Table", type=["parquet", "csv"], key="table_upload")
    path = ""
    if settings.local_paths:
        path = right.text_input(
            "…or its path on this machine", key="table_path", placeholder="/data/labels.parquet"
        ).strip()
    if upload is None and not path:
        st.info("Upload a table or give its path to see its distributions, errors and rows.")
        return
    if upload is not None and path:
        st.caption(f"Showing the uploaded {upload.name}; remove it to open {path}.")
    loaded: LoadedTable | None = None
    with reported_errors():
        if upload is not None:
            data = upload.getvalue()
            loaded = _read_upload(hashlib.sha1(data).hexdigest(), upload.name, data)
        else:
            full = os.path.expanduser(path)
            info = os.stat(full) if os.path.exists(full) else None
            stamp = (info.st_size, info.st_mtime_ns) if info else (0, 0)
            loaded = _read_path(full, stamp)
    if loaded is None:
        return
    show_table(loaded, local_paths=settings.local_paths)


def show_table(loaded: LoadedTable, *, local_paths: bool) -> None:
    """Everything the page shows of one table."""
    frame = loaded.frame
    summary = table_summary(frame)
    cols = st.columns(5)
    cols[0].metric("Rows", f"{summary['rows']:,}")
    cols[1].metric("Recordings", f"{summary['recordings']:,}")
    cols[2].metric("Predicted", f"{summary['predicted']:,}")
    cols[3].metric("Errors", f"{summary['errors']:,}")
    conf = summary["mean_confidence"]
    cols[4].metric("Mean confidence", "–" if pd.isna(conf) else f"{conf:.0%}")
    meta = loaded.meta
    if meta:
        st.caption(
            f"{loaded.name}: model {meta.get('ser.model_name', '?')}, "
            f"{meta.get('ser.normalization', '?')} normalisation, "
            f"ser {meta.get('ser.version', '?')}, "
            f"written {meta.get('ser.created_utc', '?')}; {summary['hours']:.2f} h of audio"
        )
    names = ["Overview", "Rows", "Timeline"] + (
        ["Comparison with labels"] if loaded.labelled else []
    )
    tabs = st.tabs(names)
    with tabs[0]:
        show_overview(frame, loaded.classes)
    with tabs[1]:
        show_rows(loaded, local_paths=local_paths)
    with tabs[2]:
        show_timeline(frame, loaded.classes)
    if loaded.labelled:
        with tabs[3]:
            show_comparison(frame, meta)


def show_overview(frame: pd.DataFrame, classes: list[str]) -> None:
    left, right = st.columns(2)
    left.markdown("**Emotion distribution** (predicted rows)")
    left.altair_chart(charts.distribution_chart(emotion_counts(frame)))
    right.markdown("**Confidence**")
    right.altair_chart(charts.confidence_histogram(frame, classes))
    reasons = error_reasons(frame)
    st.markdown("**Rows without a prediction, by reason**")
    if reasons.empty:
        st.success("Every row has a prediction.")
        return
    left, right = st.columns([2, 3])
    left.altair_chart(charts.errors_chart(reasons))
    right.dataframe(reasons, hide_index=True)


def show_rows(loaded: LoadedTable, *, local_paths: bool) -> None:
    frame = loaded.frame
    emotions_present = [
        *loaded.classes,
        *sorted(set(frame["emotion"].dropna()) - set(loaded.classes)),
    ]
    a, b, c = st.columns([3, 1, 2])
    emotions = a.multiselect(
        "Emotions", emotions_present, default=emotions_present, key="rows_emotions"
    )
    status = b.selectbox("Status", ["any", "ok", "error"], key="rows_status")
    confidence = c.slider("Confidence", 0.0, 1.0, (0.0, 1.0), step=0.01, key="rows_confidence")
    a, b, c, d = st.columns([3, 2, 1, 1])
    text = a.text_input("Path contains", key="rows_path")
    sortable = [col for col in frame.columns if col not in ("error",)]
    sort_by = b.selectbox("Sort by", ["(table order)", *sortable], key="rows_sort")
    descending = c.toggle("Descending", key="rows_desc")
    wrong = d.toggle(
        "Wrong",  # ("Only wrong" was cut to "Only wr…" in a 1400 px window)
        key="rows_wrong",
        disabled="correct" not in frame.columns,
        help="Only the rows whose prediction differs from the true label (rows the "
        "comparison leaves out are neither right nor wrong).",
    )
    everything = emotions == emotions_present
    view = filter_rows(
        frame,
        emotions=None if everything else emotions,
        status=None if status == "any" else status,
        confidence=confidence,
        path_contains=text,
        correct=False if wrong else None,
        sort_by=None if sort_by == "(table order)" else sort_by,
        descending=descending,
    )
    st.caption(f"{len(view):,} of {len(frame):,} rows")
    config = {}
    if "confidence" in view.columns:
        config["confidence"] = st.column_config.ProgressColumn(
            "confidence", min_value=0.0, max_value=1.0, format="percent"
        )
    first = [c for c in LEADING_COLUMNS if c in view.columns]
    st.dataframe(view[first + [c for c in view.columns if c not in first]], column_config=config,
                 height=360)  # fmt: skip
    if view.empty:
        return
    st.markdown("**Listen to a row**")
    pickable = view.head(MAX_PICKABLE_ROWS)
    labels = {int(i): row_label(r) for i, r in zip(pickable.index, pickable.itertuples())}
    chosen = st.selectbox("Row", list(labels), format_func=labels.get, key="rows_pick")
    if len(view) > MAX_PICKABLE_ROWS:
        st.caption(
            f"The first {MAX_PICKABLE_ROWS:,} rows of this view are offered: "
            "filter to reach the others."
        )
    row = frame.loc[chosen]
    left, right = st.columns([3, 2])
    if isinstance(row["emotion"], str):
        probs = {
            c: float(row[f"prob_{c}"]) for c in loaded.classes if pd.notna(row.get(f"prob_{c}"))
        }
        right.altair_chart(charts.probability_chart(probs))
    elif pd.notna(row.get("error")):
        right.error(f"{row['path']}: {row['error']}")
    if not local_paths:
        left.info("Playing rows needs the audio on this machine: start ser-app with --local-paths.")
        return
    guess = audio_roots(loaded.meta, loaded.path)
    if os.path.isabs(str(row["path"])) and os.path.isfile(str(row["path"])):
        folder = ""  # the table's paths are absolute: no folder to ask for
    else:
        folder = left.text_input(
            "Audio folder (where the table's paths start)",
            value=str(guess[0]) if guess else "",
            key="rows_audio_root",
        ).strip()
    roots = audio_roots(loaded.meta, loaded.path, [folder] if folder else [])
    found = resolve_audio(str(row["path"]), roots)
    if found is None:
        left.info(f"Audio not found: {row['path']} is not under {folder or 'the folders tried'}.")
        return
    channel = row.get("channel") if "channel" in row.index else None
    with reported_errors(left):
        samples, sr = read_segment(
            found, row["start"], row["end"], channel=None if pd.isna(channel) else int(channel)
        )
        left.audio(samples, sample_rate=sr)
        left.caption(f"{found} · {row['start']:.2f}–{row['end']:.2f} s")


def show_timeline(frame: pd.DataFrame, classes: list[str]) -> None:
    recs = recordings(frame)
    if recs.empty:
        return
    if int(recs["rows"].iloc[0]) < 2:
        st.info(
            "Every recording is one row: timelines need segments (files over 30 s with "
            "ser-annotate's --segment auto, or --segment speech/window)."
        )
    labels = {
        p: f"{p} ({n} row{'s' if n != 1 else ''}, {d:.1f} s)"
        for p, n, d in recs[["path", "rows", "duration_s"]].itertuples(index=False)
    }
    path = st.selectbox("Recording", list(labels), format_func=labels.get, key="timeline_path")
    rows = timeline_of(frame, path)
    st.altair_chart(charts.timeline_chart(rows, classes))
    st.caption(charts.TIMELINE_NOTE)
    counts = rows["emotion"].value_counts()
    if len(counts):
        st.caption(" · ".join(f"{e}: {n} segment{'s' if n > 1 else ''}" for e, n in counts.items()))
    st.dataframe(rows, hide_index=True)


def show_comparison(frame: pd.DataFrame, meta: dict[str, Any]) -> None:
    trained = training_actors_of(meta) if meta else []
    cmp = comparison_of(frame, training_actors=trained)
    if cmp is None or cmp.scores is None:
        st.warning(
            "No row could be scored: no row has both a prediction and a label the model knows."
        )
        return
    s = cmp.scores
    cols = st.columns(4)
    cols[0].metric(
        "UAR", f"{s.uar:.3f}", help="Unweighted average recall: the mean of per-class recalls."
    )
    cols[1].metric("Accuracy", f"{s.accuracy:.3f}")
    cols[2].metric("Macro-F1", f"{s.macro_f1:.3f}")
    cols[3].metric(
        "ECE",
        "–" if cmp.ece is None else f"{cmp.ece:.3f}",
        help="Expected calibration error (10 bins): 0 is perfectly calibrated.",
    )
    left_out = [f"left out: {reason}" for reason in cmp.left_out()]
    st.caption("; ".join([f"{cmp.n_scored:,} rows scored", *left_out]))
    if note := cmp.training_set_note():
        st.warning(note + ".")
    left, right = st.columns(2)
    left.markdown("**Confusion matrix** (rows: true emotion)")
    left.altair_chart(charts.confusion_chart(s.confusion, s.classes))
    right.markdown("**Recall per class**")
    right.altair_chart(charts.recall_chart(s.recall))
    st.markdown("**Reliability diagram**")
    st.altair_chart(charts.reliability_chart(cmp.reliability))


if __name__ == "__main__":
    render()
