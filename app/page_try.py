"""*Try it*: upload audio files or record a clip, and see what the model hears: the emotion,
every class probability, the waveform, the log-mel spectrogram with the pitch track, the
segment timeline of a long clip; the result can be spoken aloud.

Streamlit runs this file as the page's script (``__name__ == "__main__"``); the functions
are importable for tests.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st
import streamlit.components.v1 as components

from ser.app.charts import TIMELINE_NOTE, probability_chart, timeline_chart
from ser.app.clips import (
    ACCEPTED_SUFFIXES,
    Clip,
    ClipResult,
    check_clip,
    clips_on_disk,
    predict_clips,
)
from ser.app.speech import result_sentence, speech_html
from ser.app.ui import ANALYSING, current_model, one_line, reported_errors
from ser.common.errors import AudioError
from ser.features.normalize import MIN_GROUP_SIZE

if TYPE_CHECKING:
    from ser.app.signals import ClipSignal, LogMel, PitchTrack
    from ser.models import Model

__all__ = ["RECORDING_NAME", "collect_clips", "render", "summary_frame"]

logger = logging.getLogger(__name__)

#: The name a microphone recording gets.
RECORDING_NAME = "recording.wav"
#: What a browser plays itself; other formats are played from the decoded signal.
BROWSER_AUDIO = {
    ".wav": "audio/wav",
    ".wave": "audio/wav",
    ".flac": "audio/flac",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".m4a": "audio/mp4",
    ".mp4": "audio/mp4",
    ".aac": "audio/aac",
    ".webm": "audio/webm",
    ".weba": "audio/webm",
}


def collect_clips(uploads: Sequence[Any], recording: Any | None) -> tuple[list[Clip], list[str]]:
    """The clips to predict (uploads in order, then the recording) and one error line for
    each upload that is refused before any decoding (wrong extension, empty file)."""
    clips: list[Clip] = []
    problems: list[str] = []
    sources = [*((u.name, u) for u in uploads)]
    if recording is not None:
        sources.append((RECORDING_NAME, recording))
    for name, source in sources:
        clip = Clip(name, bytes(source.getvalue()))
        try:
            check_clip(clip)
        except AudioError as exc:
            problems.append(one_line(exc))
            continue
        clips.append(clip)
    return clips, problems


def summary_frame(results: Sequence[ClipResult]) -> pd.DataFrame:
    """One line per clip: name, emotion, confidence, duration, rows and error."""
    return pd.DataFrame(
        {
            "clip": [r.name for r in results],
            "emotion": [r.emotion for r in results],
            # in percent: Streamlit's "percent" format shows 57.19% beside 72.4%
            "confidence": [None if r.confidence is None else 100 * r.confidence for r in results],
            "duration (s)": [r.duration_s for r in results],
            "segments": [0 if r.error else len(r.rows) if r.segmented else 1 for r in results],
            "error": [r.error or "" for r in results],
        }
    )


@st.cache_data(max_entries=32, show_spinner=False)
def _predict(
    model_key: str, digests: tuple[str, ...], _model: Model, _clips: list[Clip]
) -> list[ClipResult]:
    return predict_clips(_clips, _model)


@st.cache_data(max_entries=16, show_spinner=ANALYSING)
def _analyse(digest: str, _clip: Clip) -> tuple[ClipSignal, LogMel, PitchTrack]:
    from ser.app.signals import load_signal, log_mel, pitch_track

    with clips_on_disk([_clip]) as (path,):
        signal = load_signal(path)
    return signal, log_mel(signal.y, signal.sr), pitch_track(signal.y, signal.sr)


def render() -> None:
    """Draw the page."""
    st.title("Try it")
    st.caption(
        "Upload audio files or record yourself: the model says which emotion it hears. "
        "Long clips (over 30 s) are cut at their pauses and get a row per segment, as "
        "ser-annotate does."
    )
    left, right = st.columns(2)
    uploads = left.file_uploader(
        "Audio files",
        type=list(ACCEPTED_SUFFIXES),
        accept_multiple_files=True,
        key="try_uploads",
        help="WAV, FLAC, MP3, OGG/Opus, M4A, WebM, ... (what ser-annotate reads).",
    )
    recording = right.audio_input("Record with the microphone", key="try_recording")
    speak = right.toggle(
        "Speak the result",
        key="try_speak",
        help="Says the emotion aloud with the browser's speech synthesis.",
    )
    clips, problems = collect_clips(uploads or [], recording)
    for problem in problems:
        st.error(problem)
    if not clips:
        st.info("Upload a clip or record one to see what the model hears.")
        return
    model = current_model()
    if model is None:
        st.warning("No model is loaded: choose one in the sidebar.")
        return
    results: list[ClipResult] | None = None
    with reported_errors(), st.spinner("Listening…"):
        results = _predict(
            f"{model.name}:{id(model)}", tuple(c.digest for c in clips), model, clips
        )
    if results is None:
        return
    show_results(results, clips, model, speak=speak)


def show_results(
    results: list[ClipResult], clips: list[Clip], model: Model, *, speak: bool
) -> None:
    """The summary of several clips, then the details of one."""
    index = 0
    if len(results) > 1:
        st.subheader(f"{len(results)} clips")
        st.dataframe(
            summary_frame(results),
            hide_index=True,
            column_config={
                "confidence": st.column_config.ProgressColumn(
                    "confidence", min_value=0.0, max_value=100.0, format="%.0f%%"
                ),
                "duration (s)": st.column_config.NumberColumn(format="%.1f"),
                "error": st.column_config.TextColumn(width="large"),
            },
        )
        rows = pd.concat([r.rows for r in results], ignore_index=True)
        st.download_button(
            "Download the rows (CSV)",
            rows.to_csv(index=False),
            file_name="ser-predictions.csv",
            mime="text/csv",
        )
        names = [f"{i + 1}. {r.name}" for i, r in enumerate(results)]
        first_ok = next((i for i, r in enumerate(results) if not r.error), 0)
        index = names.index(st.selectbox("Details of", names, index=first_ok, key="try_detail"))
    result, clip = results[index], clips[index]
    for other in results:
        if other.error and other is not result:
            st.error(f"{other.name}: {other.error}")
    show_result(result, clip, model, speak=speak)


def speak_result(where: Any, result: ClipResult, clip: Clip, model: Model) -> None:
    """Say the result aloud in the browser (a small frame, with a button to say it again)."""
    assert result.emotion is not None
    sentence = result_sentence(result.emotion, result.confidence)
    snippet = speech_html(sentence, token=f"{clip.digest}:{model.name}")
    if hasattr(where, "iframe"):  # Streamlit 1.5x; components.v1.html before
        where.iframe(snippet, height=40)
    else:
        with where:
            components.html(snippet, height=40)


def show_result(result: ClipResult, clip: Clip, model: Model, *, speak: bool = False) -> None:
    """Emotion (said aloud with ``speak``), probabilities, player, timeline and signal plots
    of one clip."""
    st.subheader(result.name)
    if result.error is not None:
        st.error(f"{result.name}: {result.error}")
        return
    assert result.emotion is not None and result.confidence is not None
    left, right = st.columns([1, 2])
    left.metric("Emotion", result.emotion)
    details = [f"{result.confidence:.0%} confidence"]
    if result.duration_s is not None:
        details.append(f"{result.duration_s:.1f} s")
    if result.segmented:
        details.append(f"{len(result.rows)} segments, duration-weighted")
    left.caption(" · ".join(details) + f" · model {model.name}")
    if speak:
        speak_result(left, result, clip, model)
    if result.normalization == "training":
        left.caption(
            "Normalised with the model's training statistics: this speaker's own statistics "
            f"need at least {MIN_GROUP_SIZE} of their clips (or segments) uploaded together, so "
            "this is less accurate than ser-annotate on a folder of one speaker's recordings."
        )
    right.altair_chart(probability_chart(result.probabilities, title="Probability of each emotion"))
    signal = None
    with reported_errors():
        signal, mel, pitch = _analyse(clip.digest, clip)
    mime = BROWSER_AUDIO.get(clip.suffix)
    if mime is not None:
        st.audio(clip.data, format=mime)
    elif signal is not None:
        st.audio(signal.y, sample_rate=signal.sr)
    if result.segmented:
        st.markdown("**Segment timeline**")
        st.altair_chart(timeline_chart(result.rows, result.classes))
        st.caption(TIMELINE_NOTE)
        with st.expander("Segment rows"):
            st.dataframe(result.rows.drop(columns=["path"]), hide_index=True)
    if signal is not None:
        from ser.app.figures import signal_figure

        segments = None
        if result.segmented:
            segments = [
                (float(r.start), float(r.end), r.emotion if isinstance(r.emotion, str) else None)
                for r in result.rows.itertuples()
            ]
        figure = signal_figure(signal, mel, pitch, emotion=result.emotion, segments=segments)
        st.pyplot(figure)


if __name__ == "__main__":
    render()
