"""A model file is checked completely at load: a broken or hostile one is refused at once,
with a one-line ModelError, and loading it never costs much memory."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import synth_voice
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ser.common import FeatureError, ModelError
from ser.features import FeatureConfig, extract_features, feature_config, feature_names
from ser.models import bundled_model_path, load_model
from ser.models import model as model_module
from ser.models.checks import MAX_MEMBER_BYTES

SRC = bundled_model_path("ser6")
MiB = 2**20
# structural keys of skops node states; any other key names the attribute below it
_STRUCTURAL = {"content", "key_types", "shape", "__class__", "__module__", "__loader__"}


def _walk(node: Any, key: str | None = None) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """Every node state of a schema, in file order, with the attribute (or dict key) it
    sits under."""
    stack = [(key, node)]
    while stack:
        key, node = stack.pop()
        if isinstance(node, dict):
            if "__loader__" in node:
                yield key, node
            items = [(key if k in _STRUCTURAL else k, v) for k, v in node.items()]
            stack.extend(reversed(items))
        elif isinstance(node, list):
            stack.extend((key, v) for v in reversed(node))


with zipfile.ZipFile(SRC) as _zf:
    SCHEMA = json.loads(_zf.read("schema.json"))
    MEMBERS = sorted(_zf.namelist())
ARRAYS: dict[str, list[str]] = {}  # attribute -> array members that hold it, in file order
for _key, _node in _walk(SCHEMA):
    if _node.get("__loader__") == "NdArrayNode" and _node["file"] not in ARRAYS.get(str(_key), []):
        ARRAYS.setdefault(str(_key), []).append(_node["file"])
KEY_ARRAYS = sorted(
    {f for k in ("coefs_", "intercepts_", "mean_", "scale_", "mean", "std") for f in ARRAYS[k]}
)
PARAMS = sorted(feature_config().params)


def _json_node(value: Any) -> dict[str, Any]:
    """A fresh JsonNode (no ``__id__``, so no other node's memo entry can stand in for it)."""
    return {"__class__": type(value).__name__, "__module__": "builtins",
            "__loader__": "JsonNode", "content": json.dumps(value), "is_json": True}  # fmt: skip


def _set_param(schema: dict[str, Any], name: str, value: Any = None, *, drop: bool = False):
    """Set (or drop) a feature parameter, keeping the dict node's key types in step."""
    params = schema["content"]["features"]["content"]["params"]
    key_types = params["key_types"]["content"]
    if name in params["content"] and drop:
        del params["content"][name]
        key_types.pop()  # every key type here is str
    elif not drop:
        if name not in params["content"]:
            key_types.append(
                {"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"}
            )
        params["content"][name] = _json_node(value)


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _write(
    dst: Path,
    *,
    arrays: dict[str, Callable[[bytes], bytes]] | None = None,
    schema: Callable[[dict[str, Any]], None] | None = None,
    drop: frozenset[str] = frozenset(),
    declare: dict[str, int] | None = None,
) -> Path:
    """The bundled model with members rewritten, the schema edited, members left out, or
    members' sizes in the central directory changed (``declare``)."""
    with zipfile.ZipFile(SRC) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            if item.filename in drop:
                continue
            data = zin.read(item.filename)
            if item.filename == "schema.json" and schema is not None:
                edited = json.loads(data)
                schema(edited)
                data = json.dumps(edited).encode()
            elif arrays and item.filename in arrays:
                data = arrays[item.filename](data)
            zout.writestr(item, data)
        for name, size in (declare or {}).items():
            if name not in drop:
                zout.getinfo(name).file_size = size
    return dst


def _with_schema_member(dst: Path, write: Callable[[Any], None], declared: int | None = None):
    """The bundled model whose schema.json is written, deflated, by ``write(f)``."""
    with (
        zipfile.ZipFile(SRC) as zin,
        zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zout,
    ):
        for item in zin.infolist():
            if item.filename != "schema.json":
                zout.writestr(item, zin.read(item.filename))
        with zout.open("schema.json", "w", force_zip64=True) as f:
            write(f)
        if declared is not None:  # the central directory understates the size
            zout.getinfo("schema.json").file_size = declared
    return dst


def _peak_bytes(fn: Callable[[], Any]) -> tuple[Any, int]:
    """``fn()`` (or the exception it raised) and the peak of memory allocated meanwhile."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        try:
            result: Any = fn()
        except Exception as exc:
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture
def numpy_reader_only(monkeypatch):
    """Fails a test whose load falls back to skops: the numpy reader must decide alone."""

    def refuse(spath: str) -> None:
        raise AssertionError(f"{spath}: fell back to the skops loader")

    monkeypatch.setattr(model_module, "_load_with_skops", refuse)


@pytest.fixture(scope="module")
def sklearn_loaded() -> None:
    """scikit-learn and skops imported beforehand, so memory measured later is the load's."""
    load_model(SRC, sklearn=True)


def _drop_row(data: bytes) -> bytes:
    return _npy(np.load(io.BytesIO(data))[:-1])


def test_a_weight_matrix_missing_a_row_is_refused_by_the_numpy_reader(tmp_path, numpy_reader_only):
    path = _write(tmp_path / "row.skops", arrays={ARRAYS["coefs_"][1]: _drop_row})
    with pytest.raises(ModelError, match=r"row\.skops: .*layer 2 weights are 255x\d+ but layer 1 "
                       r"gives 256 values$"):  # fmt: skip
        load_model(path)


def test_a_weight_matrix_missing_a_row_is_refused_by_the_skops_path(tmp_path, sklearn_loaded):
    path = _write(tmp_path / "row.skops", arrays={ARRAYS["coefs_"][1]: _drop_row})
    with pytest.raises(ModelError, match=r"layer 2 weights are 255x\d+ but layer 1 gives 256"):
        load_model(path, sklearn=True)


@pytest.mark.parametrize(
    ("param", "value"), [("n_fft", 2**27), ("sr", 10**9), ("hop_length", 1), ("f0_max", 1e9)]
)
def test_feature_parameters_beyond_their_range_are_refused_at_load(
    tmp_path, numpy_reader_only, param, value
):
    path = _write(tmp_path / "p.skops", schema=lambda s: _set_param(s, param, value))
    with pytest.raises(ModelError, match=rf"p\.skops: feature parameter {param}={value!r} is out"):
        load_model(path)
    with pytest.raises(FeatureError, match=rf"{param}={value!r} is out of range"):
        feature_config(**{param: value})


def test_unknown_and_missing_feature_parameters_are_refused(tmp_path, numpy_reader_only):
    path = _write(tmp_path / "u.skops", schema=lambda s: _set_param(s, "n_bogus", 1))
    with pytest.raises(ModelError, match=r"unknown parameters for feature set 'default'"):
        load_model(path)
    path = _write(tmp_path / "m.skops", schema=lambda s: _set_param(s, "n_fft", drop=True))
    with pytest.raises(ModelError, match=r"missing parameters for feature set 'default'"):
        load_model(path)


def test_a_schema_that_inflates_to_a_gibibyte_is_refused_unread(tmp_path, sklearn_loaded):
    real = _write(tmp_path / "real.skops")
    with zipfile.ZipFile(real) as zf:
        schema = zf.read("schema.json")

    def gibibyte(f: Any) -> None:  # valid JSON: the schema, then 1 GiB of blanks
        f.write(schema)
        chunk = b" " * (4 * MiB)
        for _ in range(256):
            f.write(chunk)

    path = _with_schema_member(tmp_path / "bomb.skops", gibibyte)
    for sklearn in (False, True):
        err, peak = _peak_bytes(lambda sk=sklearn: load_model(path, sklearn=sk))
        assert isinstance(err, ModelError)
        assert str(err).startswith(f"{path}: archive member 'schema.json' is 1024.")
        assert peak < 32 * MiB


def test_a_header_that_understates_a_size_cannot_make_a_read_grow(tmp_path, sklearn_loaded):
    def blanks(f: Any) -> None:
        chunk = b" " * (4 * MiB)
        for _ in range(16):
            f.write(chunk)

    path = _with_schema_member(tmp_path / "liar.skops", blanks, declared=MiB)
    err, peak = _peak_bytes(lambda: load_model(path))
    assert isinstance(err, ModelError), err
    assert peak < 32 * MiB  # the 64 MiB it holds are never read


def test_members_declared_too_large_are_refused_before_skops_reads_them(tmp_path, sklearn_loaded):
    big = _write(tmp_path / "big.skops", declare={ARRAYS["coefs_"][0]: MAX_MEMBER_BYTES + 1})
    many = _write(tmp_path / "many.skops", declare=dict.fromkeys(KEY_ARRAYS[:3], 200 * MiB))
    for sklearn in (False, True):
        with pytest.raises(ModelError, match=r"big\.skops: archive member '.*\.npy' is 256\.0"):
            load_model(big, sklearn=sklearn)
        with pytest.raises(
            ModelError, match=r"many\.skops: the archive's members hold 60\d\.\d MiB"
        ):
            load_model(many, sklearn=sklearn)


def test_nan_in_the_training_statistics_is_refused(tmp_path, numpy_reader_only):
    def nan(data: bytes) -> bytes:
        a = np.load(io.BytesIO(data))
        a[3] = np.nan
        return _npy(a)

    path = _write(tmp_path / "nan.skops", arrays={ARRAYS["std"][0]: nan})
    with pytest.raises(ModelError, match=r"the training statistics' std hold NaN or infinite"):
        load_model(path)


def test_the_command_prints_one_line_and_exits_2(tmp_path, write_audio):
    write_audio(tmp_path / "audio" / "a.wav")
    path = _write(tmp_path / "row.skops", arrays={ARRAYS["coefs_"][1]: _drop_row})
    bindir = str(Path(sys.executable).parent)
    script = shutil.which("ser-annotate", path=os.pathsep.join([bindir, os.environ["PATH"]]))
    command = [script] if script else [sys.executable, "-m", "ser.annotate"]
    proc = subprocess.run(
        [*command, "--model", str(path), str(tmp_path / "audio"), "-o", str(tmp_path / "o.csv")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "row.skops: member 1: layer 2 weights are 255x" in lines[0]
    assert "Traceback" not in proc.stderr and not (tmp_path / "o.csv").exists()


# --- feature parameters: in range, features of the promised width; else a FeatureError ----

_PARAM_VALUES = {
    "sr": st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000, 7999, 48001, 10**9]),
    "trim": st.sampled_from([True, False, 1, None]),
    "n_fft": st.sampled_from([2**k for k in range(5, 15)] + [500, 2**27]),
    "hop_length": st.integers(-1, 9000),
    "n_mels": st.integers(0, 300),
    "n_mfcc": st.integers(0, 300),
    "fmin": st.floats(-1.0, 30000.0),
    "f0_min": st.floats(-1.0, 5000.0),
    "f0_max": st.one_of(st.floats(-1.0, 13000.0), st.none(), st.just("450")),
    "voicing_threshold": st.one_of(st.floats(-0.5, 1.5), st.just(float("nan"))),
    "active_top_db": st.floats(-1.0, 130.0),
    "active_floor_db": st.floats(-1.0, 130.0),
}


@settings(max_examples=80, deadline=None)
@given(name=st.sampled_from(["default", "seed"]), data=st.data())
def test_feature_parameters_in_range_give_features_and_others_are_named(name, data):
    keys = sorted(feature_config(name).params)
    overrides = data.draw(st.fixed_dictionaries({}, optional={k: _PARAM_VALUES[k] for k in keys}))
    try:
        cfg = feature_config(name, **overrides)
    except FeatureError as exc:
        assert re.match(r"feature parameter \w+=.* (is out of range|must be)", str(exc)), exc
        return
    assert FeatureConfig.from_dict(cfg.to_dict()) == cfg
    y = synth_voice(0.3, cfg.sr, seed=len(overrides)).astype(np.float32)
    assert extract_features(y, config=cfg).shape == (len(feature_names(cfg)),)


# --- any mutation: loaded and usable, or refused with ModelError; never much memory -------

_VALUES = st.one_of(
    st.integers(-3, 600),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=4),
    st.sampled_from(["relu", "softmax", "logistic", "speaker", "default"]),
)
_ARRAY_OPS = (
    "drop_row", "drop_col", "transpose", "flatten", "add_axis", "empty", "nan", "inf", "zero",
    "int", "float32", "str", "bool", "truncate", "garbage",
)  # fmt: skip
_ATTRS = (
    "n_features_in_", "n_outputs_", "n_layers_", "activation", "out_activation_",
    "with_mean", "with_std", "weights", "voting", "normalization", "format_version", "n",
)  # fmt: skip

