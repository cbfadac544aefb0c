"""``ser-app`` as a user meets it: started with the installed ``ser-app`` script on
127.0.0.1 and a free port, and used in a real headless Chromium (the system's ``chromium``
and ``chromedriver``, driven by Selenium): upload, microphone (Chromium's fake capture
device playing a RAVDESS clip), speech synthesis, a table, the features, bad files.

Screenshots of every page are kept under each test's ``tmp_path``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import soundfile as sf
from app_browser import (
    ANGRY_CLIP,
    browser_or_skip,
    charts_drawn,
    elements,
    explore_table,
    make_driver,
    open_page,
    running_app,
    select_option,
    shot,
    upload,
    visible_text,
    wait_for,
    wait_idle,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.ravdess]


@pytest.fixture(scope="module")
def fake_microphone(tmp_path_factory, ravdess_dir) -> Path:
    """The angry RAVDESS clip as the 16-bit PCM WAV Chromium's fake microphone plays."""
    y, sr = sf.read(ravdess_dir / ANGRY_CLIP, dtype="int16")
    path = tmp_path_factory.mktemp("mic") / "angry.wav"
    sf.write(path, y, sr, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    browser_or_skip()
    with running_app(tmp_path_factory.mktemp("ser-app")) as app:
        yield app


@pytest.fixture(scope="module")
def driver(server, fake_microphone):
    chromium, chromedriver = browser_or_skip()
    browser = make_driver(chromium, chromedriver, fake_audio=fake_microphone)
    yield browser
    browser.quit()


def emotion_shown(d) -> str | None:
    """The value of the page's "Emotion" metric, once it is there."""
    for metric in elements(d, '[data-testid="stMetric"]'):
        label = metric.find_elements("css selector", '[data-testid="stMetricLabel"]')
        if label and label[0].text.strip() == "Emotion":
            return metric.find_element("css selector", '[data-testid="stMetricValue"]').text
    return None


def images_drawn(d) -> int:
    return sum(
        1
        for img in elements(d, '[data-testid="stImage"] img, [data-testid="stFullScreenFrame"] img')
        if img.get_attribute("naturalWidth") not in (None, "0")
    )


def errors_shown(d) -> list[str]:
    return [e.text for e in elements(d, '[data-testid="stAlertContentError"]')]


def click_tab(d, name: str) -> None:
    (tab,) = [t for t in elements(d, '[data-testid="stTab"]') if t.text.strip() == name]
    tab.click()
    wait_idle(d)


def test_an_uploaded_clip_shows_its_emotion_and_the_probability_chart(
    server, driver, ravdess_dir, tmp_path
):
    open_page(driver, server.url)
    shot(driver, tmp_path, "try-empty")
    upload(driver, "Audio files", ravdess_dir / ANGRY_CLIP)
    assert wait_for(driver, emotion_shown, what="the predicted emotion") == "angry"
    wait_for(driver, lambda d: charts_drawn(d) >= 1, what="the probability chart")
    wait_for(driver, lambda d: images_drawn(d) >= 1, what="the waveform and spectrogram")
    wait_idle(driver)
    chart = elements(driver, '[data-testid="stVegaLiteChart"]')[0]
    assert "Probability of each emotion" in chart.text or chart.find_elements(
        "css selector", "canvas"
    )
    assert elements(driver, "audio")
    shot(driver, tmp_path, "try-upload")
    assert not errors_shown(driver)
    # nothing uploaded is left on disk once the page has been drawn
    assert not [p for p in server.tmpdir.rglob("*") if p.name.startswith("ser-app-")]


def test_speak_the_result_says_the_emotion_with_speech_synthesis(
    server, driver, ravdess_dir, tmp_path
):
    open_page(driver, server.url)
    upload(driver, "Audio files", ravdess_dir / ANGRY_CLIP)
    wait_for(driver, emotion_shown, what="the predicted emotion")
    wait_idle(driver)
    driver.execute_script(  # record what would be said instead of saying it
        "window.__said = [];window.speechSynthesis.speak = (u) => window.__said.push(u.text);"
    )
    (switch,) = [
        t
        for t in elements(driver, '[data-testid="stCheckbox"], [data-testid="stToggle"]')
        if "Speak the result" in t.text
    ] or [None]
    assert switch is not None, visible_text(driver)
    switch.find_element("css selector", "label").click()
    said = wait_for(
        driver,
        lambda d: d.execute_script("return window.__said.length ? window.__said : null"),
        what="the result to be spoken",
    )
    assert said[0].startswith("angry, ") and said[0].endswith(" percent")
    shot(driver, tmp_path, "try-speak")


def test_a_microphone_recording_is_predicted(server, driver, tmp_path):
    open_page(driver, server.url)

    def button(label: str):
        def find(d):
            found = [
                b
                for b in elements(d, '[data-testid="stAudioInput"] button')
                if b.get_attribute("aria-label") == label
            ]
            return found[0] if found else None

        return find

    wait_for(driver, button("Record"), what="the record button").click()
    stop = wait_for(driver, button("Stop recording"), what="the recording to start")
    time.sleep(4.5)  # the fake microphone plays the 4.1 s clip
    stop.click()
    assert wait_for(driver, emotion_shown, what="the recording's emotion") == "angry"
    wait_for(driver, lambda d: charts_drawn(d) >= 1, what="the probability chart")
    wait_idle(driver)
    assert "recording.wav" in visible_text(driver)
    shot(driver, tmp_path, "try-microphone")


def test_a_table_shows_its_charts(server, driver, tmp_path_factory, ravdess_dir, tmp_path):
    table = explore_table(tmp_path_factory.getbasetemp() / "ser-app-explore", ravdess_dir)
    open_page(driver, f"{server.url}/table")
    upload(driver, "Table", table)
    wait_for(driver, lambda d: charts_drawn(d) >= 3, what="distribution, confidence and errors")
    wait_idle(driver)
    text = visible_text(driver)
    assert "Emotion distribution" in text and "cannot decode audio" in text and "too short" in text
    shot(driver, tmp_path, "table-overview")
    click_tab(driver, "Comparison with labels")
    wait_for(driver, lambda d: charts_drawn(d) >= 6, what="confusion matrix, recall, reliability")
    assert "UAR" in visible_text(driver)
    shot(driver, tmp_path, "table-comparison")
    click_tab(driver, "Timeline")
    # the segmented recording comes first: its segments' emotions are counted under the chart
    wait_for(driver, lambda d: "2 segments" in visible_text(d), what="the recording's timeline")
    assert charts_drawn(driver) >= 1
    shot(driver, tmp_path, "table-timeline")
    click_tab(driver, "Rows")
    wait_for(driver, lambda d: elements(d, "audio"), what="the row's player")
    shot(driver, tmp_path, "table-rows")


def test_the_features_page_draws_the_seed_plots_and_z_scores(server, driver, ravdess_dir, tmp_path):
    open_page(driver, f"{server.url}/features")
    upload(driver, "An audio clip", ravdess_dir / ANGRY_CLIP)
    wait_for(driver, lambda d: images_drawn(d) >= 6, what="the six seed plots")
    wait_for(driver, lambda d: charts_drawn(d) >= 1, what="the z-score chart")
    wait_idle(driver)
    assert "Relative to the training corpus" in visible_text(driver)
    shot(driver, tmp_path, "features")


def test_bad_files_show_one_error_line_and_the_app_still_works(
    server, driver, ravdess_dir, tmp_path
):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF" + bytes(3000))
    open_page(driver, server.url)
    upload(driver, "Audio files", broken)
    wait_for(driver, errors_shown, what="the error")
    assert errors_shown(driver)[0].startswith("broken.wav: cannot decode audio")
    shot(driver, tmp_path, "bad-audio")
    open_page(driver, f"{server.url}/table")
    other = tmp_path / "other.csv"
    other.write_text("name,score\na,1\n")
    upload(driver, "Table", other)
    wait_for(driver, errors_shown, what="the error")
    assert errors_shown(driver) == [
        "other.csv: not a ser-annotate table: no path, status, emotion columns"
    ]
    shot(driver, tmp_path, "bad-table")
    bad_model = tmp_path / "evil.skops"
    bad_model.write_bytes(b"PK\x03\x04 not a model")
    open_page(driver, server.url)
    select_option(driver, "Model", "a model file…")
    upload(driver, "Upload a model file", bad_model)
    wait_for(driver, errors_shown, what="the model's error")
    (error,) = errors_shown(driver)  # in the sidebar
    assert error.startswith("evil.skops: ") and "\n" not in error
    shot(driver, tmp_path, "bad-model")
    select_option(driver, "Model", "ser6")
    # the server is still there and still works
    open_page(driver, server.url)
    upload(driver, "Audio files", ravdess_dir / ANGRY_CLIP)
    assert wait_for(driver, emotion_shown, what="the predicted emotion") == "angry"
    assert server.process.poll() is None
