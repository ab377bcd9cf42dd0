"""Debian's Chromium, as every browser test launches it (Playwright, nothing downloaded).

``DLOPT_CHROMIUM`` points at another Chromium. ``--no-sandbox``: the tests run as root;
the rest keep the browser from reaching the network or updating itself.
"""

import os

CHROMIUM = os.environ.get("DLOPT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
