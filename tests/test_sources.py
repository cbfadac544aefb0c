"""Labelled training corpora (``ser.corpora.load_labelled``): RAVDESS and CREMA-D trees,
labels tables, one folder per emotion; label synonyms and ``--map``; speakers; duplicates."""

from __future__ import annotations

import itertools
import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest

from ser.common import DataError
from ser.corpora import (
    EMOTION_SYNONYMS,
    EMOTIONS,
    LabelledCorpus,
    Source,
    canonical_emotion,
    load_labelled,
    parse_cremad,
    parse_label_map,
    parse_source,
    read_perceived,
)

_seeds = itertools.count(1)


@pytest.fixture
def clip(write_audio):
    """``clip(path)``: a short WAV whose bytes differ from every other clip's."""
    return lambda path: write_audio(path, seconds=0.05, seed=next(_seeds))


def _by_name(corpus: LabelledCorpus) -> dict[str, tuple[str, str | None, str]]:
    return {Path(c.path).name: (c.emotion, c.speaker, c.source) for c in corpus.clips}


# --- labels ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "emotion"),
    [
        ("anger", "angry"),
        ("ANGRY", "angry"),
        (" Ang ", "angry"),
        ("A", "angry"),
        ("happiness", "happy"),
        ("Joy", "happy"),
        ("hap", "happy"),
        ("sadness", "sad"),
        ("fear", "fearful"),
        ("afraid", "fearful"),
        ("FEA", "fearful"),
        ("disgusted", "disgust"),
        ("dis", "disgust"),
        ("surprise", "surprised"),
        ("sur", "surprised"),
        ("NEU", "neutral"),
        ("n", "neutral"),
        ("calm", "calm"),
        ("s", None),  # sad or surprised: not a synonym
        ("frustrated", None),
        ("", None),
    ],
)
def test_synonyms(label, emotion):
    assert canonical_emotion(label) == emotion


def test_every_emotion_is_its_own_synonym_and_every_synonym_is_lower_case():
    assert all(canonical_emotion(e) == e for e in EMOTIONS)
    assert set(EMOTION_SYNONYMS.values()) == set(EMOTIONS)
    assert all(k == k.strip().lower() for k in EMOTION_SYNONYMS)


def test_parse_label_map():
    assert parse_label_map(["Frustrated=angry", "exc=drop,oth=drop"]) == {
        "frustrated": "angry",
        "exc": "drop",
        "oth": "drop",
    }
    assert parse_label_map(None) == {}
    with pytest.raises(DataError, match="expected OLD=NEW"):
        parse_label_map(["frustrated"])
    with pytest.raises(DataError, match="mapped twice"):
        parse_label_map(["x=angry", "X=sad"])


def test_parse_source():
    assert parse_source("../data") == Source("../data")
    assert parse_source("ravdess=/d/rav") == Source("/d/rav", "ravdess")
    assert parse_source("crema-d:perceived=c") == Source("c", "crema-d", "perceived")
    assert parse_source("my=odd/path") == Source("my=odd/path")  # not a kind: a path
    with pytest.raises(DataError, match="acted or perceived"):
        parse_source("crema-d:voted=c")


def test_parse_cremad():
    label = parse_cremad("/x/1001/1001_DFA_ANG_XX.flac")
    assert label is not None
    assert (label.actor, label.sentence, label.emotion, label.level) == (
        1001,
        "DFA",
        "angry",
        "XX",
    )
    assert label.clip == "1001_DFA_ANG_XX"
    assert parse_cremad("1091_IEO_FEA_HI.wav").emotion == "fearful"
    for bad in ("1001_DFA_CAL_XX.wav", "1001_DFA_ANG_ZZ.wav", "101_DFA_ANG_XX.wav", "x.wav"):
        assert parse_cremad(bad) is None


# --- each kind, detected --------------------------------------------------------------------


