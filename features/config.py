"""Feature configurations: the named feature sets, their parameters and accepted ranges.

A :class:`FeatureConfig` (name, version, parameters) is stored in every model file; it is
checked completely when a model is loaded, so that no parameter can make extraction take
more memory or time than the audio's length calls for (:data:`PARAM_RANGES`). The
extraction itself is :mod:`.extract`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ser.audio.decode import ANALYSIS_SR
from ser.common.choices import FEATURE_SET_NAMES
from ser.common.errors import FeatureError

__all__ = [
    "ADDED_PARAMS",
    "FEATURE_SETS",
    "PARAM_RANGES",
    "FeatureConfig",
    "check_config",
    "config_changes",
    "feature_config",
]

_DEFAULT_PARAMS: dict[str, Any] = {
    "sr": ANALYSIS_SR,
    "trim": True,
    "n_fft": 512,
    "hop_length": 160,
    "n_mels": 40,
    "n_mfcc": 20,
    "fmin": 50.0,
    "f0_min": 65.0,
    "f0_max": 450.0,
    "voicing_threshold": 0.45,
    "active_top_db": 35.0,
    "active_floor_db": 10.0,
}
_SEED_PARAMS: dict[str, Any] = {"sr": ANALYSIS_SR, "trim": True, "n_mfcc": 40, "n_mels": 128}

_SETS: dict[str, tuple[int, dict[str, Any]]] = {
    "default": (1, _DEFAULT_PARAMS),
    "seed": (1, _SEED_PARAMS),
}
#: name -> (current version, default parameters), for each of the named feature sets
FEATURE_SETS: dict[str, tuple[int, dict[str, Any]]] = {n: _SETS[n] for n in FEATURE_SET_NAMES}
#: Parameters added to a feature set after model files were first written, with the value
#: that computes what those files were trained on; a stored configuration without one is
#: read with it. (Not a default: a new configuration takes the set's default parameters.)
ADDED_PARAMS: dict[str, dict[str, Any]] = {"default": {"active_floor_db": 0.0}}


@dataclass(frozen=True)
class FeatureConfig:
    """Name, version and parameters of a feature set; stored in each model file.

    Every parameter of the set must be given, no other, each within its range
    (:data:`PARAM_RANGES`; a bound may depend on the parameters above it). ``seed`` has
    ``sr``, ``trim``, ``n_mels`` (librosa's ``n_fft`` is 2048) and ``n_mfcc`` in 1 .. 128
    (librosa computes MFCCs from 128 mel bands of its own); ``default`` has them all:

    ======================  ==============================================================
    parameter               accepted values
    ======================  ==============================================================
    ``sr`` : int            8000 .. 48000 Hz: the rate the audio is resampled to
    ``trim`` : bool         cut leading and trailing silence
    ``n_fft`` : int         a power of two, 64 .. 8192
    ``hop_length`` : int    n_fft // 8 .. n_fft (at most 8 frames overlap a sample, so the
                            STFT holds at most 8 values per sample of audio)
    ``n_mels`` : int        1 .. 256, and <= n_fft // 2 + 1
    ``n_mfcc`` : int        1 .. n_mels
    ``fmin`` : float        (0, sr / 2) Hz
    ``f0_max`` : float      ((sr // 2) / (n_fft // 4 - 1), sr / 4) Hz: the autocorrelation
                            is taken of the band below sr / 4, and holds n_fft // 4 - 2 lags
                            at sr / 2, which must reach the period of f0_max
    ``f0_min`` : float      (0, f0_max) Hz
    ``voicing_threshold``   [0, 1]
    ``active_top_db``       (0, 120] dB
    ``active_floor_db``     [0, active_top_db / 2) dB; 0 turns the noise-floor rule off
    ======================  ==============================================================

    A frame is *active* (its values enter the statistics) when its energy is within
    ``active_top_db`` of the loudest frame's and more than ``active_floor_db`` above the
    recording's noise floor (the energy that 2 % of the frames fall below), or at least
    within 2 x ``active_floor_db`` of the loudest (so that a sound without pauses, a steady
    tone say, keeps its frames). The second rule keeps pauses filled with background noise
    out: at 20 dB SNR the first one alone takes nearly every noise-only frame for speech.
    Model files written before the second rule existed have no ``active_floor_db`` and are
    read with 0 (:data:`ADDED_PARAMS`), so they extract exactly what they were trained on.

    :meth:`from_dict` and :func:`feature_config` check a configuration, and
    :func:`extract_features` checks it again, so the memory and time that extraction takes
    follow the audio's length, whatever the parameters say. A value out of range raises
    :class:`~ser.common.errors.FeatureError` naming the parameter, the value and the range.
    """

    name: str
    version: int
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def sr(self) -> int:
        return int(self.params["sr"])

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureConfig:
        try:
            name, params = str(d["name"]), dict(d["params"])
            cfg = cls(name, int(d["version"]), {**ADDED_PARAMS.get(name, {}), **params})
        except KeyError as exc:
            raise FeatureError(f"invalid feature configuration: no {exc} in it") from None
        except (TypeError, ValueError) as exc:
            raise FeatureError(f"invalid feature configuration {_show(d)}: {exc}") from None
        check_config(cfg)
        return cfg


def feature_config(name: str = "default", **overrides: Any) -> FeatureConfig:
    """The current configuration of feature set ``name``, with optional parameter overrides."""
    if name not in FEATURE_SETS:
        raise FeatureError(
            f"unknown feature set {name!r}; choose one of {', '.join(sorted(FEATURE_SETS))}"
        )
    version, params = FEATURE_SETS[name]
    unknown = set(overrides) - set(params)
    if unknown:
        raise FeatureError(f"unknown parameters for feature set {name!r}: {sorted(unknown)}")
    cfg = FeatureConfig(name, version, {**params, **overrides})
    check_config(cfg)
    return cfg


@dataclass(frozen=True)
class _Range:
    """Accepted values of one parameter: a kind, bounds (numbers, or functions of the
    parameters checked before it) and whether each end is open; ``text`` documents it."""

    kind: str  # "int", "pow2" (a power of two), "real" or "bool"
    text: str
    lo: float | Callable[[dict[str, Any]], float] = -math.inf
    hi: float | Callable[[dict[str, Any]], float] = math.inf
    open_lo: bool = False
    open_hi: bool = False


_RANGES: dict[str, _Range] = {
    "sr": _Range("int", "8000..48000", 8_000, 48_000),
    "trim": _Range("bool", "True or False"),
    "n_fft": _Range("pow2", "a power of two, 64..8192", 64, 8192),
    "hop_length": _Range(
        "int", "n_fft // 8..n_fft", lambda p: max(1, p["n_fft"] // 8), lambda p: p["n_fft"]
    ),
    "n_mels": _Range(
        "int", "1..256 and <= n_fft // 2 + 1", 1, lambda p: min(256, p.get("n_fft", 2048) // 2 + 1)
    ),
    "n_mfcc": _Range("int", "1..n_mels", 1, lambda p: p["n_mels"]),
    "fmin": _Range("real", "(0, sr / 2)", 0.0, lambda p: p["sr"] / 2, True, True),
    "f0_max": _Range(
        "real",
        "((sr // 2) / (n_fft // 4 - 1), sr / 4)",
        lambda p: (p["sr"] // 2) / (p["n_fft"] // 4 - 1),
        lambda p: p["sr"] / 4,
        open_lo=True,
        open_hi=True,
    ),
    "f0_min": _Range("real", "(0, f0_max)", 0.0, lambda p: p["f0_max"], True, True),
    "voicing_threshold": _Range("real", "[0, 1]", 0.0, 1.0),
    "active_top_db": _Range("real", "(0, 120]", 0.0, 120.0, open_lo=True),
    # from active_top_db / 2 up the rule could never bind (its cap is 2 x this under the top)
    "active_floor_db": _Range(
        "real", "[0, active_top_db / 2)", 0.0, lambda p: p["active_top_db"] / 2, open_hi=True
    ),
}
#: Feature set -> parameter -> accepted range, checked in this order (a bound uses only the
#: parameters above it); the table in :class:`FeatureConfig` documents them.
PARAM_RANGES: dict[str, dict[str, _Range]] = {
    "default": {k: r for k, r in _RANGES.items() if k in _DEFAULT_PARAMS},
    "seed": {
        **{k: r for k, r in _RANGES.items() if k in ("sr", "trim", "n_mels")},
        # librosa.feature.mfcc takes its MFCCs from 128 mel bands of its own
        "n_mfcc": _Range("int", "1..128", 1, 128),
    },
}


def _check_params(name: str, params: dict[str, Any]) -> None:
    """Refuse missing, unknown and out-of-range parameters of feature set ``name``."""
    ranges = PARAM_RANGES[name]
    unknown, missing = sorted(set(params) - set(ranges)), sorted(set(ranges) - set(params))
    if unknown or missing:
        what = "unknown" if unknown else "missing"
        raise FeatureError(f"{what} parameters for feature set {name!r}: {unknown or missing}")
    for key, rng in ranges.items():
        value = params[key]
        if rng.kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                raise FeatureError(f"feature parameter {key}={_show(value)} must be True or False")
            continue
        kind = numbers.Real if rng.kind == "real" else numbers.Integral
        if not isinstance(value, kind) or isinstance(value, (bool, np.bool_)):
            what = "a number" if rng.kind == "real" else "a whole number"
            raise FeatureError(f"feature parameter {key}={_show(value)} must be {what}")
        lo = rng.lo(params) if callable(rng.lo) else rng.lo
        hi = rng.hi(params) if callable(rng.hi) else rng.hi
        if not (
            (isinstance(value, numbers.Integral) or math.isfinite(value))  # no float(10**400)
            and (lo < value if rng.open_lo else lo <= value)
            and (value < hi if rng.open_hi else value <= hi)
            and (rng.kind != "pow2" or int(value) & (int(value) - 1) == 0)
        ):
            here = f" (here {lo:g}..{hi:g})" if callable(rng.lo) or callable(rng.hi) else ""
            raise FeatureError(
                f"feature parameter {key}={_show(value)} is out of range: {rng.text}{here}"
            )


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def check_config(cfg: FeatureConfig) -> None:
    """Refuse an unknown feature set or version, or parameters out of range (FeatureError)."""
    if cfg.name not in FEATURE_SETS:
        raise FeatureError(
            f"model uses feature set {cfg.name!r}, which this version of ser does not know; "
            f"known: {', '.join(sorted(FEATURE_SETS))}"
        )
    current = FEATURE_SETS[cfg.name][0]
    if cfg.version != current:
        raise FeatureError(
            f"model uses feature set {cfg.name!r} version {cfg.version}, but this version of "
            f"ser computes version {current}; retrain the model with ser-train"
        )
    _check_params(cfg.name, cfg.params)


def config_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between two stored configurations (``to_dict()``), each as
    ``"active_floor_db 0.0 -> 10.0"``, read as :meth:`FeatureConfig.from_dict` reads them (a
    parameter added later takes its :data:`ADDED_PARAMS` value); empty when they are equal."""

    def flat(d: dict[str, Any]) -> dict[str, Any]:
        name = d.get("name")
        params = {**ADDED_PARAMS.get(str(name), {}), **dict(d.get("params") or {})}
        return {"name": name, "version": d.get("version"), **params}

    a, b = flat(old), flat(new)
    return [
        f"{k} {a.get(k)} -> {b.get(k)}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)
    ]
