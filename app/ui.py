"""What every page shares: the model picker in the sidebar, the loaded model, and errors
shown as one line in the page instead of a traceback (the app keeps running)."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from ser.common.errors import SerError

from .settings import AppSettings, settings_from_env

if TYPE_CHECKING:
    from ser.models import Model

__all__ = [
    "ANALYSING",
    "MODEL_FILE",
    "current_model",
    "current_settings",
    "model_picker",
    "one_line",
    "reported_errors",
]

logger = logging.getLogger(__name__)

#: The picker's entry for a model file (by path, or uploaded).
MODEL_FILE = "a model file…"
#: What the pages show while a clip's waveform, spectrogram and pitch are drawn. librosa's
#: pitch trackers are compiled (numba) at their first call after an install, then cached:
#: 21 s for that first call in a fresh virtual environment, 2 s after (2-core VM, 2026-12-02).
ANALYSING = (
    "Analysing the clip… (the first clip after installing takes some 20 s longer: librosa "
    "compiles its pitch tracker once)"
)
_MODEL_KEY = "ser_model"


def current_settings() -> AppSettings:
    """The settings ``ser-app`` started the server with (:mod:`.settings`)."""
    return settings_from_env()


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (a ``SerError`` names the file and the reason)."""
    text = " ".join(str(exc).split())
    if isinstance(exc, (SerError, OSError)):
        return text or type(exc).__name__
    return f"unexpected error: {type(exc).__name__}: {text}"[:500]


@contextlib.contextmanager
def reported_errors(where: Any = None) -> Iterator[None]:
    """Show an error raised in the block as one line (``st.error``) and go on.

    ``SerError`` and ``OSError`` are the input's fault and are shown as they are; anything
    else is logged with its traceback, and shown as an unexpected error.
    """
    target = where if where is not None else st
    try:
        yield
    except (SerError, OSError) as exc:
        target.error(one_line(exc))
    except Exception as exc:
        logger.exception("ser-app: unexpected error")
        target.error(one_line(exc))


@st.cache_resource(max_entries=8, show_spinner="Loading the model…")
def _load_model(spec: str, stamp: tuple[int, int]) -> Model:
    """A bundled model or a model file (``stamp``: its size and mtime, so that a changed file
    is read again)."""
    from ser.models import resolve_model

    return resolve_model(spec)


@st.cache_resource(max_entries=4, show_spinner="Checking the model file…")
def _load_uploaded_model(digest: str, name: str, _data: bytes) -> Model:
    """An uploaded model file, checked and loaded from a temporary folder (then removed)."""
    from ser.common.errors import ModelError
    from ser.models import load_model

    shown = Path(name).name or "model.skops"
    with tempfile.TemporaryDirectory(prefix="ser-app-model-") as folder:
        path = Path(folder) / shown
        path.write_bytes(_data)
        try:
            model = load_model(path)
        except ModelError as exc:  # name the upload, not its copy
            raise ModelError(str(exc).replace(str(path), shown)) from None
    model.meta.setdefault("name", Path(name).stem)
    return model


def _stamp(spec: str) -> tuple[int, int]:
    try:
        info = os.stat(spec)
    except OSError:
        return (0, 0)
    return (info.st_size, info.st_mtime_ns)


def model_picker(settings: AppSettings) -> Model | None:
    """The sidebar's model choice: a bundled model, a model file by path (with local paths
    on) or an uploaded one. The chosen model is loaded (once per session, cached), kept for
    the pages (:func:`current_model`) and returned; a model that is refused shows its error
    in the sidebar, and None is returned."""
    from ser.models import BUNDLED_MODELS

    options = [*BUNDLED_MODELS, MODEL_FILE]
    start = settings.model
    index = options.index(start) if start in BUNDLED_MODELS else (len(options) - 1 if start else 0)
    bar = st.sidebar
    choice = bar.selectbox(
        "Model",
        options,
        index=index,
        key="model_choice",
        help="ser6: six emotions; ser4: angry, happy, neutral, sad. Both were "
        "trained on RAVDESS and CREMA-D.",
    )
    model: Model | None = None
    with reported_errors(bar):
        if choice != MODEL_FILE:
            model = _load_model(choice, (0, 0))
        else:
            upload = bar.file_uploader("Upload a model file", type=["skops"], key="model_upload")
            path = ""
            if settings.local_paths:
                path = bar.text_input(
                    "…or its path on this machine", value=start or "", key="model_path"
                ).strip()
            if upload is not None:
                data = upload.getvalue()
                import hashlib

                model = _load_uploaded_model(hashlib.sha1(data).hexdigest(), upload.name, data)
            elif path:
                model = _load_model(os.path.expanduser(path), _stamp(os.path.expanduser(path)))
            else:
                bar.info("Upload a .skops model file written by ser-train.")
    st.session_state[_MODEL_KEY] = model
    if model is not None:
        classes = ", ".join(model.classes)
        bar.caption(
            f"**{model.name}**: {classes}; features {model.features.name} "
            f"v{model.features.version}; trained with {model.normalization} normalisation"
        )
    return model


def current_model() -> Model | None:
    """The model the sidebar loaded on this run (None when none could be loaded)."""
    return st.session_state.get(_MODEL_KEY)
