"""Attention weights as a heat map: rows are queries, columns the keys they read."""
import math

import numpy as np

from ._figure import finish, new_figure, token_label


def attention_map(weights, tokens, path=None, title=None):
    """weights (T, T), or (NH, T, T) for a grid of heads: row i is query i's softmax
    over the keys. tokens: T labels, shown on both axes. Returns the Figure."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim not in (2, 3) or w.shape[-1] != w.shape[-2]:
        raise ValueError(f"attention_map: weights must be (T, T) or (NH, T, T), got shape {w.shape}")
    heads = w[None] if w.ndim == 2 else w  # (NH, T, T)
    NH, T, _ = heads.shape
    labels = [token_label(t) for t in tokens]
    if len(labels) != T:
        raise ValueError(f"attention_map: {len(labels)} tokens for weights of T = {T} positions {w.shape}")
    ncols = math.ceil(math.sqrt(NH))
    fig, axes = new_figure(math.ceil(NH / ncols), ncols, panel=(max(3.0, 0.17 * T + 1.2),) * 2)
    for h, ax in enumerate(axes.flat):
        if h >= NH:
            ax.set_axis_off()
            continue
        image = ax.imshow(heads[h], cmap="viridis", vmin=0, vmax=max(1e-12, heads.max()))
        ax.set_xticks(range(T), labels, fontsize=8, rotation=90 if max(map(len, labels)) > 2 else 0)
        ax.set_yticks(range(T), labels, fontsize=8)
        ax.set_xlabel("key")
        ax.set_ylabel("query")
        if NH > 1:
            ax.set_title(f"head {h}", fontsize=10)
    fig.colorbar(image, ax=axes, shrink=0.8, label="attention weight")
    if title:
        fig.suptitle(title)
    return finish(fig, path)