def test_ravdess_tree(tmp_path, clip):
    root = tmp_path / "rav"
    clip(root / "Actor_01/03-01-05-01-01-01-01.wav")
    clip(root / "Actor_01/03-01-04-01-01-01-01.wav")
    clip(root / "Actor_02/03-01-01-01-01-01-02.flac")
    clip(root / "Actor_02/03-02-03-01-01-01-02.wav")  # song: left out
    corpus = load_labelled([root])
    assert _by_name(corpus) == {
        "03-01-05-01-01-01-01.wav": ("angry", "ravdess:01", "ravdess"),
        "03-01-04-01-01-01-01.wav": ("sad", "ravdess:01", "ravdess"),
        "03-01-01-01-01-01-02.flac": ("neutral", "ravdess:02", "ravdess"),
    }
    assert all(Path(c.path).is_absolute() for c in corpus.clips)
    assert [r for _, r in corpus.left_out] == ["RAVDESS song (speech only)"]
    assert corpus.sources[0].kind == "ravdess"
    assert len(load_labelled([root], include_song=True)) == 4


def test_cremad_tree_acted_and_perceived(tmp_path, clip):
    root = tmp_path / "cd"
    for name in ("1001_DFA_ANG_XX", "1001_DFA_SAD_XX", "1002_IEO_HAP_HI", "1002_IEO_NEU_XX"):
        clip(root / name[:4] / f"{name}.wav")
    acted = load_labelled([root])
    assert acted.sources[0].kind == "crema-d" and acted.sources[0].label == "acted"
    assert _by_name(acted) == {
        "1001_DFA_ANG_XX.wav": ("angry", "crema-d:1001", "crema-d"),
        "1001_DFA_SAD_XX.wav": ("sad", "crema-d:1001", "crema-d"),
        "1002_IEO_HAP_HI.wav": ("happy", "crema-d:1002", "crema-d"),
        "1002_IEO_NEU_XX.wav": ("neutral", "crema-d:1002", "crema-d"),
    }
    with pytest.raises(DataError, match=r"perceived\.csv does not exist"):
        load_labelled([root], label="perceived")
    (root / "perceived.csv").write_text(
        "FileName,VoiceVote,VoiceLevel\n"
        "1001_DFA_ANG_XX,D,50\n"  # perceived as disgust
        "1001_DFA_SAD_XX,S,50\n"  # S is sad in CREMA-D
        "1002_IEO_HAP_HI,A:D,50\n"  # raters tied: left out
    )  # 1002_IEO_NEU_XX is not listed: left out
    perceived = load_labelled([Source(str(root), label="perceived")])
    assert _by_name(perceived) == {
        "1001_DFA_ANG_XX.wav": ("disgust", "crema-d:1001", "crema-d"),
        "1001_DFA_SAD_XX.wav": ("sad", "crema-d:1001", "crema-d"),
    }
    assert perceived.left_out_counts["crema-d"] == {"raters tied": 1, "not in perceived.csv": 1}
    assert any("A:D" in why for _, why in perceived.left_out)


def test_perceived_csv_with_a_bad_vote_names_the_line(tmp_path):
    path = tmp_path / "perceived.csv"
    path.write_text("FileName,VoiceVote\n1001_DFA_ANG_XX,A\n1001_DFA_SAD_XX,Q\n")
    with pytest.raises(DataError, match=r"line 3 \(1001_DFA_SAD_XX\)"):
        read_perceived(path)
    path.write_text("Name,Vote\n")
    with pytest.raises(DataError, match="FileName and VoiceVote"):
        read_perceived(path)


def test_folder_per_emotion(tmp_path, clip):
    root = tmp_path / "clips"
    clip(root / "Angry/a.wav")
    clip(root / "sadness/b.wav")
    clip(root / "neu/deeper/c.wav")
    clip(root / "stray.wav")  # in no emotion folder: left out
    corpus = load_labelled([root])
    assert corpus.sources[0].kind == "folders"
    assert _by_name(corpus) == {
        "a.wav": ("angry", None, "clips"),
        "b.wav": ("sad", None, "clips"),
        "c.wav": ("neutral", None, "clips"),
    }
    assert corpus.left_out == [(str(root / "stray.wav"), "not in an emotion folder")]
    assert corpus.unknown_speaker == 3 and corpus.speakers == []


