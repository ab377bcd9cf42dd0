"""The explorers on the built site: drawn, driven by mouse and keyboard, accessible, small.

Uses the book build, the local server and the browser of ``conftest.py``, and
``PageVisit`` of ``test_site.py`` (every request that leaves localhost, every
console error and every failed request is a problem). Each explorer is opened at a
desktop width and at 390 px; each of its controls is moved by mouse and by keyboard,
and the drawn paths, the readouts and the live status text must change with it.
Screenshots of each explorer go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import base64
import json
import math
import re

import numpy as np
import pytest
import test_site
from test_site import HTML, SCREENSHOTS, PageVisit

pytestmark = pytest.mark.site

# page -> explorer name -> the labels its controls start at (the static figure beside it)
EXPLORERS = {
    "chapters/optimizers/momentum": {
        "momentum": {"lr": "0.020", "beta": "0.90", "method": "heavy ball"},
        "momentum-noise": {"lr": "0.020", "beta": "0.90", "batch": "full"},
    },
    "chapters/optimizers/adaptive": {
        "adam": {"beta1": "0.9", "beta2": "0.999", "eps": "1e-08", "bias": "off"},
    },
    "chapters/schedules/schedules": {
        "schedules": {"warmup": "10", "shape": "cosine", "cycles": "1"},
    },
    "chapters/initialization/initialization": {
        "initialization": {
            "activation": "ReLU",
            "gain": "√2",
            "mode": "fan_in",
            "network": "constant (512)",
        },
    },
}
CASES = [(page, name) for page, names in EXPLORERS.items() for name in names]
LIMIT_BYTES = 400_000
WIDTHS = (1280, 390)


def embedded_payloads(page: str) -> dict[str, dict]:
    """The JSON of every explorer on a built page, by name."""
    text = (HTML / f"{page}.html").read_text()
    found = re.findall(
        r'<script type="application/json" class="dlopt-explorer-data">(.*?)'
        r"</script>",
        text,
        flags=re.S,
    )
    return {payload["name"]: payload for payload in map(json.loads, found)}


def test_explorers_are_on_their_pages_within_the_size_budget(build_log):
    sizes = {}
    for page, names in EXPLORERS.items():
        html = (HTML / f"{page}.html").read_text()
        payloads = embedded_payloads(page)
        assert set(payloads) == set(names), page
        for name in names:
            block = re.search(
                rf'<div class="dlopt-explorer" id="dlopt-explorer-{name}".*?</div>',
                html,
                flags=re.S,
            ).group(0)
            sizes[name] = len(block.encode())
            assert sizes[name] < LIMIT_BYTES, (name, sizes[name])
            # the page prints the size it measured (the build's record of it)
            assert re.search(
                rf"explorer (&#39;|'){name}(&#39;|'): \d+ cases, \d+ kB in the page", html
            ), name
    print("explorer sizes in their pages:", {k: f"{v / 1000:.0f} kB" for k, v in sizes.items()})


def test_only_pages_with_an_explorer_load_its_scripts(build_log):
    library = HTML / "_static" / "explorers" / "d3-explorers.min.mjs"
    assert library.exists() and library.stat().st_size < 200_000
    for page in test_site.toc_pages():
        html = (HTML / f"{page}.html").read_text()
        loads = "d3-explorers.min.mjs" in html
        assert loads == (page in EXPLORERS), page


def _case(page) -> str:
    return page.get_attribute("data-case")


def _drawn(root) -> list[str]:
    """The 'd' of every drawn series and the readouts' texts."""
    paths = root.locator("path.dlopt-series").evaluate_all("ps => ps.map(p => p.getAttribute('d'))")
    readouts = root.locator("dd[data-readout]").all_inner_texts()
    return paths + readouts


