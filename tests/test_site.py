"""The book builds cleanly, and the built site works in a real browser, offline.

The build is incremental (Sphinx's environment and the execution cache in
``_build``), so a second run only re-executes changed pages; in a fresh clone it
is a clean build (conftest.py holds it, the server and the browser). The browser
is Debian's Chromium driven by Playwright's Python client (no browser download).
Every request that leaves localhost is blocked and counts as a failure: the site
must not depend on a CDN. Screenshots of each page go to ``artifacts/screenshots/``
for the CI run's output.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.site

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))  # the book's extensions, as Sphinx loads them
import parallel_execution  # noqa: E402
import run_anywhere  # noqa: E402

HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
# what nbgrader puts around solutions and hidden tests: none of it may reach the site
LEAK_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def toc_pages() -> list[str]:
    """Every page of _toc.yml, in reading order, as paths without suffix."""
    return parallel_execution.toc_pages(ROOT / "_toc.yml")


# Sphinx's and docutils' messages ("page.ipynb:12: WARNING: ...", "WARNING: ..."): the level,
# a colon and a space. Not the Python logging lines a kernel's teardown may print on stderr
# ("ERROR:tornado.general:Uncaught exception in ZMQStream callback" when a kernel's socket
# closes under a pending callback): execution errors are read from the reports instead.
SPHINX_MESSAGE = re.compile(r"(^|: )(WARNING|ERROR|SEVERE|CRITICAL): ")


def test_the_build_log_filter_reads_sphinx_messages_not_library_logging():
    assert SPHINX_MESSAGE.search("chapters/a.ipynb:12: WARNING: undefined label: 'x'")
    assert SPHINX_MESSAGE.search("WARNING: html_static_path entry 'x' does not exist")
    assert SPHINX_MESSAGE.search('chapters/b.md:3: ERROR: Unknown directive type "foo".')
    assert not SPHINX_MESSAGE.search("ERROR:tornado.general:Uncaught exception in ZMQStream")


def test_book_builds_without_warnings_or_execution_errors(build_log):
    reports = sorted((HTML / "reports").glob("*.err.log")) if (HTML / "reports").exists() else []
    assert not reports, "execution errors:\n" + "\n".join(p.read_text()[-2000:] for p in reports)
    warnings = [line for line in build_log.splitlines() if SPHINX_MESSAGE.search(line)]
    assert not warnings, "\n".join(warnings)
    for page in toc_pages():
        assert (HTML / f"{page}.html").exists(), f"{page} missing from the site"


# A page's tests in one xdist group: run on several workers (pytest -n 2 --dist loadgroup),
# the tests that read one visit of a page (the cached reports below) share the process that
# made it
PAGES = [pytest.param(page, marks=pytest.mark.xdist_group(page)) for page in toc_pages()]


def captioned_figure_cells(page: str) -> int:
    notebook = ROOT / f"{page}.ipynb"
    if not notebook.exists():
        return 0
    cells = json.loads(notebook.read_text())["cells"]
    return sum(1 for c in cells if c.get("metadata", {}).get("mystnb", {}).get("figure"))


def test_every_captioned_figure_cell_put_an_image_on_its_page(build_log):
    """A figure cell that displays nothing (a wrong matplotlib backend, a missing plt.show())
    would leave a caption without an image, or no figure at all."""
    missing = []
    for page in toc_pages():
        html = (HTML / f"{page}.html").read_text()
        figures = re.findall(r"<figure\b.*?</figure>", html, flags=re.S)
        with_image = sum(1 for f in figures if "<img" in f)
        if with_image < captioned_figure_cells(page):
            missing.append(
                f"{page}: {captioned_figure_cells(page)} figure cells, "
                f"{with_image} figures with an image"
            )
    assert not missing, "\n".join(missing)


def test_every_figure_has_alt_text_that_describes_it(build_log):
    """A screen reader reads the alt text instead of the image: a file name or a word is not
    a description. (The animations' frames get theirs in the browser, from _static/reader.js;
    the animation test checks them.)"""
    bare = []
    for page in toc_pages():
        html = (HTML / f"{page}.html").read_text()
        for figure in re.findall(r"<figure\b.*?</figure>", html, flags=re.S):
            for img in re.findall(r"<img\b[^>]*>", figure):
                alt = re.search(r'\balt="([^"]*)"', img)
                if not alt or len(alt.group(1).split()) < 4:
                    bare.append(f"{page}: {alt.group(1) if alt else 'no alt'}")
    assert not bare, "figures without a describing alt text:\n" + "\n".join(bare)


def test_no_page_shows_a_traceback_or_stderr_output(build_log):
    """A failure during display (a mathtext label that does not parse, a warning) does not
    stop the build, but it must not reach a reader either."""
    shown = []
    for page in toc_pages():
        html = (HTML / f"{page}.html").read_text()
        for marker in (
            "Traceback (most recent call last)",
            'class="output traceback',
            'class="output stderr',
        ):
            if marker in html:
                shown.append(f"{page}: {marker}")
    assert not shown, "\n".join(shown)


def test_no_solution_or_hidden_test_reaches_the_site_or_its_downloads(build_log):
    leaks = []
    for path in HTML.rglob("*"):
        if path.is_file() and path.suffix in {
            ".html",
            ".ipynb",
            ".txt",
            ".md",
            ".py",
            ".js",
            ".json",
        }:
            text = path.read_text(errors="ignore")
            leaks += [f"{path.relative_to(HTML)}: {m}" for m in LEAK_MARKERS if m in text]
            if path.suffix == ".ipynb":
                for cell in json.loads(text).get("cells", []):
                    meta = cell.get("metadata", {}).get("nbgrader", {})
                    stub = "YOUR CODE HERE" if cell["cell_type"] == "code" else "YOUR ANSWER HERE"
                    if meta.get("solution") and stub not in "".join(cell["source"]):
                        leaks.append(f"{path.relative_to(HTML)}: a solution cell with an answer")
    assert not leaks, "\n".join(leaks)


def test_every_exercise_is_offered_for_download_in_its_student_version(build_log):
    source = ROOT / "exercises" / "source"
    assignments = sorted(p.name for p in source.iterdir() if p.is_dir()) if source.exists() else []
    if assignments:
        page = (HTML / "chapters" / "exercises" / "exercises.html").read_text()
    for assignment in assignments:
        link = re.search(rf'href="([^"]*_downloads/[^"]*/{assignment}\.ipynb)"', page)
        assert link, f"the exercises page does not offer {assignment}"
        released = (HTML / "chapters" / "exercises" / link.group(1)).resolve()
        cells = json.loads(released.read_text())["cells"]
        answers = [c for c in cells if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
        assert answers, f"{assignment}: no answer cells in the download"
        assert all(
            "YOUR CODE HERE" in "".join(c["source"]) or "YOUR ANSWER HERE" in "".join(c["source"])
            for c in answers
        ), f"{assignment}: a solution leaked"


class PageVisit:
    """A page opened in a fresh context, with every problem it reports recorded."""

    def __init__(
        self, browser, base: str, *, width: int = 1280, height: int = 900, mobile: bool = False
    ):
        self.base = base
        self.context = browser.new_context(
            viewport={"width": width, "height": height}, is_mobile=mobile, has_touch=mobile
        )
        self.problems: list[str] = []
        self.context.route(re.compile(r"^(?!http://127\.0\.0\.1)"), self._block_remote)
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", self._request_failed)
        self.page.on("response", self._response)

    def _block_remote(self, route):
        if not route.request.url.startswith(("data:", "blob:")):
            self.problems.append(f"request leaves localhost: {route.request.url}")
        route.abort()

    def _request_failed(self, request):
        # ERR_ABORTED: the browser cancelled the request itself, as when a click leaves the page
        # before its favicon arrived; a file that is missing answers 404 (see _response)
        if request.failure != "net::ERR_ABORTED":
            self.problems.append(f"failed request: {request.url} {request.failure}")

    def _console(self, msg):
        if msg.type == "error":
            self.problems.append(f"console error: {msg.text}")

    def _response(self, response):
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def open(self, path: str):
        self.page.goto(f"{self.base}/{path}", wait_until="load")
        return self.page

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.context.close()


def _math_rendered(page) -> tuple[int, int, int]:
    """(formulas in the source, formulas MathJax rendered, MathJax errors) once typesetting ends."""
    sources = page.locator("div.math, span.math").count()
    if sources == 0:
        return 0, 0, 0
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.evaluate("() => MathJax.startup.promise")
    return (sources, page.locator("mjx-container").count(), page.locator("mjx-merror").count())


@pytest.mark.parametrize("page_path", PAGES)
def test_every_page_loads_cleanly_with_images_and_math(browser, server, page_path):
    with PageVisit(browser, server) as visit:
        page = visit.open(f"{page_path}.html")
        page.wait_for_load_state("networkidle")
        assert page.locator("main h1").count() >= 1, "no title"
        sources, rendered, errors = _math_rendered(page)
        assert rendered >= sources and errors == 0, (
            f"math: {sources} formulas, {rendered} rendered, {errors} errors"
        )
        broken = page.evaluate(
            "() => Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
            ".map(i => i.src.slice(0, 80))"
        )
        assert not broken, f"images that did not load: {broken}"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(
            path=str(SCREENSHOTS / f"{page_path.replace('/', '__')}.png"), full_page=False
        )
        assert not visit.problems, "\n".join(visit.problems)


def test_animations_play_in_the_browser(browser, server):
    """Every matplotlib animation on the site has a frame image that loads and a slider."""
    pages = [
        p for p in toc_pages() if "Animation" in (HTML / f"{p}.html").read_text(errors="ignore")
    ]
    for page_path in pages:
        with PageVisit(browser, server) as visit:
            page = visit.open(f"{page_path}.html")
            frames = page.locator("div.animation img")
            assert frames.count() >= 1
            widths = page.evaluate(
                "() => Array.from(document.querySelectorAll('div.animation img'))"
                ".map(i => i.naturalWidth)"
            )
            assert all(w > 0 for w in widths), f"{page_path}: an animation frame did not load"
            assert not visit.problems, "\n".join(visit.problems)


def test_search_finds_a_term(browser, server):
    with PageVisit(browser, server) as visit:
        page = visit.open("search.html?q=momentum")
        page.wait_for_selector("#search-results ul.search li", timeout=20_000)
        hits = page.locator("#search-results ul.search li").count()
        assert hits >= 1
        assert not visit.problems, "\n".join(visit.problems)


def test_next_link_walks_the_table_of_contents_in_order(browser, server):
    pages = toc_pages()
    with PageVisit(browser, server) as visit:
        page = visit.open(f"{pages[0]}.html")
        for expected in pages[1:]:
            page.locator("a.right-next").first.click()
            page.wait_for_load_state("load")
            assert page.url.split("/", 3)[3].startswith(expected), (page.url, expected)
        assert not visit.problems, "\n".join(visit.problems)


def test_sidebar_links_reach_every_page(browser, server):
    with PageVisit(browser, server) as visit:
        page = visit.open(f"{toc_pages()[0]}.html")
        urls = page.evaluate(
            "() => Array.from(document.querySelectorAll('nav.bd-docs-nav a.reference.internal'))"
            ".map(a => a.href)"
        )  # .href is absolute, resolved against the page
        linked = {u.removeprefix(server + "/").split("#")[0].removesuffix(".html") for u in urls}
        missing = [p for p in toc_pages()[1:] if p not in linked]
        assert not missing, f"pages without a sidebar link: {missing}"


# --- What a reader sees: math, width, accessibility (one visit per page and mode) -------------

# TeX that reached the reader as text: delimiters MathJax should have consumed, or a command
# outside any formula. Checked on the visible text of the article after typesetting.
RAW_TEX = re.compile(r"\$[^$\s]|\\[(\[]|\\(?:begin|end|frac|sum|mathbf|mathrm|lambda|eta|theta)\b")

# Elements whose content may not be wider than the column: code blocks, outputs, display
# equations and tables. A child wider than its box hides behind a horizontal scroll bar.
_WIDTH_PROBE = """() => {
  const article = document.querySelector('article.bd-article') || document.querySelector('main');
  const outer = article.getBoundingClientRect();
  const style = getComputedStyle(article);
  const column = {left: outer.left + parseFloat(style.paddingLeft),
                  right: outer.right - parseFloat(style.paddingRight)};
  column.width = column.right - column.left;
  const selectors = ['div.highlight pre', 'div.cell_output pre', 'div.output pre',
                     'mjx-container[display="true"]', 'div.math', 'table',
                     'div.pst-scrollable-table-container', 'div.animation', 'img'];
  const wide = [];
  for (const selector of selectors) {
    for (const el of article.querySelectorAll(selector)) {
      if (el.closest('details:not([open])') || el.offsetParent === null) continue;
      const box = el.getBoundingClientRect();
      const hidden = el.scrollWidth - el.clientWidth;
      if (hidden > 1 || box.right > column.right + 1 || box.left < column.left - 1) {
        const text = (el.innerText || el.getAttribute('alt') || '').trim().slice(0, 60);
        wide.push(`${selector}: ${Math.round(box.width)} px box, ${hidden} px hidden` +
                  ` (column ${Math.round(column.width)} px): ${JSON.stringify(text)}`);
      }
    }
  }
  return wide;
}"""

_TEXT_PROBE = """() => {
  const article = document.querySelector('article.bd-article') || document.querySelector('main');
  const clone = article.cloneNode(true);
  clone.querySelectorAll('mjx-container, script, style, .MathJax, mjx-assistive-mml, '
                         + 'div.cell_input, div[class*="highlight-"], code')
       .forEach(el => el.remove());
  return clone.innerText;
}"""


# Dark mode changes colours only, so the second run checks the colour rules alone (axe's
# colour-contrast rule is most of its time). preload off: axe would fetch the theme's
# @import of ../basic.css relative to the page instead of the style sheet and get a 404.
AXE_OPTIONS = {"resultTypes": ["violations"], "preload": False}
AXE_COLOUR_RULES = ["color-contrast", "link-in-text-block"]


# Fraction of the article's height taken by code shown open (not folded away).
_CODE_SHARE = """() => {
  const article = document.querySelector('article.bd-article');
  let code = 0;
  for (const block of article.querySelectorAll('div.cell_input')) {
    if (block.offsetParent !== null && !block.closest('details:not([open])')) {
      code += block.getBoundingClientRect().height;
    }
  }
  return code / article.getBoundingClientRect().height;
}"""
# Code may be opened on demand; shown open it may not take more than this share of a page.
MAX_CODE_SHARE = 0.15


# Every image a code cell's output shows (matplotlib's PNGs), as displayed, and the font
# size of the page's figure captions (measured on a caption made for it if the page has
# none). An image inside a closed <details> is not displayed: its width is 0.
_FIGURE_PROBE = """() => {
  const article = document.querySelector('article.bd-article');
  let caption = article.querySelector('figure figcaption');
  let made = null;
  if (!caption) {
    made = document.createElement('figure');
    made.innerHTML = '<figcaption><p>caption</p></figcaption>';
    article.appendChild(made);
    caption = made.querySelector('figcaption');
  }
  const captionPx = parseFloat(getComputedStyle(caption.querySelector('p') || caption).fontSize);
  if (made) made.remove();
  const images = Array.from(article.querySelectorAll('div.cell_output img'))
    .filter(img => !img.src.startsWith('data:'))
    .map(img => {
      const figure = img.closest('figure');
      const number = figure ? figure.querySelector('.caption-number') : null;
      return {src: img.src, shown: img.getBoundingClientRect().width,
              natural: img.naturalWidth,
              label: (number ? number.textContent.trim() + ' ' : '') +
                     (img.getAttribute('alt') || '').slice(0, 50)};
    });
  return {captionPx, images};
}"""
# The smallest text of a figure, as displayed, may not be smaller than the captions' font size
# (14.7 px). The book's style (dlopt.plots.use_style) draws figures 6.1 inches wide at 110 dpi
# (671 px: the 672 px column shows them at full size) with 10-point legends and tick labels
# (15.3 px); a figure up to 6.3 inches wide still passes, a wider one or a 9-point text does not.
MIN_TEXT_OF_CAPTION = 1.0
#: the tEXt keyword scripts/jupyter/figure_text.py writes into every inline PNG of the build
FIGURE_TEXT_KEY = "dlopt-min-text"


# Every element that gets the focus, as a keyboard user sees it: what it is, where it is,
# and whether a focus indicator is drawn (an outline or a box shadow of non-zero size).
_FOCUS_LOG = """() => {
  window.__focusLog = [];
  // the end state of every focus style, not a frame of its transition (the copy buttons
  // fade in)
  const still = document.createElement('style');
  still.textContent = '*, *::before, *::after { transition: none !important; }';
  document.head.appendChild(still);
  document.addEventListener('focusin', (event) => {
    const el = event.target;
    const box = el.getBoundingClientRect();
    // the indicator may be drawn on the element or on a child (the sidebar's <summary>
    // draws it on its chevron)
    let outline = 0, shadow = '';
    for (const part of [el, ...Array.from(el.children)]) {
      const style = getComputedStyle(part);
      if (style.outlineStyle !== 'none') {
        outline = Math.max(outline, parseFloat(style.outlineWidth) || 0);
      }
      if (style.boxShadow !== 'none') shadow = style.boxShadow;
    }
    let opacity = 1;
    for (let e = el; e; e = e.parentElement) opacity *= parseFloat(getComputedStyle(e).opacity);
    const name = (el.getAttribute('aria-label') || el.getAttribute('title') ||
                  el.innerText || el.value || '').trim().replace(/\\s+/g, ' ').slice(0, 40);
    window.__focusLog.push({
      element: `${el.tagName.toLowerCase()}${el.className ? '.' + String(el.className)
        .trim().split(/\\s+/).join('.') : ''} "${name}"`,
      key: el,
      indicator: outline > 0 || shadow !== '',
      size: box.width * box.height + outline,
      opacity: opacity,
      main: !!el.closest('main article'),
      next: el.matches('a.right-next'), prev: el.matches('a.left-prev'),
      animation: !!el.closest('div.animation'), explorer: !!el.closest('.dlopt-explorer'),
    });
  }, true);
}"""
# Tab presses between two looks at where the focus has gone, and the most a page may need.
TAB_BATCH, TAB_LIMIT = 25, 1500


def _tab_through(page) -> dict:
    """Tab from the top of the page until the focus has reached the previous and next
    links (or TAB_LIMIT presses); return what a keyboard user met on the way."""
    page.evaluate(_FOCUS_LOG)
    page.evaluate(
        "() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }"
    )
    ends = page.evaluate(
        "() => ({next: !!document.querySelector('a.right-next'),"
        " prev: !!document.querySelector('a.left-prev')})"
    )
    presses, done = 0, False
    while presses < TAB_LIMIT and not done:
        for _ in range(TAB_BATCH):
            page.keyboard.press("Tab")
        presses += TAB_BATCH
        done = page.evaluate(
            """(ends) => {
              const log = window.__focusLog;
              const seen = (f) => log.some(f);
              return (!ends.next || seen(e => e.next)) && (!ends.prev || seen(e => e.prev));
            }""",
            ends,
        )
    return page.evaluate(
        """(ends) => {
          const log = window.__focusLog;
          const distinct = new Set(log.map(e => e.key)).size;
          return {
            ends, presses: log.length, distinct,
            invisible: Array.from(new Set(log.filter(e => !e.indicator || e.size <= 0
                                                      || e.opacity < 0.1)
                                            .map(e => e.element))),
            main: log.some(e => e.main), next: log.some(e => e.next),
            prev: log.some(e => e.prev),
            animation: log.filter(e => e.animation).length,
            explorer: log.filter(e => e.explorer).length,
            last: log.slice(-5).map(e => e.element),
          };
        }""",
        ends,
    ) | {"tabs": presses}


def _figure_text_record(url: str, base: str) -> dict | None:
    """The record of the smallest text that the build wrote into a PNG of the site."""
    from PIL import Image

    path = HTML / url.removeprefix(base + "/").split("#")[0]
    with Image.open(path) as image:
        text = image.text.get(FIGURE_TEXT_KEY) if hasattr(image, "text") else None
    return json.loads(text) if text else None


def _axe_serious(page, rules: list[str] | None = None) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    options = dict(AXE_OPTIONS, **({"runOnly": rules} if rules else {}))
    results = Axe().run(page, options=options)
    return [
        f"{v['id']} ({v['impact']}, {len(v['nodes'])} nodes): {v['help']}; first: "
        f"{v['nodes'][0]['target']}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@functools.cache
def _reader_report(browser, base: str, page_path: str) -> dict:
    """Open a page at 1280 px once and record what the math and width tests check."""
    with PageVisit(browser, base) as visit:
        page = visit.open(f"{page_path}.html")
        page.wait_for_load_state("networkidle")
        _math_rendered(page)
        text = page.evaluate(_TEXT_PROBE)
        report = {
            "raw_tex": sorted(
                {
                    text[max(0, m.start() - 30) : m.end() + 30].replace("\n", " ")
                    for m in RAW_TEX.finditer(text)
                }
            ),
            "math_errors": [e.strip()[:80] for e in page.locator("mjx-merror").all_inner_texts()],
            "wide": page.evaluate(_WIDTH_PROBE),
            "code_share": page.evaluate(_CODE_SHARE),
            "figures": page.evaluate(_FIGURE_PROBE),
        }
        report["keyboard"] = _tab_through(page)  # last: it moves the focus and scrolls
        report["problems"] = list(visit.problems)
    return report


@functools.cache
def _axe_report(browser, base: str, page_path: str) -> dict:
    """axe-core's serious and critical violations on a page, in light and in dark mode."""
    with PageVisit(browser, base) as visit:
        page = visit.open(f"{page_path}.html")
        page.wait_for_load_state("networkidle")
        _math_rendered(page)
        report = {"light": _axe_serious(page)}
        # axe reads the colours of the dark theme's end state: with the theme's 0.15 s colour
        # transitions left on, a loaded machine can hand it a frame halfway between the themes
        page.evaluate(
            "() => { const still = document.createElement('style');"
            " still.textContent = '*, *::before, *::after { transition: none !important; }';"
            " document.head.appendChild(still);"
            " const root = document.documentElement;"
            " root.dataset.theme = 'dark'; root.dataset.mode = 'dark'; }"
        )
        page.wait_for_function(
            "() => document.getAnimations().every(a => !(a instanceof CSSTransition))"
        )
        report["dark"] = _axe_serious(page, AXE_COLOUR_RULES)
        report["problems"] = list(visit.problems)
    return report