_MUTATION = st.one_of(
    st.tuples(st.just("array"), st.sampled_from(KEY_ARRAYS), st.sampled_from(_ARRAY_OPS),
              st.integers(0, 2**20)),
    st.tuples(st.just("array"), st.sampled_from(sorted({f for fs in ARRAYS.values() for f in fs})),
              st.sampled_from(_ARRAY_OPS), st.integers(0, 2**20)),
    st.tuples(st.just("param"), st.sampled_from([*PARAMS, "n_bogus"]), _VALUES),
    st.tuples(st.just("drop_param"), st.sampled_from(PARAMS)),
    st.tuples(st.just("attr"), st.sampled_from(_ATTRS), _VALUES, st.integers(0, 20)),
    st.tuples(st.just("drop_member"), st.sampled_from(MEMBERS)),
    st.tuples(st.just("declare"), st.sampled_from(MEMBERS), st.integers(0, 2**34)),
)  # fmt: skip


def _mutate_array(data: bytes, op: str, seed: int) -> bytes:
    if op == "truncate":
        return data[: seed % max(len(data), 1)]
    if op == "garbage":
        return np.random.default_rng(seed).bytes(seed % 300)
    a = np.load(io.BytesIO(data))
    if op == "drop_row" and a.ndim:
        a = a[:-1]
    elif op == "drop_col" and a.ndim == 2:
        a = a[:, :-1]
    elif op == "transpose":
        a = a.T
    elif op == "flatten":
        a = a.ravel()
    elif op == "add_axis":
        a = a[None]
    elif op == "empty" and a.ndim:
        a = a[:0]
    elif op in ("nan", "inf", "zero") and a.size:
        a = a.astype(np.float64)
        a.flat[seed % a.size] = {"nan": np.nan, "inf": -np.inf, "zero": 0.0}[op]
    elif op in ("int", "float32", "bool"):
        a = a.astype({"int": np.int64, "float32": np.float32, "bool": np.bool_}[op])
    elif op == "str":
        a = a.astype("<U5")
    return _npy(a)


