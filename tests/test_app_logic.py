"""``ser.app``'s logic without Streamlit: clips in a temporary folder and their predictions,
tables read back and summarised, signal analysis and feature z-scores, charts, speech."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("altair", reason="the app's extra is not installed (pip install '.[app]')")
pytest.importorskip("matplotlib", reason="the app's extra is not installed (pip install '.[app]')")

from app_browser import ANGRY_CLIP, write_long_recording
from conftest import TINY_CLASSES

from ser.app import charts, clips, signals, tables
from ser.app.clips import Clip, check_clip, clips_on_disk, predict_clips, summarise_clip
from ser.app.speech import result_sentence, speech_html
from ser.common import AudioError, DataError, ModelError
from ser.common.palette import ERROR_COLOUR, colour_of


@pytest.fixture(scope="module", autouse=True)
def _no_workers_left():
    """The predictions run in loky workers (crash protection): stop them after the module."""
    yield
    from ser.batch import shutdown_workers

    shutdown_workers()


@pytest.fixture
def own_tmpdir(tmp_path, monkeypatch) -> Path:
    """A private temporary folder for ``tempfile``, to see what is left in it."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _wav_bytes(write_audio, tmp_path: Path, name: str = "v.wav", **kw) -> bytes:
    return write_audio(tmp_path / "src" / name, **kw).read_bytes()


# --- clips ------------------------------------------------------------------------------


def test_clips_live_in_a_temporary_folder_that_is_removed_after(own_tmpdir):
    given = [
        Clip("../../etc/x.wav", b"1"),
        Clip(".hidden.WAV", b"2"),
        Clip("x.wav", b"3"),
        Clip("a b/é?.flac", b"4"),
    ]
    with clips_on_disk(given) as paths:
        folder = paths[0].parent
        assert folder.parent == own_tmpdir and folder.name.startswith("ser-app-")
        assert all(p.parent == folder for p in paths)
        assert [p.read_bytes() for p in paths] == [b"1", b"2", b"3", b"4"]
        assert len({p.name.lower() for p in paths}) == 4  # two x.wav stay two files
        assert not any(p.name.startswith(".") for p in paths)
        assert paths[1].suffix == ".wav"
    assert list(own_tmpdir.iterdir()) == []


def test_the_folder_goes_even_when_the_block_fails_and_errors_name_the_clip(own_tmpdir):
    with pytest.raises(AudioError, match=r"^my clip\.wav: cannot decode$"):
        with clips_on_disk([Clip("my clip.wav", b"x")]) as (path,):
            raise AudioError(str(path), "cannot decode")
    assert list(own_tmpdir.iterdir()) == []


@pytest.mark.parametrize(
    ("clip", "message"),
    [
        (Clip("notes.txt", b"x"), r"notes\.txt: not an audio file ser reads \(\.txt\)"),
        (Clip("noext", b"x"), "no extension"),
        (Clip("e.wav", b""), r"empty file \(0 bytes\)"),
    ],
)
def test_clips_ser_would_not_read_are_refused_before_decoding(clip, message):
    with pytest.raises(AudioError, match=message):
        check_clip(clip)


def test_accepted_suffixes_are_what_ser_decodes():
    from ser.audio import AUDIO_SUFFIXES

    assert {f".{s}" for s in clips.ACCEPTED_SUFFIXES} == set(AUDIO_SUFFIXES)
    assert {"wav", "flac", "mp3", "ogg", "m4a", "webm"} <= set(clips.ACCEPTED_SUFFIXES)


def test_predictions_are_annotates_rows_and_a_bad_clip_is_an_error(
    write_audio, tmp_path, tiny_model_path, own_tmpdir
):
    from ser.annotate import annotate
    from ser.models import load_model

    model = load_model(tiny_model_path)
    good = _wav_bytes(write_audio, tmp_path, seconds=1.0, seed=3)
    given = [Clip("good.wav", good), Clip("bad.wav", b"RIFF" + bytes(500))]
    good_result, bad_result = predict_clips(given, model, jobs=1)
    assert list(own_tmpdir.iterdir()) == []
    direct = annotate([str(tmp_path / "src" / "v.wav")], model=model, jobs=1)
    assert good_result.name == "good.wav" and good_result.error is None
    assert good_result.classes == TINY_CLASSES
    assert good_result.probabilities == pytest.approx(
        {c: direct[f"prob_{c}"].iloc[0] for c in TINY_CLASSES}
    )
    assert good_result.emotion == direct["emotion"].iloc[0]
    assert good_result.rows["path"].tolist() == ["good.wav"] and not good_result.segmented
    assert bad_result.emotion is None and bad_result.probabilities == {}
    assert bad_result.error.startswith("cannot decode audio")