def test_table_csv_with_relative_paths_and_speakers(tmp_path, clip):
    clip(tmp_path / "audio/one.wav")
    clip(tmp_path / "audio/two.wav")
    absolute = clip(tmp_path / "elsewhere/three.wav")
    table = tmp_path / "meta/labels.csv"
    table.parent.mkdir()
    pd.DataFrame(
        {
            "Path": ["../audio/one.wav", "../audio/two.wav", str(absolute)],
            "emotion": ["Anger", "joy", "neutral"],
            "speaker": ["7", "", "8"],
        }
    ).to_csv(table, index=False)
    corpus = load_labelled([table])
    assert corpus.sources[0].kind == "table" and corpus.sources[0].name == "labels"
    assert _by_name(corpus) == {
        "one.wav": ("angry", "labels:7", "labels"),
        "two.wav": ("happy", None, "labels"),
        "three.wav": ("neutral", "labels:8", "labels"),
    }
    assert corpus.clips[0].path == str(tmp_path / "audio/one.wav")


def test_table_parquet_without_speaker_column(tmp_path, clip):
    clip(tmp_path / "a.wav")
    clip(tmp_path / "b.wav")
    table = tmp_path / "train.parquet"
    pd.DataFrame({"path": ["a.wav", "b.wav"], "emotion": ["sad", "happy"]}).to_parquet(table)
    corpus = load_labelled([(table, "auto")])
    assert _by_name(corpus) == {"a.wav": ("sad", None, "train"), "b.wav": ("happy", None, "train")}


def test_table_with_missing_files_lists_the_first_few_and_counts(tmp_path, clip):
    clip(tmp_path / "here.wav")
    table = tmp_path / "t.csv"
    missing = [f"gone{i}.wav" for i in range(7)]
    pd.DataFrame({"path": ["here.wav", *missing], "emotion": "sad"}).to_csv(table, index=False)
    with pytest.raises(DataError) as err:
        load_labelled([table])
    msg = str(err.value)
    assert "7 of its 8 files do not exist" in msg and str(table) in msg
    assert "gone0.wav" in msg and "gone4.wav" in msg and "gone5.wav" not in msg
    assert "\n" not in msg


def test_table_missing_columns(tmp_path):
    table = tmp_path / "t.csv"
    pd.DataFrame({"file": ["a.wav"], "label": ["sad"]}).to_csv(table, index=False)
    with pytest.raises(DataError, match=r"lacks the column\(s\) path, emotion \(it has: file, "):
        load_labelled([table])


# --- errors of detection --------------------------------------------------------------------


def test_undetectable_folder_says_what_was_expected(tmp_path, clip):
    clip(tmp_path / "x/recording1.wav")
    clip(tmp_path / "y/recording2.wav")
    with pytest.raises(DataError, match="cannot tell what kind of corpus") as err:
        load_labelled([tmp_path])
    assert "RAVDESS tree" in str(err.value) and "folder per emotion" in str(err.value)


@pytest.mark.parametrize(
    ("make", "kind", "message"),
    [
        (lambda p: p, "auto", "does not exist"),
        (lambda p: (p.mkdir(), p)[1], "auto", "no audio files"),
        (
            lambda p: (p.with_suffix(".txt").write_text("x"), p.with_suffix(".txt"))[1],
            "auto",
            r"not a labels table \(.csv or .parquet\)",
        ),
        (lambda p: (p.mkdir(), p)[1], "table", "a labels table is a .csv or .parquet file"),
        (lambda p: p, "nonsense", "unknown kind of source 'nonsense'"),
    ],
)
def test_source_errors(tmp_path, make, kind, message):
    path = make(tmp_path / "data")
    with pytest.raises(DataError, match=message):
        load_labelled([(path, kind)])


