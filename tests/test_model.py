"""Model files: round trip, and refusal of anything that is not a trusted ser model."""

from __future__ import annotations

import collections
import pickle

import numpy as np
import pytest
import skops.io as sio
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ser.common import ModelError
from ser.features import GroupStats, feature_config
from ser.models import Model, load_model, save_model
from ser.models.model import FORMAT, resolve_model, sha256_file
from ser.train.fit import MLPSettings, make_estimator


@pytest.fixture(scope="module")
def fitted() -> tuple[Model, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 256))
    y = np.array(["angry", "happy", "sad"] * 20)
    est = make_estimator(MLPSettings(hidden=(8,), max_iter=50, ensemble=2), 0).fit(X, y)
    model = Model(est, feature_config(), "speaker", GroupStats.of(X), meta={"name": "tiny", "x": 1})
    return model, X


def test_round_trip(tmp_path, fitted):
    model, X = fitted
    path = tmp_path / "m.skops"
    sha = save_model(model, path)
    assert sha == sha256_file(path)
    loaded = load_model(path)
    assert loaded.classes == ["angry", "happy", "sad"]
    assert loaded.features == model.features
    assert loaded.normalization == "speaker"
    assert loaded.meta == {"name": "tiny", "x": 1}
    np.testing.assert_array_equal(loaded.train_stats.mean, model.train_stats.mean)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert resolve_model(str(path)).name == "tiny"
    # the file leaves out the optimiser state; the model in memory keeps it
    full = load_model(path, sklearn=True)
    np.testing.assert_array_equal(full.predict_proba(X), model.predict_proba(X))
    assert all(m[-1]._optimizer is None for m in full.estimator.estimators_)
    assert all(m[-1]._optimizer is not None for m in model.estimator.estimators_)


def test_wrong_feature_count_says_how_many(fitted):
    model, _ = fitted
    with pytest.raises(ModelError, match=r"X has 40 features, but model 'tiny' expects 256"):
        model.predict_proba(np.zeros((2, 40)))


def test_text_file_is_refused(tmp_path):
    p = tmp_path / "model.skops"
    p.write_text("hello, I am not a model\n")
    with pytest.raises(ModelError, match=r"model\.skops: not a valid ser model file"):
        load_model(p)


def test_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    p = tmp_path / "evil.skops"
    p.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ModelError, match="not a valid ser model file"):
        load_model(p)
    assert not marker.exists()


def test_truncated_file_is_refused(tmp_path, fitted):
    path = tmp_path / "m.skops"
    save_model(fitted[0], path)
    cut = tmp_path / "cut.skops"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelError, match="not a valid ser model file"):
        load_model(cut)


def test_untrusted_types_are_refused(tmp_path):
    p = tmp_path / "odd.skops"
    sio.dump({"format": FORMAT, "payload": collections.Counter("abc")}, p)
    with pytest.raises(ModelError, match=r"untrusted types: collections\.Counter"):
        load_model(p)


def test_skops_file_that_is_not_a_ser_model(tmp_path):
    p = tmp_path / "plain.skops"
    sio.dump(make_pipeline(StandardScaler(), MLPClassifier()), p)
    with pytest.raises(ModelError, match="a skops file, but not a ser model"):
        load_model(p)


def test_missing_and_unknown_models(tmp_path):
    with pytest.raises(ModelError, match="model file not found"):
        load_model(tmp_path / "none.skops")
    with pytest.raises(ModelError, match=r"unknown model 'nonsense'.*ser6"):
        resolve_model("nonsense")