def _check_change(root, action):
    status_before = root.locator(".dlopt-explorer-status").inner_text()
    case_before = _case(root)
    drawn_before = _drawn(root)
    action()
    assert _case(root) != case_before, f"{action.__doc__}: the case did not change"
    drawn_after = _drawn(root)
    changed_paths = sum(a != b for a, b in zip(drawn_before, drawn_after))
    assert changed_paths >= 1, f"{action.__doc__}: nothing drawn changed"
    assert root.locator(".dlopt-explorer-status").inner_text() != status_before


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page_path, name", CASES)
def test_explorer_draws_and_every_control_moves_it(browser, server, page_path, name, width):
    payload = embedded_payloads(page_path)[name]
    expected_start = EXPLORERS[page_path][name]
    with PageVisit(browser, server) as visit:
        visit.page.set_viewport_size({"width": width, "height": 900})
        page = visit.open(f"{page_path}.html")
        root = page.locator(f"#dlopt-explorer-{name}")
        root.scroll_into_view_if_needed()
        page.wait_for_selector(f"#dlopt-explorer-{name}[data-ready=true]", timeout=20_000)

        # the starting state: the settings of the static figure beside it
        for control in payload["controls"]:
            label = expected_start[control["name"]]
            assert control["labels"][control["initial"]] == label, control["name"]
            if control["kind"] == "range":
                shown = root.locator(f"input[name={control['name']}]")
                assert shown.get_attribute("aria-valuetext") == label
            else:
                checked = root.locator("fieldset input[type=radio]:checked + label")
                assert label in checked.all_inner_texts()
        # the browser looks up the case the package stored for these settings (row-major
        # over the controls, as Explorer.case_index), and decodes its arrays to the same floats
        index = 0
        for control in payload["controls"]:
            index = index * len(control["values"]) + control["initial"]
        assert root.get_attribute("data-case") == str(index)
        for key, stored in payload["arrays"].items():
            size = math.prod(stored["shape"])
            expected = np.frombuffer(base64.b64decode(stored["data"]), dtype="<f4")
            shown = root.evaluate(f"r => Array.from(r.dloptExplorer.array('{key}'))")
            assert np.array_equal(
                np.array(shown, dtype="<f4"),
                expected[index * size : (index + 1) * size],
                equal_nan=True,
            ), key
        # every series is drawn, every readout filled
        assert all(
            d
            for d in root.locator("path.dlopt-series").evaluate_all(
                "ps => ps.map(p => p.getAttribute('d'))"
            )
        ), "a series without a path"
        assert all(t.strip() for t in root.locator("dd[data-readout]").all_inner_texts())
        assert root.locator("[aria-live=polite]").count() == 1

        # it fits: nothing sticks out to the right of the explorer, nor of the window
        overflow = root.evaluate("r => r.scrollWidth - r.clientWidth")
        right = root.evaluate("r => r.getBoundingClientRect().right")
        assert overflow <= 1 and right <= width, (overflow, right)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        root.screenshot(path=str(SCREENSHOTS / f"explorer-{name}-{width}.png"))

        # The choices first, from the starting state (at beta = 0 the two momentum methods
        # coincide), last one first, each left at another option than its first (for square
        # layers the two fan modes coincide: the widening network must be chosen first); then
        # the sliders.
        choices = [c for c in payload["controls"] if c["kind"] == "choice"][::-1]
        for control in choices + [c for c in payload["controls"] if c["kind"] == "range"]:
            if control["kind"] == "range":
                slider = root.locator(f"input[name={control['name']}]")
                assert slider.evaluate("s => s.labels.length") == 1, "slider without a label"
                n = len(control["values"])

                def by_keyboard(slider=slider, n=n):
                    """keyboard"""
                    slider.focus()
                    at_end = int(slider.input_value()) == n - 1
                    page.keyboard.press("ArrowLeft" if at_end else "ArrowRight")

                def by_mouse(slider=slider, n=n):
                    """mouse"""
                    box = slider.bounding_box()
                    low = int(slider.input_value()) > (n - 1) / 2
                    x = box["x"] + box["width"] * (0.03 if low else 0.97)
                    page.mouse.click(x, box["y"] + box["height"] / 2)

                _check_change(root, by_keyboard)
                _check_change(root, by_mouse)
            else:
                radios = root.locator(f"input[type=radio][name$='-{control['name']}']")
                assert radios.count() == len(control["values"])
                assert radios.first.evaluate("r => r.labels.length") == 1

                def radio_by_keyboard(radios=radios):
                    """keyboard"""
                    checked = radios.evaluate_all("rs => rs.findIndex(r => r.checked)")
                    radios.nth(checked).focus()
                    page.keyboard.press("ArrowRight")

                def radio_by_mouse(radios=radios):
                    """mouse"""
                    checked = radios.evaluate_all("rs => rs.findIndex(r => r.checked)")
                    other = (checked + 1) % radios.count()
                    root.locator(f"label[for='{radios.nth(other).get_attribute('id')}']").click()

                _check_change(root, radio_by_keyboard)
                _check_change(root, radio_by_mouse)
                radio_by_mouse()  # leave it at another option than the start (see above)
        assert not visit.problems, "\n".join(visit.problems)
