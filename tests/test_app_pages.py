"""The ``ser-app`` pages through Streamlit's ``AppTest``: the script runs in this process,
widgets are set and files uploaded as a browser would, and the elements are inspected."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

pytest.importorskip("streamlit", reason="streamlit is not installed (pip install '.[app]')")
pytest.importorskip("matplotlib", reason="the app's extra is not installed (pip install '.[app]')")

from app_browser import ANGRY_CLIP, explore_table, write_long_recording
from conftest import TINY_CLASSES
from streamlit.testing.v1 import AppTest

from ser.app.cli import MAIN_SCRIPT
from ser.app.settings import ENV_LOCAL_PATHS, ENV_MODEL
from ser.app.ui import MODEL_FILE

TIMEOUT_S = 240


@pytest.fixture(scope="module", autouse=True)
def _no_workers_left():
    """The predictions run in loky workers (crash protection): stop them after the module."""
    yield
    from ser.batch import shutdown_workers

    shutdown_workers()


@pytest.fixture
def start(monkeypatch):
    """``start(local_paths=True, model=None)``: the app, run once, as ``ser-app`` starts it."""

    def run(*, local_paths: bool = True, model: str | None = None):
        monkeypatch.setenv(ENV_LOCAL_PATHS, "1" if local_paths else "0")
        if model is None:
            monkeypatch.delenv(ENV_MODEL, raising=False)
        else:
            monkeypatch.setenv(ENV_MODEL, model)
        at = AppTest.from_file(str(MAIN_SCRIPT), default_timeout=TIMEOUT_S)
        return ok(at.run())

    return run


def ok(at):
    """``at``, after checking that no exception escaped into the page."""
    assert not at.exception, [e.value for e in at.exception]
    return at


def elements(at, kind: str) -> list:
    """Elements AppTest has no class for (charts, audio, iframes), by their type name."""
    return at.get(kind)


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def wav_bytes(y: np.ndarray, sr: int) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, y, sr, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def table_path(tmp_path_factory, ravdess_dir) -> Path:
    return explore_table(tmp_path_factory.getbasetemp() / "ser-app-explore", ravdess_dir)


# --- Try it -----------------------------------------------------------------------------


def test_the_app_opens_on_try_it_with_the_default_model(start):
    at = start()
    assert at.title[0].value == "Try it"
    assert at.selectbox(key="model_choice").value == "ser6"
    assert any("ser6" in c.value and "angry" in c.value for c in at.sidebar.caption)
    assert "Upload a clip or record one" in at.info[0].value


def test_the_model_ser_app_was_started_with_is_preselected(start):
    at = start(model="ser4")
    assert at.selectbox(key="model_choice").value == "ser4"
    assert any("ser4" in c.value for c in at.sidebar.caption)


@pytest.mark.ravdess
def test_an_uploaded_clip_shows_its_emotion_probabilities_player_and_plots(start, ravdess_dir):
    at = start()
    clip = ravdess_dir / ANGRY_CLIP
    at.file_uploader(key="try_uploads").upload(clip.name, clip.read_bytes(), "audio/flac")
    ok(at.run())
    assert not at.error
    assert metrics(at)["Emotion"] == "angry"
    assert at.subheader[0].value == clip.name
    assert len(elements(at, "vega_lite_chart")) == 1  # the probabilities
    assert len(elements(at, "audio")) == 1
    assert len(elements(at, "imgs")) + len(at.get("image")) >= 1  # waveform, spectrogram, pitch
    assert any("training statistics" in c.value for c in at.caption)


@pytest.mark.ravdess
def test_a_microphone_recording_is_predicted(start, ravdess_dir):
    y, sr = sf.read(ravdess_dir / ANGRY_CLIP, dtype="float32")
    at = start()
    at.audio_input(key="try_recording").upload("rec.wav", wav_bytes(y, sr))
    ok(at.run())
    assert at.subheader[0].value == "recording.wav"
    assert metrics(at)["Emotion"] == "angry"


def test_an_undecodable_upload_is_one_error_line_and_the_app_goes_on(start, write_audio, tmp_path):
    at = start()
    good = write_audio(tmp_path / "good.wav", seconds=1.5).read_bytes()
    uploader = at.file_uploader(key="try_uploads")
    uploader.upload("broken.wav", b"RIFF" + bytes(3000), "audio/wav")
    uploader.upload("good.wav", good, "audio/wav")
    ok(at.run())
    errors = [e.value for e in at.error]
    # (another extension never arrives: Streamlit's uploader refuses it, with the list)
    assert len(errors) == 1 and errors[0].startswith("broken.wav: cannot decode audio")
    assert all("\n" not in e for e in errors)
    assert at.dataframe  # the two clips' summary
    at.selectbox(key="try_detail").set_value("2. good.wav")
    ok(at.run())
    assert metrics(at)["Emotion"] in {"angry", "disgust", "fearful", "happy", "neutral", "sad"}


@pytest.mark.ravdess
@pytest.mark.slow
def test_a_long_clip_shows_its_segment_timeline(start, ravdess_dir, tmp_path):
    path = write_long_recording(tmp_path / "call.wav", ravdess_dir)
    at = start()
    at.file_uploader(key="try_uploads").upload("call.wav", path.read_bytes(), "audio/wav")
    ok(at.run())
    assert any(m.value == "**Segment timeline**" for m in at.markdown)
    assert len(elements(at, "vega_lite_chart")) == 2  # probabilities, timeline
    assert any("segments, duration-weighted" in c.value for c in at.caption)


def test_speak_the_result_adds_the_browsers_speech_synthesis(start, write_audio, tmp_path):
    at = start()
    clip = write_audio(tmp_path / "v.wav", seconds=1.5).read_bytes()
    at.file_uploader(key="try_uploads").upload("v.wav", clip, "audio/wav")
    ok(at.run())
    assert not elements(at, "iframe")
    at.toggle(key="try_speak").set_value(True)
    ok(at.run())
    (frame,) = elements(at, "iframe")
    snippet = frame.proto.srcdoc
    emotion = metrics(at)["Emotion"]
    assert "speechSynthesis" in snippet and f'"text": "{emotion}, ' in snippet


# --- the model picker -------------------------------------------------------------------


def test_a_refused_model_file_is_an_error_in_the_sidebar_and_the_app_keeps_running(start, tmp_path):
    at = start()
    at.selectbox(key="model_choice").set_value(MODEL_FILE)
    ok(at.run())
    fake = tmp_path / "fake.skops"
    fake.write_text("not a model")
    at.text_input(key="model_path").set_value(str(fake))
    ok(at.run())
    (error,) = at.sidebar.error
    assert error.value.startswith(f"{fake}:") and "\n" not in error.value
    at.text_input(key="model_path").set_value("")
    at.file_uploader(key="model_upload").upload("evil.skops", b"PK\x03\x04 not really")
    ok(at.run())
    (error,) = at.sidebar.error
    assert error.value.startswith("evil.skops:") and "ser-app-model" not in error.value
    at.file_uploader(key="model_upload").clear()
    at.selectbox(key="model_choice").set_value("ser4")
    ok(at.run())
    assert not at.sidebar.error and any("ser4" in c.value for c in at.sidebar.caption)


def test_a_model_file_by_path_is_the_one_the_pages_use(
    start, tiny_model_path, write_audio, tmp_path
):
    at = start(model=str(tiny_model_path))
    assert at.selectbox(key="model_choice").value == MODEL_FILE
    assert any(c.value.startswith("**tiny**") for c in at.sidebar.caption)
    clip = write_audio(tmp_path / "v.wav", seconds=1.0).read_bytes()
    at.file_uploader(key="try_uploads").upload("v.wav", clip, "audio/wav")
    ok(at.run())
    assert metrics(at)["Emotion"] in TINY_CLASSES


# --- Explore a table --------------------------------------------------------------------


@pytest.mark.ravdess
@pytest.mark.slow
def test_a_table_shows_counts_distributions_errors_and_the_comparison(start, table_path):
    from ser.annotate.compare import compare_labels

    at = start()
    at.switch_page("page_table.py")
    ok(at.run())
    at.text_input(key="table_path").set_value(str(table_path))
    ok(at.run())
    frame = pd.read_parquet(table_path)
    shown = metrics(at)
    assert shown["Rows"] == f"{len(frame):,}"
    assert shown["Recordings"] == f"{frame['path'].nunique():,}"
    assert shown["Errors"] == "2"
    expected = compare_labels(frame)
    assert shown["UAR"] == f"{expected.scores.uar:.3f}"
    assert shown["ECE"] == f"{expected.ece:.3f}"
    reasons = next(df.value for df in at.dataframe if "reason" in df.value.columns)
    assert sorted(reasons["reason"]) == ["cannot decode audio", "too short"]
    assert any("rows of emotions the model does not know (calm)" in c.value for c in at.caption)
    # distribution, confidence, errors, probabilities of the row, timeline, confusion, recall,
    # reliability
    assert len(elements(at, "vega_lite_chart")) == 8
    assert at.selectbox(key="timeline_path").value == "long_call.wav"  # the segmented one first


@pytest.mark.ravdess
@pytest.mark.slow
def test_rows_are_filtered_sorted_and_played(start, table_path):
    at = start()
    at.switch_page("page_table.py")
    ok(at.run())
    at.text_input(key="table_path").set_value(str(table_path))
    ok(at.run())
    at.multiselect(key="rows_emotions").set_value(["angry"])
    at.selectbox(key="rows_sort").set_value("confidence")
    at.toggle(key="rows_desc").set_value(True)
    ok(at.run())
    view = next(df.value for df in at.dataframe if "prob_angry" in df.value.columns)
    assert set(view["emotion"]) == {"angry"} and view["confidence"].is_monotonic_decreasing
    assert any(c.value.startswith(f"{len(view):,} of ") for c in at.caption)
    assert len(elements(at, "audio")) == 1  # the first row of the view, found under the corpus
    assert at.text_input(key="rows_audio_root").value == str(table_path.parent / "corpus")


def test_a_table_that_is_not_a_ser_table_is_an_error_and_the_page_goes_on(start, tmp_path):
    other = tmp_path / "other.csv"
    other.write_text("name,score\na,1\n")
    at = start()
    at.switch_page("page_table.py")
    ok(at.run())
    at.text_input(key="table_path").set_value(str(other))
    ok(at.run())
    assert [e.value for e in at.error] == [
        "other.csv: not a ser-annotate table: no path, status, emotion columns"
    ]
    at.file_uploader(key="table_upload").upload("junk.parquet", b"PAR1 junk")
    ok(at.run())
    assert at.error[0].value.startswith("junk.parquet: cannot read it as Parquet")
    good = tmp_path / "t.csv"
    good.write_text("path,status,error,emotion,confidence,prob_a,prob_b\nx.wav,ok,,a,0.8,0.8,0.2\n")
    at.file_uploader(key="table_upload").clear()
    at.text_input(key="table_path").set_value(str(good))
    ok(at.run())
    assert not at.error and metrics(at)["Rows"] == "1"


def test_without_local_paths_only_uploads_are_read(start, tmp_path, tiny_model_path, write_audio):
    from ser.annotate import annotate_to_file

    write_audio(tmp_path / "c" / "a.wav")
    table = tmp_path / "t.parquet"
    annotate_to_file([str(tmp_path / "c")], out=table, model=str(tiny_model_path), jobs=1)
    at = start(local_paths=False)
    at.switch_page("page_table.py")
    ok(at.run())
    assert not at.text_input  # no path fields anywhere
    at.file_uploader(key="table_upload").upload("t.parquet", table.read_bytes())
    ok(at.run())
    assert metrics(at)["Rows"] == "1"
    assert any("--local-paths" in i.value for i in at.info)  # no playing of rows


# --- Features ---------------------------------------------------------------------------


@pytest.mark.ravdess
def test_the_features_page_plots_a_clip_and_places_its_features(start, ravdess_dir):
    at = start()
    at.switch_page("page_features.py")
    ok(at.run())
    at.text_input(key="features_path").set_value(str(ravdess_dir / ANGRY_CLIP))
    ok(at.run())
    assert not at.error
    assert len(at.get("imgs")) + len(at.get("image")) >= 6  # the six seed plots
    assert metrics(at)["Features beyond 3 standard deviations"].endswith("of 256")
    assert len(elements(at, "vega_lite_chart")) == 1
    family = next(df.value for df in at.dataframe if "family" in df.value.columns)
    assert {"MFCC", "pitch", "loudness"} <= set(family["family"])


def test_an_undecodable_clip_on_the_features_page_is_one_error_line(start, tmp_path):
    at = start()
    at.switch_page("page_features.py")
    ok(at.run())
    at.file_uploader(key="features_upload").upload("x.wav", b"RIFF" + bytes(100))
    ok(at.run())
    (error,) = at.error
    assert error.value.startswith("x.wav: cannot decode audio")


def test_the_clip_summary_counts_segments_and_shows_whole_percents():
    from ser.app.clips import ClipResult
    from ser.app.page_try import summary_frame

    def result(name, rows, confidence, error=None):
        frame = pd.DataFrame({"start": [0.0] * rows, "end": [1.0] * rows})
        return ClipResult(name, frame, ("a", "b"), None if error else "a", confidence,
                          {}, 3.25, None, error)  # fmt: skip

    bad = result("bad.wav", 1, None, "cannot decode audio")
    summary = summary_frame([result("one.wav", 1, 0.5719), result("long.wav", 4, 0.724), bad])
    assert summary["segments"].tolist() == [1, 4, 0]  # a clip that failed has no segment
    assert summary["confidence"].iloc[:2].tolist() == pytest.approx([57.19, 72.4])
    assert pd.isna(summary["confidence"].iloc[2])
    assert summary["error"].tolist() == ["", "", "cannot decode audio"]
