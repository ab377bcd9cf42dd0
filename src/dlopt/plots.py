"""The book's figures, in one consistent style.

Call :func:`use_style` once at the top of a page. Every optimizer has a fixed colour
in :data:`COLORS`, so "Adam" is the same colour on every page. Every function draws
into ``ax`` (a new figure when it is None), labels its axes, adds a legend, and
returns what it drew on (Axes, a pair of Axes, or an animation).

Animations: :func:`race` returns a ``matplotlib.animation.FuncAnimation``; show it on
a page with ``IPython.display.HTML(animation_html(anim))``, which embeds the frames
and loads nothing from a CDN (the book theme already ships the player's icons).
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable, Mapping
from io import BytesIO
from pathlib import Path
from tempfile import TemporaryDirectory

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from cycler import cycler
from matplotlib.animation import FuncAnimation, HTMLWriter

from ._validation import validate_array, validate_choice, validate_int

__all__ = [
    "COLORS",
    "LINE_STYLES",
    "MARKERS",
    "HtmlString",
    "animation_html",
    "color_for",
    "contour",
    "function_and_derivative",
    "html_table",
    "layer_statistics",
    "loss_curves",
    "race",
    "race_html",
    "race_loss_panels",
    "trajectories",
    "use_style",
]

#: One colour per optimizer, used by every figure of the book. Families share hues:
#: momentum methods are blues, Adagrad-like greens, Adam-like reds and purples.
COLORS: dict[str, str] = {
    "SGD": "#7F7F7F",
    "Momentum": "#0072B2",
    "Nesterov": "#56B4E9",
    "Adagrad": "#44AA99",
    "Adadelta": "#117733",
    "RMSprop": "#E69F00",
    "Adam": "#D55E00",
    "AdamW": "#CC79A7",
    "AMSGrad": "#882255",
    "Newton": "#000000",
    "L-BFGS": "#8C564B",
    # the methods after Adam: distinct from the others of their family in the race's panels
    "ASGD": "#AA4499",
    "Rprop": "#332288",
    "Adafactor": "#CC6677",
    "NAdam": "#56B4E9",
    "RAdam": "#009E73",
    "Adamax": "#999933",
    "Lion": "#E69F00",
    "Muon": "#0072B2",
    "SF-SGD": "#009E73",
    "SF-AdamW": "#CC79A7",
}

#: Line styles and end markers given by position in a figure, so that paths and curves
#: differ by more than their colour (readers who cannot tell two colours apart, greyscale).
LINE_STYLES = ["-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2)), (0, (1, 1)), "-"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]

# Okabe-Ito colours (safe for colour-blind readers) for everything else
_CYCLE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#882255", "#4D4D4D"]

_STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "figure.figsize": (6.1, 4.0),  # 671 px at 110 dpi: shown at full size in the 672 px column
    "figure.constrained_layout.use": True,
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,  # 15.3 px, above the captions' 14.7 px
    "legend.frameon": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": cycler(color=_CYCLE),
    "lines.linewidth": 1.8,
    "image.cmap": "viridis",
}


def use_style() -> None:
    """Set the book's matplotlib style (font sizes, grid, colour cycle, dpi 110).

    Only sets fixed values, so calling it twice changes nothing.
    """
    mpl.rcParams.update(_STYLE)


def color_for(name: str, index: int = 0) -> str:
    """The book's colour for optimizer ``name`` (case-insensitive), else the
    ``index``-th colour of the current cycle."""
    if name in COLORS:
        return COLORS[name]
    folded = {k.lower(): v for k, v in COLORS.items()}
    return folded.get(name.lower(), f"C{index % len(mpl.rcParams['axes.prop_cycle'])}")


def _new_axes(ax, **subplots_kw):
    if ax is None:
        _, ax = plt.subplots(**subplots_kw)
    return ax


# --- loss curves -------------------------------------------------------------------------

_KEY_STYLES = {"train": "-", "val": "--", "valid": "--", "test": ":"}


def _is_history(h) -> bool:
    return isinstance(h, Mapping) and all(not isinstance(v, Mapping) for v in h.values())


def _pick_keys(history: Mapping, keys) -> list[str]:
    if keys is not None:
        missing = [k for k in keys if k not in history]
        if missing:
            raise KeyError(f"history has no keys {missing}; it has {sorted(history)}")
        return list(keys)
    losses = [k for k in history if "loss" in k]
    return losses or list(history)


def loss_curves(histories, *, ax=None, logy: bool = False, xlabel: str = "epoch", keys=None):
    """Loss curves of one training run or of several.

    ``histories`` is either one history ``{"train_loss": [...], "val_loss": [...]}``
    (one line per key) or ``{run_name: history, ...}`` (colour by run, e.g. by
    optimizer, line style by key: train solid, validation dashed, test dotted).
    ``keys`` selects the series; by default every key containing "loss" (all keys if
    none does). Entry :math:`t` of a series is plotted at :math:`x = t + 1`.
    """
    if not isinstance(histories, Mapping) or not histories:
        raise ValueError(f"histories must be a non-empty dict, got {histories!r}")
    single = _is_history(histories)
    runs = {"": histories} if single else dict(histories)
    ax = _new_axes(ax)
    shown_keys: set[str] = set()
    for i, (run, history) in enumerate(runs.items()):
        if not _is_history(history):
            raise TypeError(f"history {run!r} must map names to lists of numbers")
        chosen = _pick_keys(history, keys)
        shown_keys.update(chosen)
        for j, key in enumerate(chosen):
            y = validate_array(f"{run}[{key!r}]" if run else key, history[key], ndim=1)
            pretty = key.replace("_", " ")
            style = _KEY_STYLES.get(key.split("_")[0], "-")
            if single:
                color, label = f"C{j}", pretty
            else:
                color = color_for(run, i)
                label = run if len(chosen) == 1 else f"{run} ({pretty})"
            ax.plot(np.arange(1, len(y) + 1), y, style, color=color, label=label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss" if all("loss" in k for k in shown_keys) else "value")
    ax.legend()
    return ax


# --- landscapes --------------------------------------------------------------------------


def _levels(landscape, Z: np.ndarray, levels, log_levels: bool) -> np.ndarray:
    """Contour levels; log-spaced above the known minimum value so the valley floor shows."""
    if not isinstance(levels, int | np.integer):
        return np.asarray(levels, dtype=float)
    validate_int("levels", levels, low=2)
    top = float(np.max(Z))
    if log_levels and landscape.min_value is not None:
        span = top - landscape.min_value
        return landscape.min_value + np.geomspace(1e-5 * span, span, levels)
    return np.linspace(float(np.min(Z)), top, levels)


def contour(landscape, *, ax=None, levels=20, log_levels: bool = True, n: int = 200):
    """Contour lines of ``landscape`` over its ``bounds``, with its minima as stars.

    ``levels`` is a count or explicit values. With ``log_levels`` (and a landscape
    whose minimum value is known) the levels are :math:`f^\\star + \\text{geomspace}`:
    dense near the minimum, sparse on the steep walls (Rosenbrock, Beale).
    """
    ax = _new_axes(ax)
    X, Y, Z = landscape.grid(n)
    lv = _levels(landscape, Z, levels, log_levels)
    # colour by level index, not by value, so log-spaced levels span the whole colour map
    colors = mpl.colormaps["viridis"](np.linspace(0.0, 0.9, len(lv)))
    ax.contour(X, Y, Z, levels=lv, colors=colors, linewidths=0.7)
    if len(landscape.minima):
        m = landscape.minima
        ax.plot(m[:, 0], m[:, 1], "*", color="black", markersize=12, label="minimum")
    ax.set_xlim(*landscape.bounds[0])
    ax.set_ylim(*landscape.bounds[1])
    ax.set_xlabel("$x$")
    ax.set_ylabel("$y$")
    ax.set_title(landscape.title)
    return ax


def _validate_paths(paths: Mapping) -> dict[str, np.ndarray]:
    if not isinstance(paths, Mapping) or not paths:
        raise ValueError("paths must be a non-empty dict {name: array of shape (T, 2)}")
    validated = {
        name: validate_array(f"paths[{name!r}]", p, shape=(None, 2)) for name, p in paths.items()
    }
    for name, p in validated.items():
        if len(p) == 0:
            raise ValueError(f"paths[{name!r}] is empty; it needs at least the starting point")
    return validated


def _draw_paths(ax, paths: dict[str, np.ndarray]):
    """One line and one head marker per path (filled later), plus the start points.

    The :math:`i`-th path gets its optimizer's colour, the :math:`i`-th of
    :data:`LINE_STYLES` and the :math:`i`-th of :data:`MARKERS` as its head.
    Returns ``[(path, line, head), ...]``.
    """
    starts = np.array([p[0] for p in paths.values()])
    ax.plot(starts[:, 0], starts[:, 1], "o", color="black", mfc="white", ms=7, label="start")
    drawn = []
    for i, (name, p) in enumerate(paths.items()):
        color = color_for(name, i)
        style, marker = LINE_STYLES[i % len(LINE_STYLES)], MARKERS[i % len(MARKERS)]
        (line,) = ax.plot(
            [],
            [],
            color=color,
            ls=style,
            marker=marker,
            markevery=[-1],
            ms=7,
            mec="white",
            label=name,
            lw=2.0,
        )
        (head,) = ax.plot([], [], marker, color=color, mec="white", ms=8)
        drawn.append((p, line, head))
    return drawn


def _show_until(drawn, t: int) -> None:
    """Show every path up to iteration ``t`` (a finished path stays at its end)."""
    for p, line, head in drawn:
        m = min(t, len(p) - 1) + 1
        line.set_data(p[:m, 0], p[:m, 1])
        head.set_data(p[m - 1 : m, 0], p[m - 1 : m, 1])


def _legend_below(ax, *handles, ncols: int = 2):
    """The legend (of ``handles``, or of everything labelled) under the axes, off the data.

    It starts right under the axes: meant for panels without tick labels."""
    return ax.legend(
        **({"handles": list(handles)} if handles else {}),
        loc="upper center",
        bbox_to_anchor=(0.5, -0.03),
        ncols=ncols,
        handlelength=2.4,
        columnspacing=1.0,
        borderaxespad=0.0,
    )


def trajectories(landscape, paths: Mapping, *, ax=None, levels=20, log_levels: bool = True):
    """Optimizer paths on the contour plot of ``landscape``.

    ``paths`` maps a name (an optimizer, coloured by :data:`COLORS`) to the iterates
    :math:`\\mathbf p_0, \\dots, \\mathbf p_{T-1}` as an array of shape (T, 2). Draws
    the start points, each path with a marker at its end, and the minima.
    """
    paths = _validate_paths(paths)
    ax = contour(landscape, ax=ax, levels=levels, log_levels=log_levels)
    drawn = _draw_paths(ax, paths)
    _show_until(drawn, max(len(p) for p in paths.values()) - 1)
    ax.legend(loc="best")
    return ax


def _validate_groups(paths: dict, groups) -> dict[str, list[str]]:
    """``groups`` (panel title -> names) validated against ``paths``; None is one panel of all."""
    if groups is None:
        return {"": list(paths)}
    if not isinstance(groups, Mapping) or not groups:
        raise ValueError("groups must be None or a non-empty dict {panel title: [names]}")
    validated = {}
    for title, names in groups.items():
        names = list(names)
        unknown = [n for n in names if n not in paths]
        if not names or unknown:
            raise ValueError(
                f"groups[{title!r}] must list names of paths; {unknown or 'it is empty'} "
                f"not in {sorted(paths)}"
            )
        validated[title] = names
    return validated


def _race_figure(landscape, paths, *, groups, ncols, frames, levels, log_levels, figsize, dpi):
    """The race's figure, laid out, with ``update(k)`` that shows frame ``k`` and the artists
    it changes; see :func:`race`."""
    paths = _validate_paths(paths)
    panels = _validate_groups(paths, groups)
    ncols = validate_int("ncols", ncols, low=1)
    T = max(len(p) for p in paths.values())
    frames = T if frames is None else validate_int("frames", frames, low=1)
    iterations = np.round(np.linspace(0, T - 1, frames)).astype(int)
    cols = min(ncols, len(panels))
    rows = -(-len(panels) // cols)
    if figsize is None:
        figsize = (8.4, 6.6) if len(panels) == 1 else (8.4, 4.3 * rows + 0.4)
    fig, axes = plt.subplots(
        rows, cols, figsize=figsize, dpi=validate_int("dpi", dpi, low=1), squeeze=False
    )
    drawn = []
    for ax, (title, names) in zip(axes.flat, panels.items()):
        contour(landscape, ax=ax, levels=levels, log_levels=log_levels)
        if not mpl.rcParams["xtick.labelbottom"]:  # frames without ticks need no axis labels
            ax.set_xlabel("")
            ax.set_ylabel("")
        if title:
            ax.set_title(title)
        here = _draw_paths(ax, {n: paths[n] for n in names})
        drawn += here
        _legend_below(ax, *(line for _, line, _ in here), ncols=2 if len(panels) > 1 else 3)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    # the counter is the figure's title: in the layout, above the panels, off the data
    single = len(panels) == 1
    clock = fig.suptitle("", x=0.98 if single else 0.5, ha="right" if single else "center")
    prefix = "" if single else f"{landscape.title}, "

    def update(k):
        _show_until(drawn, int(iterations[k]))
        clock.set_text(f"{prefix}iteration {iterations[k]}")
        return [a for _, line, head in drawn for a in (line, head)] + [clock]

    update(frames - 1)  # the longest paths and labels decide the layout
    fig.canvas.draw()  # lay out once (constrained layout, if on), then keep that layout
    fig.set_layout_engine("none")
    return fig, update, [a for _, line, head in drawn for a in (line, head)] + [clock], frames


def race(
    landscape,
    paths: Mapping,
    *,
    groups=None,
    ncols: int = 2,
    interval: int = 40,
    frames: int | None = None,
    levels=20,
    log_levels: bool = True,
    figsize=None,
    dpi: int = 100,
) -> FuncAnimation:
    """An animation of several optimizers racing on ``landscape``.

    Frame :math:`k` shows every path up to iteration :math:`t_k`. By default there is
    one frame per iteration of the longest path; ``frames`` fewer than that picks
    evenly spaced iterations (always including the first and the last). ``interval``
    is the delay between frames in milliseconds. ``groups`` (panel title -> names of
    ``paths``) draws one panel per group, ``ncols`` panels a row, so that many racers stay
    apart; by default all race in one panel. Each panel's legend sits under it, off the
    data, and the iteration counter above the panels.

    Every frame is embedded as an image in the page, so ``figsize``, ``dpi`` and ``frames``
    set its weight. The figure is laid out once, not per frame, and closed so a notebook
    does not also show it as a still image; display with :func:`animation_html` (or use
    :func:`race_html`, which does both).
    """
    interval = validate_int("interval", interval, low=1)
    fig, update, _, frames = _race_figure(
        landscape,
        paths,
        groups=groups,
        ncols=ncols,
        frames=frames,
        levels=levels,
        log_levels=log_levels,
        figsize=figsize,
        dpi=dpi,
    )
    anim = FuncAnimation(fig, update, frames=frames, interval=interval, blit=False)
    plt.close(fig)
    return anim


def race_loss_panels(
    losses: Mapping,
    groups,
    *,
    target: float | None = None,
    ncols: int = 2,
    figsize=None,
    xlabel: str = "step $t$",
):
    """Loss curves of a race, one panel per group of racers, on a shared log scale.

    ``losses`` maps a racer to its losses :math:`L(\\mathbf p_0), L(\\mathbf p_1), \\dots`
    (entry :math:`t` plotted at step :math:`t`); ``groups`` maps a panel title to names of
    ``losses``, as in :func:`race`. Each curve has its optimizer's colour, a line style and
    markers by position (as the paths of :func:`race`), each panel its legend under it;
    ``target`` draws a dotted horizontal line. Sized for the book's column (6.1 inches at
    110 dpi are shown at their own size), so the style's 10 to 12 point text stays above
    the caption size. Returns the array of Axes.
    """
    if not isinstance(losses, Mapping) or not losses:
        raise ValueError("losses must be a non-empty dict {racer: losses per step}")
    panels = _validate_groups(dict(losses), groups)
    ncols = validate_int("ncols", ncols, low=1)
    cols = min(ncols, len(panels))
    rows = -(-len(panels) // cols)
    if figsize is None:
        figsize = (6.1, 4.2 * rows)
    fig = plt.figure(figsize=figsize)
    # under each panel a row of its own for the legend, so that it sits off the data
    grid = fig.add_gridspec(2 * rows, cols, height_ratios=[3.0, 1.0] * rows)
    axes = np.empty((rows, cols), dtype=object)
    keys = np.empty((rows, cols), dtype=object)
    for k in range(rows * cols):
        r, c = divmod(k, cols)
        if k < len(panels):
            axes[r, c] = fig.add_subplot(grid[2 * r, c])
            keys[r, c] = fig.add_subplot(grid[2 * r + 1, c])
            keys[r, c].axis("off")
    shared = axes.flat[0]
    for ax, key, (title, names) in zip(axes.flat, keys.flat, panels.items()):
        if ax is not shared:
            ax.sharex(shared)
            ax.sharey(shared)
        for i, name in enumerate(names):
            y = validate_array(f"losses[{name!r}]", losses[name], ndim=1)
            ax.plot(
                np.arange(len(y)),
                y,
                color=color_for(name, i),
                ls=LINE_STYLES[i % len(LINE_STYLES)],
                marker=MARKERS[i % len(MARKERS)],
                markevery=(i * max(1, len(y) // 40), max(1, len(y) // 8)),
                ms=6,
                mec="white",
                lw=1.8,
                label=name,
            )
        if target is not None:
            ax.axhline(target, color="0.4", ls=":", lw=1.2)
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("loss")
        key.legend(
            *ax.get_legend_handles_labels(),
            fontsize=10,  # 15 px in the column, above the caption's 14
            loc="upper center",
            ncols=2,
            handlelength=3.0,
            columnspacing=1.2,
            borderaxespad=0.0,
        )
    return axes


_EXTERNAL_LINK = re.compile(r"<link\b[^>]*\bhref=[\"']https?://[^>]*>", re.IGNORECASE)


def animation_html(
    anim: FuncAnimation, *, default_mode: str = "loop", frame_format: str = "jpeg"
) -> str:
    """``anim.to_jshtml()`` without the Font Awesome stylesheet it loads from a CDN.

    The frames are embedded as base64 images (``frame_format`` "jpeg", about three
    times smaller than "png" for contour plots, or "png"); the player's icons come from
    the book theme, so the page loads nothing from outside the site.
    """
    validate_choice("frame_format", frame_format, {"jpeg", "png"})
    with mpl.rc_context({"animation.frame_format": frame_format}):
        html = anim.to_jshtml(default_mode=default_mode)
    return _without_external_links(html)


def _without_external_links(html: str) -> str:
    html = _EXTERNAL_LINK.sub("", html)
    url = re.search(r"https?://\S+", html)
    if url:  # a new matplotlib template would otherwise leak requests to the outside
        raise RuntimeError(f"animation HTML still references an external URL: {url.group()}")
    return html


#: What :func:`race_html` changes for its frames: every frame redraws all text and tick
#: labels are most of it, so they go (the panels keep their titles, legends and counter).
#: A frame is 8.4 inches at 80 dpi, 672 pixels: shown at its own size in the book's
#: column, where 13 points are 14.4 pixels, the caption's size.
_LIGHT_FRAMES = {
    "savefig.dpi": "figure",
    "xtick.labelbottom": False,
    "ytick.labelleft": False,
    "axes.titlesize": 13,
    "legend.fontsize": 13,
    "font.size": 13,
}
_FRAME_DPI = 80


class HtmlString(str):
    """A string of HTML that a notebook shows rendered (it has ``_repr_html_``)."""

    def _repr_html_(self) -> str:
        return str(self)

    def __repr__(self) -> str:  # the notebook's text/plain copy: short, not the whole page
        return f"<HTML, {len(self)} characters>"

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))


def _frame_figure(landscape, paths, *, groups, frames):
    """:func:`_race_figure` as :func:`race_html` draws it: light frames, 12 contour levels."""
    with mpl.rc_context(_LIGHT_FRAMES):
        return _race_figure(
            landscape,
            paths,
            groups=groups,
            ncols=2,
            frames=frames,
            levels=12,
            log_levels=True,
            figsize=None,
            dpi=_FRAME_DPI,
        )


class _CanvasHTMLWriter(HTMLWriter):
    """matplotlib's HTML player, fed with the canvas as it is (drawn by blitting) instead of
    a full ``savefig`` per frame: the contours and legends are drawn once, not per frame."""

    def grab_frame(self, **savefig_kwargs):
        rgba = np.asarray(self.fig.canvas.buffer_rgba())
        f = BytesIO()
        plt.imsave(f, rgba[..., :3], format="jpeg", pil_kwargs={"quality": 60})
        self._saved_frames.append(base64.encodebytes(f.getvalue()).decode("ascii"))


def race_html(
    landscape, paths: Mapping, *, groups=None, frames: int = 60, interval: int = 80
) -> HtmlString:
    """The :func:`race` of ``paths`` on ``landscape`` as an animation embedded in a page.

    About ``frames`` frames 672 pixels wide (the book's column at 1280 pixels), in JPEG
    without tick labels so the page stays light; text is 13 points, 14 pixels on the
    page. ``groups`` as in :func:`race`. The still parts (contours, legends) are drawn
    once and every frame only adds the paths, so many panels stay quick to build. A
    notebook cell ending with it shows the player. ``interval`` is the delay between frames
    in milliseconds (a whole race of 24 frames lasts about two seconds by default).
    """
    interval = validate_int("interval", interval, low=1)
    fig, update, artists, frames = _frame_figure(landscape, paths, groups=groups, frames=frames)
    try:
        for a in artists:
            a.set_animated(True)
        fig.canvas.draw()
        background = fig.canvas.copy_from_bbox(fig.bbox)
        writer = _CanvasHTMLWriter(fps=1000 / interval, embed_frames=True, default_mode="loop")
        writer.frame_format = "jpeg"
        with TemporaryDirectory() as tmp:
            out = Path(tmp, "race.html")
            writer.setup(fig, out, dpi=fig.dpi)
            for k in range(frames):
                fig.canvas.restore_region(background)
                update(k)
                for a in artists:
                    fig.draw_artist(a)
                writer.grab_frame()
            writer.finish()
            html = out.read_text()
    finally:
        plt.close(fig)
    return HtmlString(_without_external_links(html))


def html_table(header, rows) -> HtmlString:
    """A small HTML table: one header row, then one row per entry of ``rows``.

    Every cell is written with ``str`` and escaped. A notebook cell ending with it shows
    the table.
    """

    def cells(row, tag: str) -> str:
        return "".join(f"<{tag}>{html.escape(str(c))}</{tag}>" for c in row)

    lines = [f"<tr>{cells(header, 'th')}</tr>"] + [f"<tr>{cells(r, 'td')}</tr>" for r in rows]
    return HtmlString("<table>" + "".join(lines) + "</table>")


# --- per-layer statistics and activation functions --------------------------------------


def layer_statistics(
    stats: Mapping,
    *,
    ax=None,
    ylabel: str = "activation std",
    logy: bool = True,
    xlabel: str = "layer",
):
    """One line per scheme (initialization, activation, ...) of a statistic per layer.

    ``stats`` maps a scheme's name to a list of values, one per layer, plotted at
    layer indices :math:`1, \\dots, L`: e.g. the standard deviation of activations or
    the norm of gradients, to show them vanish or explode with depth.
    """
    if not isinstance(stats, Mapping) or not stats:
        raise ValueError("stats must be a non-empty dict {scheme: values per layer}")
    ax = _new_axes(ax)
    for i, (name, values) in enumerate(stats.items()):
        v = validate_array(f"stats[{name!r}]", values, ndim=1)
        ax.plot(np.arange(1, len(v) + 1), v, "-o", ms=4, color=color_for(name, i), label=name)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    return ax


def function_and_derivative(fns: Mapping[str, tuple[Callable, Callable]], x, *, axes=None):
    """Side by side: each function :math:`f(x)` (left) and its derivative :math:`f'(x)`.

    ``fns`` maps a name to a pair ``(f, df)`` of vectorised callables; ``x`` is a 1-D
    grid. Returns the two Axes.
    """
    if not isinstance(fns, Mapping) or not fns:
        raise ValueError("fns must be a non-empty dict {name: (f, df)}")
    x = validate_array("x", x, ndim=1)
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9.0, 3.6))
    ax_f, ax_df = axes
    for i, (name, pair) in enumerate(fns.items()):
        if not (isinstance(pair, tuple | list) and len(pair) == 2 and all(map(callable, pair))):
            raise TypeError(f"fns[{name!r}] must be a pair (f, df) of callables, got {pair!r}")
        f, df = pair
        color = color_for(name, i)
        ax_f.plot(x, f(x), color=color, label=name)
        ax_df.plot(x, df(x), color=color, label=name)
    for ax, ylabel, title in [(ax_f, "$f(x)$", "function"), (ax_df, "$f'(x)$", "derivative")]:
        ax.set_xlabel("$x$")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend()
    return ax_f, ax_df
