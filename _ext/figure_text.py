"""Record, in every figure the book's pages draw, the smallest text it shows (build only).

The kernels that execute the pages load ``scripts/jupyter/figure_text.py``, which writes
into each inline PNG (a tEXt chunk) the height in image pixels of its smallest text;
tests/test_site.py scales it by the width the browser shows the image at and compares it
with the caption's font size. Only the build's kernels load it: this extension gives them
a private IPython profile (``_build/.ipython``, made from
``scripts/jupyter/ipython_kernel_config.py``) and the hook's path in
``DLOPT_FIGURE_TEXT_HOOK``; a reader's Python and the tests' other kernels are untouched.

The execution cache does not know about the hook: a page executed without it (an older
build, a cache from before this extension) is dropped from the cache here, at
``builder-inited``, so that it is executed again and its figures get their record.
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path
from typing import Any

from sphinx.util import logging

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
HOOK = ROOT / "scripts" / "jupyter" / "figure_text.py"
KERNEL_CONFIG = ROOT / "scripts" / "jupyter" / "ipython_kernel_config.py"
KEY = b"dlopt-min-text"


def _png_has_record(data: str) -> bool:
    png = base64.b64decode(data)
    return b"tEXt" + KEY in png or b"iTXt" + KEY in png


def _unrecorded(notebook) -> bool:
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if png and not _png_has_record(png):
                return True
    return False


def drop_pages_executed_without_the_hook(app) -> None:
    config = getattr(app.env, "mystnb_config", None)
    if config is None or config.execution_mode != "cache" or not config.execution_cache_path:
        return
    from jupyter_cache import get_cache

    cache = get_cache(config.execution_cache_path)
    for record in cache.list_cache_records():
        if _unrecorded(cache.get_cache_bundle(record.pk).nb):
            logger.info(f"figure_text: cached page {record.uri} has figures without the record")
            cache.remove_cache(record.pk)


def setup(app) -> dict[str, Any]:
    profile = Path(app.outdir).parent / ".ipython" / "profile_default"
    profile.mkdir(parents=True, exist_ok=True)
    shutil.copy2(KERNEL_CONFIG, profile / KERNEL_CONFIG.name)
    os.environ["IPYTHONDIR"] = str(profile.parent)
    os.environ["DLOPT_FIGURE_TEXT_HOOK"] = str(HOOK)
    # after MyST-NB resolves the cache path (500), before parallel_execution runs (900)
    app.connect("builder-inited", drop_pages_executed_without_the_hook, priority=800)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
