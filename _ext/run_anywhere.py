"""Every page runs outside this repository: on Colab, on Binder, in a bare Jupyter.

Each page imports ``dlopt``, which such a place does not have. So every notebook of
the book starts with one small cell (tagged ``remove-cell``: the site does not show
it) that installs ``dlopt`` when it is missing, from the repository that
``_config.yml`` names under ``repository: url`` (and ``branch``), the one place
where the URL is written.

- ``python _ext/run_anywhere.py`` writes that cell into every notebook of
  ``_toc.yml`` (and updates it after the URL or branch changed).
- The role ``{repo}`instructor guide <exercises/README.md>``` links to a file of the
  repository (``sphinx.ext.extlinks``, configured here from ``_config.yml``).
- At the start of a build, a notebook whose install cell differs from what
  ``_config.yml`` says stops the build, naming the command above.
- At the end of a build, the copies readers download (``_sources/...ipynb``, which
  the download button serves, and the released exercises under ``_downloads``) are
  pinned to the exact commit the site was built from, so a downloaded page runs with
  the package it was written for. The launch buttons open the repository's notebooks,
  which install from the branch itself.
- Every exercise notebook (``exercises/source/<assignment>/*.ipynb``) starts with a
  Markdown cell that says how to install dlopt and how to submit, then an install cell
  like a page's (the same requirement; the site's released copies are pinned the same
  way). ``python _ext/run_anywhere.py`` writes both, and the build checks them. The
  install cell is safe to grade: the grader runs every code cell that is not a test cell
  in its sandbox, where dlopt is found (the grading child imports it) and where
  ``child.strip_magics`` turns the ``%pip`` line into ``pass`` anyway.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

TAG = "install-dlopt"
CELL_ID = "install-dlopt"


def repository(root: Path) -> tuple[str, str]:
    """(URL, branch) of the course repository, from _config.yml."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    repo = config.get("repository") or {}
    url, branch = repo.get("url"), repo.get("branch", "main")
    if not url:
        raise ValueError("_config.yml: repository.url must name the course repository")
    return url.rstrip("/"), branch


def requirement(url: str, ref: str) -> str:
    """A pip requirement for dlopt at a git ref (branch, tag or commit) of the repository."""
    return f"dlopt @ git+{url}@{ref}"


PAGE_COMMENT = (
    "# Running this page outside the course repository (Colab, Binder, your own Jupyter)?\n"
    "# This cell installs the course package, dlopt, when it is missing.\n"
)
EXERCISE_COMMENT = (
    "# Not on the course's JupyterHub? This cell installs the course package, dlopt, when it\n"
    "# is missing (the tests below call it). Leave it in the notebook you submit.\n"
)


def install_source(req: str, comment: str = PAGE_COMMENT) -> str:
    return (
        f"{comment}"
        "import importlib.util\n"
        "\n"
        'if importlib.util.find_spec("dlopt") is None:\n'
        f'    %pip install --quiet "{req}"'
    )


def install_cell(req: str) -> dict:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": CELL_ID,
        "metadata": {"tags": ["remove-cell", TAG]},
        "outputs": [],
        "source": _lines(install_source(req)),
    }


def _lines(text: str) -> list[str]:
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + [lines[-1]]


def _is_install_cell(cell: dict) -> bool:
    return TAG in cell.get("metadata", {}).get("tags", [])


def with_install_cell(notebook: dict, req: str) -> dict:
    """The notebook with its install cell: replaced where it is, or added first."""
    cells = notebook["cells"]
    where = [i for i, c in enumerate(cells) if _is_install_cell(c)]
    if where:
        cells[where[0]] = install_cell(req)
        notebook["cells"] = [
            c for i, c in enumerate(cells) if i == where[0] or not _is_install_cell(c)
        ]
    else:
        notebook["cells"] = [install_cell(req)] + cells
    return notebook


def _dump(notebook: dict) -> str:
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def toc_notebooks(root: Path) -> list[Path]:
    sys.path.insert(0, str(Path(__file__).parent))
    from parallel_execution import toc_pages

    return [
        root / f"{p}.ipynb" for p in toc_pages(root / "_toc.yml") if (root / f"{p}.ipynb").exists()
    ]


def stale_notebooks(root: Path) -> list[Path]:
    """Notebooks whose first cell is not the install cell _config.yml asks for."""
    expected = install_source(requirement(*repository(root)))
    stale = []
    for path in toc_notebooks(root):
        cells = json.loads(path.read_text())["cells"]
        if not cells or "".join(cells[0]["source"]) != expected or not _is_install_cell(cells[0]):
            stale.append(path)
    return stale


# --------------------------------------------------------------------------- exercises

NOTE_ID = "how-to-install-and-submit"

