"""Matplotlib figures of a clip's signal: the waveform with its log-mel spectrogram and pitch
track (*Try it*), and the seed project's six plots (*Features*).

Figures are built as :class:`matplotlib.figure.Figure` objects, never through ``pyplot``'s
global state, because Streamlit runs each browser session in its own thread.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ser.common.palette import colour_of

from .signals import ClipSignal, LogMel, PitchTrack, SeedFeatures

__all__ = ["SEED_PLOTS", "seed_figure", "signal_figure"]

#: The seed project's plots, in the order the *Features* page shows them.
SEED_PLOTS: tuple[str, ...] = ("waveform", "STFT spectrogram", "MFCC", "chroma", "ZCR", "RMS")
_PITCH_COLOUR = "#00E5FF"


def signal_figure(
    signal: ClipSignal,
    mel: LogMel,
    pitch: PitchTrack,
    *,
    emotion: str | None = None,
    segments: list[tuple[float, float, str | None]] | None = None,
) -> Figure:
    """Waveform above the log-mel spectrogram, the pitch track drawn over it (in Hz, on the
    mel axis); the waveform in the colour of ``emotion``, each of ``segments`` (start, end,
    emotion) shaded in its own."""
    import librosa.display

    fig = Figure(figsize=(10, 5.2), layout="constrained")
    wave_ax, mel_ax = fig.subplots(2, 1, sharex=True, height_ratios=[1, 2])
    t = np.arange(len(signal.y)) / signal.sr
    step = max(1, len(t) // 20000)  # enough points for the eye
    wave_ax.plot(
        t[::step],
        signal.y[::step],
        color=colour_of(emotion) if emotion else "#444444",
        linewidth=0.6,
    )
    for start, end, label in segments or []:
        wave_ax.axvspan(start, end, color=colour_of(label), alpha=0.18, linewidth=0)
    wave_ax.set_ylabel("amplitude")
    wave_ax.set_ylim(
        -1.02 * max(1e-3, float(np.abs(signal.y).max())),
        1.02 * max(1e-3, float(np.abs(signal.y).max())),
    )
    wave_ax.set_title("waveform", loc="left", fontsize=10)
    image = librosa.display.specshow(
        mel.db,
        sr=mel.sr,
        hop_length=mel.hop_length,
        x_axis="time",
        y_axis="mel",
        ax=mel_ax,
        cmap="magma",
        fmin=32.5,
    )
    mel_ax.plot(
        pitch.times, pitch.f0, color=_PITCH_COLOUR, linewidth=1.8, label=f"pitch ({pitch.method})"
    )
    mel_ax.legend(loc="upper right", fontsize=8, framealpha=0.6)
    mel_ax.set_title("log-mel spectrogram and pitch", loc="left", fontsize=10)
    mel_ax.set_xlabel("time (s)")
    fig.colorbar(image, ax=mel_ax, format="%+2.0f dB", pad=0.01)
    return fig


def seed_figure(kind: str, signal: ClipSignal, seed: SeedFeatures) -> Figure:
    """One of :data:`SEED_PLOTS` for the clip, as the seed project drew it."""
    import librosa.display

    fig = Figure(figsize=(6, 3.2), layout="constrained")
    ax = fig.subplots()
    common = {"sr": seed.sr, "hop_length": seed.hop_length, "x_axis": "time", "ax": ax}
    if kind == "waveform":
        librosa.display.waveshow(signal.y, sr=signal.sr, ax=ax, color="#0072B2")
        ax.set_ylabel("amplitude")
    elif kind == "STFT spectrogram":
        image = librosa.display.specshow(seed.stft_db, y_axis="log", cmap="magma", **common)
        fig.colorbar(image, ax=ax, format="%+2.0f dB")
    elif kind == "MFCC":  # coefficient 0 (the level) left out: it would drown the others
        image = librosa.display.specshow(seed.mfcc[1:], cmap="coolwarm", **common)
        ax.set_ylabel("coefficient 1-39")
        fig.colorbar(image, ax=ax)
    elif kind == "chroma":
        image = librosa.display.specshow(seed.chroma, y_axis="chroma", cmap="viridis", **common)
        fig.colorbar(image, ax=ax)
    elif kind in ("ZCR", "RMS"):
        values = seed.zcr if kind == "ZCR" else seed.rms
        times = np.arange(len(values)) * seed.hop_length / seed.sr
        ax.plot(times, values, color="#009E73" if kind == "ZCR" else "#D55E00")
        ax.set_xlabel("time (s)")
        ax.set_ylabel("crossings per sample" if kind == "ZCR" else "RMS amplitude")
        ax.margins(x=0)
    else:
        raise ValueError(f"unknown plot {kind!r}: one of {', '.join(SEED_PLOTS)}")
    ax.set_title(kind, loc="left", fontsize=10)
    return fig
