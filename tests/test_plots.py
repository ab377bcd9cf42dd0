"""Plots: the right artists, labelled axes, legends, and animations that load nothing
from a CDN. Rendered with the Agg backend and few frames, so the file runs in seconds."""

import re

import IPython.core.formatters
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.animation import AbstractMovieWriter, FuncAnimation
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg

from dlopt import landscapes, plots

matplotlib.use("Agg")
# an animation built only to count its frames is never rendered, and matplotlib says so
pytestmark = pytest.mark.filterwarnings("ignore:Animation was deleted without rendering")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def labelled(ax):
    return ax.get_xlabel() != "" and ax.get_ylabel() != ""


def legend_labels(ax):
    legend = ax.get_legend()
    assert legend is not None, "every figure has a legend"
    return [t.get_text() for t in legend.get_texts()]


def descent_path(landscape, lr, steps):
    p, path = landscape.start.copy(), [landscape.start.copy()]
    for _ in range(steps - 1):
        p = p - lr * landscape.grad(p)
        path.append(p)
    return np.array(path)


@pytest.fixture
def race_paths():
    f = landscapes.rosenbrock()
    return f, {"SGD": descent_path(f, 1e-3, 7), "Adam": descent_path(f, 5e-4, 4)}


# --- style -------------------------------------------------------------------------------


def test_use_style_is_idempotent_and_sets_the_book_style():
    with matplotlib.rc_context():
        plots.use_style()
        first = dict(matplotlib.rcParams)
        plots.use_style()
        assert dict(matplotlib.rcParams) == first
        assert matplotlib.rcParams["figure.dpi"] == 110
        assert matplotlib.rcParams["axes.grid"] is True


def test_every_optimizer_has_its_own_valid_colour():
    names = ["SGD", "Momentum", "Nesterov", "Adagrad", "Adadelta", "RMSprop", "Adam",
             "AdamW", "AMSGrad", "Newton", "L-BFGS"]  # fmt: skip
    assert set(names) <= set(plots.COLORS)
    rgb = [matplotlib.colors.to_hex(plots.COLORS[n]) for n in names]
    assert len(set(rgb)) == len(names), "no two optimizers share a colour"
    assert plots.color_for("adam") == plots.COLORS["Adam"]
    assert plots.color_for("my method", 2) == "C2"


# --- loss curves -------------------------------------------------------------------------


def test_loss_curves_of_one_history_draw_one_line_per_loss_key():
    history = {
        "train_loss": [1.0, 0.5, 0.3],
        "val_loss": [1.1, 0.7, 0.6],
        "train_acc": [0.5, 0.7, 0.8],
    }
    ax = plots.loss_curves(history, logy=True)
    assert isinstance(ax, Axes) and labelled(ax)
    assert len(ax.lines) == 2  # accuracy is not a loss
    assert legend_labels(ax) == ["train loss", "val loss"]
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "epoch"
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), history["val_loss"])


def test_loss_curves_of_several_runs_colour_by_optimizer_and_style_by_split():
    runs = {
        "SGD": {"train_loss": [1.0, 0.8], "val_loss": [1.1, 0.9]},
        "Adam": {"train_loss": [0.9, 0.4], "val_loss": [1.0, 0.6]},
    }
    fig, ax = plt.subplots()
    assert plots.loss_curves(runs, ax=ax, xlabel="iteration") is ax
    assert len(ax.lines) == 4 and labelled(ax) and ax.get_xlabel() == "iteration"
    by_label = {line.get_label(): line for line in ax.lines}
    adam_val = by_label["Adam (val loss)"]
    assert matplotlib.colors.to_hex(adam_val.get_color()) == plots.COLORS["Adam"].lower()
    assert adam_val.get_linestyle() == "--" and by_label["SGD (train loss)"].get_linestyle() == "-"


def test_loss_curves_reject_bad_input():
    with pytest.raises(ValueError, match="non-empty dict"):
        plots.loss_curves({})
    with pytest.raises(KeyError, match="history has no keys"):
        plots.loss_curves({"train_loss": [1.0]}, keys=["val_loss"])
    with pytest.raises(ValueError, match="must have 1 dimensions"):
        plots.loss_curves({"train_loss": [[1.0, 2.0]]})