def test_a_long_clip_is_summarised_by_its_segments_weighted_by_duration():
    rows = pd.DataFrame(
        {
            "path": ["c"] * 3,
            "start": [0.0, 10.0, 20.0],
            "end": [2.0, 11.0, 21.0],
            "status": ["ok", "ok", "error"],
            "error": [None, None, "too short"],
            "duration_s": [40.0] * 3,
            "emotion": ["a", "b", None],
            "prob_a": [0.9, 0.2, np.nan],
            "prob_b": [0.1, 0.8, np.nan],
            "normalization": ["speaker", "speaker", None],
        }
    )
    result = summarise_clip("c", rows, ["a", "b"])
    assert result.segmented
    assert result.probabilities == pytest.approx(
        {"a": (2 * 0.9 + 0.2) / 3, "b": (2 * 0.1 + 0.8) / 3}
    )
    assert (result.emotion, result.duration_s, result.normalization) == ("a", 40.0, "speaker")
    nothing = summarise_clip("d", rows.iloc[2:], ["a", "b"])
    assert nothing.error == "too short" and nothing.emotion is None


@pytest.mark.ravdess
def test_a_ravdess_clip_gets_the_bundled_models_answer(ravdess_dir):
    from ser.annotate import annotate
    from ser.models import resolve_model

    model = resolve_model("ser6")
    path = ravdess_dir / ANGRY_CLIP
    (result,) = predict_clips([Clip(path.name, path.read_bytes())], model)
    direct = annotate([str(path)], model=model, jobs=1)
    assert result.emotion == direct["emotion"].iloc[0] == "angry"
    assert result.confidence == pytest.approx(direct["confidence"].iloc[0])
    assert result.normalization == "training"  # one clip: no speaker statistics


@pytest.mark.ravdess
@pytest.mark.slow
def test_a_clip_over_30_s_is_cut_into_segments(ravdess_dir, tmp_path):
    from ser.models import resolve_model

    path = write_long_recording(tmp_path / "long.wav", ravdess_dir)
    (result,) = predict_clips([Clip("long.wav", path.read_bytes())], resolve_model("ser6"))
    assert result.segmented and len(result.rows) >= 5
    assert result.duration_s > 30
    assert (result.rows["end"] > result.rows["start"]).all()
    assert sum(result.probabilities.values()) == pytest.approx(1.0)


# --- tables -----------------------------------------------------------------------------


@pytest.fixture
def annotated(tmp_path, write_audio, tiny_model_path) -> tuple[Path, Path, Path]:
    """A corpus (two good files, a corrupt one, one too short, one named like a formula)
    and its ser-annotate tables as Parquet and CSV."""
    from ser.annotate import annotate_to_file

    corpus = tmp_path / "corpus"
    write_audio(corpus / "a.wav", seed=1)
    write_audio(corpus / "sub" / "b.wav", seed=2, channels=2)
    write_audio(corpus / "=cmd.wav", seed=4)
    write_audio(corpus / "short.wav", seconds=0.05)
    (corpus / "broken.wav").write_bytes(b"not audio" * 50)
    out = {}
    for ext in ("parquet", "csv"):
        out[ext] = tmp_path / f"labels.{ext}"
        annotate_to_file([str(corpus)], out=out[ext], model=str(tiny_model_path), jobs=1)
    return corpus, out["parquet"], out["csv"]