def test_explicit_kind_that_does_not_fit(tmp_path, clip):
    clip(tmp_path / "angry/a.wav")
    clip(tmp_path / "sad/b.wav")
    with pytest.raises(DataError, match="no ravdess clips among its 2 audio files"):
        load_labelled([(tmp_path, "ravdess")])
    assert len(load_labelled([(tmp_path, "folders")])) == 2


def test_no_sources(tmp_path):
    with pytest.raises(DataError, match="no training data given"):
        load_labelled([])


# --- labels: unknown, mapped, dropped -------------------------------------------------------


def _labelled_folder(root: Path, clip, labels: dict[str, int]) -> Path:
    for label, n in labels.items():
        for i in range(n):
            clip(root / label / f"{label}{i}.wav")
    return root


def test_unknown_labels_are_all_listed_with_counts(tmp_path, clip):
    root = _labelled_folder(tmp_path / "iemo", clip, {"ang": 2, "sad": 1, "fru": 3, "exc": 1})
    table = tmp_path / "t.csv"
    clip(tmp_path / "t1.wav")
    pd.DataFrame({"path": ["t1.wav"], "emotion": ["FRU"]}).to_csv(table, index=False)
    with pytest.raises(DataError) as err:
        load_labelled([(root, "folders"), table])
    msg = str(err.value)
    assert "2 unknown emotion label(s): 'fru' (3 in iemo, 1 in t); 'exc' (1 in iemo)" in msg
    assert "--map OLD=NEW" in msg and "\n" not in msg


def test_mapping_before_synonyms_and_drop(tmp_path, clip):
    root = _labelled_folder(tmp_path / "iemo", clip, {"ang": 2, "sad": 1, "fru": 3, "exc": 1})
    corpus = load_labelled([root], mapping={"FRU": "anger", "exc": "drop", "sad": "neutral"})
    assert corpus.counts() == {"iemo": {"neutral": 1, "angry": 5}}
    assert corpus.left_out == [(str(root / "exc/exc0.wav"), "label 'exc' dropped by the mapping")]
    assert corpus.left_out_counts == {"iemo": {"dropped by the mapping": 1}}
    # a target must be an emotion (or a synonym of one) or drop
    with pytest.raises(DataError, match="'angy' is not an emotion ser knows"):
        load_labelled([root], mapping={"fru": "angy"})


def test_empty_label_is_unknown_unless_mapped(tmp_path, clip):
    clip(tmp_path / "a.wav")
    clip(tmp_path / "b.wav")
    clip(tmp_path / "c.wav")
    table = tmp_path / "t.csv"
    pd.DataFrame({"path": ["a.wav", "b.wav", "c.wav"], "emotion": ["sad", "", "happy"]}).to_csv(
        table, index=False
    )
    with pytest.raises(DataError, match=r"1 unknown emotion label\(s\): '' \(1 in t\)"):
        load_labelled([table])
    assert len(load_labelled([table], mapping=parse_label_map(["=drop"]))) == 2


# --- speakers -------------------------------------------------------------------------------


def test_speakers_are_namespaced_by_unique_source_names(tmp_path, clip):
    tables = []
    for name in ("a", "b"):
        clip(tmp_path / name / "x.wav")
        clip(tmp_path / name / "y.wav")
        tables.append(tmp_path / name / "labels.csv")
        pd.DataFrame(
            {"path": ["x.wav", "y.wav"], "emotion": ["sad", "happy"], "speaker": [1, 1]}
        ).to_csv(tables[-1], index=False)
    corpus = load_labelled(tables)
    assert [s.name for s in corpus.sources] == ["labels", "labels-2"]
    assert corpus.speakers == ["labels:1", "labels-2:1"]
    named = load_labelled([Source(str(t), name=n) for t, n in zip(tables, ("one", "two"))])
    assert named.speakers == ["one:1", "two:1"]
    assert set(named.source_paths) == {"one", "two"}


