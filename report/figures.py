"""The report's plots, each a function that returns a matplotlib Figure.

Figures are built with :class:`matplotlib.figure.Figure` directly, never through pyplot: no
global state, no GUI backend, nothing left open; :func:`.html.figure_data_uri` renders them
with Agg. Every bar, band or line that stands for an emotion has that emotion's colour
(:func:`ser.common.palette.colour_of`), in every report and in the app alike.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from ser.common.palette import ERROR_COLOUR, colour_of, colours_of
from ser.corpora.emotions import emotion_order

__all__ = [
    "comparison_bars",
    "confidence_histogram",
    "confusion_figure",
    "emotion_distribution",
    "error_reasons",
    "fold_scores",
    "new_figure",
    "recall_bars",
    "reliability_diagram",
    "style",
]

#: Line styles of the curves of a reliability diagram (not emotions: greys and black).
_CURVES = (("#000000", "-", "o"), ("#888888", "--", "s"), ("#444444", ":", "^"))
_STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e6e6e6",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "legend.frameon": False,
}


def style() -> AbstractContextManager[Any]:
    """The reports' matplotlib settings, as a context (rcParams are restored after it)."""
    import matplotlib

    return matplotlib.rc_context(_STYLE)


def new_figure(width: float, height: float, **subplots: Any) -> tuple[Any, Any]:
    """A Figure (constrained layout) of ``width`` x ``height`` inches and its axes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots(**subplots)


def _styled(make: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with style():
            return make(*args, **kwargs)

    wrapper.__name__, wrapper.__doc__ = make.__name__, make.__doc__
    return wrapper


def _bars(ax: Any, labels: Sequence[str], values: Sequence[float], colours: Sequence[str]) -> None:
    """Horizontal bars, first label on top, each annotated with its value and share."""
    y = np.arange(len(labels))[::-1]
    ax.barh(y, values, color=colours, edgecolor="#333333", linewidth=0.4)
    ax.set_yticks(y, labels)
    ax.grid(axis="y", visible=False)
    total = float(np.sum(values)) or 1.0
    top = max(values) if len(values) else 1
    for yi, v in zip(y, values):
        shown = f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"
        ax.text(v + top * 0.01, yi, f"{shown} ({v / total:.0%})", va="center", fontsize=8)
    ax.set_xlim(0, top * 1.22 if top else 1)


@_styled
def emotion_distribution(
    emotions: Sequence[str], rows: Sequence[int], seconds: Sequence[float] | None = None
) -> Any:
    """Predicted emotions: rows per emotion, and (for segments) seconds of audio per emotion."""
    panels = 1 if seconds is None else 2
    fig, axes = new_figure(4.2 * panels + 0.6, 0.42 * len(emotions) + 1.1, ncols=panels)
    axes = np.atleast_1d(axes)
    colours = colours_of(list(emotions))
    _bars(axes[0], emotions, rows, colours)
    axes[0].set_xlabel("rows")
    if seconds is not None:
        _bars(axes[1], emotions, seconds, colours)
        axes[1].set_xlabel("seconds of audio")
    return fig


@_styled
def confidence_histogram(
    confidence: np.ndarray, emotion: np.ndarray, order: Sequence[str], *, bins: int = 20
) -> Any:
    """Confidence (probability of the predicted class) of the predicted rows, stacked by
    predicted emotion, with the median marked."""
    fig, ax = new_figure(7.5, 3.0)
    edges = np.linspace(0.0, 1.0, bins + 1)
    data = [confidence[emotion == e] for e in order]
    ax.hist(data, bins=edges, stacked=True, color=colours_of(list(order)), label=list(order))
    ax.hist(confidence, bins=edges, histtype="step", color="#333333", linewidth=0.6)
    if len(confidence):
        med = float(np.median(confidence))
        ax.axvline(med, color="#333333", linestyle="--", linewidth=1)
        ax.text(med, ax.get_ylim()[1] * 0.97, f" median {med:.2f}", va="top", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("confidence (probability of the predicted emotion)")
    ax.set_ylabel("rows")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


@_styled
def error_reasons(reasons: Sequence[str], counts: Sequence[int]) -> Any:
    """Error rows per reason (longest reasons shortened), most frequent first."""
    labels = [textwrap.shorten(r, 70, placeholder="…") for r in reasons]
    fig, ax = new_figure(8.5, 0.38 * len(labels) + 1.0)
    _bars(ax, labels, counts, [ERROR_COLOUR] * len(labels))
    ax.set_xlabel("rows")
    return fig


def _emotion_marks(ax: Any, classes: Sequence[str]) -> None:
    """A square of each class' colour beside its tick labels on both axes of a matrix."""
    from matplotlib.patches import Rectangle

    k = len(classes)
    for i, c in enumerate(classes):
        kw = {"color": colour_of(c), "clip_on": False, "linewidth": 0}
        ax.add_patch(Rectangle((-0.5 - 0.19, i - 0.4), 0.14, 0.8, **kw))
        ax.add_patch(Rectangle((i - 0.4, k - 0.5 + 0.05), 0.8, 0.14, **kw))


