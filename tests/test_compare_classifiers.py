"""``ser-train --compare-classifiers``, ``--classifier`` and ``--report``: same folds, same
features, the MLP's figures those of the plain cross-validation, and the training report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_report import assert_self_contained, parse
from typer.testing import CliRunner

from ser.common.errors import DataError
from ser.train import Dataset, cross_validate, group_folds
from ser.train.classifiers import check_saveable, make_classifier, parse_classifiers
from ser.train.cli import app
from ser.train.compare import compare_classifiers
from ser.train.estimator import MLPSettings, make_estimator

runner = CliRunner()
COMMAND = [sys.executable, "-c", "from ser.train.cli import main; main()"]
TINY = MLPSettings(hidden=(8,), max_iter=200, ensemble=2)
CV_FIGURES = {"fig-cv-confusion", "fig-recall", "fig-folds", "fig-reliability"}


def toy_dataset(n_actors: int = 6, per_actor: int = 16, seed: int = 0) -> Dataset:
    """Four classes that a classifier can partly tell apart, six speakers with offsets."""
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"s{a}" for a in range(n_actors)], per_actor).astype(object)
    y = np.array(["angry", "happy", "neutral", "sad"] * (len(groups) // 4))
    centres = {c: rng.normal(0, 1, 6) for c in set(y)}
    X = np.stack([centres[c] for c in y]) + rng.normal(0, 1.2, (len(y), 6))
    X += np.repeat(rng.normal(0, 2, (n_actors, 6)), per_actor, axis=0)  # speaker offsets
    return Dataset(X=X, y=y, groups=groups, paths=[f"f{i}" for i in range(len(y))])


def write_corpus(root: Path, write_audio, actors: int = 4, per: int = 4) -> Path:
    """RAVDESS-named synthetic voices, sad and angry."""
    for a in range(1, actors + 1):
        for code in (4, 5):
            for k in range(per):
                inten, stmt, rep = k // 4 % 2 + 1, k // 2 % 2 + 1, k % 2 + 1
                name = f"03-01-{code:02d}-{inten:02d}-{stmt:02d}-{rep:02d}-{a:02d}.wav"
                write_audio(
                    root / f"Actor_{a:02d}" / name, seconds=0.5, seed=100 * a + 10 * code + k
                )
    return root


@pytest.fixture
def no_extraction(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("feature extraction started although an argument was bad")

    monkeypatch.setattr("ser.train.fit.extract_dataset", boom)


def test_parse_classifiers():
    assert parse_classifiers("all") == ("knn", "svm", "tree", "forest", "mlp")
    assert parse_classifiers(" SVM, knn,svm ,") == ("svm", "knn")
    assert parse_classifiers(["mlp"]) == ("mlp",)
    with pytest.raises(DataError, match="unknown value 'lda'; choose one of knn, svm, tree"):
        parse_classifiers("knn,lda")
    with pytest.raises(DataError, match="'all' stands alone"):
        parse_classifiers("all,knn")
    with pytest.raises(DataError, match="needs classifier names"):
        parse_classifiers(" , ")


def test_the_comparisons_mlp_is_built_exactly_as_the_plain_cv_builds_it():
    a, b = make_classifier("mlp", 3, settings=TINY), make_estimator(TINY, 3)
    assert type(a) is type(b) and repr(a.get_params()) == repr(b.get_params())
    for name in ("knn", "svm", "tree", "forest"):
        steps = [type(s).__name__ for _, s in make_classifier(name, 0).steps]
        assert steps[0] == "StandardScaler"  # the same scaler as the MLP's pipeline


def test_the_classifiers_that_can_be_saved_are_exactly_those_the_loader_accepts(tmp_path):
    """Fit each classifier, save it as a ser model, load it with ser's loader: the ones that
    load are SAVEABLE_CLASSIFIERS, and the others are refused for the types UNTRUSTED_TYPES
    names (when the loader trusts more, this test says which list to extend)."""
    from ser.common.errors import ModelError
    from ser.features import GroupStats, feature_config, feature_names
    from ser.models import Model, load_model, save_model
    from ser.train.classifiers import SAVEABLE_CLASSIFIERS, UNTRUSTED_TYPES

    cfg = feature_config()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, len(feature_names(cfg))))
    y = np.array(["angry", "sad"] * 20)
    loads = []
    for name in ("knn", "svm", "tree", "forest", "mlp"):
        est = make_classifier(name, 0, settings=MLPSettings(hidden=(4,), max_iter=20))
        model = Model(estimator=est.fit(X, y), features=cfg, normalization="none",
                      train_stats=GroupStats.of(X), meta={"name": name})  # fmt: skip
        save_model(model, tmp_path / f"{name}.skops")
        try:
            loaded = load_model(tmp_path / f"{name}.skops")
        except ModelError as exc:
            assert all(t in str(exc) for t in UNTRUSTED_TYPES[name]), exc
            continue
        np.testing.assert_allclose(loaded.predict_proba(X), est.predict_proba(X))
        loads.append(name)
    assert tuple(sorted(loads)) == tuple(sorted(SAVEABLE_CLASSIFIERS))
    assert check_saveable("knn") == "knn"
    for name in ("svm", "tree", "forest"):
        with pytest.raises(DataError, match=rf"--classifier {name}: its model could not be"):
            check_saveable(name)


def test_a_baseline_that_fails_is_reported_and_the_others_still_run(monkeypatch):
    def broken(name, seed, *, settings=None):
        if name == "svm":
            raise ValueError("Requesting 5-fold cross-validation but provided less than 5\nmore")
        return make_classifier(name, seed, settings=settings)

    monkeypatch.setattr("ser.train.compare.make_classifier", broken)
    from ser.train.compare import format_comparison

    runs = compare_classifiers(
        toy_dataset(),
        ["svm", "knn"],
        classes=["angry", "happy", "neutral", "sad"],
        n_folds=2,
        normalization="speaker",
        settings=TINY,
    )
    assert (
        runs[0].error == "ValueError: Requesting 5-fold cross-validation but provided less than 5"
    )
    assert runs[0].cv == [] and runs[1].error is None and len(runs[1].cv) == 1
    table = format_comparison(runs, folds=2, repeat=1)
    assert re.search(r"  svm\s+support-vector machine, RBF\s+failed: ValueError: Requesting", table)
    assert re.search(r"knn    k-nearest neighbours\s+\d\.\d{3} ±", table)


def test_every_classifier_sees_the_same_folds_and_the_mlp_equals_plain_cv():
    ds = toy_dataset()
    classes = ["angry", "happy", "neutral", "sad"]
    kw = {"classes": classes, "n_folds": 3, "normalization": "speaker"}
    runs = compare_classifiers(ds, ["knn", "tree", "mlp"], settings=TINY, seed=4, repeat=2, **kw)
    assert [r.name for r in runs] == ["knn", "tree", "mlp"]
    masks = group_folds(ds.groups, 3, ds.sources)
    for run in runs:
        assert [r.seed for r in run.cv] == [4, 5]
        for r in run.cv:
            assert [set(ds.groups[r.fold_index == i]) for i in range(3)] == [
                set(ds.groups[m]) for m in masks
            ]
        assert len(run.fit_seconds) == 6 and min(run.fit_seconds) > 0
        assert run.n_predicted == 2 * len(ds.y)
    mlp = runs[-1]
    for r, seed in zip(mlp.cv, (4, 5)):
        plain = cross_validate(ds, lambda s: make_estimator(TINY, s), seed=seed, **kw)
        np.testing.assert_array_equal(r.probabilities, plain.probabilities)
        assert [f.uar for f in r.folds] == [f.uar for f in plain.folds]
    assert runs[0].summary()["uar"]["mean_over_folds"] != mlp.summary()["uar"]["mean_over_folds"]


@pytest.mark.ravdess
@pytest.mark.slow
def test_on_ravdess_the_mlp_comparison_equals_the_plain_cross_validation(ravdess_dir, monkeypatch):
    """Features of three actors extracted once; the comparison's MLP, the plain CV of a run
    without comparison, and the plain CV of a run with it all agree to the last bit."""
    from ser.corpora import load_labelled
    from ser.features import feature_config
    from ser.train import extract_dataset, labelled_files, train_model

    corpus = load_labelled(
        [ravdess_dir / f"Actor_{a:02d}" for a in (1, 2, 3)], subset=["neutral", "angry", "sad"]
    )
    files = labelled_files(corpus)
    ds = extract_dataset(files, config=feature_config("default"), jobs=2)
    monkeypatch.setattr("ser.train.fit.extract_dataset", lambda *a, **k: ds)
    kw = {"folds": 3, "settings": TINY, "jobs": 1, "seed": 1}
    plain = train_model(files, **kw)
    both = train_model(files, compare=("knn", "mlp"), **kw)
    classes = list(plain.cv[0].pooled.classes)
    alone = compare_classifiers(
        ds, ["mlp"], classes=classes, n_folds=3, normalization="speaker", settings=TINY, seed=1
    )[0]
    for cv in (both.comparison[1].cv[0], alone.cv[0], both.cv[0]):
        np.testing.assert_array_equal(cv.probabilities, plain.cv[0].probabilities)
        assert [f.uar for f in cv.folds] == [f.uar for f in plain.cv[0].folds]
    assert both.comparison[1].saved and not both.comparison[0].saved
    assert both.model.meta["classifier"]["type"] == "mlp"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--compare-classifiers", "knn,bogus"], "unknown value 'bogus'; choose one of knn"),
        (["--classifier", "tree"], "--classifier tree: its model could not be loaded by ser"),
        (["--classifier", "knn", "--tune"], "--tune chooses the MLP's hyperparameters"),
        (["--report", "{tmp}/r.pdf"], "--report must end in .html"),
        (["--report", "{tmp}/old.html"], "old.html' already exists; --overwrite replaces it"),
        (["--report", "{tmp}/none/r.html"], "none' does not exist"),
    ],
)
def test_bad_options_fail_in_one_line_before_extraction(
    tmp_path, write_audio, no_extraction, args, message
):
    data = write_corpus(tmp_path / "data", write_audio, actors=2, per=1)
    (tmp_path / "old.html").write_text("an older report")
    args = [a.format(tmp=tmp_path) for a in args]
    res = runner.invoke(
        app, ["--data", str(data), "--folds", "2", "-o", str(tmp_path / "m.skops"), *args]
    )
    assert res.exit_code == 2, res.output
    assert message in res.output and res.output.count("\n") == 1, res.output
    assert (tmp_path / "old.html").read_text() == "an older report"
    assert not (tmp_path / "m.skops").exists()


def test_cli_compares_prints_the_table_and_writes_the_report(tmp_path, write_audio):
    data = write_corpus(tmp_path / "data", write_audio)
    out, report = tmp_path / "m.skops", tmp_path / "run.html"
    args = ["--data", str(data), "--folds", "2", "--hidden", "8", "--ensemble", "1", "-j", "1"]
    args += ["--compare-classifiers", "knn,tree,mlp", "--report", str(report), "-o", str(out)]
    res = runner.invoke(app, [*args, "--quiet"])
    assert res.exit_code == 0, res.output
    text = res.output
    assert "Classifier comparison: the same 2 speaker-grouped folds" in text
    plain = re.search(r"^  UAR\s+(\d\.\d{3}) ± (\d\.\d{3}) over folds", text, re.M)
    mlp = re.search(r"  mlp\s+ser's MLP \*\s+(\d\.\d{3}) ± (\d\.\d{3})", text)
    assert plain and mlp and plain.groups() == mlp.groups(), text
    for name in ("knn", "tree"):
        assert re.search(rf"  {name}\s+\S.*\d\.\d{{3}} ± \d\.\d{{3}}", text)
        assert f"compared {name}" in text
    assert f"Report: {report}" in text
    page = parse(report)
    assert_self_contained(page, CV_FIGURES | {"fig-classifiers"})
    assert "Classifier comparison" in " ".join(page.text)
    card = json.loads(out.with_suffix(".json").read_text())
    results = card["classifier_comparison"]["results"]
    assert list(results) == ["knn", "tree", "mlp"] and results["mlp"]["saved"] is True
    assert f"{results['mlp']['uar']['mean_over_folds']:.3f}" == mlp.group(1)
    assert card["classifier"]["type"] == "mlp"


def test_training_report_without_evaluation_says_so(tmp_path, write_audio):
    data = write_corpus(tmp_path / "data", write_audio, actors=2, per=2)
    report = tmp_path / "r.html"
    args = ["--data", str(data), "--evaluate", "none", "--hidden", "8", "--ensemble", "1"]
    res = runner.invoke(
        app, [*args, "-j", "1", "--report", str(report), "-o", str(tmp_path / "m.skops")]
    )
    assert res.exit_code == 0, res.output
    page = parse(report)
    assert_self_contained(page, set())
    assert "Not evaluated (--evaluate none)" in " ".join(page.text)
    assert not CV_FIGURES & set(page.figures)


@pytest.mark.slow
def test_a_knn_model_is_saved_loads_safely_and_annotates(tmp_path, write_audio):
    """As a real command: --classifier knn with every classifier compared, then the model
    goes through ser's loader (skops, trusted types only) and annotates a file."""
    data = write_corpus(tmp_path / "data", write_audio)
    out, report = tmp_path / "knn.skops", tmp_path / "r.html"
    args = ["--data", data, "--folds", "2", "--classifier", "knn", "--compare-classifiers", "all"]
    args += ["--hidden", "8", "--ensemble", "1", "-j", "1", "--report", report, "-o", out]
    proc = subprocess.run([*COMMAND, *map(str, args)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"  knn\s+k-nearest neighbours \*\s+\d", proc.stdout)
    assert re.search(r"  forest\s+random forest\s+\d", proc.stdout)
    assert re.search(r"  svm\s+support-vector machine, RBF\s+\d", proc.stdout)
    assert "FutureWarning" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    from ser.annotate import annotate
    from ser.models import load_model

    model = load_model(out)
    assert type(model.estimator.steps[-1][1]).__name__ == "KNeighborsClassifier"
    assert model.calibration is not None and model.meta["classifier"]["type"] == "knn"
    rows = annotate(data / "Actor_01", model=out, jobs=1)
    assert (rows["status"] == "ok").all() and set(rows["emotion"]) <= {"angry", "sad"}
    assert_self_contained(parse(report), CV_FIGURES | {"fig-classifiers"})


@pytest.mark.slow
def test_training_report_of_two_corpora_has_leave_one_corpus_out(tmp_path, write_audio):
    import pandas as pd

    from ser.corpora import Source, load_labelled
    from ser.report import training_report
    from ser.train import labelled_files, train_model

    rav = write_corpus(tmp_path / "rav", write_audio)
    rows = []
    for spk in range(4):
        for k, label in enumerate(["sad", "angry", "sad", "angry"]):
            rel = f"s{spk}/c{k}.wav"
            write_audio(tmp_path / "mine" / rel, seconds=0.5, seed=1000 + 10 * spk + k)
            rows.append({"path": rel, "emotion": label, "speaker": f"p{spk}"})
    pd.DataFrame(rows).to_csv(tmp_path / "mine" / "labels.csv", index=False)
    corpus = load_labelled([Source(rav), Source(tmp_path / "mine" / "labels.csv", "table")])
    res = train_model(
        labelled_files(corpus), folds=2, evaluate="corpus", settings=TINY, jobs=1, name="two"
    )
    page = parse(training_report(res, tmp_path / "r.html"))
    loco = {"fig-loco-confusion-ravdess", "fig-loco-confusion-labels"}
    loco |= {"fig-loco-reliability-ravdess", "fig-loco-reliability-labels"}
    assert_self_contained(page, CV_FIGURES | loco)
    text = " ".join(page.text)
    assert "Leave one corpus out" in text and "Training report: two" in text


def test_training_report_of_repeated_tuned_cv_lists_each_seed_and_choice(
    tmp_path, write_audio, monkeypatch
):
    from ser.corpora import load_labelled
    from ser.report import training_report
    from ser.train import labelled_files, train_model

    grid = (MLPSettings(hidden=(4,), max_iter=30), MLPSettings(hidden=(6,), max_iter=30))
    monkeypatch.setattr("ser.train.fit.TUNE_GRID", grid)  # two tiny candidates: fast
    monkeypatch.setattr("ser.train.estimator.TUNE_GRID", grid)
    files = labelled_files(load_labelled([write_corpus(tmp_path / "rav", write_audio)]))
    settings = MLPSettings(ensemble=1)
    res = train_model(files, folds=2, repeat=2, tune=True, settings=settings, jobs=1)
    assert [len(r.chosen) for r in res.cv] == [2, 2]
    page = parse(training_report(res, tmp_path / "r.html"))
    assert_self_contained(page, CV_FIGURES)
    raw = (tmp_path / "r.html").read_text()
    assert "<th>chosen by nested CV</th>" in raw
    chosen = re.findall(r"<td>hidden \((\d),\), alpha 1.0, learning rate 0.001</td>", raw)
    assert chosen == [str(grid[c].hidden[0]) for r in res.cv for c in r.chosen]
    assert re.search(r'<tr><td class="num">1</td><td class="num">2</td>', raw)  # seed 1, fold 2
