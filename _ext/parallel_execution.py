"""Execute the book's notebooks in parallel before Sphinx reads them.

MyST-NB's ``cache`` mode executes every notebook whose code changed, one after
another, while Sphinx reads the pages. Most of a page's time is a kernel starting
and importing NumPy, matplotlib and torch, so on a 2-core machine two notebooks
side by side take about half the time. At ``builder-inited`` this extension finds
the pages of ``_toc.yml`` that the execution cache does not hold yet, executes
them in a pool of worker processes exactly as MyST-NB would (same cwd, same
timeout, errors not allowed), and stores the results in the same jupyter-cache.
Sphinx then finds every page cached. A page that fails here is left out of the
cache, so MyST-NB executes it again and reports the error the usual way.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import nbformat
import yaml
from sphinx.util import logging

logger = logging.getLogger(__name__)


def toc_pages(toc_path: Path) -> list[str]:
    """Every page of a jb-book ``_toc.yml``, in reading order, as paths without suffix
    (the browser tests read the book's page order from here too)."""
    toc = yaml.safe_load(Path(toc_path).read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return pages


def _toc_notebooks(srcdir: Path, toc_path: Path) -> list[Path]:
    return [srcdir / f"{f}.ipynb" for f in toc_pages(toc_path) if (srcdir / f"{f}.ipynb").exists()]


def _execute(path: str, timeout: int):
    """Run one notebook in its own folder; return (path, executed notebook or None, seconds)."""
    from jupyter_cache.executors.utils import single_nb_execution

    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    result = single_nb_execution(
        notebook,
        cwd=str(Path(path).parent),
        timeout=timeout,
        allow_errors=False,
        meta_override=True,
    )
    if result.err is not None:
        return path, None, time.perf_counter() - start
    return path, notebook, result.time


def execute_in_parallel(app) -> None:
    config = getattr(app.env, "mystnb_config", None)  # MyST-NB's, resolved at builder-inited
    if config is None or config.execution_mode != "cache" or not config.execution_cache_path:
        return
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(config.execution_cache_path)
    pending = []
    toc_path = Path(app.srcdir, getattr(app.config, "external_toc_path", None) or "_toc.yml")
    for path in _toc_notebooks(Path(app.srcdir), toc_path):
        try:
            cache.match_cache_notebook(nbformat.read(path, as_version=4))
        except KeyError:
            pending.append(str(path))
    if len(pending) < 2:
        return  # nothing to gain: let MyST-NB execute it
    workers = min(len(pending), os.cpu_count() or 1)
    logger.info(f"executing {len(pending)} notebooks in {workers} processes")
    timeout = int(config.execution_timeout or 120)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for path, notebook, seconds in pool.map(_execute, pending, [timeout] * len(pending)):
            name = Path(path).relative_to(app.srcdir)
            if notebook is None:
                logger.info(f"{name}: failed in parallel execution; MyST-NB will run it again")
                continue
            record = cache.add_nb_to_project(path)
            cache.cache_notebook_bundle(
                CacheBundleIn(notebook, record.uri, data={"execution_seconds": seconds}),
                check_validity=False,
                overwrite=True,
            )
            logger.info(f"{name}: executed in {seconds:.1f} s")


def setup(app) -> dict[str, Any]:
    # after MyST-NB's own builder-inited handler, which resolves the cache path
    app.connect("builder-inited", execute_in_parallel, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
