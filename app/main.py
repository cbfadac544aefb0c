"""The Streamlit script that ``ser-app`` serves (``streamlit run`` runs it on every
interaction): page setup, the model picker, and the three pages.

Each page is its own script (``page_*.py``), so that a page is also a URL
(``/``, ``/table``, ``/features``) and a page of Streamlit's ``AppTest``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from ser.app.ui import current_settings, model_picker
from ser.common.version import __version__

HERE = Path(__file__).resolve().parent

st.set_page_config(page_title="ser: speech emotion", page_icon="🎙️", layout="wide")
logging.getLogger("ser").setLevel(logging.INFO)

pages = [
    st.Page(str(HERE / "page_try.py"), title="Try it", icon=":material/mic:", default=True),
    st.Page(
        str(HERE / "page_table.py"),
        title="Explore a table",
        icon=":material/table_chart:",
        url_path="table",
    ),
    st.Page(
        str(HERE / "page_features.py"),
        title="Features",
        icon=":material/graphic_eq:",
        url_path="features",
    ),
]
page = st.navigation(pages)
settings = current_settings()
model_picker(settings)
st.sidebar.caption(
    f"ser {__version__} · files are read in a temporary folder that is removed at once"
    + ("" if settings.local_paths else " · opening files by path is off")
)
page.run()