def test_speaker_from(tmp_path, clip):
    root = tmp_path / "clips"
    clip(root / "angry/spk1/a.wav")
    clip(root / "sad/spk1/b.wav")
    clip(root / "sad/spk2/c_s9.wav")
    assert load_labelled([root], speaker_from="parent").speakers == ["clips:spk1", "clips:spk2"]
    assert load_labelled([root], speaker_from="none").speakers == []
    by_rx = load_labelled([root], speaker_from=r"_s(\d+)\.wav$")
    assert by_rx.speakers == ["clips:9"] and by_rx.unknown_speaker == 2
    rav = tmp_path / "rav/Actor_03/03-01-05-01-01-01-03.wav"
    clip(rav)
    assert load_labelled([rav.parent.parent], speaker_from="none").speakers == []
    assert load_labelled([rav.parent.parent], speaker_from="parent").speakers == [
        "ravdess:Actor_03"
    ]
    with pytest.raises(DataError, match="nor a valid regular expression"):
        load_labelled([root], speaker_from="(unclosed")


def test_speaker_from_parent_refuses_emotion_folders_as_speakers(tmp_path, clip):
    root = _labelled_folder(tmp_path / "flat", clip, {"angry": 1, "sad": 1})
    with pytest.raises(DataError, match="lie directly in their emotion folder"):
        load_labelled([root], speaker_from="parent")


# --- duplicates -----------------------------------------------------------------------------


def test_byte_identical_clips(tmp_path, clip, caplog):
    root = _labelled_folder(tmp_path / "clips", clip, {"angry": 2, "sad": 2, "happy": 1})
    shutil.copy(root / "angry/angry0.wav", root / "sad/copy_of_angry0.wav")  # other label
    shutil.copy(root / "happy/happy0.wav", root / "happy/again.wav")  # same label
    with caplog.at_level(logging.WARNING, logger="ser.corpora"):
        corpus = load_labelled([root])
    names = {Path(c.path).name for c in corpus.clips}
    assert names == {"angry1.wav", "sad0.wav", "sad1.wav", "again.wav"}  # happy0 sorts later
    reasons = {Path(p).name: why for p, why in corpus.left_out}
    assert set(reasons) == {"angry0.wav", "copy_of_angry0.wav", "happy0.wav"}
    assert "but labelled angry" in reasons["angry0.wav"]
    assert "same label" in reasons["happy0.wav"]
    assert corpus.left_out_counts["clips"] == {
        "duplicate (labels differ)": 2,
        "duplicate (same label)": 1,
    }
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "angry0.wav" in warned and "copy_of_angry0.wav" in warned


def test_the_same_tree_given_twice_is_kept_once(tmp_path, clip):
    root = _labelled_folder(tmp_path / "clips", clip, {"angry": 1, "sad": 1})
    corpus = load_labelled([root, root])
    assert len(corpus) == 2 and [s.name for s in corpus.sources] == ["clips", "clips-2"]


# --- subset and summary ---------------------------------------------------------------------


def test_subset(tmp_path, clip):
    root = _labelled_folder(tmp_path / "clips", clip, {"angry": 2, "sad": 1, "happy": 1})
    corpus = load_labelled([root], subset="sad,angry")
    assert corpus.emotions == ("sad", "angry")
    assert corpus.not_in_subset == {"clips": 1}
    assert "1 clips outside the subset" in corpus.describe()
    with pytest.raises(DataError, match="no clips of calm"):
        load_labelled([root], subset=["sad", "calm"])
    with pytest.raises(DataError, match="unknown emotion"):
        load_labelled([root], subset="sad,grumpy")


