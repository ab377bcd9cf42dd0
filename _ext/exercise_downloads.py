"""Put the released (student) version of every exercise on the site.

Before Sphinx reads any page, this runs ``nbgrader generate_assignment`` on a
temporary copy of the course in ``exercises/`` and copies each released notebook
to ``chapters/exercises/released/<assignment>.ipynb`` (ignored by git), where the
exercises page links to it with the ``{download}`` role. nbgrader removes the
solutions and the hidden tests; tests/test_site.py checks that none reach the site.

Released notebooks are cached by a hash of the assignment's source folder and of
the grading code, so a build regenerates only what changed (nbgrader costs a few
seconds per call).

A released notebook starts as its source does (``_ext/run_anywhere.py`` writes those cells
and the build checks them): a Markdown cell on how to install dlopt and how to submit, then
a cell that installs dlopt when it is missing. At the end of the build ``run_anywhere`` pins
the copy readers download to the commit the site was built from.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from sphinx.util import logging

logger = logging.getLogger(__name__)

RELEASED = Path("chapters") / "exercises" / "released"


def _fingerprint(assignment: Path, extra: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in assignment.rglob("*") if p.is_file()) + extra:
        if path.is_file() and ".ipynb_checkpoints" not in path.parts:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _generate(course: Path, names: list[str], target: Path) -> None:
    """Run nbgrader on a scratch copy of the course and copy the released notebooks out."""
    from dlopt.grading.autograde_class import nbgrader_environment

    env = nbgrader_environment()
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "course"
        shutil.copytree(course / "source", copy / "source")
        shutil.copy2(course / "nbgrader_config.py", copy / "nbgrader_config.py")
        for name in names:
            subprocess.run(
                [sys.executable, "-m", "nbgrader", "generate_assignment", name, "--force"],
                cwd=copy,
                env=env,
                check=True,
                capture_output=True,
                text=True,
                timeout=300,
            )
            for notebook in (copy / "release" / name).glob("*.ipynb"):
                shutil.copy2(notebook, target / f"{name}.ipynb")


def release_exercises(app, config) -> None:
    root = Path(app.srcdir)
    course = root / "exercises"
    target = root / RELEASED
    target.mkdir(parents=True, exist_ok=True)
    if not (course / "source").is_dir():
        return
    grading = sorted((root / "src" / "dlopt" / "grading").rglob("*.py"))
    grading += [Path(__file__), Path(__file__).with_name("run_anywhere.py"), root / "_config.yml"]
    stale = []
    for assignment in sorted(p for p in (course / "source").iterdir() if p.is_dir()):
        stamp = target / f".{assignment.name}.hash"
        fingerprint = _fingerprint(assignment, grading + [course / "nbgrader_config.py"])
        released = target / f"{assignment.name}.ipynb"
        if not (released.exists() and stamp.exists() and stamp.read_text() == fingerprint):
            stale.append((assignment.name, stamp, fingerprint))
    if not stale:
        return
    logger.info(f"releasing exercises with nbgrader: {', '.join(n for n, _, _ in stale)}")
    try:
        _generate(course, [name for name, _, _ in stale], target)
    except subprocess.CalledProcessError as error:
        raise RuntimeError(
            f"nbgrader generate_assignment failed:\n{error.stdout}\n{error.stderr}"
        ) from error
    for _, stamp, fingerprint in stale:
        stamp.write_text(fingerprint)


def setup(app) -> dict[str, Any]:
    app.connect("config-inited", release_exercises)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
