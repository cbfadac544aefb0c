"""``ser-train``'s feature extraction runs on the crash-safe batch layer."""

from __future__ import annotations

import pytest
from injected_tasks import featurise_or_die

from ser.features import feature_config
from ser.train.dataset import LabelledFile, extract_dataset


@pytest.mark.slow
def test_a_decoder_that_kills_its_worker_costs_one_file_not_the_run(
    tmp_path, write_audio, monkeypatch
):
    monkeypatch.setattr("ser.train.dataset._featurise", featurise_or_die)
    files = [
        LabelledFile(str(write_audio(tmp_path / f"a{i}.wav", seed=i)), "angry", 1) for i in range(4)
    ]
    files.insert(2, LabelledFile(str(write_audio(tmp_path / "crash_me.wav")), "sad", 2))
    ds = extract_dataset(files, config=feature_config(), jobs=2)
    assert ds.paths == [f.path for f in files if "crash_me" not in f.path]
    assert ds.X.shape == (4, ds.X.shape[1])
    assert ds.skipped == [
        (
            files[2].path,
            f"{files[2].path}: worker process died while processing this file (retried once)",
        )
    ]