def test_nothing_left_is_an_error(tmp_path, clip):
    root = _labelled_folder(tmp_path / "clips", clip, {"angry": 1, "sad": 1})
    with pytest.raises(DataError, match="no labelled clips to train on"):
        load_labelled([root], mapping={"angry": "drop", "sad": "drop"})


def test_summary(tmp_path, clip):
    a = _labelled_folder(tmp_path / "a", clip, {"angry": 2, "sad": 1})
    b = _labelled_folder(tmp_path / "b", clip, {"sad": 1, "neutral": 1})
    corpus = load_labelled([a, b])
    assert corpus.counts() == {"a": {"sad": 1, "angry": 2}, "b": {"neutral": 1, "sad": 1}}
    lines = corpus.describe().splitlines()
    assert lines[0].split() == [
        "source", "kind", "neutral", "sad", "angry", "clips", "speakers", "left", "out"
    ]  # fmt: skip
    assert lines[1].split() == ["a", "folders", "0", "1", "2", "3", "-", "0"]
    assert lines[3].split() == ["total", "1", "2", "2", "5", "-", "0"]


def test_library_prints_nothing(tmp_path, clip, capsys):
    root = _labelled_folder(tmp_path / "clips", clip, {"angry": 1, "sad": 1})
    shutil.copy(root / "sad/sad0.wav", root / "angry/dup.wav")
    load_labelled([root, root])
    assert capsys.readouterr() == ("", "")


# --- the real corpora -----------------------------------------------------------------------

CREMAD_CONFLICTS = {
    "1006_TIE_HAP_XX",
    "1006_TIE_NEU_XX",
    "1013_WSI_DIS_XX",
    "1013_WSI_SAD_XX",
    "1017_IWW_ANG_XX",
    "1017_IWW_FEA_XX",
}


def test_real_cremad(cremad_dir):
    n_files = sum(1 for _ in cremad_dir.rglob("*_*_*_*.*") if _.suffix != ".csv")
    corpus = load_labelled([cremad_dir])
    assert corpus.sources[0].kind == "crema-d"
    left = {Path(p).stem for p, _ in corpus.left_out}
    assert CREMAD_CONFLICTS <= left  # the three byte-identical pairs with two labels
    assert corpus.left_out_counts["crema-d"]["duplicate (labels differ)"] == 6
    assert len(corpus) + len(corpus.left_out) == n_files
    assert not {Path(c.path).stem for c in corpus.clips} & CREMAD_CONFLICTS
    assert set(corpus.emotions) == {"neutral", "happy", "sad", "angry", "fearful", "disgust"}
    assert all(c.speaker.startswith("crema-d:10") for c in corpus.clips)


def test_real_cremad_perceived(cremad_dir):
    votes = pd.read_csv(cremad_dir / "perceived.csv", dtype=str)
    ties = int(votes["VoiceVote"].str.contains(":").sum())
    corpus = load_labelled([cremad_dir], label="perceived")
    assert corpus.left_out_counts["crema-d"]["raters tied"] == ties
    acted = {Path(c.path).stem: c.emotion for c in load_labelled([cremad_dir]).clips}
    differ = sum(acted.get(Path(c.path).stem, c.emotion) != c.emotion for c in corpus.clips)
    assert differ > 0  # acted and perceived emotion differ for a fair share of clips


@pytest.mark.ravdess
def test_real_ravdess_and_cremad_together(ravdess_dir, cremad_dir):
    corpus = load_labelled([ravdess_dir, cremad_dir], subset="neutral,happy,sad,angry")
    assert [s.name for s in corpus.sources] == ["ravdess", "crema-d"]
    assert len({c.speaker for c in corpus.clips if c.source == "ravdess"}) == 24
    assert len({c.speaker for c in corpus.clips if c.source == "crema-d"}) == 30
    assert {c.speaker.split(":")[0] for c in corpus.clips} == {"ravdess", "crema-d"}
    counts = corpus.counts()
    assert counts["ravdess"]["neutral"] == 96
    assert "crema-d (acted)" in corpus.describe()
