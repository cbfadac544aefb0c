"""Rows per segment: time stamps, windows, channels, pieces of long recordings."""

from __future__ import annotations

import numpy as np
import pandas.testing as pdt
import pytest
import soundfile as sf
from conftest import synth_voice
from typer.testing import CliRunner

from ser.annotate import annotate, columns
from ser.annotate.cli import SEGMENT_DEFAULTS, app
from ser.audio.segments import PIECE_S, SegmentOptions, plan_pieces, window_segments
from ser.common import DataError

CLASSES = ("angry", "happy", "neutral", "sad")


def long_recording(path, seconds: float, sr: int = 16_000, channels: int = 1):
    """Voice-like bursts of 1-2 s separated by pauses, with a little noise."""
    rng = np.random.default_rng(1)
    parts, t = [], 0.0
    while t < seconds:
        burst = synth_voice(float(rng.uniform(1.0, 2.0)), sr, seed=int(rng.integers(0, 50)))
        pause = np.zeros(int(rng.uniform(0.3, 1.0) * sr))
        parts += [burst, pause]
        t += (len(burst) + len(pause)) / sr
    y = np.concatenate(parts)[: int(seconds * sr)]
    y = y + 0.001 * rng.standard_normal(len(y))
    if channels == 2:  # the second channel holds the same voice, time-reversed
        y = np.stack([y, y[::-1]], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y.astype(np.float32), sr)
    return path


def test_pieces_and_windows_follow_a_fixed_grid():
    assert plan_pieces(10.0) == [(0.0, 10.0)]
    assert plan_pieces(2.5 * PIECE_S) == [(0.0, 60.0), (60.0, 120.0), (120.0, 150.0)]
    assert window_segments((0.0, 10.0), 10.0, 3.0, 3.0) == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert window_segments((0.0, 60.0), 60.1, 3.0, 3.0)[-1] == (57.0, 60.0)
    assert window_segments((60.0, 61.0), 60.1, 3.0, 3.0) == []  # 0.1 s is too short
    assert window_segments((0.0, 4.0), 4.0, 2.0, 1.0) == [(0, 2), (1, 3), (2, 4), (3, 4)]


def test_segment_options_are_checked():
    with pytest.raises(DataError, match="--segment: unknown value 'sentence'"):
        SegmentOptions(mode="sentence")
    with pytest.raises(DataError, match="--window must be between"):
        SegmentOptions(window=0.0)
    assert SEGMENT_DEFAULTS == {
        k: getattr(SegmentOptions(), k) for k in ("max_segment", "window", "hop")
    }


def test_whole_files_get_start_0_and_end_their_duration(tmp_path, write_audio, tiny_model_path):
    write_audio(tmp_path / "a.wav", seconds=0.8)
    write_audio(tmp_path / "b.wav", seconds=1.3, sr=48_000)
    table = annotate(tmp_path, model=tiny_model_path, jobs=1)  # auto: short files whole
    assert list(table.columns) == columns(CLASSES, compare=False)
    assert list(table.columns)[:3] == ["path", "start", "end"]
    assert table["start"].tolist() == [0.0, 0.0]
    np.testing.assert_allclose(table["end"], [0.8, 1.3])
    np.testing.assert_allclose(table["end"], table["duration_s"])


@pytest.mark.slow
def test_a_long_recording_in_windows_gives_the_same_rows_with_1_and_2_jobs(
    tmp_path, tiny_speaker_model_path
):
    long_recording(tmp_path / "call.wav", 130.0)  # three pieces
    kw = {"model": tiny_speaker_model_path, "segment": "window", "window": 3.0, "hop": 3.0}
    one = annotate(tmp_path, jobs=1, **kw)
    two = annotate(tmp_path, jobs=2, **kw)
    pdt.assert_frame_equal(one, two, check_exact=True)
    assert len(one) == 44  # 130 s in 3 s windows, the last one 1 s
    np.testing.assert_allclose(one["start"], np.arange(44) * 3.0)
    np.testing.assert_allclose(one["end"], np.minimum(np.arange(44) * 3.0 + 3.0, 130.0))
    assert (one["status"] == "ok").all() and (one["path"] == "call.wav").all()
    # the segments of one recording form a speaker group of their own
    assert (one["normalization"] == "speaker").all()


def test_each_channel_is_classified_on_its_own(tmp_path, tiny_model_path):
    long_recording(tmp_path / "stereo.wav", 12.0, channels=2)
    table = annotate(tmp_path, model=tiny_model_path, jobs=1, segment="window", channels="each")
    assert list(table.columns) == columns(CLASSES, compare=False, channel=True)
    assert table["channel"].tolist() == [0] * 4 + [1] * 4
    assert table["start"].tolist() == [0.0, 3.0, 6.0, 9.0] * 2
    # the same voice, reversed in time on channel 1: different rows
    assert not np.allclose(table["prob_angry"][:4], table["prob_angry"][4:])


