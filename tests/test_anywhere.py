"""Running the course outside this repository: Binder's environment, the install cells, the URL.

The run itself (a downloaded page and a downloaded exercise executed in a fresh virtual
environment without dlopt) is ``test_site.py``'s
``test_downloads_install_dlopt_and_run_in_a_fresh_environment``: it needs the built site.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from dlopt.grading import sandbox
from dlopt.grading.child import strip_magics

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))
import run_anywhere  # noqa: E402

BINDER = ROOT / "binder"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def constraints() -> dict[str, str]:
    """Package name -> exact version, from requirements/constraints.txt."""
    pins = {}
    for line in (ROOT / "requirements" / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def binder_requirements() -> tuple[list[str], list[Requirement], list[str]]:
    """(options, requirements, local paths) of binder/requirements.txt, comments dropped."""
    options, requirements, local = [], [], []
    for raw in (BINDER / "requirements.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-"):
            options.append(line)
        elif line.startswith((".", "/")):
            local.append(line)
        else:
            requirements.append(Requirement(line))
    return options, requirements, local


# --------------------------------------------------------------------------- Binder


def test_binder_uses_only_requirements_txt_and_runtime_txt():
    """With an environment.yml (or a Dockerfile, ...) repo2docker would ignore requirements.txt."""
    assert sorted(p.name for p in BINDER.iterdir()) == ["requirements.txt", "runtime.txt"]


def test_binder_pins_every_package_exactly_as_the_constraints_file():
    pins = constraints()
    _, requirements, _ = binder_requirements()
    wrong = []
    for req in requirements:
        name = canonicalize_name(req.name)
        exact = [s for s in req.specifier if s.operator == "=="]
        if name not in pins:
            wrong.append(f"{req}: not in requirements/constraints.txt")
        elif len(exact) != 1 or len(req.specifier) != 1 or exact[0].version != pins[name]:
            wrong.append(f"{req}: the constraints file pins {name}=={pins[name]}")
    assert not wrong, "\n".join(wrong)
    names = [canonicalize_name(r.name) for r in requirements]
    assert len(names) == len(set(names)), "a package is named twice"


def test_binder_installs_dlopt_its_dependencies_the_cpu_torch_and_jupyterlab_myst():
    options, requirements, local = binder_requirements()
    names = {canonicalize_name(r.name) for r in requirements}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    needed |= {"ipykernel", "jupyterlab", "jupyterlab-myst", "sympy"}  # sympy: a page imports it
    assert needed <= names, f"missing from binder/requirements.txt: {sorted(needed - names)}"
    # dlopt from the repository Binder checked out; everything it pulls in at the constraints
    assert local == ["."]
    assert f"--extra-index-url {CPU_INDEX}" in options
    constraint = [o for o in options if o.startswith("-c ")]
    assert len(constraint) == 1
    # pip reads a nested -c relative to the file that names it
    path = (BINDER / constraint[0][3:].strip()).resolve()
    assert path == ROOT / "requirements" / "constraints.txt"
    # the CPU index serves torch 2.13.0+cpu, which the pin accepts
    assert "2.13.0+cpu" in SpecifierSet("==2.13.0")


def test_binder_python_is_the_one_of_environment_yml_and_pyproject():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-(\d+\.\d+)", runtime)
    assert match, f"runtime.txt must read python-X.Y, not {runtime!r}"
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert f"python={match[1]}" in env["dependencies"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert f"{match[1]}.0" in SpecifierSet(project["requires-python"])


# --------------------------------------------------------------------------- install cells


def test_every_page_and_exercise_starts_as_config_yml_asks():
    stale = run_anywhere.stale_notebooks(ROOT) + run_anywhere.stale_exercises(ROOT)
    assert not stale, f"run `python _ext/run_anywhere.py`: {[str(p) for p in stale]}"
    assert len(run_anywhere.exercise_notebooks(ROOT)) >= 8


def test_exercise_notebooks_say_how_to_install_and_submit_in_their_first_cell():
    for path in run_anywhere.exercise_notebooks(ROOT):
        first, second = json.loads(path.read_text())["cells"][:2]
        note = "".join(first["source"])
        assert first["cell_type"] == "markdown"
        for words in ("installs it when it is missing", "Assignments tab", f"`{path.stem}`"):
            assert words in note, f"{path.name}: {words!r}"
        # nbgrader leaves both alone: no metadata it would check or restore
        assert "nbgrader" not in first["metadata"] and "nbgrader" not in second["metadata"]
        assert "%pip install" in "".join(second["source"])


@pytest.mark.parametrize("module", ["dlopt", "dlopt_absent_from_everywhere"])
def test_the_exercise_install_cell_runs_in_the_grading_sandbox_without_a_trace(module):
    """The grader runs every code cell but the test cells in its sandbox, this one included.

    There it finds dlopt (the grading child imports it) and installs nothing; and were the
    package missing, ``strip_magics`` has already turned the ``%pip`` line into ``pass``."""
    url, branch = run_anywhere.repository(ROOT)
    source = run_anywhere.install_source(
        run_anywhere.requirement(url, branch), run_anywhere.EXERCISE_COMMENT
    )
    assert "%pip" in source and "%pip" not in strip_magics(source)
    source = source.replace('find_spec("dlopt")', f'find_spec("{module}")')
    run = sandbox.run_answer([source], [], limits=sandbox.Limits())
    assert run.cells_failed is None
    assert run.cells == [{"text": "", "error": None}]


# --------------------------------------------------------------------------- one URL


def test_the_repository_url_is_written_only_in_config_yml():
    """Every other mention is generated from it (install cells) or read from it at build time."""
    url, _ = run_anywhere.repository(ROOT)
    bare = url.split("://", 1)[1]
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    copies = []
    for name in tracked:
        path = ROOT / name
        if name == "_config.yml" or not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        if path.suffix == ".ipynb" and bare in text:
            cells = json.loads(text)["cells"]
            text = "".join("".join(c["source"]) for c in cells if not _generated(c))
        if bare in text:
            copies.append(name)
    assert not copies, f"the repository URL is written again in {copies}: read it from _config.yml"


def _generated(cell: dict) -> bool:
    """A cell ``python _ext/run_anywhere.py`` writes from _config.yml (and the build checks)."""
    tags = cell.get("metadata", {}).get("tags", [])
    return run_anywhere.TAG in tags or cell.get("id") == run_anywhere.NOTE_ID
