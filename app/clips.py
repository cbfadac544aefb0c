"""Clips a user uploads or records: written into a temporary folder only while they are
read, and predicted with :func:`ser.annotate.annotate` (the same rows as ``ser-annotate``).

Nothing here imports Streamlit: the pages pass the bytes of their uploads as :class:`Clip`
objects, and the tests do the same.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ser.audio.decode import AUDIO_SUFFIXES
from ser.common.errors import AudioError

if TYPE_CHECKING:
    import pandas as pd

    from ser.models import Model

__all__ = [
    "ACCEPTED_SUFFIXES",
    "Clip",
    "ClipResult",
    "check_clip",
    "clips_on_disk",
    "predict_clips",
    "summarise_clip",
]

logger = logging.getLogger(__name__)

#: File name extensions (without the dot) of the audio that ser decodes, for the uploaders.
ACCEPTED_SUFFIXES: tuple[str, ...] = tuple(sorted(s.lstrip(".") for s in AUDIO_SUFFIXES))
#: Worker processes of a prediction: two, so that a decoder that crashes on a hostile
#: upload takes a worker down, not the app (:func:`ser.batch.worker_count`).
PREDICT_JOBS = 2
_UNSAFE = re.compile(r"[^A-Za-z0-9._ ()+-]+")


@dataclass(frozen=True)
class Clip:
    """One uploaded or recorded clip: the name the user knows it by, and its bytes."""

    name: str
    data: bytes

    @property
    def digest(self) -> str:
        """SHA-1 of the bytes: the clip's identity in caches."""
        return hashlib.sha1(self.data).hexdigest()

    @property
    def suffix(self) -> str:
        """The extension, lower-case, with its dot (``""`` when there is none)."""
        return Path(self.name).suffix.lower()


@dataclass(frozen=True)
class ClipResult:
    """What the model said about one clip.

    ``rows`` are the clip's rows of the annotation table (one, or one per segment of a clip
    longer than 30 s), ``path`` replaced by the clip's name. ``probabilities`` are the
    prediction of the whole clip: those of its one row, or the duration-weighted mean over
    its segments; ``emotion`` is their most likely class. ``error`` is set (and the rest
    empty) when no row got a prediction.
    """

    name: str
    rows: pd.DataFrame
    classes: tuple[str, ...]
    emotion: str | None
    confidence: float | None
    probabilities: dict[str, float]
    duration_s: float | None
    normalization: str | None
    error: str | None

    @property
    def segmented(self) -> bool:
        """More than one row: a long clip cut into segments."""
        return len(self.rows) > 1


def check_clip(clip: Clip) -> None:
    """Raise :class:`~ser.common.AudioError` for a clip ser would not read: an empty file,
    or an extension outside :data:`ACCEPTED_SUFFIXES`."""
    if clip.suffix not in AUDIO_SUFFIXES:
        shown = clip.suffix or "no extension"
        raise AudioError(clip.name, f"not an audio file ser reads ({shown})")
    if not clip.data:
        raise AudioError(clip.name, "empty file (0 bytes)")


def _safe_name(name: str, taken: set[str]) -> str:
    """A file name for ``name`` inside the temporary folder: its last component only, no
    characters a file system or the walk would mind, not hidden, and not in ``taken``."""
    base = Path(name.replace("\\", "/")).name
    stem, suffix = Path(base).stem, Path(base).suffix.lower()
    stem = _UNSAFE.sub("_", stem).strip(" .")[:100] or "clip"
    candidate, n = f"{stem}{suffix}", 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{stem}-{n}{suffix}"
    taken.add(candidate.lower())
    return candidate


@contextlib.contextmanager
def clips_on_disk(clips: Sequence[Clip]) -> Iterator[list[Path]]:
    """Write ``clips`` into a new temporary folder; yield their paths, in order; remove the
    folder and everything in it when the block ends, however it ends. An
    :class:`~ser.common.AudioError` about one of the copies is raised again naming the clip.

    The names keep the user's file names where they are safe (so that a RAVDESS name still
    names its actor); nothing is written outside the folder, whatever a name holds.
    """
    with tempfile.TemporaryDirectory(prefix="ser-app-") as folder:
        taken: set[str] = set()
        paths = []
        for clip in clips:
            path = Path(folder) / _safe_name(clip.name, taken)
            path.write_bytes(clip.data)
            paths.append(path)
        try:
            yield paths
        except AudioError as exc:  # name the clip as the user knows it, not the copy
            names = {str(path): clip.name for path, clip in zip(paths, clips)}
            if exc.path not in names:
                raise
            raise AudioError(names[exc.path], exc.reason) from None


def predict_clips(
    clips: Sequence[Clip], model: Model, *, jobs: int = PREDICT_JOBS
) -> list[ClipResult]:
    """Predict the emotion of every clip, as ``ser-annotate --segment auto`` would.

    The clips are annotated together, so that several files of one RAVDESS actor are
    normalised with that speaker's statistics, as in a folder run; a single short clip is
    normalised with the model's training statistics (its rows say so).

    Parameters
    ----------
    clips : sequence of Clip
        Each must pass :func:`check_clip`; their names need not be distinct.
    model : Model
        A loaded model (:func:`ser.models.resolve_model`).
    jobs : int
        Worker processes (:func:`ser.annotate.annotate`).

    Returns
    -------
    list of ClipResult
        One per clip, in order. A clip that cannot be read gets a result with ``error``.
    """
    from ser.annotate import annotate

    for clip in clips:
        check_clip(clip)
    if not clips:
        return []
    with clips_on_disk(clips) as paths:
        frame = annotate(str(paths[0].parent), model=model, segment="auto", jobs=jobs)
    classes = tuple(model.classes)
    results = []
    for clip, path in zip(clips, paths):
        rows = frame[frame["path"] == path.name].copy()
        rows["path"] = clip.name
        results.append(summarise_clip(clip.name, rows.reset_index(drop=True), classes))
    logger.info("predicted %d clips with model %s", len(clips), model.name)
    return results


def summarise_clip(name: str, rows: pd.DataFrame, classes: Sequence[str]) -> ClipResult:
    """The :class:`ClipResult` of one clip's annotation rows."""
    classes = tuple(classes)
    predicted = rows[(rows["status"] == "ok") & rows["emotion"].notna()] if len(rows) else rows
    duration = (
        float(rows["duration_s"].iloc[0])
        if len(rows) and rows["duration_s"].notna().iloc[0]
        else None
    )
    if not len(predicted):
        errors = rows["error"].dropna().astype(str).tolist() if len(rows) else []
        reason = errors[0] if errors else "no prediction (no speech found)"
        return ClipResult(name, rows, classes, None, None, {}, duration, None, reason)
    P = predicted[[f"prob_{c}" for c in classes]].to_numpy(dtype=np.float64)
    weights = (predicted["end"] - predicted["start"]).to_numpy(dtype=np.float64)
    weights = np.where(np.isfinite(weights) & (weights > 0), weights, 1.0)
    mean = weights @ P / weights.sum()
    best = int(np.argmax(mean))
    norm = predicted["normalization"].dropna()
    return ClipResult(
        name=name,
        rows=rows,
        classes=classes,
        emotion=classes[best],
        confidence=float(mean[best]),
        probabilities={c: float(p) for c, p in zip(classes, mean)},
        duration_s=duration,
        normalization=str(norm.mode().iloc[0]) if len(norm) else None,
        error=None,
    )
