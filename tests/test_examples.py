"""The example scripts run end to end on small settings."""

import os
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")


@pytest.mark.parametrize(
    "script, args, expected",
    [
        ("quickstart.py", ["--epochs", "2", "--units", "4"], "hybrid Hebbian -> softmax"),
        ("lateral_decorrelation.py", ["--epochs", "2"], "mean |correlation| between units"),
        ("convergence.py", ["--epochs", "2", "--units", "10"], "mean distance to unit p-norm"),
        ("mnist_completion.py", ["--dataset", "digits"], "recalled exactly"),
    ],
)
def test_example_runs(tmp_path, script, args, expected):
    if script != "quickstart.py":
        args = args + ["--out", str(tmp_path / "figure.png")]
    result = subprocess.run([sys.executable, os.path.join(EXAMPLES, script), *args],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert expected in result.stdout
    if script != "quickstart.py":
        assert (tmp_path / "figure.png").stat().st_size > 1000
