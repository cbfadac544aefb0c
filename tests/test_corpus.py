"""RAVDESS label parsing (property-based), emotion subsets, and the directory walk."""

from __future__ import annotations

import os
from pathlib import PurePath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ser.common import DataError
from ser.corpora import EMOTIONS, find_audio_files, parse_ravdess, validate_subset
from ser.corpora.walk import file_stem, file_suffix


@given(
    mod=st.integers(1, 3),
    voc=st.integers(1, 2),
    emo=st.integers(1, 8),
    inten=st.integers(1, 2),
    stmt=st.integers(1, 2),
    rep=st.integers(1, 2),
    actor=st.integers(1, 99),
    ext=st.sampled_from([".wav", ".flac", ".WAV", ".mp3", ""]),
    folder=st.sampled_from(["", "Actor_01/", "/data/x/"]),
)
def test_valid_names_parse(mod, voc, emo, inten, stmt, rep, actor, ext, folder):
    name = (
        f"{folder}{mod:02d}-{voc:02d}-{emo:02d}-{inten:02d}-{stmt:02d}-{rep:02d}-{actor:02d}{ext}"
    )
    label = parse_ravdess(name)
    if emo == 1 and inten == 2:
        assert label is None  # RAVDESS has no strong neutral
        return
    assert label is not None
    assert label.emotion == EMOTIONS[emo - 1]
    assert label.vocal_channel == ("speech" if voc == 1 else "song")
    assert label.intensity == ("normal" if inten == 1 else "strong")
    assert (label.modality, label.statement, label.repetition, label.actor) == (
        mod,
        stmt,
        rep,
        actor,
    )
    assert label.speaker == f"Actor_{actor:02d}"


#: The values each field of a RAVDESS name may take, as the corpus' documentation lists them
#: (modality, vocal channel, emotion, intensity, statement, repetition; actors are 01-24 in
#: the published set, and ser accepts any actor number from 01).
DOCUMENTED = ({1, 2, 3}, {1, 2}, set(range(1, 9)), {1, 2}, {1, 2}, {1, 2})


@given(
    base=st.tuples(*(st.sampled_from(sorted(v)) for v in DOCUMENTED), st.integers(1, 24)),
    field=st.integers(0, 5),
    bad=st.sampled_from([0, 3, 4, 9, 10, 42, 99]),
)
def test_a_field_outside_its_documented_values_does_not_parse(base, field, bad):
    if bad in DOCUMENTED[field]:
        return
    fields = list(base)
    fields[field] = bad
    assert parse_ravdess("-".join(f"{f:02d}" for f in fields) + ".wav") is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("03-01-05-02-02-01-12.wav", ("angry", "strong", "speech", 12)),
        ("Actor_01/03-01-01-01-01-01-01.flac", ("neutral", "normal", "speech", 1)),
        ("03-02-08-01-01-02-24.WAV", ("surprised", "normal", "song", 24)),
        ("01-01-07-02-02-02-07", ("disgust", "strong", "speech", 7)),
        ("03-01-01-02-01-01-01.wav", None),  # no strong neutral in RAVDESS
        ("03-01-00-01-01-01-01.wav", None),
        ("03-01-05-01-01-01-00.wav", None),
        ("03-01-05-01-01-01.wav", None),
        ("03-01-05-01-01-01-01-01.wav", None),
        ("3-1-5-1-1-1-1.wav", None),
        ("03_01_05_01_01_01_01.wav", None),
    ],
)
def test_examples(name, expected):
    label = parse_ravdess(name)
    got = None if label is None else (label.emotion, label.intensity, label.vocal_channel,
                                       label.actor)  # fmt: skip
    assert got == expected


@pytest.mark.ravdess
def test_every_published_speech_file_parses_as_the_corpus_documents(ravdess_dir):
    labels = [parse_ravdess(f.relpath) for f in find_audio_files(ravdess_dir)]
    assert len(labels) == 1440 and all(lab is not None for lab in labels)
    from collections import Counter

    emotions = Counter(lab.emotion for lab in labels)
    assert emotions == {e: 96 if e == "neutral" else 192 for e in EMOTIONS}
    assert Counter(lab.actor for lab in labels) == {a: 60 for a in range(1, 25)}
    assert {lab.vocal_channel for lab in labels} == {"speech"}
    assert Counter(lab.intensity for lab in labels) == {"normal": 768, "strong": 672}


@given(st.text())
def test_arbitrary_names_never_raise(name):
    parse_ravdess(name.replace("\x00", ""))


@given(
    name=st.text(
        st.sampled_from(["0", "1", "3", "-", ".", "a", "W", "é", " "]), min_size=1, max_size=25
    )
)
def test_suffix_and_stem_are_pathlibs(name):
    # the walk and parse_ravdess take them from the bare name, without a path object
    pure = PurePath(name)
    if pure.name != name:  # "." or ".." as a whole name: never a file in a walk
        return
    assert file_suffix(name) == pure.suffix
    assert file_stem(name) == pure.stem


def test_real_example():
    label = parse_ravdess("Actor_12/03-01-05-02-01-02-12.flac")
    assert label is not None
    assert (label.emotion, label.intensity, label.actor) == ("angry", "strong", 12)


def test_subset_validation():
    assert validate_subset("angry, Sad,neutral,happy") == ("neutral", "happy", "sad", "angry")
    assert validate_subset(None) == EMOTIONS
    with pytest.raises(
        DataError, match=r"unknown emotion\(s\) 'joy'; valid emotions: neutral, calm"
    ):
        validate_subset("neutral,joy")
    with pytest.raises(DataError, match="listed twice"):
        validate_subset("sad,sad")
    with pytest.raises(DataError, match="at least two"):
        validate_subset("sad")
    with pytest.raises(DataError, match="empty"):
        validate_subset(" , ")


def test_walk_is_recursive_sorted_and_skips_hidden(tmp_path):
    for rel in ["b/2.wav", "b/1.FLAC", "a.mp3", ".hidden.wav", ".git/x.wav", "c/notes.txt"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    os.symlink(tmp_path, tmp_path / "b" / "loop")  # a loop must not recurse forever
    found = [f.relpath for f in find_audio_files([tmp_path])]
    assert found == ["a.mp3", "b/1.FLAC", "b/2.wav"]
    assert [f.relpath for f in find_audio_files([tmp_path], pattern="*.wav")] == ["b/2.wav"]
    assert [f.relpath for f in find_audio_files(str(tmp_path))] == found  # one path as a str
    with pytest.raises(FileNotFoundError, match="no such file or directory"):
        list(find_audio_files([tmp_path / "missing"]))
