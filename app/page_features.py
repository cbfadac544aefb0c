"""*Features*: the seed project's signal plots of one clip (waveform, STFT spectrogram, MFCC,
chroma, ZCR, RMS) and where the clip's feature values sit relative to the training corpus of
the chosen model (standard deviations from the training mean, per feature and per family).

Streamlit runs this file as the page's script; the functions are importable for tests.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from ser.app.charts import zscore_chart
from ser.app.clips import ACCEPTED_SUFFIXES, Clip, check_clip, clips_on_disk
from ser.app.ui import ANALYSING, current_model, current_settings, reported_errors
from ser.common.errors import AudioError

if TYPE_CHECKING:
    import pandas as pd

    from ser.app.signals import ClipSignal, SeedFeatures
    from ser.models import Model

__all__ = ["Analysis", "analyse_clip", "render"]

#: What :func:`analyse_clip` returns: the signal, the seed features, the feature position
#: (None when there is none) and why there is none.
Analysis = tuple["ClipSignal", "SeedFeatures", "pd.DataFrame | None", "str | None"]


def analyse_clip(path: str | os.PathLike[str], model: Model | None) -> Analysis:
    """The clip's signal, its seed features, and its feature position relative to
    ``model``'s training corpus (None, with the reason, when that cannot be had)."""
    from ser.app.signals import feature_position, load_signal, seed_features
    from ser.common.errors import ModelError

    signal = load_signal(path)
    seed = seed_features(signal.y, signal.sr)
    if model is None:
        return signal, seed, None, "no model is loaded (see the sidebar)"
    try:
        return signal, seed, feature_position(path, model), None
    except (ModelError, AudioError) as exc:
        return signal, seed, None, str(exc)


@st.cache_data(max_entries=8, show_spinner=ANALYSING)
def _analyse_upload(digest: str, model_key: str, _clip: Clip, _model: Model | None) -> Analysis:
    with clips_on_disk([_clip]) as (path,):
        return analyse_clip(path, _model)


@st.cache_data(max_entries=8, show_spinner=ANALYSING)
def _analyse_path(
    path: str, stamp: tuple[int, int], model_key: str, _model: Model | None
) -> Analysis:
    return analyse_clip(path, _model)


def render() -> None:
    """Draw the page."""
    st.title("Features")
    st.caption(
        "The seed project's plots of one clip, and where its features sit relative to the "
        "corpus the model was trained on."
    )
    settings = current_settings()
    left, right = st.columns(2)
    upload = left.file_uploader(
        "An audio clip", type=list(ACCEPTED_SUFFIXES), key="features_upload"
    )
    path = ""
    if settings.local_paths:
        path = right.text_input("…or its path on this machine", key="features_path").strip()
    if upload is None and not path:
        st.info("Upload a clip or give its path.")
        return
    model = current_model()
    model_key = "none" if model is None else f"{model.name}:{id(model)}"
    result = None
    with reported_errors():
        if upload is not None:
            clip = Clip(upload.name, upload.getvalue())
            check_clip(clip)
            result = _analyse_upload(clip.digest, model_key, clip, model)
            shown = upload.name
        else:
            full = os.path.expanduser(path)
            if not os.path.isfile(full):
                raise AudioError(full, "file not found")
            info = os.stat(full)
            result = _analyse_path(full, (info.st_size, info.st_mtime_ns), model_key, model)
            shown = Path(full).name
    if result is None:
        return
    signal, seed, position, why_not = result
    st.subheader(shown)
    st.caption(
        f"{signal.duration_s:.2f} s, {signal.native_sr} Hz, {signal.channels} channel"
        f"{'s' if signal.channels > 1 else ''}; analysed as mono at {signal.sr} Hz"
    )
    show_seed_plots(signal, seed)
    st.header("Relative to the training corpus")
    if position is None:
        st.info(f"No comparison: {why_not}.")
        return
    show_position(position, model)


def show_seed_plots(signal: ClipSignal, seed: SeedFeatures) -> None:
    from ser.app.figures import SEED_PLOTS, seed_figure

    for first, second in zip(SEED_PLOTS[::2], SEED_PLOTS[1::2]):
        left, right = st.columns(2)
        left.pyplot(seed_figure(first, signal, seed))
        right.pyplot(seed_figure(second, signal, seed))


def show_position(position: pd.DataFrame, model: Model | None) -> None:
    from ser.app.signals import family_summary

    name = model.name if model is not None else "the model"
    n_train = model.train_stats.n if model is not None and model.train_stats is not None else None
    st.caption(
        f"Each of the {len(position)} features of {name} (extracted exactly as the model "
        "extracts them), in standard deviations from its mean over the training corpus"
        + (f" ({n_train:,} clips)" if n_train else "")
        + ". |z| above 3 is rare in training: the clip is unlike what the model has seen there."
        + (
            " The classifier itself sees the features after per-speaker normalisation."
            if model is not None and model.normalization == "speaker"
            else ""
        )
    )
    left, right = st.columns(2)  # the family table needs half the page for its 5 columns
    left.markdown("**Furthest from the training mean**")
    left.altair_chart(zscore_chart(position))
    right.markdown("**By family**")
    right.dataframe(
        family_summary(position),
        hide_index=True,
        column_config={
            "mean |z|": st.column_config.NumberColumn(format="%.2f"),
            "max |z|": st.column_config.NumberColumn(format="%.2f"),
        },
    )
    outside = int((position["z"].abs() > 3).sum())
    right.metric("Features beyond 3 standard deviations", f"{outside} of {len(position)}")
    with st.expander("Every feature"):
        st.dataframe(position, hide_index=True)


if __name__ == "__main__":
    render()
