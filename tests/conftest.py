"""Session fixtures: ``once_per_run`` (a computation shared by every xdist worker of a run:
the book build here, the class gradings of test_assignments.py), and for the site tests
(test_site.py, test_site_explorers.py) one book build, one local server and one browser per
test process, whichever of the two modules asks first.

On several pytest-xdist workers (``pytest -n 2 --dist loadgroup -m site tests``), the first
worker to need the book builds it, under a file lock; the others wait and read the same
build's output. (``scripts/test`` runs them in one process: Chromium's CPU bounds them.)
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from _browser import CHROMIUM, CHROMIUM_ARGS
from filelock import FileLock

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"


@pytest.fixture(scope="session")
def once_per_run(tmp_path_factory):
    """``once_per_run(name, compute)``: ``compute(folder)``'s JSON-able result, computed once
    per pytest run however many xdist workers ask (the first, under a file lock; the others
    read its result). ``folder`` is one every worker of the run sees."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base

    def once(name: str, compute):
        done = shared / f"{name}.json"
        with FileLock(str(shared / f"{name}.lock")):
            if not done.exists():
                done.write_text(json.dumps(compute(shared)))
        return json.loads(done.read_text())

    return once


def _build_book() -> dict:
    env = dict(os.environ, PYTHONHASHSEED="0")
    env.pop("MPLBACKEND", None)  # kernels must keep matplotlib's inline backend, or no figure shows
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "jupyter-book"),
            "build",
            ".",
            "-W",
            "-n",
            "--keep-going",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    return {"returncode": result.returncode, "log": result.stdout + result.stderr}


def _build_and_keep_the_log(folder: Path) -> dict:
    build = _build_book()
    # the whole output, for the CI run's artifacts (the test shows only its messages)
    (ROOT / "artifacts").mkdir(exist_ok=True)
    (ROOT / "artifacts" / "book-build.log").write_text(build["log"])
    return build


@pytest.fixture(scope="session")
def build_log(once_per_run) -> str:
    """Build the book (warnings are errors, execution errors fail) and return its output.

    The build is incremental (Sphinx's environment and the execution cache in ``_build``): in
    a fresh clone it is a clean build. It runs once per pytest run, even on several workers.
    """
    build = once_per_run("book-build", _build_and_keep_the_log)
    assert build["returncode"] == 0, f"jupyter-book build failed:\n{build['log'][-6000:]}"
    return build["log"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def server(build_log):
    """The built site, served on localhost (a free port)."""
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium through Playwright; one per process (Playwright's sync API allows one
    instance per thread)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: apt-get install chromium (scripts/test does)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
