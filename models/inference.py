"""Prediction with a ser model file in numpy alone, without importing scikit-learn or skops.

Importing scikit-learn and skops costs about 2.7 s in a fresh process on the project's 2-core
machine (skops builds its default trust list by importing every scikit-learn estimator): more
than a quarter of annotating RAVDESS. The estimators that ``ser-train`` writes are small
(a standard scaler and a multilayer perceptron, or a soft vote over a few of them), so for
annotation this module reads the model file itself and runs the same arithmetic in numpy.

Reading is safe in the same way as skops' loader, and stricter: the archive's ``schema.json``
is parsed as JSON, arrays are read as plain numbers (:func:`read_npy`, else
``numpy.load(allow_pickle=False)``), and no object of a class named in the file is ever
built. Every member is read within the limits of :mod:`.checks` (its declared size, and no
further whatever its contents), and the decoded classifier's arrays are
checked against each other (:func:`~ser.models.checks.check_estimator`) before anything is
built from them: a file that breaks a limit or is inconsistent raises
:class:`~ser.common.errors.ModelError`. The file's classes must be among the few that this
module understands (:data:`KNOWN_CLASSES`, all trusted by :func:`ser.models.load_model` too);
anything else raises :class:`Unsupported`, and the caller falls back to the skops loader, which
then either refuses the file or loads it with scikit-learn.

:class:`NumpyClassifier` repeats scikit-learn's ``predict_proba`` operation by operation
(``StandardScaler.transform``, ``MLPClassifier._forward_pass_fast``, ``VotingClassifier``'s
``np.average``), so its probabilities are bit-identical to scikit-learn's; the tests check it
on the bundled models and on small models of every supported shape.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from ser.common.errors import ModelError

from .checks import MAX_READ_BYTES, check_archive, check_estimator, read_member

__all__ = ["KNOWN_CLASSES", "NumpyClassifier", "Unsupported", "read_model_file", "read_npy"]

#: The skops protocol this reader understands (skops 0.10 and later write it).
PROTOCOL = 2

_VOTING_CLS = "sklearn.ensemble._voting.VotingClassifier"
_PIPELINE_CLS = "sklearn.pipeline.Pipeline"
_SCALER_CLS = "sklearn.preprocessing._data.StandardScaler"
_MLP_CLS = "sklearn.neural_network._multilayer_perceptron.MLPClassifier"

#: Classes of objects a model file may hold for this reader. Only the first four are used
#: for prediction; the others are read as plain attribute dicts and ignored.
KNOWN_CLASSES: frozenset[str] = frozenset(
    {
        _VOTING_CLS,
        _PIPELINE_CLS,
        _SCALER_CLS,
        _MLP_CLS,
        "sklearn.preprocessing._label.LabelBinarizer",
        "sklearn.preprocessing._label.LabelEncoder",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    }
)
_DICTS = frozenset({"builtins.dict", "sklearn.utils._bunch.Bunch"})
_BUILTIN_TYPES: dict[str, type] = {
    "builtins.str": str,
    "builtins.int": int,
    "builtins.float": float,
    "builtins.bool": bool,
}


class Unsupported(Exception):
    """The file is not one this module can read; use the skops loader instead."""


@dataclass(frozen=True)
class Obj:
    """An object from the file, not built: its class (``module.Name``) and attributes.

    Its attributes also read as Python attributes (``obj.coefs_``), as on the estimator it
    stands for, so that :mod:`.checks` checks both alike.
    """

    cls: str
    attrs: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        attrs = self.__dict__.get("attrs")
        if name.startswith("__") or attrs is None or name not in attrs:
            raise AttributeError(name)
        return attrs[name]


def read_model_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The payload dict of a ser model file, with the estimator as a :class:`NumpyClassifier`.

    Raises :class:`~ser.common.errors.ModelError` for a file beyond the limits of
    :mod:`.checks`, or whose classifier's arrays do not fit together; :class:`Unsupported`
    for anything else: not a zip archive, another skops protocol, a corrupt member, a class
    outside :data:`KNOWN_CLASSES`, an estimator shape that :class:`NumpyClassifier` does not
    cover.
    """
    spath = os.fspath(path)
    try:
        with zipfile.ZipFile(spath) as zf:
            check_archive(zf, spath)
            schema = json.loads(read_member(zf, "schema.json", spath))
            if not isinstance(schema, dict):
                raise Unsupported("schema.json is not an object")
            if schema.get("protocol") != PROTOCOL:
                raise Unsupported(f"skops protocol {schema.get('protocol')!r}")
            payload = _Decoder(zf, spath).decode(schema)
        if not isinstance(payload, dict) or not isinstance(payload.get("estimator"), Obj):
            raise Unsupported("no estimator object")
        check_estimator(spath, payload["estimator"])
        payload["estimator"] = NumpyClassifier.from_object(payload["estimator"])
    except (Unsupported, ModelError):
        raise
    except Exception as exc:  # zip, JSON and npy errors, attributes of unexpected types:
        raise Unsupported(f"{type(exc).__name__}: {exc}") from None  # skops will say what
    return payload


