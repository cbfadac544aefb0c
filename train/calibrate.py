"""Fit a model's calibration map on cross-validation, and measure it honestly.

The map (:class:`ser.models.calibration.Calibration`, temperature scaling) is fitted on the
out-of-fold probabilities of speaker-grouped cross-validation: each row was predicted by a
model that never heard its speaker, as a user's files will be.

The expected calibration error (ECE) reported for the calibrated model is itself measured out
of sample. In cross-validation the map used for a fold's rows is fitted on the other folds'
out-of-fold rows only. In leave-one-corpus-out evaluation the map used for a held-out corpus
is fitted on the out-of-fold rows of the *other* corpora. Those rows were predicted by fold
models that had heard other speakers of the held-out corpus, so this one number, the
temperature, is not strictly blind to it; the labels, probabilities and scores of the
held-out corpus never reach it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ser.models.calibration import Calibration, fit_temperature
from ser.models.metrics import ReliabilityBin, expected_calibration_error, reliability_table

from .crosscorpus import CorpusResult
from .dataset import Dataset
from .evaluate import CVResult

__all__ = ["CalibrationReport", "calibrate_from_cv"]

N_BINS = 10


@dataclass
class CalibrationReport:
    """The fitted map, and ECE before and after it (out of sample), pooled and per source."""

    map: Calibration
    ece_raw: float
    ece: float
    by_source: dict[str, dict[str, float]] = field(default_factory=dict)
    corpora: dict[str, dict[str, float]] = field(default_factory=dict)  # leave-one-corpus-out
    reliability: list[ReliabilityBin] = field(default_factory=list)  # calibrated, pooled

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.map.method,
            "temperature": self.map.temperature,
            "fitted_on": f"{self.map.n} out-of-fold predictions (speaker-grouped CV)",
            "ece_bins": N_BINS,
            "cv_ece_uncalibrated": self.ece_raw,
            "cv_ece": self.ece,
            "cv_ece_by_source": self.by_source,
            "leave_one_corpus_out_ece": self.corpora,
            "cv_reliability": [
                {k: (None if isinstance(v, float) and v != v else v) for k, v in asdict(b).items()}
                for b in self.reliability
            ],
        }


def calibrate_from_cv(
    ds: Dataset, cv: list[CVResult], corpora: list[CorpusResult] | None = None
) -> CalibrationReport:
    """Fit the temperature on every seed's out-of-fold rows; measure ECE out of sample.

    Also fills ``calibrated`` on each of ``corpora`` (leave-one-corpus-out results).
    """
    classes = list(cv[0].pooled.classes)
    P = np.concatenate([r.probabilities for r in cv])
    y = np.concatenate([ds.y] * len(cv))
    fold = np.concatenate([r.fold_index + k * 1000 for k, r in enumerate(cv)])
    source = np.concatenate([ds.sources] * len(cv))
    t = fit_temperature(P, y, classes)
    cal = Calibration(classes=tuple(classes), temperature=t, n=len(y))
    # each fold calibrated by a map fitted on the other folds' rows
    crossfit = np.empty_like(P)
    for f in np.unique(fold):
        m = fold == f
        tf = fit_temperature(P[~m], y[~m], classes)
        crossfit[m] = Calibration(classes=tuple(classes), temperature=tf).apply(P[m])
    report = CalibrationReport(
        map=cal,
        ece_raw=expected_calibration_error(P, y, classes, n_bins=N_BINS),
        ece=expected_calibration_error(crossfit, y, classes, n_bins=N_BINS),
        reliability=reliability_table(crossfit, y, classes, n_bins=N_BINS),
    )
    if len(ds.source_names) > 1:
        for src in ds.source_names:
            m = source == src
            report.by_source[src] = {
                "uncalibrated": expected_calibration_error(P[m], y[m], classes, n_bins=N_BINS),
                "calibrated": expected_calibration_error(crossfit[m], y[m], classes, n_bins=N_BINS),
            }
    for res in corpora or []:
        others = source != res.source
        cols = [classes.index(c) for c in res.classes]
        keep = others & np.isin(y, res.classes)
        t_other = fit_temperature(P[keep][:, cols], y[keep], res.classes)
        res.calibrated = Calibration(classes=tuple(res.classes), temperature=t_other).apply(
            res.probabilities
        )
        report.corpora[res.source] = {
            "temperature": t_other,
            "uncalibrated": expected_calibration_error(
                res.probabilities, res.y, res.classes, n_bins=N_BINS
            ),
            "calibrated": expected_calibration_error(
                res.calibrated, res.y, res.classes, n_bins=N_BINS
            ),
        }
    return report
