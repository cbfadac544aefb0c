"""Containers through PyAV: M4A/AAC, MP4/MOV sound tracks, WebM/Opus, AMR, WMA.

Every file is written in ``tmp_path`` by PyAV itself (its wheels bundle FFmpeg with these
encoders), from :func:`conftest.synth_voice`, so no system ffmpeg is needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import synth_voice

from ser.audio.containers import av_info, decode_av, iter_av_blocks, looks_like_container
from ser.audio.decode import AUDIO_SUFFIXES, CONTAINER_SUFFIXES, decode, load_audio
from ser.common import AudioError
from ser.corpora import find_audio_files

av = pytest.importorskip("av", reason="PyAV (the av package) decodes the containers")

#: Lossy encoders pad the end to a whole codec frame (1024 samples for AAC, 20 ms for AMR)
PADDING_S = 0.05


def write_av(
    path: Path,
    *,
    codec: str,
    sr: int,
    channels: int = 1,
    seconds: float = 1.0,
    fmt: str | None = None,
    video: str | None = None,
    bit_rate: int | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode :func:`synth_voice` into ``path`` with PyAV (with a small video if ``video``)."""
    try:
        av.Codec(codec, "w")
    except Exception:
        pytest.skip(f"PyAV's FFmpeg has no {codec} encoder")
    y = synth_voice(seconds, sr, channels=channels).reshape(-1, channels)
    planes = np.ascontiguousarray(y.T, dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    layout = "mono" if channels == 1 else "stereo"
    with av.open(str(path), "w", format=fmt, options=options or {}) as out:
        if video:
            vs = out.add_stream(video, rate=10)
            vs.width, vs.height, vs.pix_fmt = 32, 32, "yuv420p"
        st = out.add_stream(codec, rate=sr, layout=layout)
        if bit_rate:
            st.bit_rate = bit_rate
        for i in range(0, planes.shape[1], 4096):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(planes[:, i : i + 4096]), format="fltp", layout=layout
            )
            frame.sample_rate, frame.pts = sr, i
            out.mux(st.encode(frame))
        out.mux(st.encode(None))
        if video:
            for k in range(round(seconds * 10)):
                image = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), "rgb24")
                image.pts = k
                out.mux(vs.encode(image))
            out.mux(vs.encode(None))
    return path


def write_video_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        vs = out.add_stream("mpeg4", rate=10)
        vs.width, vs.height, vs.pix_fmt = 32, 32, "yuv420p"
        for k in range(10):
            image = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), "rgb24")
            image.pts = k
            out.mux(vs.encode(image))
        out.mux(vs.encode(None))
    return path


# name: (write_av keywords, sample rate, channels)
FORMATS = {
    "speech.m4a": dict(codec="aac", sr=44_100),
    "clip.mp4": dict(codec="aac", sr=48_000, channels=2, video="mpeg4"),
    "memo.mov": dict(codec="aac", sr=48_000),
    "call.webm": dict(codec="libopus", sr=48_000),
    "memo.amr": dict(codec="libopencore_amrnb", sr=8_000, bit_rate=12_200),
    "voice.wma": dict(codec="wmav2", sr=44_100, bit_rate=64_000),
}


def test_container_suffixes_are_walked_and_not_libsndfiles():
    assert CONTAINER_SUFFIXES <= AUDIO_SUFFIXES
    assert {".m4a", ".mp4", ".mov", ".webm", ".amr", ".wma", ".aac", ".mkv"} <= CONTAINER_SUFFIXES
    assert not {".wav", ".flac", ".ogg", ".mp3", ".ts"} & CONTAINER_SUFFIXES


def test_the_walk_picks_every_container(tmp_path, write_audio):
    for name, kw in FORMATS.items():
        write_av(tmp_path / "in" / name, **kw)
    write_audio(tmp_path / "in" / "plain.wav")
    (tmp_path / "in" / "notes.txt").write_text("not audio")
    found = [f.relpath for f in find_audio_files(tmp_path / "in")]
    assert found == sorted([*FORMATS, "plain.wav"])