class _Decoder:
    """Turns skops node states into plain values (no class named in the file is imported)."""

    def __init__(self, zf: zipfile.ZipFile, path: str) -> None:
        self.zf = zf
        self.path = path
        self.memo: dict[int, Any] = {}
        # bytes left to read; a member that many nodes name is read (and counted) for each
        self.budget = MAX_READ_BYTES

    def decode(self, state: Any) -> Any:
        if not isinstance(state, dict) or "__loader__" not in state:
            raise Unsupported("malformed node")
        sid = state.get("__id__")
        if sid is not None and sid in self.memo:  # shared references, as skops resolves them
            return self.memo[sid]
        value = self._decode(state)
        if sid is not None:
            self.memo[sid] = value
        return value

    def _decode(self, state: dict[str, Any]) -> Any:
        loader = state["__loader__"]
        cls = f"{state.get('__module__')}.{state.get('__class__')}"
        if loader == "JsonNode":
            return json.loads(state["content"])
        if loader == "DictNode" and cls in _DICTS:
            key_types = self.decode(state["key_types"])
            items = state["content"].items()
            if len(key_types) != len(items):
                raise Unsupported("dict keys and key types differ in number")
            return {kt(k): self.decode(v) for kt, (k, v) in zip(key_types, items)}
        if loader == "ListNode" and cls == "builtins.list":
            return [self.decode(v) for v in state["content"]]
        if loader == "TupleNode" and cls == "builtins.tuple":
            return tuple(self.decode(v) for v in state["content"])
        if loader == "TypeNode":
            if cls not in _BUILTIN_TYPES:
                raise Unsupported(f"type {cls}")
            return _BUILTIN_TYPES[cls]
        if loader == "NdArrayNode":
            return self._array(state, cls)
        if loader == "ObjectNode":
            if cls not in KNOWN_CLASSES:
                raise Unsupported(f"class {cls}")
            content = state.get("content")
            attrs = {} if content is None else self.decode(content)
            if not isinstance(attrs, dict):
                raise Unsupported(f"{cls} without an attribute dict")
            return Obj(cls, attrs)
        if loader == "RandomStateNode" and cls == "numpy.random.mtrand.RandomState":
            return None  # a fitted estimator's random state plays no part in prediction
        raise Unsupported(f"{loader} for {cls}")

    def _array(self, state: dict[str, Any], cls: str) -> Any:
        kind = state.get("type")
        if kind == "numpy":
            data = read_member(self.zf, state["file"], self.path)
            self.budget -= len(data)
            if self.budget < 0:
                raise ModelError(
                    f"{self.path}: its array nodes would read more than the "
                    f"{MAX_READ_BYTES // 2**20} MiB a model file may hold"
                )
            arr = read_npy(data)
            if cls == "numpy.ndarray":
                return arr
            scalar = getattr(np, str(state.get("__class__")), None)
            if state.get("__module__") != "numpy" or not (
                isinstance(scalar, type) and issubclass(scalar, np.generic)
            ):
                raise Unsupported(f"array of {cls}")
            return scalar(arr)
        if kind == "json" and cls == "numpy.ndarray":  # object arrays (e.g. string labels)
            items = [self.decode(v) for v in state["content"]]
            shape = self.decode(state["shape"])
            if len(shape) == 1:
                out = np.empty(len(items), dtype=object)
                out[:] = items
                return out
            return np.array(items, dtype=object)
        raise Unsupported(f"array kind {kind!r}")