# --- landscapes --------------------------------------------------------------------------


def test_contour_draws_levels_and_minima_with_labelled_axes():
    f = landscapes.himmelblau()
    ax = plots.contour(f, levels=12)
    assert isinstance(ax, Axes) and labelled(ax) and ax.get_title() == f.title
    (contours,) = ax.collections
    assert len(contours.levels) == 12
    levels = contours.levels - f.min_value
    ratios = levels[1:] / levels[:-1]
    np.testing.assert_allclose(ratios, ratios[0])  # log-spaced above the minimum
    (stars,) = ax.lines
    np.testing.assert_allclose(np.c_[stars.get_xdata(), stars.get_ydata()], f.minima)
    assert ax.get_xlim() == f.bounds[0] and ax.get_ylim() == f.bounds[1]


def test_contour_uses_linear_levels_when_the_landscape_is_unbounded_below():
    ax = plots.contour(landscapes.saddle(), levels=9)
    levels = ax.collections[0].levels
    np.testing.assert_allclose(np.diff(levels), np.diff(levels)[0])
    assert len(ax.lines) == 0  # a saddle has no minima to mark


def test_trajectories_draw_each_path_its_end_the_starts_and_minima(race_paths):
    f, paths = race_paths
    ax = plots.trajectories(f, paths)
    assert isinstance(ax, Axes) and labelled(ax)
    # per path a line and an end marker, plus one line of start points and one of minima
    assert len(ax.lines) == 2 * len(paths) + 2
    by_label = {line.get_label(): line for line in ax.lines}
    np.testing.assert_array_equal(by_label["SGD"].get_xdata(), paths["SGD"][:, 0])
    assert matplotlib.colors.to_hex(by_label["SGD"].get_color()) == plots.COLORS["SGD"].lower()
    assert {"SGD", "Adam", "start", "minimum"} <= set(legend_labels(ax))


def test_trajectories_reject_paths_of_the_wrong_shape():
    f = landscapes.beale()
    with pytest.raises(ValueError, match=r"paths\['SGD'\] must have shape \(\*, 2\)"):
        plots.trajectories(f, {"SGD": np.zeros((5, 3))})
    with pytest.raises(ValueError, match="non-empty dict"):
        plots.trajectories(f, {})


class RecordingWriter(AbstractMovieWriter):
    """A movie writer that keeps each frame's line data instead of encoding images."""

    def __init__(self):
        super().__init__(fps=10)
        self.frames = []

    def setup(self, fig, outfile, dpi=None):
        super().setup(fig, outfile, dpi)

    def grab_frame(self, **savefig_kwargs):
        ax = self.fig.axes[0]
        assert labelled(ax) and ax.get_legend() is not None
        self.frames.append({line.get_label(): line.get_xydata().copy() for line in ax.lines})

    def finish(self):
        pass


def test_race_has_one_frame_per_iteration_of_the_longest_path(race_paths):
    f, paths = race_paths
    anim = plots.race(f, paths, interval=30)
    assert isinstance(anim, FuncAnimation)
    assert len(list(anim.new_frame_seq())) == max(len(p) for p in paths.values()) == 7
    writer = RecordingWriter()
    anim.save("unused", writer=writer)
    assert len(writer.frames) == 7
    for t, frame in enumerate(writer.frames):
        for name, path in paths.items():
            # frame t shows iterations 0..t; the shorter path stays at its end
            np.testing.assert_array_equal(frame[name], path[: min(t, len(path) - 1) + 1])


def test_race_with_fewer_frames_subsamples_iterations(race_paths):
    f, paths = race_paths
    anim = plots.race(f, paths, frames=3)
    writer = RecordingWriter()
    anim.save("unused", writer=writer)
    shown = [len(frame["SGD"]) - 1 for frame in writer.frames]
    assert shown == [0, 3, 6]  # evenly spaced, first and last included
    with pytest.raises(ValueError, match="Invalid frames"):
        plots.race(f, paths, frames=0)


