"""Speaker / corpus normalisation during annotation, and where speakers come from."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ser.annotate import annotate
from ser.features import MIN_GROUP_SIZE, process_file
from ser.features.normalize import SHRINK_MAX_WEIGHT, SHRINK_ROWS
from ser.models import load_model

PROBS = ["prob_angry", "prob_happy", "prob_neutral", "prob_sad"]


def expected_probs(model_path, files, groups) -> np.ndarray:
    """Probabilities computed independently: numpy mean/std per group, then the model.

    ``groups`` names each file's statistics: "training" (the model's), "corpus" (all files
    given), or a speaker (the files of that group, shrunk toward all files given with weight
    ``min(n / (n + SHRINK_ROWS), SHRINK_MAX_WEIGHT)``).
    """
    model = load_model(model_path)
    X = np.stack([process_file(f, config=model.features)[0] for f in files]).astype(np.float64)
    out = np.empty_like(X)
    for g in set(groups):
        rows = [i for i, gi in enumerate(groups) if gi == g]
        if g == "training":
            mean, std = model.train_stats.mean, model.train_stats.std
        elif g == "corpus":
            mean, std = X.mean(axis=0), X.std(axis=0)
        else:
            w = min(len(rows) / (len(rows) + SHRINK_ROWS), SHRINK_MAX_WEIGHT)
            mean = w * X[rows].mean(axis=0) + (1 - w) * X.mean(axis=0)
            std = np.sqrt(w * X[rows].var(axis=0) + (1 - w) * X.var(axis=0))
        out[rows] = (X[rows] - mean) / np.where(std > 1e-6, std, 1.0)
    return model.predict_proba(out)


def test_speaker_groups_and_fall_back_to_the_whole_run(
    tmp_path, write_audio, tiny_speaker_model_path
):
    for i in range(MIN_GROUP_SIZE):
        write_audio(tmp_path / "anna" / f"a{i:02d}.wav", seed=i)
    for i in range(3):  # too few for statistics of its own
        write_audio(tmp_path / "bert" / f"b{i}.wav", seed=40 + i)
    (tmp_path / "bert" / "broken.wav").write_bytes(b"")
    table = annotate(tmp_path, model=tiny_speaker_model_path, speaker_from="parent", jobs=2)
    assert table.set_index("path")["speaker"].to_dict() == {
        **{f"anna/a{i:02d}.wav": "anna" for i in range(MIN_GROUP_SIZE)},
        **{f"bert/b{i}.wav": "bert" for i in range(3)},
        "bert/broken.wav": "bert",
    }
    ok = table[table.status == "ok"]
    how = ok["normalization"].tolist()
    assert how == ["speaker"] * MIN_GROUP_SIZE + ["corpus"] * 3
    assert pd.isna(table.loc[table.path == "bert/broken.wav", "normalization"]).all()
    # "corpus" statistics are those of all ok files of the run (anna and bert)
    files = [tmp_path / p for p in ok["path"]]
    X_groups = ["anna"] * MIN_GROUP_SIZE + ["corpus"] * 3
    expected = expected_probs(tiny_speaker_model_path, files, X_groups)
    np.testing.assert_allclose(ok[PROBS].to_numpy(), expected, rtol=1e-6, atol=1e-9)


def test_a_small_run_falls_back_to_training_statistics(
    tmp_path, write_audio, tiny_speaker_model_path
):
    files = [write_audio(tmp_path / f"f{i}.wav", seed=i) for i in range(3)]
    table = annotate(tmp_path, model=tiny_speaker_model_path, jobs=2)
    assert table["normalization"].tolist() == ["training"] * 3
    assert table["speaker"].isna().all()  # auto: not RAVDESS names
    expected = expected_probs(tiny_speaker_model_path, files, ["training"] * 3)
    np.testing.assert_allclose(table[PROBS].to_numpy(), expected, rtol=1e-6, atol=1e-9)


def test_a_single_file_alone_still_gets_a_prediction(
    tmp_path, write_audio, tiny_speaker_model_path
):
    path = write_audio(tmp_path / "03-01-05-01-01-01-07.wav")
    table = annotate(path, model=tiny_speaker_model_path, jobs=1)
    row = table.iloc[0]
    assert (row.status, row.normalization, row.speaker) == ("ok", "training", "Actor_07")
    assert row.emotion in {"angry", "happy", "neutral", "sad"}
    assert row.confidence == pytest.approx(row[PROBS].max())


@pytest.mark.parametrize(("normalize", "labels"), [("corpus", {"corpus"}), ("none", {"none"})])
def test_normalize_overrides_the_model(
    tmp_path, write_audio, tiny_speaker_model_path, normalize, labels
):
    for i in range(MIN_GROUP_SIZE + 2):
        write_audio(tmp_path / f"s{i % 2}" / f"{i:02d}.wav", seed=i)
    table = annotate(
        tmp_path, model=tiny_speaker_model_path, normalize=normalize, speaker_from="parent"
    )
    assert set(table["normalization"]) == labels


@pytest.mark.parametrize(
    ("speaker_from", "expected"),
    [
        (r"spk(\d+)_", ["01", "02", None, "01"]),
        (r"spk\d+", ["spk01", "spk02", None, "spk01"]),
        ("parent", ["x", "x", "y", "y"]),
        ("auto", [None, None, None, None]),
    ],
)
def test_speaker_from(tmp_path, write_audio, tiny_model_path, speaker_from, expected):
    for rel in ["x/spk01_a.wav", "x/spk02_b.wav", "y/other.wav", "y/spk01_c.wav"]:
        write_audio(tmp_path / rel)
    table = annotate(tmp_path, model=tiny_model_path, speaker_from=speaker_from, jobs=1)
    got = [None if pd.isna(s) else s for s in table["speaker"]]
    assert got == expected
    assert set(table["normalization"]) == {"none"}  # the tiny model does not normalise


def test_auto_speaker_is_the_ravdess_actor(tmp_path, write_audio, tiny_model_path):
    write_audio(tmp_path / "03-01-03-02-01-02-12.wav")
    write_audio(tmp_path / "03-01-99-01-01-01-12.wav")  # emotion 99: not a RAVDESS name
    table = annotate(tmp_path, model=tiny_model_path, jobs=1)
    assert [None if pd.isna(s) else s for s in table["speaker"]] == ["Actor_12", None]
