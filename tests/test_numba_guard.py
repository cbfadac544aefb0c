"""numba 0.68.1 makes librosa.yin/pyin segfault on our machines (pyproject pins numba<0.68).

The seed feature set reaches numba through librosa's chroma tuning estimate. These run in a
subprocess, so a crash is a test failure rather than the end of the test run.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_librosa_yin_runs_and_is_right():
    proc = run(
        """
        import numpy as np, librosa
        sr = 16000
        y = np.sin(2 * np.pi * 200 * np.arange(sr) / sr).astype(np.float32)
        f0 = librosa.yin(y, fmin=65, fmax=500, sr=sr)
        print(float(np.median(f0)))
        """
    )
    assert proc.returncode == 0, f"librosa.yin crashed (numba?): rc={proc.returncode} {proc.stderr}"
    assert abs(float(proc.stdout.strip()) - 200.0) < 2.0


def test_seed_features_run_in_a_fresh_process():
    proc = run(
        """
        import numpy as np
        from ser.features import extract_features, feature_config
        y = np.sin(2 * np.pi * 220 * np.arange(16000) / 16000).astype(np.float32)
        print(extract_features(y, config=feature_config("seed")).shape)
        """
    )
    assert proc.returncode == 0, f"seed features crashed: rc={proc.returncode} {proc.stderr}"
    assert proc.stdout.strip() == "(180,)"