def _edit_schema(schema: dict[str, Any], mutations: list[tuple[Any, ...]]) -> None:
    for m in mutations:
        if m[0] == "param":
            _set_param(schema, m[1], m[2])
        elif m[0] == "drop_param":
            _set_param(schema, m[1], drop=True)
        elif m[0] == "attr":
            spots = [
                node["content"]
                for _, node in _walk(schema)
                if isinstance(node.get("content"), dict) and m[1] in node["content"]
            ]
            if spots:
                spots[m[3] % len(spots)][m[1]] = _json_node(m[2])


@settings(max_examples=45, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations=st.lists(_MUTATION, min_size=1, max_size=3), sklearn=st.booleans())
def test_a_mutated_model_loads_and_predicts_or_is_refused(
    tmp_path_factory, sklearn_loaded, mutations, sklearn
):
    arrays: dict[str, Callable[[bytes], bytes]] = {}
    for m in mutations:
        if m[0] == "array":
            arrays[m[1]] = lambda d, op=m[2], seed=m[3]: _mutate_array(d, op, seed)
    path = _write(
        tmp_path_factory.mktemp("mutated") / "m.skops",
        arrays=arrays,
        schema=lambda s: _edit_schema(s, mutations),
        drop=frozenset(m[1] for m in mutations if m[0] == "drop_member"),
        declare={m[1]: m[2] for m in mutations if m[0] == "declare"},
    )

    def load_and_predict() -> tuple[int, int]:
        model = load_model(path, sklearn=sklearn)
        X = np.random.default_rng(0).standard_normal((7, model.n_features))
        return model.predict_proba(X).shape, len(model.classes)

    result, peak = _peak_bytes(load_and_predict)
    if isinstance(result, Exception):
        assert isinstance(result, ModelError), repr(result)
        assert str(result).startswith(f"{path}: ") and "\n" not in str(result)
    else:
        shape, n_classes = result
        assert shape == (7, n_classes)
    assert peak < 200 * MiB


