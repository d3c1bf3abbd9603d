"""What every picture shares: a Figure on the Agg canvas, saving, token labels."""
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100  # the PNGs stay small; docs/img holds them


def new_figure(nrows, ncols, panel=(4.0, 3.2), **subplots):
    """A Figure of nrows x ncols panels, each about `panel` inches; returns (fig, axes 2-D)."""
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplots)
    return fig, axes


def finish(fig, path):
    """Save the Figure as a PNG at `path` if given; return it."""
    if path is not None:
        fig.savefig(path, dpi=DPI, format="png")
    return fig


def token_label(token):
    """A token as a tick label: blanks made visible (a space is ␣, a newline \\n)."""
    token = str(token)
    return "␣" if token == " " else token.replace("\n", "\\n").replace("\t", "\\t")