def test_a_table_reads_back_the_same_from_parquet_csv_and_bytes(annotated):
    _, parquet, csv = annotated
    from_parquet = tables.read_table(parquet)
    from_csv = tables.read_table(csv)
    from_bytes = tables.read_table(parquet.read_bytes(), "uploaded.parquet")
    assert from_parquet.meta["ser.model_name"] == "tiny" and from_csv.meta == {}
    assert from_parquet.path == parquet and from_bytes.path is None
    assert from_parquet.classes == list(TINY_CLASSES)
    for loaded in (from_csv, from_bytes):
        assert loaded.frame["path"].tolist() == from_parquet.frame["path"].tolist()
        assert loaded.frame["emotion"].tolist() == from_parquet.frame["emotion"].tolist()
        np.testing.assert_allclose(loaded.frame["confidence"], from_parquet.frame["confidence"])
    assert "=cmd.wav" in from_csv.frame["path"].tolist()  # the CSV formula guard undone
    assert not from_parquet.labelled


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"a,b\n1,2\n", "t.csv", "not a ser-annotate table: no path, status, emotion columns"),
        (b"path,status\nx,ok\n", "t.csv", "no emotion column$"),
        (b"garbage" * 10, "t.parquet", "t.parquet: cannot read it as Parquet"),
        (b"x", "t.xlsx", "expected a .parquet or .csv file"),
    ],
)
def test_a_table_that_is_not_a_ser_table_is_one_line(content, name, message):
    with pytest.raises(DataError, match=message):
        tables.read_table(content, name)