def _hidden_activation(name: str) -> Any:
    """scikit-learn's in-place hidden activations (``sklearn.neural_network._base``)."""
    if name == "relu":
        return lambda X: np.maximum(X, 0, out=X)
    if name == "tanh":
        return lambda X: np.tanh(X, out=X)
    if name == "identity":
        return lambda X: None
    if name == "logistic":
        from scipy.special import expit

        return lambda X: expit(X, out=X)
    raise Unsupported(f"activation {name!r}")


def _softmax(X: np.ndarray) -> None:
    tmp = X - X.max(axis=1)[:, np.newaxis]
    np.exp(tmp, out=X)
    X /= X.sum(axis=1)[:, np.newaxis]


def _get(obj: Obj, name: str) -> Any:
    try:
        return obj.attrs[name]
    except KeyError:
        raise Unsupported(f"{obj.cls} has no {name}") from None


class _Scaler:
    # shapes, kinds and values of every array here are checked by check_estimator first
    def __init__(self, obj: Obj) -> None:
        self.mean = _get(obj, "mean_") if _get(obj, "with_mean") else None
        self.scale = _get(obj, "scale_") if _get(obj, "with_std") else None

    def transform(self, X: np.ndarray) -> np.ndarray:
        # scikit-learn's check_array(copy=True, dtype=FLOAT_DTYPES): float input keeps its type
        X = np.array(X, copy=True)
        if X.dtype not in (np.float64, np.float32, np.float16):
            X = X.astype(np.float64)
        if self.mean is not None:
            X -= self.mean.astype(X.dtype, copy=False)
        if self.scale is not None:
            X /= self.scale.astype(X.dtype, copy=False)
        return X


class _MLP:
    def __init__(self, obj: Obj) -> None:
        self.coefs = list(_get(obj, "coefs_"))
        self.intercepts = list(_get(obj, "intercepts_"))
        self.n_layers = int(_get(obj, "n_layers_"))
        self.n_outputs = int(_get(obj, "n_outputs_"))
        self.hidden = _hidden_activation(_get(obj, "activation"))
        self.out_activation = _get(obj, "out_activation_")
        self.classes = np.asarray(_get(obj, "classes_"))
        self.n_features = int(_get(obj, "n_features_in_"))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        activation = X
        for i in range(self.n_layers - 1):
            activation = activation @ self.coefs[i]
            activation += self.intercepts[i]
            if i != self.n_layers - 2:
                self.hidden(activation)
        if self.out_activation == "softmax":
            _softmax(activation)
        else:
            from scipy.special import expit

            expit(activation, out=activation)
        y = activation.ravel() if self.n_outputs == 1 else activation
        return np.vstack([1 - y, y]).T if y.ndim == 1 else y


class _PipelineMLP:
    """A Pipeline of standard scalers ending in an MLP, or a bare MLP."""

    def __init__(self, obj: Obj) -> None:
        if obj.cls == _MLP_CLS:
            steps: list[Any] = [obj]
        elif obj.cls == _PIPELINE_CLS:
            steps = [step for _, step in _get(obj, "steps")]
        else:
            raise Unsupported(f"estimator {obj.cls}")
        self.scalers: list[_Scaler] = []
        for step in steps[:-1]:
            if step is None or step == "passthrough":
                continue
            if not (isinstance(step, Obj) and step.cls == _SCALER_CLS):
                raise Unsupported(f"pipeline step {getattr(step, 'cls', step)!r}")
            self.scalers.append(_Scaler(step))
        last = steps[-1] if steps else None
        if not (isinstance(last, Obj) and last.cls == _MLP_CLS):
            raise Unsupported("pipeline does not end in an MLPClassifier")
        self.mlp = _MLP(last)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        for scaler in self.scalers:
            X = scaler.transform(X)
        X = np.asarray(X)
        if X.dtype not in (np.float64, np.float32):  # the MLP's check_array
            X = X.astype(np.float64)
        return self.mlp.predict_proba(X)


