"""The race pages as a reader sees them at 1280 px: the animations' frames and the figures are
shown at (about) their own size, so the text sized for the column in :mod:`dlopt.plots` (13
points at 80 dpi in the frames, 10 points or more at 110 dpi in the figures) stays at least
14 px, the caption's size. Uses the book build and browser of ``test_site``."""

from __future__ import annotations

import pytest
from test_site import HTML, PageVisit, browser, build_log, server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.site

RACE_PAGES = ["chapters/optimizers/race", "chapters/optimizers/race_network"]
# smallest text, in points, and dpi of each kind of image (dlopt.plots)
FRAME_TEXT_PX = 13 * 80 / 72
FIGURE_TEXT_PX = 10 * 110 / 72
CAPTION_PX = 14


@pytest.mark.parametrize("page_path", RACE_PAGES)
def test_race_images_are_shown_large_enough_for_their_text(browser, server, page_path):  # noqa: F811
    with PageVisit(browser, server) as visit:
        page = visit.open(f"{page_path}.html")
        page.wait_for_load_state("networkidle")
        images = page.evaluate("""() => Array.from(document.querySelectorAll('article img'))
            .filter(i => i.naturalWidth > 300)
            .map(i => ({animation: i.closest('div.animation') !== null,
                        natural: i.naturalWidth, shown: i.getBoundingClientRect().width}))""")
    assert images, f"{page_path}: no figure"
    if page_path.endswith("/race"):
        assert sum(i["animation"] for i in images) == 3, images
    for image in images:
        text_px = FRAME_TEXT_PX if image["animation"] else FIGURE_TEXT_PX
        shown_px = text_px * image["shown"] / image["natural"]
        assert shown_px >= CAPTION_PX, (
            f"{page_path}: an image {image['natural']} px wide is shown at "
            f"{image['shown']:.0f} px, its smallest text at {shown_px:.1f} px"
        )