def test_a_missing_table_path_says_so(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        tables.read_table(tmp_path / "nope.parquet")


def test_counts_errors_filters_and_recordings(annotated):
    frame = tables.read_table(annotated[1]).frame
    summary = tables.table_summary(frame)
    assert (summary["rows"], summary["recordings"], summary["predicted"], summary["errors"]) == (
        5,
        5,
        3,
        2,
    )
    counts = tables.emotion_counts(frame)
    assert counts["emotion"].tolist()[: len(TINY_CLASSES)] == list(TINY_CLASSES)
    assert counts["rows"].sum() == 3 and counts["share"].sum() == pytest.approx(1.0)
    reasons = tables.error_reasons(frame)
    assert sorted(reasons["reason"]) == ["cannot decode audio", "too short"]
    assert reasons["rows"].sum() == 2
    ok = tables.filter_rows(frame, status="ok", sort_by="confidence", descending=True)
    assert len(ok) == 3 and ok["confidence"].is_monotonic_decreasing
    assert len(tables.filter_rows(frame, path_contains="SUB/")) == 1
    one = ok["emotion"].iloc[0]
    assert set(tables.filter_rows(frame, emotions=[one])["emotion"]) == {one}
    lo = float(ok["confidence"].min())
    assert len(tables.filter_rows(frame, confidence=(lo + 1e-9, 1.0))) == 2
    assert len(tables.recordings(frame)) == 5


def test_error_reasons_group_numbers_and_details_away():
    frame = pd.DataFrame(
        {
            "path": ["a", "b", "c", "d"],
            "status": ["error"] * 3 + ["ok"],
            "emotion": [None, None, None, "x"],
            "error": [
                "too short: 0.050 s, the minimum is 0.2 s",
                "too short: 0.1 s, ...",
                "empty file (0 bytes)",
                None,
            ],
        }
    )
    reasons = tables.error_reasons(frame)
    assert reasons[["reason", "rows"]].values.tolist() == [
        ["too short", 2],
        ["empty file (# bytes)", 1],
    ]
    assert reasons["example"].iloc[0] == "a"


def test_timelines_sort_segments_by_channel_then_time():
    frame = pd.DataFrame(
        {
            "path": ["r"] * 3 + ["s"],
            "channel": [1, 0, 0, 0],
            "start": [0.0, 5.0, 0.0, 0.0],
            "end": [1.0, 6.0, 1.0, 1.0],
            "status": ["ok"] * 4,
            "emotion": ["a"] * 4,
        }
    )
    rows = tables.timeline_of(frame, "r")
    assert rows[["channel", "start"]].values.tolist() == [[0, 0.0], [0, 5.0], [1, 0.0]]
    assert tables.recordings(frame)["path"].tolist() == ["r", "s"]


def test_the_comparison_is_the_one_ser_annotate_prints():
    from ser.annotate.compare import compare_labels

    frame = pd.DataFrame(
        {
            "path": list("abcde"),
            "status": ["ok"] * 4 + ["error"],
            "emotion": ["x", "y", "x", "y", None],
            "true_emotion": ["x", "x", "x", "z", "y"],
            "actor": [1, 1, 2, 2, 2],
            "prob_x": [0.7, 0.4, 0.9, 0.3, None],
            "prob_y": [0.3, 0.6, 0.1, 0.7, None],
        }
    )
    assert tables.comparison_of(frame.drop(columns="true_emotion")) is None
    ours = tables.comparison_of(frame, training_actors=[1])
    theirs = compare_labels(frame, training_actors=[1])
    assert json.dumps(ours.scores.to_dict()) == json.dumps(theirs.scores.to_dict())  # NaN too
    assert (ours.n_unknown_class, ours.n_errors, ours.n_seen_in_training) == (1, 1, 2)
    assert ours.ece == pytest.approx(theirs.ece)


def test_the_compare_source_comes_from_the_recorded_command_line():
    assert (
        tables.compare_source({"ser.command": ["ser-annotate", "d", "--compare", "ravdess"]})
        == "ravdess"
    )
    assert (
        tables.compare_source({"ser.command": ["ser-annotate", "--compare=crema-d"]}) == "crema-d"
    )
    assert tables.compare_source({}) is None


def test_a_rows_audio_is_found_and_its_segment_read(tmp_path, write_audio):
    data = np.stack([np.linspace(-0.5, 0.5, 48_000), np.full(48_000, 0.25)], axis=1)
    write_audio(tmp_path / "corpus" / "x.wav", data=data, sr=16_000)
    meta = {"ser.command": ["ser-annotate", str(tmp_path / "corpus"), "-o", "t.parquet"]}
    roots = tables.audio_roots(meta, None)
    assert tmp_path / "corpus" in roots
    found = tables.resolve_audio("x.wav", roots)
    assert found == tmp_path / "corpus" / "x.wav"
    assert tables.resolve_audio("y.wav", roots) is None
    left, sr = tables.read_segment(found, 1.0, 2.0, channel=0)
    assert sr == 16_000 and len(left) == 16_000
    np.testing.assert_allclose(left, data[16_000:32_000, 0].astype(np.float32), atol=1e-4)
    mixed, _ = tables.read_segment(found, 0.0, 0.5)
    np.testing.assert_allclose(mixed, data[:8000].mean(axis=1), atol=1e-4)
    with pytest.raises(AudioError, match="no audio between"):
        tables.read_segment(found, 5.0, 6.0)


# --- signals, charts, figures, speech ---------------------------------------------------


def test_the_waveform_envelope_keeps_every_peak_in_few_points():
    y = np.zeros(100_000, np.float32)
    y[12_345], y[67_890] = 0.9, -0.8
    env = signals.waveform_envelope(y, 16_000, points=500)
    assert len(env) <= 500
    assert env["high"].max() == pytest.approx(0.9) and env["low"].min() == pytest.approx(-0.8)
    assert env["time"].iloc[-1] < len(y) / 16_000


@pytest.mark.slow
@pytest.mark.parametrize("seconds", [2.0, 31.0])
def test_the_pitch_track_finds_a_tones_pitch(seconds):
    sr = 16_000
    t = np.arange(int(seconds * sr)) / sr
    y = sum(np.sin(2 * np.pi * 180.0 * k * t) / k for k in range(1, 5)).astype(np.float32) * 0.3
    track = signals.pitch_track(y, sr)
    assert track.method == ("pYIN" if seconds <= signals.PYIN_MAX_S else "YIN, energy-gated")
    voiced = track.f0[np.isfinite(track.f0)]
    assert len(voiced) > 0.8 * len(track.f0)
    assert np.median(voiced) == pytest.approx(180.0, rel=0.03)
    mel = signals.log_mel(y, sr)
    assert mel.db.shape[0] == 64 and mel.db.max() == pytest.approx(0.0)


def test_feature_z_scores_are_against_the_models_training_statistics(
    tiny_model_path, write_audio, tmp_path
):
    from ser.features import feature_names, process_file
    from ser.models import load_model

    model = load_model(tiny_model_path)
    path = write_audio(tmp_path / "v.wav", seconds=1.0)
    position = signals.feature_position(path, model)
    x, _ = process_file(path, config=model.features)
    names = feature_names(model.features)
    assert position["feature"].tolist() == names
    stats = model.train_stats
    np.testing.assert_allclose(position["z"], (x - stats.mean) / stats.std, rtol=1e-6)
    assert position["percentile"].between(0, 100).all()
    assert "other" not in set(position["family"])
    summary = signals.family_summary(position)
    assert summary["features"].sum() == len(names)
    assert summary["mean |z|"].is_monotonic_decreasing
    model.train_stats = None
    with pytest.raises(ModelError, match="holds no training statistics"):
        signals.feature_position(path, model)


def test_every_seed_plot_and_the_signal_figure_are_drawn(write_audio, tmp_path):
    from matplotlib.figure import Figure

    from ser.app.figures import SEED_PLOTS, seed_figure, signal_figure

    signal = signals.load_signal(write_audio(tmp_path / "v.wav", seconds=1.0))
    seed = signals.seed_features(signal.y, signal.sr)
    assert seed.mfcc.shape[0] == 40 and seed.chroma.shape[0] == 12
    for kind in SEED_PLOTS:
        assert isinstance(seed_figure(kind, signal, seed), Figure)
    with pytest.raises(ValueError, match="unknown plot"):
        seed_figure("nope", signal, seed)
    track = signals.PitchTrack(np.array([0.1, 0.2]), np.array([150.0, np.nan]), "test")
    fig = signal_figure(
        signal,
        signals.log_mel(signal.y, signal.sr),
        track,
        emotion="sad",
        segments=[(0.0, 0.5, "angry")],
    )
    assert len(fig.axes) == 3  # waveform, spectrogram, colour bar


def _colours(spec: dict) -> dict[str, str]:
    """Every colour scale's domain -> range in a Vega-Lite spec."""
    found: dict[str, str] = {}
    text = json.dumps(spec)
    for layer in spec.get("layer", [spec]):
        scale = layer.get("encoding", {}).get("color", {}).get("scale", {})
        found |= dict(zip(scale.get("domain", []), scale.get("range", [])))
    assert text
    return found


def test_emotion_charts_use_the_shared_palette():
    probs = {"angry": 0.7, "sad": 0.2, "frustrated": 0.1}
    spec = charts.probability_chart(probs).to_dict()
    assert _colours(spec) == {e: colour_of(e) for e in probs}
    rows = pd.DataFrame(
        {
            "start": [0.0, 3.0],
            "end": [3.0, 6.0],
            "emotion": ["happy", None],
            "confidence": [0.8, None],
            "error": [None, "too short"],
        }
    )
    timeline = charts.timeline_chart(rows, ["happy", "sad"]).to_dict()
    assert _colours(timeline) == {
        "happy": colour_of("happy"),
        "sad": colour_of("sad"),
        "no prediction": ERROR_COLOUR,
    }
    counts = pd.DataFrame({"emotion": ["neutral", "calm"], "rows": [3, 1], "share": [0.75, 0.25]})
    assert _colours(charts.distribution_chart(counts).to_dict()) == {
        "neutral": colour_of("neutral"),
        "calm": colour_of("calm"),
    }


def test_the_other_charts_build():
    frame = pd.DataFrame({"emotion": ["a", "b", "a"], "confidence": [0.2, 0.97, 1.0]})
    hist = charts.confidence_histogram(frame, ["a", "b"]).to_dict()
    data = next(iter(hist["datasets"].values()))
    assert sum(row["rows"] for row in data) == 3
    assert max(row["lower"] for row in data) == pytest.approx(0.95)  # 1.0 is in the last bin
    from ser.models.metrics import reliability_table, score

    s = score(["a", "b", "a"], ["a", "b", "b"], ["a", "b"])
    for chart in (
        charts.confusion_chart(s.confusion, s.classes),
        charts.recall_chart(s.recall),
        charts.reliability_chart(
            reliability_table(
                np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]]), ["a", "b", "a"], ["a", "b"]
            )
        ),
        charts.errors_chart(pd.DataFrame({"reason": ["x"], "rows": [2], "example": ["p"]})),
        charts.zscore_chart(
            pd.DataFrame(
                {
                    "feature": ["f"],
                    "family": ["MFCC"],
                    "value": [1.0],
                    "train_mean": [0.0],
                    "z": [-2.0],
                    "percentile": [2.3],
                }
            )
        ),
    ):
        assert chart.to_dict()


def test_the_speech_snippet_says_the_result_and_cannot_be_broken_out_of():
    assert result_sentence("angry", 0.789) == "angry, 79 percent"
    assert result_sentence("sad", name="x.wav") == "x.wav: sad"
    page = speech_html('</script><script>alert(1)</script> "quoted"', token="t1")
    assert page.count("</script>") == 1  # only the snippet's own
    assert "speechSynthesis" in page and "speak(u)" in page
    assert "&lt;/script&gt;" in page
