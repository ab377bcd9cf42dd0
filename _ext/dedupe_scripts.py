"""Drop duplicate <script> entries from every HTML page.

Under Sphinx 7.4 some extensions' inline scripts (sphinx-thebe's configuration, the
toggle button's selector) end up in a page twice, once registered with ``filename=None``
and once with ``filename=""``, and the browser stops with "Identifier 'THEBE_JS_URL' has
already been declared". Later Sphinx releases fix this; until then, keep the first copy
of each script.
"""

from __future__ import annotations

import os
from typing import Any


def _script_key(script: Any) -> tuple:
    """What makes two script entries the same script: its source, or its inline body.

    ``None`` and ``""`` both mean "inline"; the priority only orders scripts, so it is
    left out of the key.
    """
    filename = getattr(script, "filename", None)
    if filename is None and not hasattr(script, "attributes"):
        return (str(script), ())  # an old-style plain string entry
    attributes = getattr(script, "attributes", {}) or {}
    return (os.fspath(filename) if filename else "", tuple(sorted(attributes.items())))


def drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    """Remove repeated entries of ``context["script_files"]`` in place, keeping the first."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen = set()
    unique = []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    # In place: the list is the builder's own, which later handlers may still extend.
    scripts[:] = unique


def setup(app) -> dict[str, Any]:
    # Priority 900 (default 500): run after other extensions have added their scripts.
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