@pytest.mark.parametrize("name", list(FORMATS))
def test_decode_and_load_audio_give_rate_channels_and_duration(tmp_path, name):
    kw = FORMATS[name]
    path = write_av(tmp_path / name, **kw)
    data, sr = decode(str(path))
    channels = kw.get("channels", 1)
    assert data.dtype == np.float32 and data.ndim == 2 and data.shape[1] == channels
    assert sr == kw["sr"]
    assert len(data) / sr == pytest.approx(1.0, abs=PADDING_S)
    assert 0.3 < np.max(np.abs(data)) < 0.9  # the 0.5-peak voice, through a lossy codec
    y, info = load_audio(path, trim=False)
    assert (info.sample_rate, info.channels) == (sr, channels)
    assert info.duration_s == pytest.approx(1.0, abs=PADDING_S)
    assert len(y) == pytest.approx(16_000 * info.duration_s, abs=2)


def test_a_stereo_file_keeps_both_channels(tmp_path):
    path = write_av(tmp_path / "stereo.m4a", codec="aac", sr=48_000, channels=2)
    data, _ = decode_av(str(path))
    assert data.shape[1] == 2
    rms = np.sqrt(np.mean(data.astype(np.float64) ** 2, axis=0))
    assert rms[1] / rms[0] == pytest.approx(0.9, abs=0.02)  # synth_voice: channel c * (1 - 0.1c)


def test_lossless_alac_decodes_to_the_samples_written(tmp_path):
    path = write_av(tmp_path / "lossless.m4a", codec="alac", sr=44_100, channels=2)
    data, sr = decode_av(str(path))
    ref = synth_voice(1.0, 44_100, channels=2)
    assert sr == 44_100 and data.shape == ref.shape
    # full scale is 1.0 and the channels stay in order: equal up to ALAC's 16-bit input
    np.testing.assert_allclose(data, ref, atol=1.5 / 32768)


def test_amr_wide_band_is_decoded(tmp_path):
    # PyAV's FFmpeg decodes AMR-WB but has no encoder: 100 frames of 20 ms, frame type 2
    # (12.65 kbit/s, 32 bytes after the one-byte header), written by hand
    payload = np.random.default_rng(0).integers(0, 256, (100, 32), np.uint8)
    path = tmp_path / "memo.awb"
    path.write_bytes(
        b"#!AMR-WB\n" + b"".join(bytes([2 << 3 | 0x04]) + p.tobytes() for p in payload)
    )
    data, sr = decode(str(path))
    assert sr == 16_000 and data.shape == (32_000, 1)


def test_a_stream_that_changes_part_way_comes_out_as_its_header_says(tmp_path):
    # two ADTS streams back to back: 44.1 kHz mono, then 22.05 kHz stereo
    a = write_av(tmp_path / "a.aac", codec="aac", sr=44_100, fmt="adts")
    b = write_av(tmp_path / "b.aac", codec="aac", sr=22_050, channels=2, fmt="adts")
    path = tmp_path / "joined.aac"
    path.write_bytes(a.read_bytes() + b.read_bytes())
    data, sr = decode(str(path))
    assert sr == 44_100 == av_info(str(path))[0] and data.shape[1] == 1
    assert len(data) / sr == pytest.approx(2.0, abs=3 * PADDING_S)  # two encoders' padding
    np.testing.assert_array_equal(np.concatenate(list(iter_av_blocks(str(path), 5000))), data)


@pytest.mark.parametrize("name", ["call.webm", "clip.mp4"])
@pytest.mark.parametrize("block", [1000, 4096, 48_000, 10**7])
def test_blocks_concatenated_equal_decode_av(tmp_path, name, block):
    path = str(write_av(tmp_path / name, **FORMATS[name]))
    whole, _ = decode_av(path)
    blocks = list(iter_av_blocks(path, block))
    assert all(b.dtype == np.float32 and b.shape[1] == whole.shape[1] for b in blocks)
    assert all(len(b) == block for b in blocks[:-1]) and 0 < len(blocks[-1]) <= block
    np.testing.assert_array_equal(np.concatenate(blocks), whole)