def test_animation_html_embeds_every_frame_and_loads_nothing_from_a_cdn(race_paths):
    f, paths = race_paths
    anim = plots.race(f, paths, frames=4, dpi=40)
    raw = anim.to_jshtml()
    assert "font-awesome" in raw, "matplotlib's template loads Font Awesome from a CDN"
    html = plots.animation_html(anim)
    for needle in ("cdnjs", "bootstrapcdn", "font-awesome", "fontawesome"):
        assert needle not in html.lower()
    assert re.search(r"https?://", html) is None
    assert html.count("data:image/") == 4  # the frames are embedded, not linked
    assert "<script" in html and "fa-play" in html  # the player is still there


def test_race_html_is_a_light_player_that_a_notebook_renders(race_paths):
    f, paths = race_paths
    before = dict(matplotlib.rcParams)
    html = plots.race_html(f, paths, frames=3)
    assert isinstance(html, str) and html._repr_html_() == str(html)
    assert html.count("data:image/jpeg") == 3 and re.search(r"https?://", html) is None
    assert dict(matplotlib.rcParams) == before  # the light-frame settings do not leak out


def test_html_table_has_a_header_row_and_escapes_its_cells():
    html = plots.html_table(["lr", "a < b"], [(0.1, "<script>"), ("x & y", 3)])
    assert html == (
        "<table><tr><th>lr</th><th>a &lt; b</th></tr>"
        "<tr><td>0.1</td><td>&lt;script&gt;</td></tr>"
        "<tr><td>x &amp; y</td><td>3</td></tr></table>"
    )
    assert html._repr_html_() == html
    formatted, _ = IPython.core.formatters.DisplayFormatter().format(html)
    assert formatted["text/html"] == html
    assert formatted["text/plain"] == f"<HTML, {len(html)} characters>"  # not a second copy


# --- per-layer statistics and activation functions ---------------------------------------


def test_layer_statistics_draw_one_line_per_scheme_over_layer_index():
    stats = {"Xavier": [1.0, 0.9, 0.85], "Kaiming": [1.0, 1.0, 1.02], "N(0, 1)": [3.0, 9.0, 30.0]}
    ax = plots.layer_statistics(stats, ylabel="std of activations")
    assert isinstance(ax, Axes) and labelled(ax) and ax.get_ylabel() == "std of activations"
    assert len(ax.lines) == 3 and ax.get_yscale() == "log"
    np.testing.assert_array_equal(ax.lines[2].get_xdata(), [1, 2, 3])
    assert legend_labels(ax) == list(stats)


def test_function_and_derivative_draw_both_panels():
    x = np.linspace(-3, 3, 50)
    fns = {
        "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
        "ReLU": (lambda x: np.maximum(x, 0), lambda x: (x > 0).astype(float)),
    }
    ax_f, ax_df = plots.function_and_derivative(fns, x)
    for ax in (ax_f, ax_df):
        assert isinstance(ax, Axes) and labelled(ax) and len(ax.lines) == 2
        assert legend_labels(ax) == ["tanh", "ReLU"]
    np.testing.assert_allclose(ax_df.lines[0].get_ydata(), 1 - np.tanh(x) ** 2)
    with pytest.raises(TypeError, match=r"fns\['bad'\] must be a pair"):
        plots.function_and_derivative({"bad": np.tanh}, x)


# --- the race with many racers: panels, legends off the data, text at the column's scale ------

FAMILIES = {"momentum": ["SGD", "Momentum"], "adaptive": ["Adam", "Rprop", "Lion"]}


@pytest.fixture
def five_paths():
    f = landscapes.rosenbrock()
    return f, {
        name: descent_path(f, lr, 6)
        for name, lr in zip(sum(FAMILIES.values(), []), (1e-3, 8e-4, 6e-4, 4e-4, 2e-4))
    }


def _bbox(artist):
    return artist.get_window_extent(artist.figure.canvas.get_renderer())


