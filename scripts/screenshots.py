"""Full-page screenshots of every page of the built site, for a review by eye.

    python scripts/screenshots.py [--out artifacts/review] [--widths 1280 390] [PAGE ...]

Build the book first (scripts/book). The site in _build/html is served on localhost and
opened in Debian's Chromium (Playwright, --no-sandbox; nothing leaves the machine). Each
page is shown at each width after MathJax has typeset it and the animations have been
paused on their first frame, then saved whole as ``<out>/<width>/<page>.png`` and cut into
slices of at most ``--slice`` pixels in height (``<page>.NN.png``) that an image viewer
shows at full resolution. Look for: clipped numbers, raw TeX, figures whose text is too
small to read, elements on top of each other, controls off the screen.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))
import parallel_execution  # noqa: E402  (the book's page order, from _toc.yml)

HTML = ROOT / "_build" / "html"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--no-first-run"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(directory: Path) -> tuple[str, http.server.ThreadingHTTPServer]:
    handler = functools.partial(_Quiet, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}", httpd


def slices(path: Path, height: int) -> list[Path]:
    """Cut a tall screenshot into pieces of at most ``height`` pixels."""
    from PIL import Image

    out = []
    with Image.open(path) as image:
        for k, top in enumerate(range(0, image.height, height)):
            piece = path.with_name(f"{path.stem}.{k:02d}.png")
            image.crop((0, top, image.width, min(top + height, image.height))).save(piece)
            out.append(piece)
    return out


def shoot(pages: list[str], widths: list[int], out: Path, slice_height: int, chromium: str):
    from playwright.sync_api import sync_playwright

    base, httpd = serve(HTML)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            for width in widths:
                mobile = width < 600
                context = browser.new_context(
                    viewport={"width": width, "height": 900}, is_mobile=mobile, has_touch=mobile
                )
                context.route("**/*", _local_only)
                page = context.new_page()
                for name in pages:
                    page.goto(f"{base}/{name}.html", wait_until="networkidle")
                    if page.locator("div.math, span.math").count():
                        page.wait_for_function("() => window.MathJax && MathJax.startup")
                        page.evaluate("() => MathJax.startup.promise")
                    # a still picture: every animation paused on its first frame
                    page.evaluate(
                        "() => document.querySelectorAll('div.animation').forEach(p => {"
                        " const b = p.querySelector('button[title=\"Pause\"]'); if (b) b.click();"
                        " const f = p.querySelector('button[title=\"First frame\"]');"
                        " if (f) f.click(); })"
                    )
                    target = out / str(width) / f"{name.replace('/', '__')}.png"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(target), full_page=True)
                    pieces = slices(target, slice_height)
                    print(f"{width:5d} px  {name}: {len(pieces)} slices")
                context.close()
            browser.close()
    finally:
        httpd.shutdown()


def _local_only(route):
    if route.request.url.startswith(("http://127.0.0.1", "data:", "blob:")):
        route.continue_()
    else:
        route.abort()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="*", help="pages as in _toc.yml (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "review")
    parser.add_argument("--widths", type=int, nargs="+", default=[1280, 390])
    parser.add_argument("--slice", type=int, default=1800, help="slice height in pixels")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    if not (HTML / "index.html").exists():
        parser.error("no site in _build/html: build the book first (scripts/book)")
    pages = args.pages or parallel_execution.toc_pages(ROOT / "_toc.yml")
    shoot(pages, args.widths, args.out, args.slice, args.chromium)
    return 0


if __name__ == "__main__":
    sys.exit(main())
