"""Position tables (T, C): the table itself, and how alike two positions' rows are.

For the sinusoidal table, p_i . p_j = sum over the C/2 frequencies w of
cos(w (j - i)): it depends on the distance alone, peaks at C/2 at distance 0 and
decays. A learned table (GPT's wpe) shows how far training got toward that.
"""
import numpy as np

from ._figure import finish, new_figure


def _table(table, name):
    P = np.asarray(table, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] < 2:
        raise ValueError(f"{name}: table must be (T, C) with T >= 2 positions, got shape {P.shape}")
    return P  # (T, C)


def position_encoding_map(table, path=None):
    """A heat map of a position table (T, C): one row per position. Returns the Figure."""
    P = _table(table, "position_encoding_map")
    T, C = P.shape
    fig, axes = new_figure(1, 1, panel=(7.0, 4.0))
    ax = axes[0, 0]
    limit = np.abs(P).max() or 1.0
    image = ax.imshow(P, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set_xlabel("channel")
    ax.set_ylabel("position")
    ax.set_title(f"position table (T={T}, C={C})")
    fig.colorbar(image, ax=ax, label="value")
    return finish(fig, path)


def position_similarity(table, path=None, references=4):
    """Left: the dot products p_i . p_j of every pair of positions (T, T). Right: p_i . p_j
    against the distance j - i, one curve per reference position i; for the sinusoidal
    table the curves lie on one another. Returns the Figure."""
    P = _table(table, "position_similarity")
    T = P.shape[0]
    dots = P @ P.T  # (T, T)
    fig, axes = new_figure(1, 2, panel=(4.6, 3.8))
    left, right = axes[0]
    image = left.imshow(dots, cmap="viridis", interpolation="nearest")
    left.set_xlabel("position j")
    left.set_ylabel("position i")
    left.set_title("p_i · p_j")
    fig.colorbar(image, ax=left, shrink=0.85)
    starts = sorted({int(i) for i in np.linspace(0, T - 1, references + 1)[:-1]})
    for n, i in enumerate(starts):  # each line thinner than the last: lines that coincide stay visible
        right.plot(np.arange(T) - i, dots[i], label=f"i = {i}", linewidth=3.0 - 2.2 * n / max(1, len(starts) - 1))
    right.set_xlabel("distance j - i")
    right.set_ylabel("p_i · p_j")
    right.set_title("dot product against distance")
    right.legend(fontsize=8)
    right.grid(alpha=0.3)
    return finish(fig, path)
