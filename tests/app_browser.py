"""Helpers of the ``ser-app`` browser tests: start the app as a user does (the installed
``ser-app`` script, on 127.0.0.1 and a free port), and drive it in the system's headless
Chromium through Selenium and chromedriver (Debian's ``chromium`` and ``chromium-driver``;
``.ci/run`` installs them).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMEDRIVER_CANDIDATES = ("chromedriver",)
#: Seconds a page may take to show what a test waits for (two shared cores, cold caches).
WAIT_S = 120.0


def find_executable(
    names: tuple[str, ...], extra_dirs: tuple[str, ...] = ("/usr/bin",)
) -> str | None:
    """The first of ``names`` on PATH or in ``extra_dirs``."""
    for name in names:
        found = shutil.which(name) or next(
            (str(Path(d) / name) for d in extra_dirs if (Path(d) / name).is_file()), None
        )
        if found:
            return found
    return None


def browser_or_skip() -> tuple[str, str]:
    """The Chromium and chromedriver executables, or skip the test with the reason."""
    pytest.importorskip("selenium", reason="selenium is not installed (pip install '.[test]')")
    pytest.importorskip("streamlit", reason="streamlit is not installed (pip install '.[app]')")
    chromium = os.environ.get("SER_CHROMIUM") or find_executable(CHROMIUM_CANDIDATES)
    driver = os.environ.get("SER_CHROMEDRIVER") or find_executable(CHROMEDRIVER_CANDIDATES)
    if not chromium or not driver:
        pytest.skip(
            "Chromium and chromedriver not found (apt-get install chromium chromium-driver; "
            ".ci/run installs them)"
        )
    return chromium, driver


def ser_app_script() -> str:
    """The installed ``ser-app`` console script (beside this Python, or on PATH)."""
    beside = Path(sys.executable).parent / "ser-app"
    if beside.is_file():
        return str(beside)
    found = shutil.which("ser-app")
    if not found:
        pytest.skip("the ser-app script is not installed (pip install -e '.[app]')")
    return found


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningApp:
    """A ``ser-app`` server started by a test: its URL, process and log file."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    tmpdir: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def wait_until_healthy(
    url: str, process: subprocess.Popen[bytes], *, limit_s: float = WAIT_S
) -> bool:
    """Poll Streamlit's health endpoint until it answers ``ok`` (True), or the process ends
    or ``limit_s`` passes (False)."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if process.poll() is not None:
            return False
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.read().strip() == b"ok":
                    return True
        time.sleep(0.3)
    return False


@contextlib.contextmanager
def running_app(tmp_path: Path, *args: str) -> Iterator[RunningApp]:
    """Start ``ser-app --port PORT ARGS`` (host 127.0.0.1, the default) and stop it after.

    The server's temporary folder is ``tmp_path/tmp`` (``TMPDIR``), so that a test can check
    that nothing uploaded is left in it.
    """
    port = free_port()
    log = tmp_path / "ser-app.log"
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONUNBUFFERED": "1"}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [ser_app_script(), "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_healthy(url, process):
            raise AssertionError(f"ser-app did not start:\n{log.read_text(errors='replace')}")
        yield RunningApp(url, process, log, tmpdir)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def make_driver(chromium: str, chromedriver: str, *, fake_audio: Path | None = None) -> Any:
    """A headless Chromium driven by chromedriver; with ``fake_audio``, its microphone is
    Chromium's fake capture device playing that WAV file (permission granted)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1800",
        "--autoplay-policy=no-user-gesture-required",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
    ):
        options.add_argument(arg)
    if fake_audio is not None:
        options.add_argument(f"--use-file-for-fake-audio-capture={fake_audio}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))


def wait_for(
    driver: Any, condition: Callable[[Any], Any], *, limit_s: float = WAIT_S, what: str = ""
) -> Any:
    """Wait until ``condition(driver)`` is truthy and return its value; on timeout fail with
    ``what`` and the page's visible text."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    # Streamlit redraws elements as it reruns: one found a moment ago may be gone
    waiting = WebDriverWait(
        driver, limit_s, poll_frequency=0.25, ignored_exceptions=(StaleElementReferenceException,)
    )
    try:
        return waiting.until(condition)
    except TimeoutException:
        text = driver.find_element("tag name", "body").text
        raise AssertionError(
            f"timed out waiting for {what or condition}; the page says:\n{text[:3000]}"
        ) from None


def elements(driver: Any, css: str) -> list[Any]:
    return driver.find_elements("css selector", css)


def visible_text(driver: Any) -> str:
    return driver.find_element("tag name", "body").text


def wait_idle(driver: Any, *, limit_s: float = WAIT_S) -> None:
    """Wait until Streamlit has finished running the script (the app root's
    ``data-test-script-state`` is ``notRunning``, twice in a row: a widget's change starts a
    rerun a moment after the event)."""

    def idle(d: Any) -> bool:
        roots = elements(d, '[data-testid="stApp"]')
        return bool(roots) and roots[0].get_attribute("data-test-script-state") == "notRunning"

    for _ in range(2):
        time.sleep(0.4)
        wait_for(driver, idle, limit_s=limit_s, what="the app to finish running")


def upload(driver: Any, label: str, *files: Path) -> None:
    """Put ``files`` into the file uploader whose label contains ``label``."""
    uploaders = [u for u in elements(driver, '[data-testid="stFileUploader"]') if label in u.text]
    assert uploaders, f"no file uploader labelled {label!r}"
    field = uploaders[0].find_element("css selector", 'input[type="file"]')
    field.send_keys("\n".join(str(f) for f in files))


def select_option(driver: Any, label: str, option: str) -> None:
    """Choose ``option`` in the select box whose label is ``label``."""
    boxes = [b for b in elements(driver, '[data-testid="stSelectbox"]') if label in b.text]
    assert boxes, f"no select box labelled {label!r}"
    boxes[0].find_element("css selector", '[role="combobox"], input').click()

    def listed(d: Any) -> Any:
        found = [o for o in elements(d, '[role="option"]') if o.text.strip() == option]
        return found[0] if found else None

    wait_for(driver, listed, what=f"the option {option!r}").click()
    wait_idle(driver)


def open_page(driver: Any, url: str) -> None:
    """Open ``url`` and wait for the app's first run to end."""
    driver.get(url)
    wait_for(driver, lambda d: elements(d, '[data-testid="stAppViewContainer"]'), what="the app")
    wait_for(driver, lambda d: elements(d, "h1"), what="the page title")
    wait_idle(driver)


def charts_drawn(driver: Any) -> int:
    """How many Vega-Lite (Altair) charts the page has drawn (a canvas or svg inside)."""
    return sum(
        1
        for chart in elements(driver, '[data-testid="stVegaLiteChart"]')
        if chart.find_elements("css selector", "canvas, svg")
    )


def shot(driver: Any, folder: Path, name: str) -> Path:
    """Save a screenshot of the whole page as ``folder/name.png`` (a test artefact)."""
    height = driver.execute_script(
        "const m = document.querySelector('[data-testid=\"stMain\"]') || document.body;"
        "return Math.max(document.body.scrollHeight, m.scrollHeight);"
    )
    driver.set_window_size(1400, min(max(int(height) + 100, 900), 6000))
    time.sleep(0.5)
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


#: RAVDESS clips of Actor_01 (normal intensity, statement 1, repetition 1), by emotion.
RAVDESS_CLIPS: dict[str, str] = {
    emotion: f"Actor_01/03-01-{code}-01-01-01-01.flac"
    for code, emotion in (
        ("01", "neutral"),
        ("03", "happy"),
        ("04", "sad"),
        ("05", "angry"),
        ("06", "fearful"),
        ("07", "disgust"),
    )
}
#: The clip the upload and microphone tests use, and what the bundled model says of it.
ANGRY_CLIP = "Actor_01/03-01-05-02-01-01-01.flac"


def write_long_recording(path: Path, ravdess_dir: Path, *, seconds: float = 40.0) -> Path:
    """A recording longer than 30 s (so ``--segment auto`` cuts it at its pauses): RAVDESS
    utterances of several emotions one after another, 1.5 s of quiet noise between them, as
    a 16 kHz mono WAV."""
    import numpy as np
    import soundfile as sf
    import soxr

    rng = np.random.default_rng(0)
    parts: list[np.ndarray] = []
    total = 0.0
    clips = list(RAVDESS_CLIPS.values())
    i = 0
    while total < seconds:
        y, sr = sf.read(ravdess_dir / clips[i % len(clips)], dtype="float32", always_2d=True)
        y = soxr.resample(y.mean(axis=1), sr, 16_000)
        pause = (1e-3 * rng.standard_normal(24_000)).astype(np.float32)
        parts += [y, pause]
        total += (len(y) + len(pause)) / 16_000
        i += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.concatenate(parts), 16_000, subtype="PCM_16")
    return path


def explore_table(base: Path, ravdess_dir: Path) -> Path:
    """A ``ser-annotate --compare ravdess`` table to explore, made once per test session
    under ``base`` (reused when it is there): six RAVDESS clips of the bundled model's
    emotions, a calm one (an emotion the model does not know), a corrupt file, one too short,
    and a recording over 30 s (segments). The corpus is ``base/corpus``."""
    import numpy as np
    import soundfile as sf

    table = base / "labels.parquet"
    if table.is_file():
        return table
    corpus = base / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for rel in [*RAVDESS_CLIPS.values(), "Actor_01/03-01-02-01-01-01-01.flac"]:
        shutil.copyfile(ravdess_dir / rel, corpus / Path(rel).name)
    (corpus / "broken.wav").write_bytes(b"RIFF" + bytes(2000))
    sf.write(corpus / "short.wav", np.full(400, 0.1, np.float32), 16_000)
    write_long_recording(corpus / "long_call.wav", ravdess_dir)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ser.annotate",
            str(corpus),
            "-o",
            str(table),
            "--compare",
            "ravdess",
            "-j",
            "2",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 1 and table.is_file(), proc.stderr  # 1: the two bad files
    return table