@pytest.mark.parametrize("page_path", PAGES)
def test_no_raw_tex_or_mathjax_error_in_the_rendered_text(browser, server, page_path):
    report = _reader_report(browser, server, page_path)
    assert not report["raw_tex"], "TeX shown as text:\n" + "\n".join(report["raw_tex"])
    assert not report["math_errors"], f"MathJax errors: {report['math_errors']}"
    assert not report["problems"], "\n".join(report["problems"])


@pytest.mark.parametrize("page_path", PAGES)
def test_nothing_is_wider_than_the_column_at_1280_px(browser, server, page_path):
    report = _reader_report(browser, server, page_path)
    assert not report["wide"], "clipped or overflowing:\n" + "\n".join(report["wide"])


@pytest.mark.parametrize("page_path", PAGES)
def test_every_figure_text_is_at_least_the_caption_size_as_displayed(browser, server, page_path):
    """Tick labels, legends and labels of a figure, at the size the page shows the image
    (1280 px window), are not smaller than the captions' text (MIN_TEXT_OF_CAPTION of it).
    (The animations' frames are JPEG images without the record: not measured here.)

    The build records in each PNG the height in image pixels of its smallest text
    (scripts/jupyter/figure_text.py, a tEXt chunk); the browser gives the image's displayed
    and natural widths, whose ratio scales it."""
    figures = _reader_report(browser, server, page_path)["figures"]
    floor = MIN_TEXT_OF_CAPTION * figures["captionPx"]
    small, unrecorded = [], []
    for image in figures["images"]:
        if image["shown"] == 0 or image["natural"] == 0:
            continue  # not displayed (a closed dropdown); its text is measured when shown
        record = _figure_text_record(image["src"], server)
        if record is None:
            unrecorded.append(image["label"] or image["src"])
            continue
        if record["min_px"] is None:
            continue  # no text at all
        shown_px = record["min_px"] * image["shown"] / image["natural"]
        if shown_px < floor:
            small.append(
                f"{image['label']}: {shown_px:.1f} px ({record['text']!r}, {record['min_px']} "
                f"px in a {image['natural']} px image shown at {image['shown']:.0f} px)"
            )
    assert not unrecorded, (
        "figures without the build's record of their smallest text (built without "
        "_ext/figure_text.py?):\n" + "\n".join(unrecorded)
    )
    assert not small, (
        f"figure text smaller than {floor:.1f} px ({MIN_TEXT_OF_CAPTION:.0%} of the "
        f"{figures['captionPx']:.1f} px captions):\n" + "\n".join(small)
    )


