"""Numpy prediction from model files: bit-identical to scikit-learn, and as safe as skops."""

from __future__ import annotations

import io
import json
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import VotingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ser.common import ModelError
from ser.features import GroupStats, feature_config
from ser.models import (
    BUNDLED_MODELS,
    Calibration,
    Model,
    bundled_model_path,
    load_model,
    save_model,
)
from ser.models.inference import (
    KNOWN_CLASSES,
    NumpyClassifier,
    Unsupported,
    read_model_file,
    read_npy,
)
from ser.models.model import TRUSTED_TYPES

N_FEATURES = 256  # the default feature set's width (FeatureConfig is stored, not checked here)


def _probe(n: int = 300, seed: int = 1) -> np.ndarray:
    """Feature rows from far outside to well inside the training range."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, N_FEATURES)) * rng.choice([0.1, 1.0, 5.0, 50.0], (n, 1))


@pytest.mark.parametrize("name", BUNDLED_MODELS)
def test_bundled_models_predict_exactly_as_scikit_learn(name):
    fast = load_model(bundled_model_path(name))
    slow = load_model(bundled_model_path(name), sklearn=True)
    assert isinstance(fast.estimator, NumpyClassifier)
    assert not isinstance(slow.estimator, NumpyClassifier)
    X = _probe()
    np.testing.assert_array_equal(fast.predict_proba(X), slow.predict_proba(X))
    np.testing.assert_array_equal(fast.predict_proba(X[:1]), slow.predict_proba(X[:1]))
    assert fast.classes == slow.classes
    assert fast.n_features == slow.n_features == N_FEATURES
    assert fast.features == slow.features
    assert fast.normalization == slow.normalization
    assert fast.meta == slow.meta
    np.testing.assert_array_equal(fast.train_stats.mean, slow.train_stats.mean)
    np.testing.assert_array_equal(fast.train_stats.std, slow.train_stats.std)


def test_loading_a_bundled_model_imports_neither_scikit_learn_nor_skops(imported_by):
    code = (
        "from ser.models import load_model, bundled_model_path\n"
        "m = load_model(bundled_model_path('ser6'))\n"
        "m.predict_proba(__import__('numpy').zeros((2, m.n_features)))\n"
    )
    assert imported_by(code, ["sklearn", "skops", "scipy"]) == []


def _mlp(hidden=(7,), **kw) -> MLPClassifier:
    return MLPClassifier(hidden_layer_sizes=hidden, max_iter=60, **{"random_state": 0, **kw})


SHAPES = {
    "bare MLP, relu": lambda: _mlp(),
    "scaler + MLP, two tanh layers": lambda: make_pipeline(
        StandardScaler(), _mlp(hidden=(9, 5), activation="tanh")
    ),
    "scaler without mean + logistic MLP": lambda: make_pipeline(
        StandardScaler(with_mean=False), _mlp(activation="logistic")
    ),
    "scaler without std + identity MLP": lambda: make_pipeline(
        StandardScaler(with_std=False), _mlp(activation="identity")
    ),
    "soft vote, weighted, one member dropped": lambda: VotingClassifier(
        [
            ("a", make_pipeline(StandardScaler(), _mlp())),
            ("b", "drop"),
            ("c", make_pipeline(StandardScaler(), _mlp(hidden=(4,), random_state=3))),
        ],
        voting="soft",
        weights=[0.3, 5.0, 0.7],
    ),
}


@pytest.mark.parametrize("calibrated", [False, True])
@pytest.mark.parametrize("labels", ["strings", "ints", "two classes"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_supported_shape_is_bit_identical(tmp_path, shape, labels, calibrated):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((90, N_FEATURES)) * rng.uniform(0.5, 3.0, N_FEATURES)
    classes = {"strings": ["angry", "calm", "sad"], "ints": [3, 1, 2], "two classes": ["a", "b"]}
    y = np.asarray(classes[labels])[np.arange(90) % len(classes[labels])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = SHAPES[shape]().fit(X, y)
    path = tmp_path / "m.skops"
    cal = Calibration(tuple(str(c) for c in est.classes_), 1.37) if calibrated else None
    save_model(Model(est, feature_config(), "none", GroupStats.of(X), {"name": "t"}, cal), path)
    fast, slow = load_model(path), load_model(path, sklearn=True)
    assert isinstance(fast.estimator, NumpyClassifier)
    assert fast.calibration == slow.calibration == cal
    probe = _probe(50)
    want = est.predict_proba(probe) if cal is None else cal.apply(est.predict_proba(probe))
    np.testing.assert_array_equal(fast.predict_proba(probe), want)
    np.testing.assert_array_equal(fast.predict_proba(probe), slow.predict_proba(probe))
    np.testing.assert_array_equal(fast.predict_proba(probe[:1]), slow.predict_proba(probe[:1]))
    raw = fast.predict_proba(probe, calibrated=False)
    np.testing.assert_array_equal(raw, est.predict_proba(probe))
    for dtype in (np.float32, np.float16, np.int64):  # the estimators, as they are called
        p = probe.astype(dtype)
        np.testing.assert_array_equal(fast.estimator.predict_proba(p), est.predict_proba(p))
    assert fast.classes == slow.classes == [str(c) for c in est.classes_]


def test_other_estimators_fall_back_to_scikit_learn(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, N_FEATURES))
    y = np.array(["a", "b"] * 20)
    est = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    path = tmp_path / "lr.skops"
    save_model(Model(est, feature_config(), "none", GroupStats.of(X), {"name": "lr"}), path)
    with pytest.raises(Unsupported, match="LogisticRegression"):
        read_model_file(path)
    model = load_model(path)
    assert not isinstance(model.estimator, NumpyClassifier)
    np.testing.assert_array_equal(model.predict_proba(X), est.predict_proba(X))


def _rewrite_schema(src, dst, edit) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "schema.json":
                data = json.dumps(edit(json.loads(data))).encode()
            zout.writestr(item, data)


def _nodes(node):
    if isinstance(node, dict):
        if "__loader__" in node:
            yield node
        for v in node.values():
            yield from _nodes(v)
    elif isinstance(node, list):
        for v in node:
            yield from _nodes(v)


def test_a_foreign_class_is_never_built_and_the_file_is_refused(tmp_path):
    def smuggle(schema):
        for node in _nodes(schema):
            if node.get("__class__") == "LabelEncoder":
                node["__module__"], node["__class__"] = "subprocess", "Popen"
        return schema

    path = tmp_path / "evil.skops"
    _rewrite_schema(bundled_model_path("ser4"), path, smuggle)
    with pytest.raises(Unsupported, match=r"subprocess\.Popen"):
        read_model_file(path)
    with pytest.raises(ModelError, match=r"evil\.skops: .*untrusted types: subprocess\.Popen"):
        load_model(path)


def test_a_corrupt_array_falls_back_to_skops_and_its_error(tmp_path):
    src = bundled_model_path("ser4")
    path = tmp_path / "bad.skops"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            zout.writestr(item, data if item.filename == "schema.json" else b"\x93NUMPY garbage")
    with pytest.raises(Unsupported):
        read_model_file(path)
    with pytest.raises(ModelError, match=r"bad\.skops: not a valid ser model file"):
        load_model(path)


def test_a_known_class_with_an_attribute_of_the_wrong_kind_is_refused(tmp_path):
    def replace_encoder(schema):
        for node in _nodes(schema):
            if node.get("__class__") == "LabelEncoder":
                node.clear()
                node.update(
                    {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
                     "content": '"not an encoder"', "is_json": True}
                )  # fmt: skip
        return schema

    path = tmp_path / "odd.skops"
    _rewrite_schema(bundled_model_path("ser4"), path, replace_encoder)
    # the soft vote's classes no longer match its label encoder: refused by either loader
    with pytest.raises(ModelError, match=r"odd\.skops: its label encoder has no classes_"):
        read_model_file(path)
    for sklearn in (False, True):
        with pytest.raises(ModelError, match=r"odd\.skops: its label encoder has no classes_"):
            load_model(path, sklearn=sklearn)


def test_another_skops_protocol_is_left_to_skops(tmp_path):
    path = tmp_path / "p.skops"
    _rewrite_schema(bundled_model_path("ser4"), path, lambda s: {**s, "protocol": 99})
    with pytest.raises(Unsupported, match="protocol 99"):
        read_model_file(path)


def test_the_numpy_reader_accepts_only_classes_the_skops_loader_trusts():
    from skops.io import _trusted_types as skops_trusted

    trusted = (
        set(skops_trusted.SKLEARN_ESTIMATOR_TYPE_NAMES)
        | set(skops_trusted.SKLEARN_INTERNAL_TYPE_NAMES)
        | set(TRUSTED_TYPES)
    )
    assert KNOWN_CLASSES <= trusted


def _npy(arr: np.ndarray, version: tuple[int, int] | None = None) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, version=version, allow_pickle=False)
    return buf.getvalue()


def _same_as_np_load(data: bytes) -> None:
    want = np.load(io.BytesIO(data), allow_pickle=False)
    got = read_npy(data)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes(order="A") == want.tobytes(order="A")
    assert got.flags.writeable and got.flags.f_contiguous == want.flags.f_contiguous
    assert got.flags.c_contiguous == want.flags.c_contiguous


@settings(max_examples=150, deadline=None)
@given(
    dtype=st.sampled_from(["<f8", ">f4", "<i8", "|u1", "|b1", "<c16", "<U7", "|S3", "<u4"]),
    shape=st.lists(st.integers(0, 5), max_size=3),
    fortran=st.booleans(),
    version=st.sampled_from([None, (1, 0), (2, 0), (3, 0)]),
    seed=st.integers(0, 2**16),
)
def test_read_npy_gives_what_np_load_gives(dtype, shape, fortran, version, seed):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 100, size=shape).astype(dtype)
    if fortran:
        arr = np.asfortranarray(arr)
    _same_as_np_load(_npy(arr, version))


def test_read_npy_leaves_other_headers_and_bad_data_to_np_load():
    structured = np.zeros(3, dtype=[("a", "<f8"), ("b", "<i4")])
    _same_as_np_load(_npy(structured))  # not the plain form: np.load reads it
    data = _npy(np.arange(6.0).reshape(2, 3))
    for bad in (data[:-8], data + b"\0" * 8):  # wrong length: np.load's own error, or it
        try:
            want: object = np.load(io.BytesIO(bad), allow_pickle=False)
        except Exception as exc:  # whatever numpy raises, read_npy raises too
            with pytest.raises(type(exc)):
                read_npy(bad)
        else:
            assert np.array_equal(read_npy(bad), want)  # type: ignore[arg-type]
    objects = np.array([{"a": 1}, None], dtype=object)
    buf = io.BytesIO()
    np.save(buf, objects, allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle"):
        read_npy(buf.getvalue())
    with pytest.raises(ValueError):
        read_npy(b"not an npy file at all")


@pytest.mark.parametrize("name", BUNDLED_MODELS)
def test_read_npy_reads_every_array_of_the_bundled_models_itself(name, monkeypatch):
    with zipfile.ZipFile(bundled_model_path(name)) as zf:
        data = [zf.read(m) for m in zf.namelist() if m.endswith(".npy")]
    assert data
    want = [np.load(io.BytesIO(d), allow_pickle=False) for d in data]

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("read_npy fell back to np.load for a bundled model's array")

    monkeypatch.setattr(np, "load", refuse)  # every array must take the fast path
    for d, w in zip(data, want):
        got = read_npy(d)
        assert got.dtype == w.dtype and got.shape == w.shape and got.tobytes() == w.tobytes()
