"""The app's charts, as Altair (Vega-Lite) specifications that Streamlit draws in the page.

Every chart that shows emotions colours them with :func:`ser.common.palette.colour_of`, the
colours of the reports and the notebook, so an emotion looks the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import altair as alt
import numpy as np
import pandas as pd

from ser.common.palette import ERROR_COLOUR, colours_of

if TYPE_CHECKING:
    from ser.models.metrics import ReliabilityBin

__all__ = [
    "TIMELINE_NOTE",
    "confidence_histogram",
    "confusion_chart",
    "distribution_chart",
    "emotion_scale",
    "errors_chart",
    "probability_chart",
    "recall_chart",
    "reliability_chart",
    "timeline_chart",
    "zscore_chart",
]

#: The axis of a count: whole numbers only.
_COUNTS = alt.Axis(tickMinStep=1, format="d")


def emotion_scale(emotions: Sequence[str]) -> alt.Scale:
    """A colour scale mapping each of ``emotions`` to its palette colour."""
    domain = list(dict.fromkeys(str(e) for e in emotions))
    return alt.Scale(domain=domain, range=colours_of(domain))


def probability_chart(probabilities: Mapping[str, float], *, title: str = "") -> alt.Chart:
    """Horizontal bars: the probability of every class, in the model's order."""
    data = pd.DataFrame(
        {"emotion": list(probabilities), "probability": [float(p) for p in probabilities.values()]}
    )
    order = list(probabilities)
    base = alt.Chart(data, title=title or alt.Undefined).encode(
        y=alt.Y("emotion:N", sort=order, title=None),
        x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        tooltip=["emotion", alt.Tooltip("probability:Q", format=".1%")],
    )
    bars = base.mark_bar().encode(
        color=alt.Color("emotion:N", scale=emotion_scale(order), legend=None)
    )
    text = base.mark_text(align="left", dx=3).encode(text=alt.Text("probability:Q", format=".0%"))
    return (bars + text).properties(height=alt.Step(28))


#: What the timeline's shading means, shown beneath it.
TIMELINE_NOTE = "Each bar is a segment, in its emotion's colour; the paler, the less confident."


def timeline_chart(rows: pd.DataFrame, classes: Sequence[str] = ()) -> alt.Chart:
    """A recording's segments on a time axis, coloured by predicted emotion, more opaque the
    more confident; rows without a prediction in black. One lane per channel."""
    data = rows.copy()
    data["label"] = data["emotion"].astype(object).where(data["emotion"].notna(), "no prediction")
    data["lane"] = (
        "channel " + data["channel"].astype("Int64").astype(str)
        if "channel" in data
        else "all channels"
    )
    data["confidence"] = data["confidence"].fillna(1.0) if "confidence" in data else 1.0
    emotions = [*classes, *sorted(set(data["label"]) - set(classes) - {"no prediction"})]
    scale = emotion_scale(emotions)
    if (data["label"] == "no prediction").any():
        scale = alt.Scale(
            domain=[*scale.domain, "no prediction"], range=[*scale.range, ERROR_COLOUR]
        )
    tooltip = [alt.Tooltip("start:Q", format=".2f", title="start (s)")]
    tooltip += [alt.Tooltip("end:Q", format=".2f", title="end (s)"), alt.Tooltip("label:N")]
    tooltip += [alt.Tooltip("confidence:Q", format=".0%")]
    if "error" in data:
        tooltip.append("error:N")
    return (
        alt.Chart(
            data[
                [
                    "start",
                    "end",
                    "label",
                    "lane",
                    "confidence",
                    *(["error"] if "error" in data else []),
                ]
            ]
        )
        .mark_bar(height=26)
        .encode(
            x=alt.X("start:Q", title="time (s)"),
            x2="end:Q",
            y=alt.Y("lane:N", title=None),
            color=alt.Color(
                "label:N", scale=scale, title=None, legend=alt.Legend(orient="bottom", columns=9)
            ),
            opacity=alt.Opacity(
                "confidence:Q", scale=alt.Scale(domain=[0, 1], range=[0.35, 1]), legend=None
            ),
            tooltip=tooltip,
        )
        .properties(height=alt.Step(40))
    )