@pytest.mark.parametrize("page_path", PAGES)
def test_tab_reaches_the_content_and_the_page_links_with_the_focus_always_visible(
    browser, server, page_path
):
    """Tab from the top of the page (1280 px): every element that takes the focus shows a
    focus indicator of non-zero size, the focus reaches the article, its animations'
    and explorers' controls, and the previous and next links, and it is never trapped
    (it moves on to the end of the page)."""
    walk = _reader_report(browser, server, page_path)["keyboard"]
    html = (HTML / f"{page_path}.html").read_text(errors="ignore")
    assert not walk["invisible"], "focused without a visible focus indicator:\n" + "\n".join(
        walk["invisible"]
    )
    assert walk["main"], "Tab never reaches the article"
    for end in ("next", "prev"):
        assert walk[end] or not walk["ends"][end], (
            f"Tab never reaches the {end} link after {walk['tabs']} presses; "
            f"trapped at {walk['last']}"
        )
    if 'class="animation"' in html:
        assert walk["animation"] >= 2, "Tab does not reach the animation's controls"
    if "dlopt-explorer" in html:
        assert walk["explorer"] >= 1, "Tab does not reach the explorer's controls"


# The state of each animation player: its frame (the slider) and whether its timer runs.
_PLAYERS = """() => Array.from(document.querySelectorAll('div.animation')).map(player => {
  const slider = player.querySelector('input.anim-slider');
  return {id: slider.id, frame: Number(slider.value), src: player.querySelector('img').src};
})"""