@_styled
def confusion_figure(confusion: np.ndarray, classes: Sequence[str], *, title: str) -> Any:
    """A confusion matrix: cells shaded by the share of the true class (row), with counts;
    classes in :func:`emotion_order`."""
    order = emotion_order(classes)
    at = [list(classes).index(c) for c in order]
    cm = np.asarray(confusion, dtype=float)[np.ix_(at, at)]
    classes = order
    k = len(classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = cm / cm.sum(axis=1, keepdims=True)
    size = 1.2 + 0.62 * k
    fig, ax = new_figure(size + 1.0, size)
    im = ax.imshow(np.nan_to_num(share), cmap="Blues", vmin=0, vmax=1)
    ax.grid(False)
    for i in range(k):
        for j in range(k):
            if cm[i, j] == 0 and np.isnan(share[i, j]):
                continue
            dark = share[i, j] > 0.55
            ax.text(
                j,
                i,
                f"{int(cm[i, j])}\n{share[i, j]:.0%}" if share[i, j] == share[i, j] else "0",
                ha="center",
                va="center",
                fontsize=7.5 if k > 6 else 8.5,
                color="white" if dark else "#222222",
            )
    ax.set_xticks(range(k), classes, rotation=40, ha="right")
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    ax.tick_params(axis="both", length=0, pad=14)
    _emotion_marks(ax, classes)
    fig.colorbar(im, ax=ax, shrink=0.8, label="share of the true class")
    return fig


@_styled
def recall_bars(series: Mapping[str, Mapping[str, float]], classes: Sequence[str]) -> Any:
    """Per-class recall, one group of bars per class (its colour), one bar per series
    (told apart by hatching), with chance level (1 / number of classes)."""
    hatches = ("", "//", "..", "xx", "\\\\", "oo")
    classes = emotion_order(classes)
    names = list(series)
    k, m = len(classes), max(1, len(names))
    width = 0.8 / m
    fig, ax = new_figure(max(5.0, 0.75 * k * max(1, m / 1.5) + 1.5), 3.2)
    x = np.arange(k)
    for s, name in enumerate(names):
        values = [series[name].get(c, float("nan")) for c in classes]
        ax.bar(
            x - 0.4 + width * (s + 0.5),
            np.nan_to_num(values),
            width,
            color=colours_of(list(classes)),
            edgecolor="#333333",
            linewidth=0.4,
            hatch=hatches[s % len(hatches)],
        )
        for xi, v in zip(x, values):
            if v == v and m <= 3:
                ax.text(xi - 0.4 + width * (s + 0.5), v + 0.01, f"{v:.2f}", ha="center", fontsize=7)
    ax.axhline(1 / k, color="#555555", linestyle=":", linewidth=1, label=f"chance (1/{k})")
    ax.set_xticks(x, classes)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("recall")
    ax.grid(axis="x", visible=False)
    handles, _ = ax.get_legend_handles_labels()
    if m > 1:  # the series are told apart by hatching; the colours are the emotions'
        from matplotlib.patches import Patch

        handles += [
            Patch(facecolor="white", edgecolor="#333333", hatch=hatches[i % len(hatches)], label=n)
            for i, n in enumerate(names)
        ]
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


@_styled
def reliability_diagram(curves: Mapping[str, tuple[Sequence[Any], float]]) -> Any:
    """Reliability: accuracy against mean confidence per confidence bin, one curve per
    entry ``name: (bins, ece)`` (:class:`ser.models.metrics.ReliabilityBin`), with the
    diagonal of perfect calibration and, below, the share of rows in each bin."""
    fig, (ax, hist) = new_figure(5.6, 5.2, nrows=2, height_ratios=(3, 1), sharex=True)
    ax.plot([0, 1], [0, 1], color="#bbbbbb", linewidth=1, label="perfectly calibrated")
    n_curves = max(1, len(curves))
    for i, (name, (bins, ece)) in enumerate(curves.items()):
        colour, line, marker = _CURVES[i % len(_CURVES)]
        used = [b for b in bins if b.count]
        total = sum(b.count for b in bins) or 1
        ax.plot(
            [b.confidence for b in used],
            [b.accuracy for b in used],
            color=colour,
            linestyle=line,
            marker=marker,
            markersize=4,
            label=f"{name} (ECE {ece:.3f})",
        )
        w = 1 / len(bins) / n_curves
        hist.bar(
            [b.lower + w * (i + 0.5) for b in bins],
            [b.count / total for b in bins],
            w,
            color=colour,
            alpha=0.75,
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.03)
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=8, loc="lower right")
    hist.set_xlabel("confidence (probability of the predicted class)")
    hist.set_ylabel("share of rows")
    return fig