def distribution_chart(counts: pd.DataFrame) -> alt.Chart:
    """Bars of predicted rows per emotion (the frame of :func:`~.tables.emotion_counts`)."""
    order = counts["emotion"].tolist()
    base = alt.Chart(counts).encode(
        x=alt.X("emotion:N", sort=order, title=None),
        y=alt.Y("rows:Q", title="rows", axis=_COUNTS),
        tooltip=["emotion", "rows", alt.Tooltip("share:Q", format=".1%")],
    )
    bars = base.mark_bar().encode(
        color=alt.Color("emotion:N", scale=emotion_scale(order), legend=None)
    )
    return bars + base.mark_text(dy=-6).encode(text=alt.Text("share:Q", format=".0%"))


def confidence_histogram(frame: pd.DataFrame, classes: Sequence[str]) -> alt.Chart:
    """Histogram of the confidences of predicted rows (bins of 0.05), stacked by emotion.

    The bins are counted here, so the chart carries a few hundred numbers whatever the
    table's size.
    """
    data = frame.loc[
        frame["emotion"].notna() & frame["confidence"].notna(), ["emotion", "confidence"]
    ]
    emotions = [*classes, *sorted(set(data["emotion"]) - set(classes))]
    step = 0.05
    lower = np.clip(np.floor(data["confidence"].to_numpy(dtype=np.float64) / step), 0, 1 / step - 1)
    counts = (
        pd.DataFrame({"emotion": data["emotion"].astype(str).to_numpy(), "lower": lower * step})
        .groupby(["lower", "emotion"], sort=True)
        .size()
        .reset_index(name="rows")
    )
    counts["upper"] = counts["lower"] + step
    return (
        alt.Chart(counts)
        .mark_bar()
        .encode(
            x=alt.X("lower:Q", scale=alt.Scale(domain=[0, 1]), title="confidence"),
            x2="upper:Q",
            y=alt.Y("sum(rows):Q", title="rows", axis=_COUNTS),
            color=alt.Color("emotion:N", scale=emotion_scale(emotions)),
            order=alt.Order("emotion:N"),
            tooltip=[
                alt.Tooltip("lower:Q", title="from", format=".2f"),
                alt.Tooltip("upper:Q", title="to", format=".2f"),
                "emotion:N",
                "rows:Q",
            ],
        )
    )


def errors_chart(reasons: pd.DataFrame) -> alt.Chart:
    """Bars of rows without a prediction per reason (:func:`~.tables.error_reasons`)."""
    return (
        alt.Chart(reasons)
        .mark_bar(color=ERROR_COLOUR)
        .encode(
            y=alt.Y("reason:N", sort="-x", title=None, axis=alt.Axis(labelLimit=320)),
            x=alt.X("rows:Q", title="rows", axis=_COUNTS),
            tooltip=["reason", "rows", "example"],
        )
        .properties(height=alt.Step(26))
    )


