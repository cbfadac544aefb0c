"""Audio front end on synthetic signals: formats, rates, channels, and every corrupt case."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from ser.audio import ANALYSIS_SR, load_audio
from ser.common import AudioError


def tone(sr: int, seconds: float = 1.0, freq: float = 440.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_freq(y: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.fft.rfftfreq(len(y), 1 / sr)[np.argmax(spec)])


@pytest.mark.parametrize("sr", [8000, 22050, 44100, 48000, 96000])
@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_any_rate_and_sample_format_becomes_16k_mono(tmp_path, sr, subtype):
    path = tmp_path / f"tone_{sr}_{subtype}.wav"
    sf.write(path, tone(sr, 1.0), sr, subtype=subtype)
    y, info = load_audio(path, trim=False)
    assert y.dtype == np.float32 and y.ndim == 1
    assert info.sample_rate == sr and info.channels == 1
    assert info.duration_s == pytest.approx(1.0, abs=1e-3)
    assert len(y) == pytest.approx(ANALYSIS_SR, abs=2)
    assert dominant_freq(y, ANALYSIS_SR) == pytest.approx(440.0, abs=2.0)
    assert np.max(np.abs(y)) == pytest.approx(0.3, rel=0.05)


@pytest.mark.parametrize(
    ("fmt", "subtype", "ext"),
    [
        ("FLAC", "PCM_16", "flac"),
        ("FLAC", "PCM_24", "flac"),
        ("OGG", "VORBIS", "ogg"),
        ("MP3", "MPEG_LAYER_III", "mp3"),
    ],
)
def test_compressed_formats(tmp_path, fmt, subtype, ext):
    path = tmp_path / f"tone.{ext}"
    sf.write(path, tone(48000, 1.0, 330.0), 48000, format=fmt, subtype=subtype)
    y, info = load_audio(path, trim=False)
    assert info.sample_rate == 48000
    assert dominant_freq(y, ANALYSIS_SR) == pytest.approx(330.0, abs=3.0)


@pytest.mark.parametrize("channels", [2, 6])
def test_channels_are_averaged(tmp_path, channels):
    x = tone(44100)
    data = np.zeros((len(x), channels), np.float32)
    data[:, 0] = x  # one live channel, the rest silent: the mix has 1/channels of the level
    path = tmp_path / f"multi{channels}.wav"
    sf.write(path, data, 44100, subtype="FLOAT")
    y, info = load_audio(path, trim=False)
    assert info.channels == channels
    assert np.max(np.abs(y)) == pytest.approx(0.3 / channels, rel=0.05)


def test_noise_is_accepted_and_trim_cuts_silence(tmp_path):
    rng = np.random.default_rng(0)
    speech = 0.2 * rng.standard_normal(16000).astype(np.float32)
    x = np.concatenate([np.zeros(16000, np.float32), speech, np.zeros(16000, np.float32)])
    path = tmp_path / "padded.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    untrimmed, _ = load_audio(path, trim=False)
    trimmed, info = load_audio(path)
    assert len(untrimmed) == 48000 and info.duration_s == pytest.approx(3.0)
    assert 16000 <= len(trimmed) <= 16000 + 2 * 800 + 160  # speech plus 50 ms margins


def write_bytes(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_zero_byte_file(tmp_path):
    p = write_bytes(tmp_path, "empty.wav", b"")
    with pytest.raises(AudioError, match=r"empty\.wav: empty file \(0 bytes\)"):
        load_audio(p)


def test_text_file_with_audio_extension(tmp_path):
    p = write_bytes(tmp_path, "notes.mp3", b"this is not audio at all\n" * 40)
    with pytest.raises(AudioError, match=r"notes\.mp3: cannot decode audio"):
        load_audio(p)


def test_corrupt_header(tmp_path):
    good = tmp_path / "good.wav"
    sf.write(good, tone(16000), 16000)
    data = bytearray(good.read_bytes())
    data[:12] = b"GARBAGEGARBA"
    p = write_bytes(tmp_path, "corrupt.wav", bytes(data))
    with pytest.raises(AudioError, match=r"corrupt\.wav: cannot decode audio"):
        load_audio(p)


def test_truncated_flac(tmp_path):
    good = tmp_path / "good.flac"
    sf.write(good, tone(16000, 2.0), 16000, format="FLAC")
    p = write_bytes(tmp_path, "truncated.flac", good.read_bytes()[:60])
    with pytest.raises(AudioError, match=r"truncated\.flac: (cannot decode|no audio|too short)"):
        load_audio(p)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="file not found"):
        load_audio(tmp_path / "nope.wav")


def test_zero_samples(tmp_path):
    p = tmp_path / "nosamples.wav"
    sf.write(p, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match=r"nosamples\.wav: no audio samples"):
        load_audio(p)


def test_too_short(tmp_path):
    p = tmp_path / "short.wav"
    sf.write(p, tone(16000, 0.05), 16000)
    with pytest.raises(AudioError, match=r"short\.wav: too short: 0\.050 s, the minimum is 0\.2 s"):
        load_audio(p)


def test_all_silent(tmp_path):
    p = tmp_path / "silent.wav"
    sf.write(p, np.zeros(16000, np.float32), 16000)
    with pytest.raises(AudioError, match=r"silent\.wav: silent"):
        load_audio(p)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_samples(tmp_path, bad):
    x = tone(16000)
    x[100:110] = bad
    p = tmp_path / "nonfinite.wav"
    sf.write(p, x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nonfinite\.wav: 10 non-finite samples"):
        load_audio(p)


def test_audio_error_is_a_value_error_and_names_the_file(tmp_path):
    p = write_bytes(tmp_path, "x.wav", b"")
    with pytest.raises(ValueError) as exc:
        load_audio(p)
    assert exc.value.path == str(p)  # type: ignore[attr-defined]


# FLAC goes through dr_flac (miniaudio) when it can, and to libsndfile otherwise


@pytest.mark.parametrize("subtype", ["PCM_S8", "PCM_16", "PCM_24"])
@pytest.mark.parametrize("channels", [1, 2, 3])
def test_flac_fast_path_is_bit_identical_to_libsndfile(tmp_path, subtype, channels):
    from ser.audio.decode import _decode_flac

    rng = np.random.default_rng(channels)
    x = np.clip(0.3 * rng.standard_normal((20000, channels)), -1, 1).astype(np.float32)
    path = tmp_path / "noise.flac"
    sf.write(path, x, 44100, subtype=subtype)
    fast = _decode_flac(str(path))
    assert fast is not None, "dr_flac did not take a plain FLAC file"
    ref, sr = sf.read(path, dtype="float32", always_2d=True)
    assert fast[1] == sr == 44100
    assert fast[0].dtype == np.float32 and fast[0].shape == ref.shape == (20000, channels)
    np.testing.assert_array_equal(fast[0], ref)


def _flac_bytes(tmp_path) -> bytes:
    good = tmp_path / "good.flac"
    sf.write(good, tone(16000, 2.0), 16000, format="FLAC")
    return good.read_bytes()


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_flac_truncated_mid_stream_gives_libsndfiles_error(tmp_path, keep):
    from ser.audio.decode import _decode_flac

    data = _flac_bytes(tmp_path)
    p = write_bytes(tmp_path, "cut.flac", data[: int(len(data) * keep)])
    assert _decode_flac(str(p)) is None  # dr_flac would return the frames before the cut
    with pytest.raises(AudioError, match=r"cut\.flac: cannot decode audio.*lost sync"):
        load_audio(p)


def test_flac_with_a_corrupt_frame_gives_libsndfiles_error(tmp_path):
    from ser.audio.decode import _decode_flac

    data = bytearray(_flac_bytes(tmp_path))
    data[len(data) // 2] ^= 0xFF
    p = write_bytes(tmp_path, "flipped.flac", bytes(data))
    assert _decode_flac(str(p)) is None  # dr_flac drops the frame whose checksum fails
    with pytest.raises(AudioError, match=r"flipped\.flac: cannot decode audio"):
        load_audio(p)


def test_flac_left_to_libsndfile_decodes_the_same(tmp_path, monkeypatch):
    import ser.audio.decode as audio

    p = tmp_path / "tone.flac"
    sf.write(p, tone(48000, 1.0), 48000, format="FLAC", subtype="PCM_24")
    fast, _ = load_audio(p, trim=False)
    monkeypatch.setattr(audio, "FLAC_FAST_MAX_BYTES", 100)  # too large for the fast path now
    assert audio._decode_flac(str(p)) is None
    slow, _ = load_audio(p, trim=False)
    np.testing.assert_array_equal(fast, slow)


def test_flac_fast_path_reads_a_file_name_that_is_not_utf8(tmp_path):
    import os

    from ser.audio.decode import _decode_flac

    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9.flac")
    sf.write(raw, tone(16000), 16000, format="FLAC")
    name = os.fsdecode(raw)  # holds a surrogate
    assert _decode_flac(name) is not None
    y, info = load_audio(name)
    assert info.path == name and info.sample_rate == 16000 and len(y) > 0


def test_not_flac_inside_a_flac_name(tmp_path):
    from ser.audio.decode import _decode_flac

    p = tmp_path / "really.flac"
    sf.write(p, tone(16000), 16000, format="WAV")  # libsndfile goes by content, not name
    assert _decode_flac(str(p)) is None
    y, info = load_audio(p, trim=False)
    assert info.sample_rate == 16000 and len(y) == 16000


@pytest.mark.parametrize(
    "sr, channels, subtype", [(48_000, 1, "PCM_16"), (44_100, 2, "PCM_24"), (8_000, 1, "PCM_S8")]
)
def test_a_flac_header_read_from_streaminfo_equals_libsndfiles(
    tmp_path, write_audio, sr, channels, subtype
):
    from ser.audio.segments import file_header

    path = write_audio(tmp_path / "a.flac", seconds=1.3, sr=sr, channels=channels, subtype=subtype)
    info = sf.info(str(path))
    assert file_header(str(path)) == (info.samplerate, info.channels, info.frames / info.samplerate)


def test_a_flac_without_its_length_is_decoded_and_timed_by_pyav(tmp_path, write_audio):
    """A FLAC written to a stream has no total length in STREAMINFO; libsndfile reports 2**63
    frames for it and fails to read it. Its header and samples come from PyAV instead."""
    from ser.audio.decode import decode, flac_length_unknown, flac_streaminfo
    from ser.audio.segments import file_header, read_span

    path = write_audio(tmp_path / "a.flac", seconds=0.8, seed=3)
    blob = path.read_bytes()
    assert flac_streaminfo(blob[:42]) == (16_000, 1, 16, sf.info(str(path)).frames)
    assert flac_streaminfo(b"ID3" + blob[:60]) is None  # STREAMINFO not first: libsndfile
    zeroed = bytearray(blob)  # the 36-bit total length set to 0 ("unknown")
    zeroed[21:26] = bytes([zeroed[21] & 0xF0, 0, 0, 0, 0])
    unknown = tmp_path / "unknown.flac"
    unknown.write_bytes(bytes(zeroed))
    assert flac_length_unknown(str(unknown)) and not flac_length_unknown(str(path))
    assert file_header(str(unknown)) == file_header(str(path)) == (16_000, 1, 0.8)
    expected, _ = decode(str(path))
    np.testing.assert_array_equal(decode(str(unknown))[0], expected)
    span, sr, t0 = read_span(str(unknown), 0.2, 0.5)  # PyAV: whole frames around the span
    first = round(t0 * sr)
    assert sr == 16_000 and t0 <= 0.2 and first + len(span) >= 8000
    np.testing.assert_array_equal(span, expected[first : first + len(span)])