def test_iter_av_blocks_refuses_an_empty_block(tmp_path):
    path = write_av(tmp_path / "a.m4a", **FORMATS["speech.m4a"])
    with pytest.raises(ValueError, match="block_frames must be >= 1"):
        next(iter_av_blocks(str(path), 0))


def test_av_info_reads_the_header(tmp_path):
    path = write_av(tmp_path / "clip.mp4", **FORMATS["clip.mp4"])
    sr, channels, duration = av_info(str(path))
    assert (sr, channels) == (48_000, 2)
    assert duration == pytest.approx(1.0, abs=PADDING_S)
    live = write_av(tmp_path / "live.webm", codec="libopus", sr=48_000, options={"live": "1"})
    assert av_info(str(live)) == (48_000, 1, None)  # written live: no duration in the header
    assert len(decode_av(str(live))[0]) == 48_000


def _one_line_error(path: Path, match: str) -> str:
    with pytest.raises(AudioError, match=match) as exc:
        load_audio(path)
    assert "\n" not in str(exc.value) and exc.value.path == str(path)
    return exc.value.reason


def test_corrupt_and_truncated_files_give_a_one_line_error(tmp_path):
    (tmp_path / "noise.m4a").write_bytes(np.random.default_rng(0).bytes(5000))
    _one_line_error(tmp_path / "noise.m4a", r"noise\.m4a: cannot decode audio")
    (tmp_path / "text.webm").write_text("not a video\n" * 50)
    _one_line_error(tmp_path / "text.webm", r"text\.webm: cannot decode audio")
    for name, keep in [("speech.m4a", 0.5), ("voice.wma", 0.5), ("memo.amr", 0.5)]:
        data = write_av(tmp_path / name, **FORMATS[name]).read_bytes()
        cut = tmp_path / f"cut-{name}"
        cut.write_bytes(data[: int(len(data) * keep)])
        _one_line_error(cut, r"cut-.*: cannot decode audio: .*(corrupt|truncated)")