def test_silent_windows_are_rows_without_a_prediction(tmp_path, tiny_model_path):
    y = np.concatenate([synth_voice(3.0), np.zeros(16_000 * 3), synth_voice(3.0, seed=3)])
    sf.write(tmp_path / "gap.wav", y.astype(np.float32), 16_000)
    result = CliRunner().invoke(
        app,
        [str(tmp_path / "gap.wav"), "--segment", "window", "-m", str(tiny_model_path),
         "-o", str(tmp_path / "t.csv"), "-j", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output  # a silent stretch does not fail the file
    import pandas as pd

    table = pd.read_csv(tmp_path / "t.csv")
    assert table["status"].tolist() == ["ok", "error", "ok"]
    assert table["error"][1].startswith("silent")
    assert "3 rows (segments); 1 of them without a prediction" in result.stderr


def test_a_long_container_recording_is_read_in_pieces(tmp_path, tiny_model_path):
    from test_containers import write_av

    write_av(tmp_path / "in" / "call.m4a", codec="aac", sr=16_000, seconds=75.0)
    one = annotate(tmp_path / "in", model=tiny_model_path, jobs=1, segment="window")
    two = annotate(tmp_path / "in", model=tiny_model_path, jobs=2, segment="window")
    pdt.assert_frame_equal(one, two, check_exact=True)
    assert len(one) == 25 and (one["status"] == "ok").all()
    np.testing.assert_allclose(one["start"], np.arange(25) * 3.0)
    assert one["duration_s"].iloc[0] == pytest.approx(75.0, abs=0.1)


def test_a_minute_without_speech_does_not_fail_the_recording(tmp_path, tiny_model_path):
    """Found by an attack: a 60 s piece with no speech made the whole file an error."""
    path = long_recording(tmp_path / "call.wav", 190.0)
    y, sr = sf.read(path, dtype="float32")
    y[58 * sr : 122 * sr] = 0.0  # a held line: the whole second piece is silent
    y[-int(0.4 * sr) :] = 0.0  # and the last, short piece too
    sf.write(path, y, sr)
    table = annotate(tmp_path, model=tiny_model_path, jobs=2, segment="speech")
    assert (table["status"] == "ok").all()
    assert len(table) > 20
    assert not ((table["start"] >= 60.5) & (table["end"] <= 121.5)).any()


def test_a_file_without_speech_is_one_error_row_with_its_header(tmp_path, tiny_model_path):
    rng = np.random.default_rng(0)
    quiet = (1e-6 * rng.standard_normal(16_000 * 40)).astype(np.float32)  # 40 s, -120 dBFS
    sf.write(tmp_path / "hold.wav", quiet, 16_000)
    table = annotate(tmp_path, model=tiny_model_path, jobs=1)  # auto: speech, over 30 s
    (row,) = table.to_dict("records")
    assert (row["status"], row["error"]) == ("error", "no speech found")
    assert (row["start"], row["end"], row["duration_s"], row["sample_rate"]) == (
        0.0,
        40.0,
        40.0,
        16_000,
    )
    windows = annotate(tmp_path, model=tiny_model_path, jobs=1, segment="window")
    assert len(windows) == 14 and (windows["error"] == "silent: peak level below -80 dBFS").all()


def test_unused_segment_options_are_named(tmp_path, write_audio, tiny_model_path):
    write_audio(tmp_path / "a.wav")
    args = [str(tmp_path / "a.wav"), "-m", str(tiny_model_path), "-o", str(tmp_path / "t.csv")]
    result = CliRunner().invoke(app, [*args, "--window", "5", "-j", "1"])
    assert result.exit_code == 0, result.output
    assert "warning: --window/--hop apply to --segment window only: ignored" in result.stderr


def test_a_channel_without_speech_gets_a_row_saying_so(tmp_path, tiny_model_path):
    """Found by an attack: with --channels each, a silent channel vanished without a trace."""
    path = long_recording(tmp_path / "call.wav", 40.0)
    y, sr = sf.read(path, dtype="float32")
    sf.write(path, np.stack([y, np.zeros_like(y)], axis=1), sr)
    table = annotate(tmp_path, model=tiny_model_path, jobs=1, channels="each")
    assert (table[table.channel == 0]["status"] == "ok").sum() >= 10
    (row,) = table[table.channel == 1].to_dict("records")
    assert (row["status"], row["error"], row["start"], row["end"]) == (
        "error",
        "no speech found",
        0.0,
        40.0,
    )


class _Counting:
    def __init__(self) -> None:
        self.total = self.files = 0
        self.seconds = 0.0

    def start(self, total: int) -> None:
        self.total = total

    def advance(self, n: int = 1, seconds: float = 0.0) -> None:
        self.files += n
        self.seconds += seconds


@pytest.mark.parametrize("jobs", [1, 2])
def test_progress_counts_seconds_of_audio_as_pieces_finish(
    tmp_path, write_audio, tiny_model_path, jobs
):
    long_recording(tmp_path / "call.wav", 130.0)  # three pieces
    write_audio(tmp_path / "short.wav", seconds=0.8)
    progress = _Counting()
    annotate(tmp_path, model=tiny_model_path, jobs=jobs, segment="window", progress=progress)
    assert (progress.total, progress.files) == (2, 2)
    assert progress.seconds == pytest.approx(130.8, abs=0.01)
