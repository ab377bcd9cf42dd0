"""Build-only IPython extension: every inline PNG records the smallest text it shows.

The book's build loads it into each kernel it starts (``_ext/figure_text.py`` sets
``DLOPT_FIGURE_TEXT_HOOK`` to this file; ``ipython_kernel_config.py`` loads it when that
variable is set). Nothing else loads it: a reader who imports ``dlopt`` gets matplotlib
unchanged.

How: matplotlib_inline registers one PNG printer for ``Figure`` with IPython's display
formatter. This wraps that printer. Before the figure is printed, it is drawn once more
on a renderer that draws nothing but notes every string matplotlib hands it with its
font size (``draw_text``: tick labels, axis labels, titles, legends, annotations; a
string entirely outside its clip box is not shown and not counted). The smallest size,
in pixels of the saved image (points x saving dpi / 72), goes into the PNG itself as a
tEXt chunk, through ``print_png``'s ``metadata``. tests/test_site.py reads it back and
scales it by the image's displayed width.
"""

from __future__ import annotations

import json

#: the PNG tEXt keyword (Latin-1, at most 79 characters)
KEY = "dlopt-min-text"


def _nothing(*args, **kwargs):
    return None


def text_sizes(fig) -> list[tuple[float, str]]:
    """(font size in points, string) of every text a draw of ``fig`` puts on the image."""
    from matplotlib.backends.backend_agg import RendererAgg

    class TextRecorder(RendererAgg):
        """An Agg renderer that draws nothing and writes down every string it is given."""

        def __init__(self, width, height, dpi):
            super().__init__(width, height, dpi)
            self.texts: list[tuple[float, str]] = []
            for name in (
                "draw_path",
                "draw_markers",
                "draw_path_collection",
                "draw_quad_mesh",
                "draw_gouraud_triangles",
                "draw_image",
            ):
                setattr(self, name, _nothing)

        def _note(self, gc, s, prop, mtext):
            if not s.strip():
                return
            clip = gc.get_clip_rectangle()
            if clip is not None and mtext is not None:
                if not mtext.get_window_extent(self).overlaps(clip):
                    return
            self.texts.append((prop.get_size_in_points(), s))

        def draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
            self._note(gc, s, prop, mtext)

        def draw_tex(self, gc, x, y, s, prop, angle, *, mtext=None):
            self._note(gc, s, prop, mtext)

    width, height = fig.bbox.size
    renderer = TextRecorder(max(int(width), 1), max(int(height), 1), fig.dpi)
    fig.draw(renderer)
    return renderer.texts


def record(fig, dpi: float) -> dict:
    """The smallest text of ``fig`` as saved at ``dpi``: its height in image pixels (the
    font size, as CSS measures text), the string, and how many strings were counted."""
    texts = text_sizes(fig)
    if not texts:
        return {"min_px": None, "text": "", "texts": 0, "dpi": dpi}
    points, text = min(texts, key=lambda t: t[0])
    return {
        "min_px": round(points * dpi / 72, 2),
        "text": text[:60],
        "texts": len(texts),
        "dpi": dpi,
    }


def _recording(printer):
    """``printer`` (matplotlib_inline's PNG printer, a partial of IPython's print_figure or
    retina_figure) with the record added to the PNG's metadata."""
    keywords = getattr(printer, "keywords", {}) or {}
    retina = getattr(getattr(printer, "func", None), "__name__", "") == "retina_figure"

    def png(fig):
        dpi = keywords.get("dpi", fig.dpi) * (2 if retina else 1)
        metadata = dict(keywords.get("metadata") or {})
        metadata[KEY] = json.dumps(record(fig, dpi))
        return printer(fig, metadata=metadata)

    png.dlopt_records_text = True
    return png


def _wrap_png_printer(shell) -> None:
    from matplotlib.figure import Figure

    formatter = shell.display_formatter.formatters["image/png"]
    printer = formatter.type_printers.get(Figure)
    if printer is not None and not getattr(printer, "dlopt_records_text", False):
        formatter.for_type(Figure, _recording(printer))


def load_ipython_extension(shell) -> None:
    # Before every cell, and after it before matplotlib_inline shows the cell's figures
    # (its post_execute callback is registered after this one): %matplotlib inline or a
    # change of InlineBackend.figure_formats registers a fresh printer.
    shell.events.register("pre_run_cell", lambda info: _wrap_png_printer(shell))
    shell.events.register("post_execute", lambda: _wrap_png_printer(shell))
    import matplotlib

    backend = str(matplotlib.rcParams._get("backend"))
    if "inline" in backend:
        # what the first `import matplotlib.pyplot` would do; now, so that a figure shown
        # in the page's first matplotlib cell is recorded too
        import matplotlib_inline.backend_inline  # noqa: F401

        _wrap_png_printer(shell)
