"""Training: actor-grouped folds, no leakage into training, and a real small training run."""

from __future__ import annotations

import json
from typing import ClassVar

import numpy as np
import pytest
from typer.testing import CliRunner

from ser.common.errors import DataError
from ser.features.normalize import GroupStats, shrink
from ser.models import load_model
from ser.train import Dataset, fold_data, group_folds
from ser.train.augment import Condition, apply_condition, draw_conditions, power_db
from ser.train.cli import app

runner = CliRunner()


def toy_dataset(n_actors: int = 6, per_actor: int = 12, n_aug: int = 2) -> Dataset:
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(1, n_actors + 1), per_actor)
    X = rng.normal(groups[:, None] * 10.0, 1.0, (len(groups), 5))
    X_aug = np.stack([X + 100.0 * (c + 1) for c in range(n_aug)], axis=1)
    y = np.array(["angry", "sad", "happy", "neutral"] * (len(groups) // 4))
    return Dataset(X=X, y=y, groups=groups, paths=[f"f{i}" for i in range(len(y))], X_aug=X_aug)


def test_folds_are_grouped_by_actor_and_cover_everything():
    groups = np.repeat(np.arange(1, 25), 3)
    masks = group_folds(groups, 6)
    assert len(masks) == 6
    np.testing.assert_array_equal(np.sum(masks, axis=0), 1)  # every row tested exactly once
    for m in masks:
        assert not set(groups[m]) & set(groups[~m])
        assert {a % 2 for a in groups[m]} == {0, 1}  # male and female actors in each fold
    with pytest.raises(DataError, match="--folds must be between 2 and the number of speakers"):
        group_folds(groups, 25)


@pytest.mark.parametrize("normalization", ["none", "corpus", "speaker"])
def test_no_test_actor_data_reaches_training(normalization):
    ds = toy_dataset()
    test_mask = np.isin(ds.groups, [2, 5])
    fd = fold_data(ds, test_mask, normalization=normalization)
    # only training actors, clean + 2 augmented copies each, and nothing augmented in test
    assert set(fd.groups_train) == {1, 3, 4, 6}
    assert len(fd.X_train) == 3 * int((~test_mask).sum())
    assert len(fd.X_test) == int(test_mask.sum())
    # change everything about the test actors: training rows must not move at all
    poisoned = Dataset(
        X=ds.X.copy(), y=ds.y.copy(), groups=ds.groups, paths=ds.paths, X_aug=ds.X_aug.copy()
    )
    poisoned.X[test_mask] += 1e6
    poisoned.X_aug[test_mask] -= 1e6
    poisoned.y[test_mask] = "fearful"
    fd2 = fold_data(poisoned, test_mask, normalization=normalization)
    np.testing.assert_array_equal(fd.X_train, fd2.X_train)
    np.testing.assert_array_equal(fd.y_train, fd2.y_train)


def test_test_actors_are_normalised_with_their_own_statistics_only():
    ds = toy_dataset()
    test_mask = np.isin(ds.groups, [2, 5])
    fd = fold_data(ds, test_mask, normalization="speaker")
    part = GroupStats.of(ds.X[test_mask])  # the test part is the "run" it is shrunk toward
    for actor in (2, 5):
        mine = ds.groups == actor
        expected = shrink(GroupStats.of(ds.X[mine]), part).apply(ds.X[mine])
        np.testing.assert_allclose(fd.X_test[fd.groups_test == actor], expected, rtol=1e-12)
    # the test part does not depend on the training actors either
    other = Dataset(X=ds.X.copy(), y=ds.y, groups=ds.groups, paths=ds.paths, X_aug=ds.X_aug)
    other.X[~test_mask] *= -3
    np.testing.assert_array_equal(
        fd.X_test, fold_data(other, test_mask, normalization="speaker").X_test
    )


def test_augmentation_is_reproducible_and_changes_the_signal():
    conds = draw_conditions(7, 3, 4)
    assert conds == draw_conditions(7, 3, 4)
    assert conds != draw_conditions(7, 4, 4)
    t = np.arange(16000) / 16000
    y = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    for c in conds:
        a = apply_condition(y, c, sr=16000, file_key="f")
        b = apply_condition(y, c, sr=16000, file_key="f")
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.float32 and np.isfinite(a).all() and np.max(np.abs(a)) <= 1.0
        assert abs(len(a) - len(y)) <= 0.11 * len(y)
        assert not np.allclose(a[: len(y)], y[: len(a)])


def test_noise_sits_below_a_given_speech_power_or_each_files_own():
    t = np.arange(32000) / 16000
    loud = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    soft = loud / 10  # 20 dB softer
    level = power_db(loud)
    for y in (loud, soft):
        noise = apply_condition(y, Condition(seed=1, snr_db=20.0, speech_db=level), sr=16000) - y
        assert power_db(noise) == pytest.approx(level - 20.0, abs=0.5)
        # without one, below the file's own power (what ser-train does)
        noise = apply_condition(y, Condition(seed=1, snr_db=20.0), sr=16000) - y
        assert power_db(noise) == pytest.approx(power_db(y) - 20.0, abs=0.5)


def test_unknown_emotion_lists_the_valid_ones(tmp_path):
    res = runner.invoke(app, ["--data", str(tmp_path), "--subset", "neutral,joy"])
    assert res.exit_code == 2
    assert "unknown emotion(s) 'joy'; valid emotions: neutral, calm, happy" in res.output


def test_no_ravdess_files_says_where_it_looked(tmp_path):
    (tmp_path / "song.wav").write_bytes(b"")
    res = runner.invoke(app, ["--data", str(tmp_path), "--out", str(tmp_path / "m.skops")])
    assert res.exit_code == 2
    assert f"{tmp_path}: cannot tell what kind of corpus this is" in res.output


def test_data_defaults_to_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SER_DATA_DIR", str(tmp_path / "nowhere"))
    res = runner.invoke(app, ["--out", str(tmp_path / "m.skops")])
    assert res.exit_code == 2
    assert "nowhere" in res.output and "does not exist" in res.output


@pytest.mark.ravdess
@pytest.mark.slow
def test_real_training_run_on_four_actors(ravdess_dir, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for actor in (1, 2, 3, 4):  # links, not copies: the corpus stays in ../shared
        (data / f"Actor_{actor:02d}").symlink_to(ravdess_dir / f"Actor_{actor:02d}")
    out = tmp_path / "four.skops"
    res = runner.invoke(
        app,
        [
            "--data",
            str(data),
            "--subset",
            "neutral,angry,sad,happy",
            "--folds",
            "2",
            "--augment",
            "1",
            "--ensemble",
            "2",
            "--hidden",
            "32",
            "--jobs",
            "2",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "Speaker-independent 2-fold cross-validation" in res.output
    assert "UAR" in res.output and "true \\ predicted" in res.output
    model = load_model(out)
    assert model.classes == ["angry", "happy", "neutral", "sad"]
    assert model.normalization == "speaker"
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["training"]["files"] == 4 * (4 + 3 * 8)
    assert card["classes"] == ["angry", "happy", "neutral", "sad"]
    assert card["licence"][0].startswith("RAVDESS") and "CC BY-NC-SA 4.0" in card["licence"][0]
    assert card["features"]["name"] == "default"
    assert 0.0 <= card["evaluation"]["uar"]["mean_over_folds"] <= 1.0
    assert card["evaluation"]["headline_metric"] == "uar"
    assert "grouped by speaker" in card["evaluation"]["protocol"]
    assert card["calibration"]["method"] == "temperature"
    assert model.calibration is not None and model.calibration.temperature > 0
    from ser.models.model import sha256_file

    assert card["sha256"] == sha256_file(out)
    assert card["versions"]["scikit-learn"]


class _Recorder:
    """A classifier that remembers the rows it was fitted on; ``good`` ones learn column 1."""

    seen: ClassVar[list[np.ndarray]] = []

    def __init__(self, good: bool) -> None:
        self.good = good

    def fit(self, X, y):
        _Recorder.seen.append(X[:, 0].copy())
        from sklearn.dummy import DummyClassifier
        from sklearn.tree import DecisionTreeClassifier

        self.clf = DecisionTreeClassifier(random_state=0) if self.good else DummyClassifier()
        self.clf.fit(X[:, 1:], y)
        return self

    def predict(self, X):
        return self.clf.predict(X[:, 1:])

    def predict_proba(self, X):
        return self.clf.predict_proba(X[:, 1:])

    @property
    def classes_(self):
        return self.clf.classes_


def test_nested_cv_picks_the_better_candidate_without_seeing_test_actors():
    from ser.train import cross_validate

    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(1, 13), 8)
    y = np.array(["angry", "sad"] * 48)
    X = np.column_stack([groups * 1.0, (y == "angry") + rng.normal(0, 0.1, len(y))])
    ds = Dataset(X=X, y=y, groups=groups, paths=[""] * len(y))
    _Recorder.seen = []
    res = cross_validate(
        ds,
        [lambda s: _Recorder(False), lambda s: _Recorder(True)],
        classes=["angry", "sad"],
        n_folds=3,
        normalization="none",
        inner_folds=2,
    )
    assert res.chosen == [1, 1, 1]
    assert res.pooled.uar > 0.9
    # 3 outer folds x (2 candidates x 2 inner folds + 1 outer fit)
    assert len(_Recorder.seen) == 3 * 5
    for k, test_mask in enumerate(group_folds(groups, 3)):
        test_actors = set(groups[test_mask])
        for fitted in _Recorder.seen[k * 5 : (k + 1) * 5]:
            assert not set(fitted.astype(int)) & test_actors


def _write_synthetic_ravdess(root, actors=(1, 2, 3, 4), per=8):
    """RAVDESS-named tones: 'angry' high and buzzy, 'sad' low and soft; each actor its own pitch."""
    import soundfile as sf

    sr = 16000
    t = np.arange(int(0.6 * sr)) / sr
    for a in actors:
        folder = root / f"Actor_{a:02d}"
        folder.mkdir(parents=True)
        for emo, code, f0, amp in (("angry", 5, 260.0, 0.5), ("sad", 4, 110.0, 0.1)):
            for k in range(per):
                f = f0 * (1 + 0.05 * a) * (1 + 0.02 * k)
                y = sum(
                    np.sin(2 * np.pi * h * f * t) / h for h in range(1, 6 if emo == "sad" else 12)
                )
                inten, stmt, rep = k // 4 % 2 + 1, k // 2 % 2 + 1, k % 2 + 1  # 8 distinct names
                name = f"03-01-{code:02d}-{inten:02d}-{stmt:02d}-{rep:02d}-{a:02d}.wav"
                sf.write(folder / name, (amp * y / np.max(np.abs(y))).astype(np.float32), sr)
    return root


@pytest.mark.slow
def test_train_model_with_repeats_and_tuning(tmp_path):
    from ser.corpora import load_labelled
    from ser.train import labelled_files, train_model
    from ser.train.fit import TUNE_GRID, MLPSettings

    data = labelled_files(load_labelled([_write_synthetic_ravdess(tmp_path / "data")]))
    small = MLPSettings(hidden=(8,), max_iter=200)
    rep = train_model(data, folds=2, repeat=2, normalization="speaker", settings=small, jobs=1)
    assert len(rep.dataset.y) == 4 * 2 * 8
    assert [r.seed for r in rep.cv] == [0, 1]
    summary = rep.cv_summary()
    assert len(summary["per_seed"]) == 2
    seeds_uar = [r.pooled.uar for r in rep.cv]
    assert summary["uar"]["std_over_seeds"] == pytest.approx(float(np.std(seeds_uar)))
    assert summary["uar"]["pooled_mean_over_seeds"] == pytest.approx(float(np.mean(seeds_uar)))
    assert set(summary["recall"]) == {"sad", "angry"}
    # tuning with 2 outer folds of 4 actors: only 2 training actors per fold -> 2 inner folds
    tuned = train_model(data, folds=2, normalization="none", tune=True, jobs=1)
    assert len(tuned.cv[0].chosen) == 2
    assert all(0 <= c < len(TUNE_GRID) for c in tuned.cv[0].chosen)
    assert tuned.model.meta["tuned"] is True
    assert tuned.model.meta["classifier"]["hidden"] in [list(g.hidden) for g in TUNE_GRID]


def test_nested_cv_with_one_training_speaker_is_a_clear_error():
    from ser.common import DataError
    from ser.train import cross_validate

    ds = toy_dataset(n_actors=2, per_actor=8, n_aug=1)
    with pytest.raises(DataError, match="at least 2 speakers in each training part"):
        cross_validate(
            ds,
            [lambda s: _Recorder(True)] * 2,
            classes=["angry", "sad", "happy", "neutral"],
            n_folds=2,
        )


def test_card_command_is_written_as_typed(monkeypatch):
    from ser.train.api import command_line

    monkeypatch.setattr("sys.argv", ["/x/ser/train/__main__.py", "--subset", "sad,angry"])
    assert command_line() == "ser-train --subset sad,angry"
    monkeypatch.setattr("sys.argv", ["/venv/bin/ser-train", "--folds", "3"])
    assert command_line() == "ser-train --folds 3"


# -- train_to_file: every check before any feature is extracted -----------------------------


@pytest.fixture
def no_extraction(monkeypatch):
    """Fail the test if feature extraction starts."""

    def boom(*args, **kwargs):
        raise AssertionError("feature extraction started although an argument was bad")

    monkeypatch.setattr("ser.train.fit.extract_dataset", boom)


def _named_files(root, actors=(1, 2, 3), emotions=(4, 5)):
    """Empty files with RAVDESS names: enough for every check that runs before extraction."""
    for a in actors:
        for e in emotions:
            p = root / f"Actor_{a:02d}" / f"03-01-{e:02d}-01-01-01-{a:02d}.wav"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b"")
    return root


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"folds": 10}, r"--folds 10 is more than the 3 actors found in .*; use --folds 3 or"),
        ({"folds": 1}, "--folds must be a whole number >= 2, got 1"),
        ({"tune": True, "folds": 2}, "--tune with --folds 2 on 3 actors leaves 1 training actor"),
        ({"repeat": 0}, "--repeat must be a whole number >= 1"),
        ({"augment": -1}, "--augment must be a whole number >= 0"),
        ({"ensemble": 0}, "--ensemble must be a whole number >= 1"),
        ({"alpha": -0.5}, "--alpha must be a number >= 0"),
        ({"hidden": "256,x"}, "--hidden must be layer sizes >= 1"),
        ({"hidden": [0]}, "--hidden must be layer sizes >= 1"),
        ({"jobs": 0}, "--jobs must be a whole number of workers"),
        ({"normalize": "gender"}, "--normalize: unknown value 'gender'; choose one of none"),
        ({"features": "mfcc"}, "--features: unknown value 'mfcc'; choose one of default, seed"),
        ({"subset": "neutral,joy"}, "unknown emotion"),
        (
            {"subset": "neutral,calm"},
            r"no labelled clips to train on \(ravdess: 6 outside the subset\)",
        ),
        ({"out": "model.txt"}, "--out must end in .skops"),
        ({"out": "{tmp}/file.txt/model.skops"}, r"cannot write .*file\.txt.* is not a folder"),
        ({"out": "{tmp}/missing/model.skops"}, r"cannot write .*missing.* does not exist"),
        ({"out": "{tmp}/folder.skops"}, "is a folder"),
    ],
)
def test_train_to_file_checks_every_argument_before_extracting(tmp_path, no_extraction, bad, match):
    from ser.train import train_to_file

    data = _named_files(tmp_path / "data")
    (tmp_path / "file.txt").write_text("a file, not a folder")
    (tmp_path / "folder.skops").mkdir()
    kwargs = {"out": tmp_path / "m.skops", **bad}
    if isinstance(kwargs["out"], str):
        kwargs["out"] = kwargs["out"].format(tmp=tmp_path)
    with pytest.raises(DataError, match=match):
        train_to_file(data, **kwargs)
    assert not (tmp_path / "m.skops").exists()


