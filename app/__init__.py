"""``ser.app``: the ``ser-app`` Streamlit application (``pip install 'ser[app]'``).

Three pages: *Try it* (upload or record clips, predict, see the probabilities, waveform,
log-mel spectrogram with pitch, the segment timeline of a long clip, and hear the result
spoken), *Explore a table* (a ``ser-annotate`` output: distributions, errors, rows, audio,
timelines and, with labels, the comparison plots) and *Features* (the seed project's signal
plots of one clip and where its features sit relative to the model's training corpus).

:mod:`.cli` is the command (:mod:`.settings`: what it tells the server), :mod:`.main` the
Streamlit script, ``page_*.py`` the pages and :mod:`.ui` the model picker and error display
they share. What the pages compute lives in plain modules
that need no Streamlit: :mod:`.clips` (uploads in a temporary folder, predictions),
:mod:`.signals` (signal analysis, feature z-scores), :mod:`.tables` (reading and summarising
tables), :mod:`.charts` (Altair charts in the colours of :mod:`ser.common.palette`),
:mod:`.figures` (matplotlib figures) and :mod:`.speech`.
"""

from __future__ import annotations

__all__: list[str] = []
