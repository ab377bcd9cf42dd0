"""Serve MathJax 3 from the site itself instead of a CDN.

The site must render its formulas without network access (the test machine has
none, and readers behind strict firewalls benefit too). The files come from the
PyPI package ``django-static-mathjax`` (MathJax 3.2.2), installed with the book's
dependencies; only what ``tex-mml-chtml.js`` loads is copied, about 2 MB, into
``_static/mathjax/`` of the built site. ``mathjax_path`` in ``_config.yml`` points
there. The files are copied at the end of the build, so Jupyter Book's habit of
adding every ``*.js`` under the source ``_static/`` as a page script does not
apply to them.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

# tex-mml-chtml.js itself, the fonts it loads and the TeX extensions it may autoload
_PARTS = ("tex-mml-chtml.js", "output/chtml/fonts/woff-v2", "input/tex/extensions")


def mathjax_source() -> Path:
    import mathjax  # from django-static-mathjax

    return Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"


def copy_mathjax(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source = mathjax_source()
    target = Path(app.outdir) / "_static" / "mathjax"
    for part in _PARTS:
        src, dest = source / part, target / part
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dest, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dest)


def setup(app) -> dict[str, Any]:
    mathjax_source()  # fail at the start of the build, not the end, if the package is missing
    app.connect("build-finished", copy_mathjax)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