def test_subset_with_one_emotion_present_is_a_clear_error(tmp_path, no_extraction):
    from ser.train import train_to_file

    data = _named_files(tmp_path / "data", emotions=(1, 4))
    with pytest.raises(DataError, match=r"no clips of angry \(asked for in the subset\)"):
        train_to_file(data, out=tmp_path / "m.skops", subset="neutral,angry")


@pytest.mark.parametrize("existing", ["m.skops", "m.json"])
def test_an_existing_model_or_card_needs_overwrite(tmp_path, no_extraction, existing):
    from ser.train import train_to_file

    data = _named_files(tmp_path / "data")
    (tmp_path / existing).write_text("old")
    with pytest.raises(DataError, match=r"already exists; --overwrite replaces it"):
        train_to_file(data, out=tmp_path / "m.skops")
    assert (tmp_path / existing).read_text() == "old"


def test_bad_values_raise_data_error_not_plain_value_error(tmp_path):
    from ser.train import MLPSettings, train_model

    data = _named_files(tmp_path / "data")
    with pytest.raises(DataError, match="--normalize: unknown value 'gender'"):
        train_model(data, normalization="gender")
    with pytest.raises(DataError, match="--repeat must be a whole number >= 1, got 0"):
        train_model(data, repeat=0)
    with pytest.raises(DataError, match="--alpha must be a number >= 0"):
        MLPSettings(alpha=-1.0)
    with pytest.raises(DataError, match="--hidden"):
        MLPSettings(hidden=())
    assert MLPSettings(hidden="64, 32,").hidden == (64, 32)


