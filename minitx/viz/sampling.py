"""One next-token distribution as generation samples from it: under several
temperatures, and under top-k and top-p filtering. The probabilities come from
minitx.models.gpt.sampling.filtered_probs, the function next_token draws from."""
import numpy as np

from ..models.gpt.sampling import filtered_probs
from ._figure import finish, new_figure, token_label


def entropy_bits(probs):
    """The entropy of a distribution (V,), in bits."""
    p = probs[probs > 0]
    return float(-(p * np.log2(p)).sum())


def _values(values):
    """A setting's values as a tuple: None is none, a number is one."""
    if values is None:
        return ()
    return tuple(values) if np.ndim(values) else (values,)


def sampling_panels(logits, temperatures=(0.5, 1.0, 2.0), top_k=(5, 20), top_p=(0.5, 0.9)):
    """One panel per setting: temperatures alone, then top-k and top-p at temperature 1.
    Returns a list of dicts: title, probs (V,), entropy (bits), kept (the mass, at that
    temperature, of the tokens the filter keeps)."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 1 or logits.shape[0] < 2:
        raise ValueError(f"sampling_distributions: logits must be one distribution (V,), got shape {logits.shape}")
    settings = ([(f"temperature {t:g}", dict(temperature=t)) for t in _values(temperatures)]
                + [(f"top-k {k}", dict(top_k=k)) for k in _values(top_k)]
                + [(f"top-p {p:g}", dict(top_p=p)) for p in _values(top_p)])
    if not settings:
        raise ValueError("sampling_distributions: no temperature, top_k or top_p to draw")
    panels = []
    for title, kwargs in settings:
        probs = filtered_probs(logits, **kwargs)  # (V,)
        unfiltered = filtered_probs(logits, kwargs.get("temperature", 1.0))
        panels.append({"title": title, "probs": probs, "entropy": entropy_bits(probs),
                       "kept": float(unfiltered[probs > 0].sum())})
    return panels


def sampling_distributions(logits, tokens=None, temperatures=(0.5, 1.0, 2.0), top_k=(5, 20), top_p=(0.5, 0.9),
                           path=None, shown=24):
    """Bars of the `shown` most likely tokens of logits (V,) under each setting (grey: the
    distribution at temperature 1), entropy and kept mass in each panel's title.
    tokens: V labels (default: the ids). Returns the Figure."""
    panels = sampling_panels(logits, temperatures, top_k, top_p)
    base = filtered_probs(np.asarray(logits, dtype=np.float64), 1.0)  # (V,)
    V = base.shape[0]
    labels = [str(i) for i in range(V)] if tokens is None else [token_label(t) for t in tokens]
    if len(labels) != V:
        raise ValueError(f"sampling_distributions: {len(labels)} tokens for logits of V = {V}")
    top = np.argsort(-base, kind="stable")[:shown]  # the ids shown, most likely first
    n_temperatures = len(_values(temperatures))
    rows = [panels[:n_temperatures], panels[n_temperatures:]]
    rows = [row for row in rows if row]
    ncols = max(len(row) for row in rows)
    fig, axes = new_figure(len(rows), ncols, panel=(max(3.2, 0.2 * len(top) + 0.8), 2.8), sharey=True)
    for r, row in enumerate(rows):
        for c, ax in enumerate(axes[r]):
            if c >= len(row):
                ax.set_axis_off()
                continue
            panel = row[c]
            ax.bar(range(len(top)), base[top], color="0.85", label="temperature 1")
            ax.bar(range(len(top)), panel["probs"][top], width=0.55, color="C0", label="sampled from")
            ax.set_xticks(range(len(top)), [labels[i] for i in top], fontsize=8)
            ax.set_title(f"{panel['title']}\nH = {panel['entropy']:.2f} bits, kept {panel['kept']:.1%}",
                         fontsize=9)
            if c == 0:
                ax.set_ylabel("probability")
    axes[0, 0].legend(fontsize=7)
    return finish(fig, path)
