"""Fold long code cells on the site, so that prose, figures and results lead the page.

A student reads a page for its ideas; the code that draws a figure or sets up an
experiment is there to be opened, not to push the text apart. After MyST-NB has parsed
a notebook, this marks every code cell with more than ``fold_code_min_lines`` lines
(``_config.yml``, default 6) exactly as MyST-NB's own ``hide-input`` tag would: the
site shows a "Show code cell source" toggle in its place and the output below it.
Short cells, the few lines that show how the package is called, stay open. A cell
tagged ``show-input`` stays open whatever its length; a cell with a ``hide-*`` or
``remove-*`` tag is left as MyST-NB made it.

It works on the doctree, not on the notebook: adding tags to the notebook would change
the execution cache's hash (it covers cell metadata) and re-execute every page. The
notebooks on disk and their downloads are untouched.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes

PROMPT_SHOW = "Show code cell {type}"
PROMPT_HIDE = "Hide code cell {type}"


def _source_lines(cell: nodes.Element) -> int:
    for child in cell.children:
        if child.get("nb_element") == "cell_code_source":
            return len(child.astext().strip().splitlines())
    return 0


def fold_long_code(app, doctree: nodes.document) -> None:
    min_lines = app.config.fold_code_min_lines
    for cell in doctree.findall(nodes.container):
        if cell.get("nb_element") != "cell_code" or cell.get("hide_mode"):
            continue
        if "tag_show-input" in cell["classes"] or _source_lines(cell) <= min_lines:
            continue
        cell["hide_mode"] = "input"
        cell["prompt_show"] = cell.get("prompt_show") or PROMPT_SHOW
        cell["prompt_hide"] = cell.get("prompt_hide") or PROMPT_HIDE
        cell["classes"].append("tag_hide-input")


def setup(app) -> dict[str, Any]:
    app.add_config_value("fold_code_min_lines", 6, "env")
    app.connect("doctree-read", fold_long_code)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