class NumpyClassifier:
    """The ``predict_proba`` of a fitted scikit-learn MLP model, in numpy.

    Covers what ``ser-train`` writes: ``MLPClassifier``, a ``Pipeline`` of
    ``StandardScaler`` steps ending in one, and a soft ``VotingClassifier`` over those.
    Has the attributes a :class:`~ser.models.Model` uses: ``classes_``,
    ``n_features_in_`` and ``predict_proba``.
    """

    def __init__(self, members: list[_PipelineMLP], classes: np.ndarray,
                 weights: list[float] | None, voting: bool) -> None:  # fmt: skip
        self._members = members
        self._weights = weights
        self._voting = voting
        self.classes_ = classes
        self.n_features_in_ = members[0].mlp.n_features

    @classmethod
    def from_object(cls, obj: Obj) -> NumpyClassifier:
        if obj.cls != _VOTING_CLS:
            member = _PipelineMLP(obj)
            return cls([member], member.mlp.classes, None, voting=False)
        if _get(obj, "voting") != "soft":
            raise Unsupported("hard voting has no probabilities")
        estimators = [e for _, e in _get(obj, "estimators")]
        members = [_PipelineMLP(e) for e in _get(obj, "estimators_")]
        weights = _get(obj, "weights")
        if weights is not None:  # VotingClassifier._weights_not_none
            weights = [w for e, w in zip(estimators, weights) if e != "drop"]
        # members, weights and classes were checked against each other by check_estimator
        classes = np.asarray(_get(_get(obj, "le_"), "classes_"))
        return cls(members, classes, weights, voting=True)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if not self._voting:
            return self._members[0].predict_proba(X)
        probas = np.asarray([m.predict_proba(X) for m in self._members])
        return np.average(probas, axis=0, weights=self._weights)

    def __repr__(self) -> str:
        kind = f"soft vote of {len(self._members)}" if self._voting else "single"
        layers = [c.shape[1] for c in self._members[0].mlp.coefs[:-1]]
        return (
            f"NumpyClassifier({kind} MLP, hidden={tuple(layers)}, "
            f"classes={[str(c) for c in self.classes_]})"
        )


# the header numpy writes for a plain array (numpy.lib.format.write_array_header_*)
_NPY_HEADER = re.compile(
    r"\{'descr': '([<>|=][a-zA-Z]\d*)', 'fortran_order': (False|True), "
    r"'shape': \((\d+(?:, \d+)*,?)?\), \}\s*"
)


def read_npy(data: bytes) -> np.ndarray:
    """``numpy.load(io.BytesIO(data), allow_pickle=False)``, the same array, in a third of the time.

    ``numpy.load`` parses each header with ``ast.literal_eval``: for the 388 arrays of a
    bundled model that was 40 % of loading it. A header in the exact form numpy writes for a
    plain (non-object, non-structured) dtype is read here with one regular expression; any
    other header, or data of the wrong length, goes to ``numpy.load``, which also gives the
    errors.
    """
    # magic, version, header length (2 bytes in version 1, 4 in versions 2 and 3), header
    magic = len(data) > 8 and data[:6] == b"\x93NUMPY"
    width = {1: 2, 2: 4, 3: 4}.get(data[6], 0) if magic else 0
    start = 8 + width
    size = int.from_bytes(data[8:start], "little")
    m = _NPY_HEADER.fullmatch(data[start : start + size].decode("latin1")) if width else None
    if m is not None:
        dtype = np.dtype(m.group(1))
        shape = tuple(int(n) for n in (m.group(3) or "").replace(",", " ").split())
        count = math.prod(shape)
        offset = start + size
        if not dtype.hasobject and len(data) - offset == count * dtype.itemsize:
            flat = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
            order = "F" if m.group(2) == "True" else "C"
            return flat.reshape(shape, order=order).copy(order=order)  # writable, like np.load
    return np.load(io.BytesIO(data), allow_pickle=False)