def test_a_truncated_webm_is_found_out(tmp_path):
    # FFmpeg's Matroska demuxer stops quietly at the cut; the duration in the header tells
    data = write_av(tmp_path / "long.webm", codec="libopus", sr=48_000, seconds=3.0).read_bytes()
    cut = tmp_path / "cut.webm"
    cut.write_bytes(data[: len(data) // 2])
    reason = _one_line_error(cut, r"cut\.webm: cannot decode audio: corrupt or truncated")
    assert "the file announces 3.0" in reason
    blocks = iter_av_blocks(str(cut), 4800)
    assert next(blocks).shape == (4800, 1)  # what comes before the cut is given, then the error
    with pytest.raises(AudioError, match="truncated"):
        list(blocks)


def test_a_faststart_m4a_cut_short_gives_an_error(tmp_path):
    path = write_av(tmp_path / "fs.m4a", codec="aac", sr=44_100, options={"movflags": "faststart"})
    cut = tmp_path / "cut.m4a"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size * 3 // 4])
    _one_line_error(cut, r"cut\.m4a: cannot decode audio: corrupt or truncated")


def test_a_video_without_sound(tmp_path):
    path = write_video_only(tmp_path / "silent-film.mp4")
    reason = _one_line_error(path, r"silent-film\.mp4: no audio stream")
    assert reason == "no audio stream (a video without sound?)"
    with pytest.raises(AudioError, match="no audio stream"):
        av_info(str(path))


def test_file_system_errors_read_as_for_other_formats(tmp_path):
    (tmp_path / "empty.m4a").write_bytes(b"")
    assert _one_line_error(tmp_path / "empty.m4a", "empty") == "empty file (0 bytes)"
    assert _one_line_error(tmp_path / "gone.mp4", "not found") == "file not found"
    (tmp_path / "folder.webm").mkdir()
    assert _one_line_error(tmp_path / "folder.webm", "directory").startswith("is a directory")


def test_a_container_under_a_libsndfile_name_is_decoded(tmp_path):
    m4a = write_av(tmp_path / "a.m4a", **FORMATS["speech.m4a"])
    webm = write_av(tmp_path / "b.webm", **FORMATS["call.webm"])
    for src, name in [(m4a, "really-m4a.wav"), (webm, "really-webm.mp3")]:
        (tmp_path / name).write_bytes(src.read_bytes())
        assert looks_like_container(str(tmp_path / name))
        data, _ = decode(str(tmp_path / name))
        np.testing.assert_array_equal(data, decode_av(str(src))[0])
    # what is not a container keeps libsndfile's message
    sf.write(tmp_path / "good.wav", synth_voice(), 16_000)
    bad = bytearray((tmp_path / "good.wav").read_bytes())
    bad[:12] = b"GARBAGEGARBA"
    (tmp_path / "bad.wav").write_bytes(bytes(bad))
    assert not looks_like_container(str(tmp_path / "bad.wav"))
    _one_line_error(tmp_path / "bad.wav", r"bad\.wav: cannot decode audio: not a supported")


def test_ser_audio_imports_no_av_and_decoding_wav_or_flac_needs_none(
    tmp_path, write_audio, imported_by
):
    wav, flac = write_audio(tmp_path / "a.wav"), write_audio(tmp_path / "b.flac")
    code = (
        "import ser.audio, ser.audio.decode, ser.audio.containers\n"
        "from ser.audio import load_audio\n"
        f"load_audio({str(wav)!r}); load_audio({str(flac)!r})\n"
    )
    assert imported_by(code, ["av"]) == []
    assert imported_by("import ser.audio.containers as c; c._import_av()", ["av"]) == ["av"]


def test_ffmpeg_prints_nothing(tmp_path):
    data = write_av(tmp_path / "a.m4a", **FORMATS["speech.m4a"]).read_bytes()
    (tmp_path / "cut.m4a").write_bytes(data[: len(data) // 2])
    (tmp_path / "noise.mp4").write_bytes(os.urandom(3000))
    code = (
        "from ser.audio.decode import decode\n"
        "from ser.common import AudioError\n"
        "for p in ['a.m4a', 'cut.m4a', 'noise.mp4']:\n"
        "    try:\n"
        "        decode(p)\n"
        "    except AudioError as e:\n"
        "        print(e.reason)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.count("cannot decode audio") == 2


def test_annotate_end_to_end(tmp_path, tiny_model_path):
    from ser.annotate import annotate

    for name in ["speech.m4a", "clip.mp4", "call.webm"]:
        write_av(tmp_path / "in" / name, **FORMATS[name])
    table = annotate(tmp_path / "in", model=tiny_model_path, jobs=1).set_index("path")
    assert sorted(table.index) == ["call.webm", "clip.mp4", "speech.m4a"]
    assert (table["status"] == "ok").all(), table["error"].tolist()
    np.testing.assert_allclose(table["duration_s"], 1.0, atol=PADDING_S)
    assert table.loc["clip.mp4", ["sample_rate", "channels"]].tolist() == [48_000, 2]
    assert table.loc["call.webm", ["sample_rate", "channels"]].tolist() == [48_000, 1]


def test_read_av_span_seeks_and_matches_the_whole_decode(tmp_path):
    from ser.audio.containers import read_av_span

    path = write_av(tmp_path / "long.m4a", codec="alac", sr=16_000, seconds=20.0)
    whole, sr = decode_av(str(path))
    span, rate, t0 = read_av_span(str(path), 12.0, 15.0)
    assert rate == sr == 16_000
    assert t0 == pytest.approx(12.0, abs=1 / sr)
    a = round(t0 * sr)
    np.testing.assert_array_equal(span[: 3 * sr - 4096], whole[a : a + 3 * sr - 4096])