#: Metrics (not emotions) in the training figures: UAR, accuracy, macro-F1.
_METRIC_SHADES = (("uar", "UAR", "#3a3a3a"), ("accuracy", "accuracy", "#8c8c8c"))
_METRIC_SHADES += (("macro_f1", "macro-F1", "#cfcfcf"),)


@_styled
def fold_scores(labels: Sequence[str], scores: Sequence[Mapping[str, float]], k: int) -> Any:
    """UAR, accuracy and macro-F1 of each cross-validation fold (``labels``), with the mean
    UAR over folds and chance level (1 / ``k`` classes)."""
    n = len(labels)
    fig, ax = new_figure(max(5.5, 0.55 * n + 2.5), 3.2)
    x = np.arange(n)
    width = 0.8 / len(_METRIC_SHADES)
    for i, (key, name, shade) in enumerate(_METRIC_SHADES):
        values = [s[key] for s in scores]
        ax.bar(x - 0.4 + width * (i + 0.5), values, width, color=shade, label=name)
    mean = float(np.mean([s["uar"] for s in scores]))
    ax.axhline(mean, color="#000000", linewidth=1, label=f"mean UAR {mean:.3f}")
    ax.axhline(1 / k, color="#555555", linestyle=":", linewidth=1, label=f"chance (1/{k})")
    ax.set_xticks(x, labels, rotation=0 if n <= 8 else 45, ha="center" if n <= 8 else "right")
    ax.set_xlabel("fold (its test speakers are in the table below)")
    ax.set_ylim(0, 1)
    ax.set_ylabel("score")
    ax.grid(axis="x", visible=False)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


@_styled
def comparison_bars(names: Sequence[str], summaries: Sequence[Mapping[str, Any]], k: int) -> Any:
    """The classifier comparison: UAR, accuracy and macro-F1 (mean over folds, error bars
    one standard deviation) per classifier, and beside it the fit time per fold."""
    fig, (ax, tax) = new_figure(10.0, 3.4, ncols=2, width_ratios=(3, 1.3))
    x = np.arange(len(names))
    width = 0.8 / len(_METRIC_SHADES)
    for i, (key, name, shade) in enumerate(_METRIC_SHADES):
        mean = [s[key]["mean_over_folds"] for s in summaries]
        std = [s[key]["std_over_folds"] for s in summaries]
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, mean, width, yerr=std, capsize=2, color=shade, label=name)
        if key == "uar":
            for p, v, e in zip(pos, mean, std):
                ax.text(p, v + e + 0.015, f"{v:.2f}", ha="center", fontsize=7)
    ax.axhline(1 / k, color="#555555", linestyle=":", linewidth=1, label=f"chance (1/{k})")
    ax.set_xticks(x, names)
    ax.set_ylim(0, 1)
    ax.set_ylabel("score (mean over folds ± std)")
    ax.grid(axis="x", visible=False)
    ax.legend(fontsize=8, loc="upper left", ncols=4)
    seconds = [s["fit_seconds_per_fold"] for s in summaries]
    y = np.arange(len(names))[::-1]
    tax.barh(y, seconds, color="#8c8c8c")
    for yi, v in zip(y, seconds):
        tax.text(v, yi, f" {v:.2g} s", va="center", fontsize=7)
    tax.set_yticks(y, names)
    tax.set_xlabel("fit time per fold (s)")
    top = max(seconds, default=0.0) or 1.0
    if top > 50 * max(min(seconds, default=0.0), 1e-3):
        tax.set_xscale("log")
        tax.set_xlim(right=top * 6)
    else:
        tax.set_xlim(0, top * 1.35)
    tax.grid(axis="y", visible=False)
    return fig