# --- the calibration entry: sound, or refused by either loader with a one-line reason -----


class _RawCalibration:
    """Stands in for a Calibration, to write whatever ``to_dict`` gives into a model file."""

    def __init__(self, classes: list[str], entry: Any) -> None:
        self.classes, self._entry = classes, entry

    def to_dict(self) -> Any:
        return self._entry


_CAL = {"method": "temperature", "temperature": 1.5, "classes": None, "n": 80}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"temperature": 0.0}, r"the calibration temperature 0\.0 is outside \[0\.05, 20\.0\]"),
        ({"temperature": -2.0}, r"temperature -2\.0 is outside"),
        ({"temperature": 1e6}, r"temperature 1000000\.0 is outside"),
        ({"temperature": float("nan")}, r"the calibration temperature is nan, not a finite"),
        ({"temperature": float("inf")}, r"the calibration temperature is inf, not a finite"),
        ({"temperature": "1.5"}, r"temperature is '1\.5', not a finite number"),
        ({"method": "vector"}, r"unknown calibration method 'vector' \(known: temperature\)"),
        ({"classes": ["angry", "happy", "neutral"]}, r"calibration is for 3 classes .* but the "
         r"classifier's are \['angry', 'happy', 'neutral', 'sad'\]"),
        ({"classes": ["sad", "neutral", "happy", "angry"]}, r"calibration is for 4 classes"),
        ({"classes": "angry"}, r"the calibration's classes are not a list of labels"),
        ({"n": -3}, r"row count is -3, not a whole number"),
        ({"scale": [1.0] * 4}, r"the calibration has unknown entries \['scale'\]"),
        ("temperature", r"the calibration is str, not a dict"),
    ],
)  # fmt: skip
def test_an_unsound_calibration_is_refused_by_both_loaders(
    tmp_path, tiny_model_path, sklearn_loaded, edit, message
):
    from conftest import TINY_CLASSES

    from ser.models import save_model

    model = load_model(tiny_model_path, sklearn=True)
    entry = {**_CAL, "classes": list(TINY_CLASSES), **edit} if isinstance(edit, dict) else edit
    model.calibration = _RawCalibration(model.classes, entry)  # type: ignore[assignment]
    path = tmp_path / "cal.skops"
    save_model(model, path)
    for sklearn in (False, True):
        with pytest.raises(ModelError, match=rf"^{re.escape(str(path))}: .*{message}") as info:
            load_model(path, sklearn=sklearn)
        assert "\n" not in str(info.value)
    model.calibration = _RawCalibration(model.classes, {**_CAL, "classes": list(TINY_CLASSES)})
    save_model(model, path)  # the same file with a sound entry loads
    assert load_model(path).calibration.temperature == 1.5
