"""The report of a training run (``ser-train --report REPORT.html``).

It draws what the run computed, without fitting anything again: the speaker-grouped
cross-validation (confusion matrix, per-class recall, every fold's scores as a table and a
plot, per source), leave-one-corpus-out (scores, recall and a confusion matrix per held-out
corpus), the calibration (reliability before and after it, each measured out of sample as
:mod:`ser.train.calibrate` does), and the classifier comparison when
``--compare-classifiers`` ran. The numbers are those the command prints and the model card
holds.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ser.corpora.emotions import emotion_order

from .html import Page, write_page

if TYPE_CHECKING:
    from ser.train.api import SavedModel
    from ser.train.fit import TrainResult

__all__ = ["training_report"]

logger = logging.getLogger(__name__)


def training_report(
    result: TrainResult | SavedModel,
    out: str | os.PathLike[str],
    *,
    title: str | None = None,
) -> Path:
    """Write the HTML report of a training run to ``out``.

    Parameters
    ----------
    result : TrainResult or SavedModel
        What :func:`ser.train.train_model` or :func:`ser.train.train_to_file` returned
        (the latter adds the model file, its sha256 and the run's duration).
    out : path
        The HTML file to write (atomically; an existing file is replaced).
    title : str, optional
        Default "Training report: <model name>".

    Returns
    -------
    pathlib.Path

    Raises
    ------
    OutputError
        ``out`` cannot be written (one line naming it).
    """
    saved = result if hasattr(result, "model_path") else None
    res: Any = saved.result if saved is not None else result
    name = res.model.name
    sub = f"{len(res.dataset.y):,} files; classes {', '.join(emotion_order(res.model.classes))}"
    if saved is not None:
        sub += f"; saved {saved.model_path.name} (sha256 {saved.sha256[:12]}…)"
        sub += f" in {saved.seconds:.0f} s"
    page = Page(title or f"Training report: {name}", subtitle=sub)
    _overview(page, res)
    if res.cv:
        _cross_validation(page, res)
        _folds(page, res)
    else:
        page.section("cross-validation", "Cross-validation")
        page.text("Not evaluated (--evaluate none): no cross-validated figures.", kind="warn")
    if res.corpora:
        _leave_one_corpus_out(page, res)
    if res.calibration is not None:
        _calibration(page, res)
    if getattr(res, "comparison", None):
        _comparison(page, res)
    path = write_page(page, out)
    logger.info("wrote %s (%d figures)", path, len(page.figure_ids))
    return path


def _overview(page: Page, res: Any) -> None:
    ds, meta = res.dataset, res.model.meta
    page.section("overview", "Data and model")
    rows = []
    for src in ds.source_names:
        m = ds.sources == src
        emotions, counts = np.unique(ds.y[m], return_counts=True)
        spread = ", ".join(f"{e} {n}" for e, n in zip(emotions, counts))
        rows.append([src, int(m.sum()), len(set(ds.groups[m].tolist())), spread])
    page.table(["source", "files", "speakers", "emotions"], rows)
    classifier = meta.get("classifier") or {}
    shown = ", ".join(f"{k} {v}" for k, v in classifier.items())
    facts = [
        ["classifier", shown],
        ["features", res.model.features.name],
        ["normalisation", res.model.normalization],
        ["augmented copies per file", meta.get("augment", 0)],
        ["seed", meta.get("seed")],
    ]
    if res.info.get("command"):
        facts.append(["command", res.info["command"]])
    page.table(["", ""], facts)
    skipped = res.info.get("skipped") or []
    if skipped:
        page.text(f"{len(skipped)} file(s) could not be read and were skipped:", kind="warn")
        page.table(["file", "reason"], [list(s) for s in skipped[:20]])


def _cv_probabilities(res: Any) -> tuple[np.ndarray, np.ndarray]:
    """Every seed's out-of-fold probabilities, stacked, and the matching true classes."""
    P = np.concatenate([r.probabilities for r in res.cv])
    return P, np.tile(res.dataset.y, len(res.cv))


def _cross_validation(page: Page, res: Any) -> None:
    from ser.models.metrics import score

    from .figures import confusion_figure, recall_bars

    summary = res.cv_summary()
    classes = list(res.cv[0].pooled.classes)
    folds, repeat = res.info.get("folds"), len(res.cv)
    page.section("cross-validation", "Speaker-independent cross-validation")
    page.text(
        f"{folds} folds grouped by speaker (no speaker in both the training and the test part "
        "of a fold; every fold holds speakers of every source), "
        f"{repeat} seed(s); augmented copies in training parts only; each test speaker "
        "normalised with its own unlabelled statistics."
    )
    tiles = []
    for key, label in (("uar", "UAR"), ("accuracy", "accuracy"), ("macro_f1", "macro-F1")):
        m = summary[key]
        tiles.append((f"{label} (mean ± std over folds)", f"{m['mean_over_folds']:.3f} ± "
                      f"{m['std_over_folds']:.3f}"))  # fmt: skip
    page.key_figures(tiles)
    confusion = np.asarray(summary["confusion"])
    where = f"pooled over folds{' and seeds' if repeat > 1 else ''}"
    page.figure(
        confusion_figure(confusion, classes, title=f"cross-validation, {where}"),
        id="fig-cv-confusion",
        caption=f"Cross-validation confusion matrix ({where}): rows are the true emotions; "
        "each cell's share is of its true emotion, so the diagonal is the recall.",
    )
    series = {"cross-validation": summary["recall"]}
    for r in res.corpora:
        series[f"trained without {r.source}, tested on it"] = r.scores.recall
    page.figure(
        recall_bars(series, classes),
        id="fig-recall",
        caption="Recall per emotion: cross-validation (mean over seeds)"
        + (", and each corpus left out of training" if res.corpora else "")
        + f". UAR is their mean; chance is 1/{len(classes)}.",
    )
    if len(res.dataset.source_names) > 1:
        ds, cv = res.dataset, res.cv[0]
        rows = []
        for src in ds.source_names:
            m = ds.sources == src
            s = score(ds.y[m], cv.predictions[m], classes)
            rows.append([src, s.n, s.uar, s.accuracy, s.macro_f1])
        page.table(
            ["source", "files", "UAR", "accuracy", "macro-F1"],
            rows,
            caption="Per source (pooled over folds, first seed)",
        )


def _folds(page: Page, res: Any) -> None:
    from .figures import fold_scores

    ds = res.dataset
    page.section("folds", "Per fold")
    rows, labels, scores = [], [], []
    for r in res.cv:
        for i, s in enumerate(r.folds):
            speakers = sorted({str(g) for g in ds.groups[r.fold_index == i]})
            shown = ", ".join(speakers[:8]) + (f" … ({len(speakers)})" if len(speakers) > 8 else "")
            rows.append([r.seed, i + 1, shown, s.n, s.uar, s.accuracy, s.macro_f1])
            if r.chosen:  # --tune: the candidate the inner CV chose for this fold
                rows[-1].append(_candidate(r.chosen[i]))
            labels.append(f"{i + 1}" if len(res.cv) == 1 else f"s{r.seed} f{i + 1}")
            scores.append({"uar": s.uar, "accuracy": s.accuracy, "macro_f1": s.macro_f1})
    k = len(res.cv[0].pooled.classes)
    page.figure(
        fold_scores(labels, scores, k),
        id="fig-folds",
        caption="Each fold's scores on its test speakers (the spread is how much the "
        "figure depends on who the speakers are).",
    )
    header = ["seed", "fold", "test speakers", "files", "UAR", "accuracy", "macro-F1"]
    header += ["chosen by nested CV"] if res.cv[0].chosen else []
    page.table(header, rows, id="folds-table")


def _candidate(index: int) -> str:
    from ser.train.estimator import TUNE_GRID

    c = TUNE_GRID[index]
    stop = ", early stopping" if c.early_stopping else ""
    return f"hidden {c.hidden}, alpha {c.alpha}, learning rate {c.learning_rate_init}{stop}"


def _leave_one_corpus_out(page: Page, res: Any) -> None:
    from .figures import confusion_figure

    page.section("leave-one-corpus-out", "Leave one corpus out")
    page.text(
        "For each source: trained on all the other sources, tested on all of it (rows of an "
        "emotion no other source has are left out). The estimate of how a model does on a "
        "corpus it never heard."
    )
    rows = [
        [r.source, r.scores.n, r.scores.uar, r.scores.accuracy, r.scores.macro_f1, r.n_unseen_class]
        for r in res.corpora
    ]
    page.table(["tested on", "files", "UAR", "accuracy", "macro-F1", "left out (unseen)"], rows)
    for r in res.corpora:
        page.figure(
            confusion_figure(r.scores.confusion, r.scores.classes, title=f"tested on {r.source}"),
            id=f"fig-loco-confusion-{r.source}",
            caption=f"Confusion matrix of the model trained without {r.source}, tested on it "
            f"(UAR {r.scores.uar:.3f}).",
        )


def _calibration(page: Page, res: Any) -> None:
    from ser.models.metrics import reliability_table

    from .figures import reliability_diagram

    cal = res.calibration
    classes = list(res.cv[0].pooled.classes)
    page.section("calibration", "Calibration")
    page.text(
        f"Temperature scaling, temperature {cal.map.temperature:.3f}, fitted on "
        f"{cal.fitted_on}. The calibrated figures are out of sample: each fold is calibrated "
        "by a temperature fitted without its speakers, each left-out corpus by one fitted "
        "without its rows."
    )
    P, y = _cv_probabilities(res)
    curves = {  # the first curve is drawn solid black, the second dashed grey
        "calibrated": (cal.reliability, cal.ece),
        "uncalibrated": (reliability_table(P, y, classes), cal.ece_raw),
    }
    page.figure(
        reliability_diagram(curves),
        id="fig-reliability",
        caption=f"Reliability of the cross-validation's out-of-fold predictions before and "
        f"after calibration: expected calibration error {cal.ece_raw:.3f} -> {cal.ece:.3f} "
        "(10 bins).",
    )
    rows = [["cross-validation", cal.ece_raw, cal.ece]]
    rows += [[f"  {s}", e["uncalibrated"], e["calibrated"]] for s, e in cal.by_source.items()]
    rows += [
        [f"leave-one-corpus-out, {s}", e["uncalibrated"], e["calibrated"]]
        for s, e in cal.corpora.items()
    ]
    page.table(["predictions", "ECE uncalibrated", "ECE calibrated"], rows)
    for r in res.corpora:
        if r.calibrated is None:
            continue
        before = reliability_table(r.probabilities, r.y, r.classes)
        after = reliability_table(r.calibrated, r.y, r.classes)
        e = cal.corpora.get(r.source, {})
        page.figure(
            reliability_diagram(
                {
                    "calibrated": (after, e.get("calibrated", float("nan"))),
                    "uncalibrated": (before, e.get("uncalibrated", float("nan"))),
                }
            ),
            id=f"fig-loco-reliability-{r.source}",
            caption=f"Reliability on {r.source}, left out of training, before and after "
            "calibration (a temperature fitted without any of its rows).",
        )


def _comparison(page: Page, res: Any) -> None:
    from .figures import comparison_bars

    failed = [r for r in res.comparison if r.error is not None]
    runs = [r for r in res.comparison if r.error is None]
    summaries = [r.summary() for r in runs]
    names = [r.name + (" *" if r.saved else "") for r in runs]
    page.section("classifiers", "Classifier comparison")
    page.text(
        f"Each classifier cross-validated with the same {res.info.get('folds')} "
        "speaker-grouped folds, seeds and features (extracted once), behind the same "
        "standard scaler; scikit-learn's defaults, untuned. * marks the saved model's "
        "classifier. Times are wall clock on the machine that ran the training."
    )
    for r in failed:
        page.text(f"{r.name} could not be cross-validated: {r.error}", kind="warn")
    if not runs:
        return
    classes = list(runs[0].cv[0].pooled.classes)
    page.figure(
        comparison_bars(names, summaries, len(classes)),
        id="fig-classifiers",
        caption="UAR, accuracy and macro-F1 of each classifier (mean over folds, error bars "
        "one standard deviation), and its fit time per fold.",
    )
    rows = []
    for r, s in zip(runs, summaries):
        rows.append(
            [
                f"{r.name} ({s['classifier']})" + (" *" if r.saved else ""),
                s["uar"]["mean_over_folds"],
                s["uar"]["std_over_folds"],
                s["accuracy"]["mean_over_folds"],
                s["macro_f1"]["mean_over_folds"],
                s["ece_uncalibrated"],
                s["fit_seconds_per_fold"],
                s["predict_ms_per_file"],
            ]
        )
    page.table(
        [
            "classifier",
            "UAR",
            "± std",
            "accuracy",
            "macro-F1",
            "ECE uncalibrated",
            "fit s/fold",
            "ms/file",
        ],
        rows,
        id="classifiers-table",
    )
    shown = emotion_order(classes)
    page.table(
        ["classifier", *shown],
        [[r.name, *(s["recall"][c] for c in shown)] for r, s in zip(runs, summaries)],
        caption="Recall per emotion (mean over seeds)",
    )
