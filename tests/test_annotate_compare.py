"""``--compare ravdess`` on real RAVDESS files: the printed metrics are the table's."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score
from typer.testing import CliRunner

from ser.annotate import compare_ravdess
from ser.annotate.cli import app
from ser.corpora.emotions import emotion_order
from ser.models import bundled_model_path

# 8 emotions x 2 actors, normal intensity, first statement and repetition
GLOB = "Actor_0[12]/03-01-*-01-01-01-*"


@pytest.fixture(params=["tiny", "ser6"])
def model_spec(request, tiny_model_path) -> str:
    if request.param == "tiny":
        return str(tiny_model_path)
    if not bundled_model_path(request.param).is_file():
        pytest.skip(f"bundled model {request.param} not built yet")
    return request.param


@pytest.mark.ravdess
def test_compare_ravdess_prints_the_metrics_of_the_table(
    tmp_path, ravdess_dir, write_audio, model_spec
):
    unlabelled = write_audio(tmp_path / "interview.wav")
    broken = tmp_path / "03-01-05-02-01-01-03.wav"  # a RAVDESS name, but 0 bytes
    broken.write_bytes(b"")
    out = tmp_path / "labels.parquet"
    args = [str(ravdess_dir), str(unlabelled), str(broken), "--glob", GLOB]
    args += ["--compare", "ravdess", "--model", model_spec, "--out", str(out), "--jobs", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output  # one error row
    table = pd.read_parquet(out)
    assert len(table) == 18
    # several PATHs: each row's path starts with the PATH it was found under, as given
    assert table["path"].iloc[0].startswith(f"{ravdess_dir}/Actor_01/")
    classes = [c.removeprefix("prob_") for c in table.columns if c.startswith("prob_")]

    scored = table[(table.status == "ok") & table.true_emotion.isin(classes)]
    y_true, y_pred = scored["true_emotion"].tolist(), scored["emotion"].tolist()
    uar = balanced_accuracy_score(y_true, y_pred)
    acc = accuracy_score(y_true, y_pred)
    f1 = f1_score(y_true, y_pred, labels=sorted(set(y_true)), average="macro")
    assert (scored["correct"] == (scored["emotion"] == scored["true_emotion"])).all()
    # rows the comparison leaves out (no prediction, no label, an emotion the model does not
    # know) are neither right nor wrong: null, so that table.correct.mean() is the accuracy
    assert table.loc[~table.index.isin(scored.index), "correct"].isna().all()
    assert table["correct"].mean() == pytest.approx(accuracy_score(y_true, y_pred), abs=1e-12)

    cmp = compare_ravdess(table)
    assert cmp.scores is not None and cmp.scores.n == len(scored)
    assert cmp.scores.uar == pytest.approx(uar, abs=1e-12)
    assert cmp.scores.accuracy == pytest.approx(acc, abs=1e-12)
    assert cmp.scores.macro_f1 == pytest.approx(f1, abs=1e-12)
    printed = f"UAR {uar:.3f}  accuracy {acc:.3f}  macro-F1 {f1:.3f}  (n={len(scored)})"
    assert printed in result.stdout
    assert "Left out: 1 rows without a label" in result.stdout
    assert "Left out: 1 rows without a prediction (errors)" in result.stdout
    unknown = sorted(set(table.true_emotion.dropna()) - set(classes))
    if unknown:  # the 4-class tiny model on 8 emotions
        n_unknown = int((table.status.eq("ok") & table.true_emotion.isin(unknown)).sum())
        assert cmp.n_unknown_class == n_unknown == 2 * len(unknown)  # 2 actors per emotion
        assert re.search(
            rf"Left out: {n_unknown} rows of emotions the model does not know "
            rf"\({', '.join(unknown)}\)\n  The metrics cover only "
            rf"{', '.join(emotion_order(classes))}",
            result.stdout,
        )
    # the confusion table lists the classes in ser's order of emotions, as reports do
    header = next(line for line in result.stdout.splitlines() if line.startswith("true \\"))
    assert header.split()[3:-1] == emotion_order(classes) != sorted(classes)
    for c in classes:  # the confusion table lists every class with its recall
        assert re.search(rf"^{c}\s", result.stdout, re.MULTILINE)


def test_compare_without_any_ravdess_names_scores_nothing(tmp_path, write_audio, tiny_model_path):
    write_audio(tmp_path / "a.wav")
    out = tmp_path / "t.csv"
    args = [str(tmp_path), "--compare", "ravdess", "--model", str(tiny_model_path)]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "Left out: 1 rows without a label" in result.stdout
    assert "No file could be scored." in result.stdout
    table = pd.read_csv(out)
    assert table[["true_emotion", "actor", "intensity", "correct"]].isna().all().all()


def _scored_metrics(table: pd.DataFrame) -> str:
    """The headline line, computed by scikit-learn from the written table."""
    classes = [c.removeprefix("prob_") for c in table.columns if c.startswith("prob_")]
    scored = table[(table.status == "ok") & table.true_emotion.isin(classes)]
    y_true, y_pred = scored["true_emotion"].tolist(), scored["emotion"].tolist()
    uar = balanced_accuracy_score(y_true, y_pred)
    acc = accuracy_score(y_true, y_pred)
    f1 = f1_score(y_true, y_pred, labels=sorted(set(y_true)), average="macro")
    return f"UAR {uar:.3f}  accuracy {acc:.3f}  macro-F1 {f1:.3f}  (n={len(scored)})"


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_compare_with_a_labels_table_reports_what_sklearn_computes(
    tmp_path, write_audio, tiny_model_path, suffix
):
    corpus = tmp_path / "clips"
    rows = []
    labels = ["Anger", "sad", "HAPPY", "neu", "angry", "Sadness", "joy", "neutral"]
    for i, label in enumerate(labels):
        write_audio(corpus / f"spk{i % 2}" / f"clip{i}.wav", seconds=1.0, seed=i)
        rows.append({"path": f"spk{i % 2}/clip{i}.wav", "emotion": label})
    write_audio(corpus / "unlisted.wav", seed=20)
    table_path = corpus / f"labels{suffix}"
    frame = pd.DataFrame(rows)
    frame.to_csv(table_path, index=False) if suffix == ".csv" else frame.to_parquet(table_path)
    out = tmp_path / "out.parquet"
    args = [str(corpus), "--compare", str(table_path), "--model", str(tiny_model_path)]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    truth = dict(zip(table["path"], table["true_emotion"]))
    assert truth["spk0/clip0.wav"] == "angry" and truth["spk1/clip5.wav"] == "sad"
    assert truth["spk0/clip6.wav"] == "happy" and pd.isna(truth["unlisted.wav"])
    assert f"Comparison with the labels in {table_path}" in result.stdout
    assert _scored_metrics(table) in result.stdout
    assert "Left out: 1 rows without a label" in result.stdout
    assert "Expected calibration error (10 bins):" in result.stdout


def test_compare_with_a_table_of_unknown_labels_fails_before_any_work(
    tmp_path, write_audio, tiny_model_path
):
    write_audio(tmp_path / "a.wav")
    (tmp_path / "labels.csv").write_text("path,emotion\na.wav,frustrated\n")
    out = tmp_path / "out.parquet"
    args = [str(tmp_path), "--compare", str(tmp_path / "labels.csv")]
    result = CliRunner().invoke(app, [*args, "--model", str(tiny_model_path), "-o", str(out)])
    assert result.exit_code == 2
    assert "frustrated" in result.output and "--map" in result.output
    assert not out.exists()


def test_compare_with_an_unknown_source_lists_the_choices(tmp_path, tiny_model_path):
    args = [str(tmp_path), "--compare", "iemocap", "--model", str(tiny_model_path)]
    result = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert "choose one of ravdess, crema-d, or give a labels table" in result.output


def test_compare_crema_d_reads_the_labels_in_its_names(tmp_path, cremad_dir, tiny_model_path):
    out = tmp_path / "crema.parquet"
    args = [str(cremad_dir / "1001"), "--glob", "1001_DFA_*", "--compare", "crema-d"]
    result = CliRunner().invoke(
        app, [*args, "--model", str(tiny_model_path), "-o", str(out), "--jobs", "1"]
    )
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    assert len(table) == 6 and (table["actor"] == 1001).all()
    assert set(table["true_emotion"]) == {"angry", "disgust", "fearful", "happy", "neutral", "sad"}
    assert "Comparison with the CREMA-D labels in the file names" in result.stdout
    assert _scored_metrics(table) in result.stdout