@pytest.mark.slow
def test_train_to_file_saves_model_and_card_and_logs_one_convergence_summary(tmp_path, caplog):
    import logging
    import re

    from ser.models.model import sha256_file
    from ser.train import SavedModel, train_to_file

    data = _write_synthetic_ravdess(tmp_path / "data", per=4)
    out = tmp_path / "small.skops"
    out.write_text("an older model")
    progress = []
    with caplog.at_level(logging.WARNING, logger="ser"):
        saved = train_to_file(
            data,
            out=out,
            overwrite=True,
            folds=2,
            augment=0,
            ensemble=2,
            hidden="8",
            jobs=1,
            on_progress=lambda done, total: progress.append((done, total)),
        )
    assert isinstance(saved, SavedModel)
    assert saved.model_path == out and saved.card_path == tmp_path / "small.json"
    assert saved.sha256 == sha256_file(out)  # the old file was replaced
    assert progress[0] == (0, 32) and progress[-1] == (32, 32)
    card = json.loads(saved.card_path.read_text())
    assert card["sha256"] == saved.sha256 and card["name"] == "small"
    assert load_model(out).classes == ["angry", "sad"]
    assert saved.result.info["folds"] == 2
    summary = [r.getMessage() for r in caplog.records if "ConvergenceWarning" in r.getMessage()]
    assert len(summary) == 1, summary
    n, m = map(int, re.match(r"(\d+) of (\d+) MLP fits stopped at max_iter", summary[0]).groups())
    assert 1 <= n <= m == 6  # 2 folds x 2 MLPs + the final 2 MLPs