def test_race_groups_give_one_panel_each_with_its_racers_in_a_legend_under_it(five_paths):
    f, paths = five_paths
    anim = plots.race(f, paths, groups=FAMILIES, frames=2)
    fig = anim._fig
    FigureCanvasAgg(fig).draw()  # the closed figure gets a canvas again
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == list(FAMILIES)
    for ax, names in zip(panels, FAMILIES.values()):
        assert legend_labels(ax) == names  # only the racers: start and minimum are in the caption
        # the legend is below the panel, off the data
        assert _bbox(ax.get_legend()).y1 <= _bbox(ax.patch).y0 + 1
        styles = {
            (line.get_color(), str(line.get_linestyle()), line.get_marker())
            for line in ax.get_legend().get_lines()
        }
        assert len(styles) == len(names)  # colour, dash and marker all differ
        assert len({str(line.get_linestyle()) for line in ax.get_legend().get_lines()}) == len(
            names
        )
    assert "iteration" in fig.get_suptitle() and f.title in fig.get_suptitle()


def test_race_rejects_groups_that_name_no_path(five_paths):
    f, paths = five_paths
    with pytest.raises(ValueError, match=r"groups\['x'\] must list names of paths; \['Nadam'\]"):
        plots.race(f, paths, groups={"x": ["SGD", "Nadam"]})
    with pytest.raises(ValueError, match="groups must be None or a non-empty dict"):
        plots.race(f, paths, groups={})


def test_race_html_frames_fill_the_column_with_text_at_caption_size(five_paths):
    f, paths = five_paths
    fig, update, artists, _ = plots._frame_figure(f, paths, groups=FAMILIES, frames=3)
    width, _ = fig.canvas.get_width_height()
    assert width == 672  # the book's column at 1280 px: shown at its own size
    texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text()]
    assert texts
    smallest = min(t.get_fontsize() for t in texts) * plots._FRAME_DPI / 72
    assert smallest >= 14, f"smallest text {smallest:.1f} px"
    plt.close(fig)


def test_race_html_blitted_frames_equal_fully_redrawn_frames(five_paths):
    """The player's frames are drawn by blitting the paths onto a background drawn once; the
    truth is matplotlib's own full redraw of the same frame."""
    f, paths = five_paths
    html = plots.race_html(f, paths, groups=FAMILIES, frames=3)
    assert html.count("data:image/jpeg") == 3 and re.search(r"https?://", html) is None
    fig, update, artists, _ = plots._frame_figure(f, paths, groups=FAMILIES, frames=3)
    for a in artists:
        a.set_animated(True)
    fig.canvas.draw()
    background = fig.canvas.copy_from_bbox(fig.bbox)
    fig.canvas.restore_region(background)
    update(2)
    for a in artists:
        fig.draw_artist(a)
    blitted = np.asarray(fig.canvas.buffer_rgba()).astype(int)
    for a in artists:
        a.set_animated(False)
    fig.canvas.draw()
    full = np.asarray(fig.canvas.buffer_rgba()).astype(int)
    assert np.abs(blitted - full).max() <= 2  # the same picture, up to anti-aliasing order
    plt.close(fig)


def test_race_loss_panels_put_each_family_in_a_panel_with_its_legend_off_the_data():
    rng = np.random.default_rng(0)
    losses = {
        name: np.geomspace(10, 10 ** -rng.uniform(2, 8), 50)
        for names in FAMILIES.values()
        for name in names
    }
    with matplotlib.rc_context():
        plots.use_style()  # as on the book's pages
        axes = plots.race_loss_panels(losses, FAMILIES, target=1e-3)
    fig = axes[0, 0].get_figure(root=True)
    fig.canvas.draw()
    panels = [ax for ax in axes.flat if ax is not None]
    assert [ax.get_title() for ax in panels] == list(FAMILIES)
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert [[t.get_text() for t in leg.get_texts()] for leg in legends] == list(FAMILIES.values())
    for legend in legends:
        for ax in panels:
            assert not _bbox(legend).overlaps(_bbox(ax.patch))
    for ax, names in zip(panels, FAMILIES.values()):
        assert ax.get_yscale() == "log" and labelled(ax)
        for line, name in zip(ax.get_lines(), names):
            np.testing.assert_array_equal(line.get_ydata(), losses[name])
    # 6.1 inches at 110 dpi: shown at its own size in the column, text of 10 points or more
    assert fig.get_size_inches()[0] * fig.dpi <= 672
    texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text()]
    assert min(t.get_fontsize() for t in texts) * fig.dpi / 72 >= 15
    plt.close(fig)