def confusion_chart(confusion: np.ndarray, classes: Sequence[str]) -> alt.Chart:
    """Confusion matrix: true class down, predicted across; cells shaded by the share of
    the true class (its recall on the diagonal), labelled with the count."""
    cm = np.asarray(confusion, dtype=np.int64)
    support = np.maximum(cm.sum(axis=1, keepdims=True), 1)
    data = pd.DataFrame(
        [
            {"true": t, "predicted": p, "rows": int(cm[i, j]), "share": cm[i, j] / support[i, 0]}
            for i, t in enumerate(classes)
            for j, p in enumerate(classes)
        ]
    )
    order = list(classes)
    base = alt.Chart(data).encode(
        x=alt.X("predicted:N", sort=order, axis=alt.Axis(orient="top", labelAngle=-30)),
        y=alt.Y("true:N", sort=order),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("share:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), title="share"),
        tooltip=["true", "predicted", "rows", alt.Tooltip("share:Q", format=".0%")],
    )
    text = base.mark_text().encode(
        text="rows:Q",
        color=alt.condition("datum.share > 0.5", alt.value("white"), alt.value("black")),
    )
    return (cells + text).properties(width=alt.Step(48), height=alt.Step(40))


def recall_chart(recall: Mapping[str, float]) -> alt.Chart:
    """Per-class recall bars (classes without true rows left out)."""
    data = pd.DataFrame(
        [{"emotion": c, "recall": float(r)} for c, r in recall.items() if np.isfinite(r)]
    )
    order = list(recall)
    base = alt.Chart(data).encode(
        x=alt.X("emotion:N", sort=order, title=None),
        y=alt.Y("recall:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        tooltip=["emotion", alt.Tooltip("recall:Q", format=".1%")],
    )
    bars = base.mark_bar().encode(
        color=alt.Color("emotion:N", scale=emotion_scale(order), legend=None)
    )
    return bars + base.mark_text(dy=-6).encode(text=alt.Text("recall:Q", format=".0%"))


def reliability_chart(bins: Sequence[ReliabilityBin]) -> alt.Chart:
    """Reliability diagram: accuracy against mean confidence per confidence bin (point size
    is the bin's row count); the diagonal is perfect calibration."""
    data = pd.DataFrame(
        [
            {
                "bin": f"{b.lower:.1f}-{b.upper:.1f}",
                "lower": b.lower,
                "upper": b.upper,
                "confidence": b.confidence,
                "accuracy": b.accuracy,
                "rows": b.count,
            }
            for b in bins
            if b.count
        ]
    )
    axis = alt.Scale(domain=[0, 1])
    diagonal = (
        alt.Chart(pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]}))
        .mark_line(strokeDash=[4, 4], color="#888888")
        .encode(x=alt.X("x:Q", scale=axis), y=alt.Y("y:Q", scale=axis))
    )
    bars = (
        alt.Chart(data)
        .mark_bar(opacity=0.35, color="#0072B2")
        .encode(x="lower:Q", x2="upper:Q", y=alt.Y("accuracy:Q", scale=axis), y2=alt.Y2(datum=0))
    )
    points = (
        alt.Chart(data)
        .mark_circle(color="#0072B2", opacity=0.9)
        .encode(
            x=alt.X("confidence:Q", scale=axis, title="mean confidence"),
            y=alt.Y("accuracy:Q", scale=axis, title="accuracy"),
            size=alt.Size("rows:Q", legend=None, scale=alt.Scale(range=[30, 400])),
            tooltip=[
                "bin",
                "rows",
                alt.Tooltip("confidence:Q", format=".3f"),
                alt.Tooltip("accuracy:Q", format=".3f"),
            ],
        )
    )
    return (bars + diagonal + points).properties(width=360, height=320)


def zscore_chart(position: pd.DataFrame, *, top: int = 25) -> alt.Chart:
    """The ``top`` features furthest from the training mean (``z``), as diverging bars."""
    data = position.assign(abs_z=position["z"].abs()).nlargest(top, "abs_z")
    data = data.assign(side=np.where(data["z"] >= 0, "above the training mean", "below"))
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y(
                "feature:N", sort=alt.EncodingSortField("abs_z", order="descending"), title=None
            ),
            x=alt.X("z:Q", title="standard deviations from the training mean"),
            color=alt.Color(
                "side:N",
                scale=alt.Scale(
                    domain=["above the training mean", "below"], range=["#D55E00", "#0072B2"]
                ),
                title=None,
            ),
            tooltip=[
                "feature",
                "family",
                alt.Tooltip("value:Q", format=".4g"),
                alt.Tooltip("train_mean:Q", format=".4g"),
                alt.Tooltip("z:Q", format=".2f"),
                alt.Tooltip("percentile:Q", format=".1f"),
            ],
        )
        .properties(height=alt.Step(22))
    )