EXERCISE_NOTE = """\
**Before you start.** The tests in this notebook call `dlopt`, the course's package. On the
course's JupyterHub it is installed; anywhere else (Colab, Binder, your own Jupyter) the next
cell installs it when it is missing.

**To submit**, keep the file's name (`{name}.ipynb`) and its cells, and write only where a cell
says `YOUR CODE HERE` or `YOUR ANSWER HERE`. On the course's JupyterHub, press **Submit** next to
`{name}` in the Assignments tab (*Nbgrader → Assignment List*); anywhere else, hand in the
`.ipynb` file the way your course asks."""


def exercise_notebooks(root: Path) -> list[Path]:
    """The instructors' exercise notebooks (nbgrader's source), every assignment."""
    return sorted((root / "exercises" / "source").glob("*/*.ipynb"))


def exercise_cells(req: str, name: str) -> list[dict]:
    """The first two cells of an exercise: how to install and submit, then the install cell.

    Neither has nbgrader metadata, so nbgrader releases them as they are and never checks
    them (a locked cell would fail ``nbgrader validate`` once the site pins its commit)."""
    note = {
        "cell_type": "markdown",
        "id": NOTE_ID,
        "metadata": {},
        "source": _lines(EXERCISE_NOTE.format(name=name)),
    }
    install = {
        "cell_type": "code",
        "execution_count": None,
        "id": CELL_ID,
        "metadata": {"tags": [TAG]},
        "outputs": [],
        "source": _lines(install_source(req, EXERCISE_COMMENT)),
    }
    return [note, install]


def with_exercise_cells(notebook: dict, req: str, name: str) -> dict:
    """The exercise notebook with its first two cells as :func:`exercise_cells` writes them."""
    rest = [c for c in notebook["cells"] if c.get("id") != NOTE_ID and not _is_install_cell(c)]
    notebook["cells"] = exercise_cells(req, name) + rest
    return notebook


def stale_exercises(root: Path) -> list[Path]:
    """Exercise notebooks whose first cells are not what _config.yml asks for."""
    req = requirement(*repository(root))
    stale = []
    for path in exercise_notebooks(root):
        cells = json.loads(path.read_text())["cells"][:2]
        expected = exercise_cells(req, path.stem)
        if [(c["cell_type"], c.get("id"), "".join(c["source"])) for c in cells] != [
            (c["cell_type"], c["id"], "".join(c["source"])) for c in expected
        ] or not _is_install_cell(cells[1]):
            stale.append(path)
    return stale


def built_ref(root: Path) -> str:
    """The commit the site is built from (the package version's tag outside a git checkout)."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, check=True, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        from importlib.metadata import version

        return f"v{version('dlopt')}"


def check_notebooks(app, config) -> None:
    root = Path(app.srcdir)
    stale = stale_notebooks(root) + stale_exercises(root)
    if stale:
        from sphinx.errors import ExtensionError

        names = ", ".join(str(p.relative_to(app.srcdir)) for p in stale)
        raise ExtensionError(
            f"install cell missing or out of date in {names}: run `python _ext/run_anywhere.py`"
        )


def pin_downloads(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    root = Path(app.srcdir)
    url, branch = repository(root)
    req = requirement(url, built_ref(root))
    for path in (Path(app.outdir) / "_sources").rglob("*.ipynb"):
        notebook = json.loads(path.read_text())
        if notebook["cells"] and _is_install_cell(notebook["cells"][0]):
            path.write_text(_dump(with_install_cell(notebook, req)))
    # the released exercises (_ext/exercise_downloads.py) install it in their second cell: at
    # the branch when just released, at an earlier commit when an incremental build kept them
    pinned = re.compile(re.escape(requirement(url, "")) + r"[\w.\-/]+")
    for path in (Path(app.outdir) / "_downloads").rglob("*.ipynb"):
        text = path.read_text()
        if pinned.search(text):
            path.write_text(pinned.sub(req, text))


def repository_role(app, config) -> None:
    """The role ``{repo}`text <path>``` links to a file of the repository, at its branch.

    Pages that point readers at the repository (the instructor guide, say) use it instead
    of writing the URL again."""
    url, branch = repository(Path(app.srcdir))
    config.extlinks = {**(config.extlinks or {}), "repo": (f"{url}/blob/{branch}/%s", "%s")}


def setup(app) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.extlinks")
    app.connect("config-inited", repository_role)
    app.connect("config-inited", check_notebooks)
    app.connect("build-finished", pin_downloads)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    req = requirement(*repository(root))
    for path in stale_notebooks(root):
        path.write_text(_dump(with_install_cell(json.loads(path.read_text()), req)))
        print(f"install cell written: {path.relative_to(root)}")
    for path in stale_exercises(root):
        notebook = with_exercise_cells(json.loads(path.read_text()), req, path.stem)
        path.write_text(_dump(notebook))
        print(f"install and submit cells written: {path.relative_to(root)}")


if __name__ == "__main__":
    main()
