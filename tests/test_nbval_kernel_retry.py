"""The nbval stage's kernel retry (scripts/pytest/nbval_kernel_retry.py), with real kernels:
a kernelspec whose kernel dies on its first start and runs on its second, and one that
always dies. nbval runs in a subprocess as scripts/test runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_DIR = ROOT / "scripts" / "pytest"

# dies (writing to stderr) while the marker is absent, then runs an ordinary IPython kernel
FLAKY_KERNEL = """
import os, runpy, sys
marker, deaths = sys.argv.pop(1), int(sys.argv.pop(1))
count = int(open(marker).read()) if os.path.exists(marker) else 0
open(marker, "w").write(str(count + 1))
if count < deaths:
    sys.stderr.write("flaky kernel: dying on purpose\\n")
    sys.exit(1)
sys.argv[0] = "ipykernel_launcher"
runpy.run_module("ipykernel_launcher", run_name="__main__")
"""


def _nbval(tmp_path: Path, deaths: int) -> tuple[subprocess.CompletedProcess, int]:
    spec = tmp_path / "jupyter" / "kernels" / "flaky"
    spec.mkdir(parents=True)
    (tmp_path / "flaky.py").write_text(FLAKY_KERNEL)
    marker = tmp_path / "starts"
    argv = [sys.executable, str(tmp_path / "flaky.py"), str(marker), str(deaths)]
    argv += ["-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "flaky", "language": "python"})
    )
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("print(6 * 7)", outputs=[])],
        metadata={"kernelspec": {"name": "flaky", "display_name": "flaky", "language": "python"}},
    )
    nbformat.write(notebook, tmp_path / "page.ipynb")
    env = dict(
        os.environ,
        JUPYTER_PATH=str(tmp_path / "jupyter"),
        PYTHONPATH=str(PLUGIN_DIR),
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "-p",
            "nbval_kernel_retry",
            "-p",
            "no:cacheprovider",
            "-W",
            "always::RuntimeWarning",
            "page.ipynb",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result, int(marker.read_text())


@pytest.mark.slow
def test_a_kernel_that_dies_while_starting_is_started_again_and_its_stderr_shown(tmp_path):
    result, starts = _nbval(tmp_path, deaths=1)
    assert result.returncode == 0, result.stdout[-3000:]
    assert starts == 2
    assert "a kernel died while starting (attempt 1 of 3)" in result.stdout
    assert "flaky kernel: dying on purpose" in result.stdout


@pytest.mark.slow
def test_a_kernel_that_always_dies_fails_with_its_stderr(tmp_path):
    result, starts = _nbval(tmp_path, deaths=99)
    assert result.returncode != 0
    assert starts == 3
    assert "(3 attempts); its stderr" in result.stdout
    assert "flaky kernel: dying on purpose" in result.stdout