def test_animation_controls_work_from_the_keyboard(browser, server):
    """The animations' Pause and Play buttons respond to Space and Enter, and the slider to
    the arrow keys: asserted on the player's state (its frame, its image)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    pages = [
        p
        for p in toc_pages()
        if 'class="animation"' in (HTML / f"{p}.html").read_text(errors="ignore")
    ]
    assert pages, "no animation on the site"
    for page_path in pages:
        with PageVisit(browser, server) as visit:
            page = visit.open(f"{page_path}.html")
            page.wait_for_load_state("networkidle")
            for k, player in enumerate(page.evaluate(_PLAYERS)):
                where = f"{page_path}, animation {k}"
                root = page.locator("div.animation").nth(k)
                root.locator('button[title="Pause"]').focus()
                page.keyboard.press("Space")
                paused = page.evaluate(_PLAYERS)[k]["frame"]
                page.wait_for_timeout(400)
                still = page.evaluate(_PLAYERS)[k]["frame"]
                assert still == paused, f"{where}: Space did not pause ({paused} -> {still})"
                slider = root.locator("input.anim-slider")
                slider.focus()
                page.keyboard.press("Home")
                page.keyboard.press("ArrowRight")
                page.keyboard.press("ArrowRight")
                state = page.evaluate(_PLAYERS)[k]
                assert state["frame"] == 2, f"{where}: arrow keys left the slider at {state}"
                page.keyboard.press("ArrowLeft")
                back = page.evaluate(_PLAYERS)[k]
                assert back["frame"] == 1 and back["src"] != state["src"], (
                    f"{where}: ArrowLeft did not show the previous frame"
                )
                root.locator('button[title="Play"]').focus()
                page.keyboard.press("Enter")
                try:  # a loaded machine delays the player's timer: wait for it, up to 10 s
                    page.wait_for_function(f"() => ({_PLAYERS})()[{k}].frame > 1", timeout=10_000)
                except PlaywrightTimeout:
                    raise AssertionError(f"{where}: Enter did not play") from None
                assert player["id"]
            assert not visit.problems, "\n".join(visit.problems)


@pytest.mark.parametrize("page_path", PAGES)
def test_code_is_folded_where_it_would_dominate_the_page(browser, server, page_path):
    share = _reader_report(browser, server, page_path)["code_share"]
    assert share <= MAX_CODE_SHARE, f"open code is {share:.0%} of the page's height"


# Display equations on a phone: each fits its box, or has been shrunk to the smallest size
# _static/reader.js allows (70 %) and scrolls inside its box from there
_PHONE_EQUATIONS = """() => Array.from(document.querySelectorAll(
    'div.math > mjx-container[display="true"]')).map(eq => ({
  text: (eq.querySelector('mjx-assistive-mml, math') || eq).textContent.trim().slice(0, 50),
  width: eq.querySelector('mjx-math').scrollWidth,
  room: eq.parentElement.clientWidth,
  scale: parseFloat(eq.style.fontSize || '100') / 100,
}))"""
SMALLEST_EQUATION = 0.7


def test_display_equations_fit_a_phone_or_are_shrunk_to_the_smallest_size(browser, server):
    wide, shrunk = [], 0
    with PageVisit(browser, server, width=390, height=844, mobile=True) as visit:
        for page_path in toc_pages():
            page = visit.open(f"{page_path}.html")
            if not _math_rendered(page)[0]:
                continue
            page.wait_for_function(  # reader.js fits them once MathJax has typeset the page
                "() => Array.from(document.querySelectorAll('div.math > mjx-container'))"
                ".every(eq => eq.style.fontSize || eq.querySelector('mjx-math').scrollWidth"
                " <= eq.parentElement.clientWidth)",
                timeout=10_000,
            )
            for eq in page.evaluate(_PHONE_EQUATIONS):
                shrunk += eq["scale"] < 1
                if eq["width"] > eq["room"] + 1 and eq["scale"] > SMALLEST_EQUATION + 0.01:
                    wide.append(
                        f"{page_path}: {eq['width']} px in {eq['room']} px at "
                        f"{eq['scale']:.0%}: {eq['text']}"
                    )
        assert not visit.problems, "\n".join(visit.problems)
    assert not wide, "equations wider than a phone's column, not shrunk:\n" + "\n".join(wide)
    assert shrunk > 10, f"only {shrunk} equations needed shrinking: is the measure right?"


def test_animations_start_playing_and_their_controls_fit_a_phone(browser, server):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    pages = [
        p
        for p in toc_pages()
        if 'class="animation"' in (HTML / f"{p}.html").read_text(errors="ignore")
    ]
    assert pages, "no animation on the site"
    for page_path in pages:
        with PageVisit(browser, server, width=390, height=844, mobile=True) as visit:
            page = visit.open(f"{page_path}.html")
            try:  # every player past its first frame, with time for a loaded machine
                page.wait_for_function(
                    "() => Array.from(document.querySelectorAll('input.anim-slider'))"
                    ".every(slider => Number(slider.value) > 0)",
                    timeout=10_000,
                )
            except PlaywrightTimeout:
                pass  # the assertion below names the player that did not start
            players = page.evaluate("""() => Array.from(document.querySelectorAll(
                'div.animation')).map(player => {
              const slider = player.querySelector('input.anim-slider');
              const boxes = Array.from(player.querySelectorAll(
                  'img, input, button, label')).map(e => e.getBoundingClientRect());
              return {frame: slider ? Number(slider.value) : -1,
                      alt: (player.querySelector('img').getAttribute('alt') || '').length,
                      left: Math.min(...boxes.map(b => b.left)),
                      right: Math.max(...boxes.map(b => b.right))};
            })""")
            page_width = page.evaluate("() => document.documentElement.scrollWidth")
            assert page_width <= 390, f"{page_path}: the page scrolls sideways ({page_width} px)"
            for k, player in enumerate(players):
                assert player["frame"] > 0, f"{page_path}: animation {k} did not start playing"
                assert player["alt"] > 20, f"{page_path}: animation {k} has no alt text"
                assert player["left"] >= 0 and player["right"] <= 390, (
                    f"{page_path}: animation {k}'s controls span {player['left']:.0f} to "
                    f"{player['right']:.0f} px on a 390 px screen"
                )


@pytest.mark.parametrize("mode", ["light", "dark"])
@pytest.mark.parametrize("page_path", PAGES)
def test_axe_finds_no_serious_or_critical_violation(browser, server, page_path, mode):
    report = _axe_report(browser, server, page_path)
    assert not report[mode], "\n".join(report[mode])
    assert not report["problems"], "\n".join(report["problems"])


def test_search_results_show_no_raw_tex(browser, server):
    """Sphinx builds a result's summary from the page's HTML, where formulas are TeX source."""
    with PageVisit(browser, server) as visit:
        page = visit.open("search.html?q=learning+rate")
        # summaries arrive one page fetch at a time: read them once their number stops growing
        page.wait_for_function(
            "() => document.querySelectorAll('#search-results p.context').length >= 5",
            timeout=60_000,
        )
        count, previous = page.locator("#search-results p.context").count(), -1
        while count != previous:
            page.wait_for_timeout(2000)
            count, previous = page.locator("#search-results p.context").count(), count
        summaries = page.locator("#search-results p.context").all_inner_texts()
        assert len(summaries) >= 3
        raw = [s[:120] for s in summaries if RAW_TEX.search(s)]
        assert not raw, "search summaries with TeX:\n" + "\n".join(raw)
        assert not visit.problems, "\n".join(visit.problems)


# --- One click to run: downloads in a fresh environment without dlopt --------------------------


def _fresh_environment(tmp_path: Path) -> tuple[Path, Path]:
    """(python, wheel): a virtual environment without dlopt, and a wheel built from this checkout.

    The environment sees this environment's third-party packages (numpy, torch, Jupyter)
    through a path entry, but not dlopt: its editable install is a .pth hook that a plain path
    entry does not run. Nothing is downloaded: pip only installs the local wheel.
    """
    import sysconfig

    wheels, project = tmp_path / "wheels", tmp_path / "project"
    # built from a copy: setuptools leaves build/ and *.egg-info in the tree it builds
    shutil.copytree(
        ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, project / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(wheels),
            str(project),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    wheel = next(wheels.glob("dlopt-*.whl"))
    venv = tmp_path / "venv"
    # without pip: its own old setuptools would shadow the one torch requires; pip itself
    # comes through the path entry, and installs into the new environment
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300
    )
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    Path(site.strip(), "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python, wheel


def _dlopt_location(python: Path) -> str | None:
    """Where the environment of ``python`` imports dlopt from (None: it cannot)."""
    found = subprocess.run(
        [str(python), "-c", "import dlopt; print(dlopt.__file__)"], capture_output=True, text=True
    )
    return found.stdout.strip() if found.returncode == 0 else None


def _pointed_at(notebook: dict, wheel: Path, what: str) -> dict:
    """The notebook with its install cell's requirement (the repository at the built commit)
    replaced by the local wheel, since there is no network."""
    url, _ = run_anywhere.repository(ROOT)
    pinned = run_anywhere.requirement(url, run_anywhere.built_ref(ROOT))
    cells = [c for c in notebook["cells"] if run_anywhere.TAG in c["metadata"].get("tags", [])]
    assert len(cells) == 1, f"{what}: {len(cells)} install cells"
    source = "".join(cells[0]["source"])
    assert f'%pip install --quiet "{pinned}"' in source, f"{what} is not pinned to the build"
    cells[0]["source"] = source.replace(pinned, str(wheel))
    return notebook


def _execute(python: Path, notebook: dict, path: Path) -> dict:
    """Run ``notebook`` top to bottom with nbconvert in the environment of ``python``."""
    path.write_text(json.dumps(notebook))
    env = dict(os.environ, PIP_NO_INDEX="1", PYTHONHASHSEED="0")
    env.pop("MPLBACKEND", None)
    result = subprocess.run(
        [
            str(python),
            "-m",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--ExecutePreprocessor.timeout=300",
            "--output",
            f"{path.stem}.executed.ipynb",
            str(path),
        ],
        cwd=path.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, f"{path.name}:\n{result.stderr[-4000:]}"
    return json.loads(path.with_name(f"{path.stem}.executed.ipynb").read_text())


def test_downloads_install_dlopt_and_run_in_a_fresh_environment(build_log, tmp_path):
    """A downloaded page and a downloaded exercise each start by installing dlopt when it is
    missing, from the repository at the commit the site was built from (pointed here at a
    wheel built from this checkout), and then run top to bottom: the page as it is, the
    exercise with the source's solutions written into its answer cells, so that its visible
    tests call dlopt's grading and pass. One environment serves both; dlopt is uninstalled
    between the two, so each install cell does install."""
    python, wheel = _fresh_environment(tmp_path)
    assert _dlopt_location(python) is None, "the fresh environment must not have dlopt"

    page = "chapters/gradient_descent/gradient_descent"
    download = json.loads((HTML / "_sources" / f"{page}.ipynb").read_text())
    _execute(python, _pointed_at(download, wheel, page), tmp_path / "page.ipynb")
    where = _dlopt_location(python)
    assert where and str(python.parents[1]) in where, f"dlopt not installed in the venv: {where}"

    subprocess.run(
        [str(python), "-m", "pip", "uninstall", "--yes", "--quiet", "dlopt"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert _dlopt_location(python) is None

    assignment = "activations"
    exercises = (HTML / "chapters" / "exercises" / "exercises.html").read_text()
    link = re.search(rf'href="([^"]*_downloads/[^"]*/{assignment}\.ipynb)"', exercises)
    assert link, f"the exercises page does not offer {assignment}"
    released = json.loads((HTML / "chapters" / "exercises" / link.group(1)).resolve().read_text())
    first = "".join(released["cells"][0]["source"])
    assert "Assignments tab" in first and "installs it when it is missing" in first, first
    released = _pointed_at(released, wheel, f"the released {assignment}")
    # the student's part: the source's solutions, by nbgrader's grade id
    source = json.loads(
        (ROOT / "exercises" / "source" / assignment / f"{assignment}.ipynb").read_text()
    )
    solutions = {
        c["metadata"]["nbgrader"]["grade_id"]: c["source"]
        for c in source["cells"]
        if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("solution")
    }
    answered = 0
    for cell in released["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if cell["cell_type"] == "code" and grade_id in solutions:
            cell["source"], answered = solutions[grade_id], answered + 1
    assert answered == len(solutions) > 0
    executed = _execute(python, released, tmp_path / f"{assignment}.ipynb")
    where = _dlopt_location(python)
    assert where and str(python.parents[1]) in where, f"dlopt not installed in the venv: {where}"
    tests = [
        c
        for c in executed["cells"]
        if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("grade")
    ]
    assert tests and all("check(" in "".join(c["source"]) for c in tests)


# The race pages' frames and figures are sized for the column (dlopt.plots): their smallest
# text is 13 points at 80 dpi in the animations' frames, 10 points at 110 dpi in the figures.
RACE_TEXT_PX = {"animation": 13 * 80 / 72, "figure": 10 * 110 / 72}


@pytest.mark.parametrize(
    "page_path", ["chapters/optimizers/race", "chapters/optimizers/race_network"]
)
def test_race_images_are_shown_large_enough_for_their_text(browser, server, page_path):
    with PageVisit(browser, server) as visit:
        page = visit.open(f"{page_path}.html")
        page.wait_for_load_state("networkidle")
        images = page.evaluate("""() => Array.from(document.querySelectorAll('article img'))
            .filter(i => i.naturalWidth > 300)
            .map(i => ({animation: i.closest('div.animation') !== null,
                        natural: i.naturalWidth, shown: i.getBoundingClientRect().width}))""")
    assert images, f"{page_path}: no figure"
    for image in images:
        kind = "animation" if image["animation"] else "figure"
        shown_px = RACE_TEXT_PX[kind] * image["shown"] / image["natural"]
        assert shown_px >= 14, (  # the caption's size
            f"{page_path}: a {kind} {image['natural']} px wide is shown at "
            f"{image['shown']:.0f} px, its smallest text at {shown_px:.1f} px"
        )
