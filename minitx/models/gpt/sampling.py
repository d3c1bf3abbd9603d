"""Choosing the next token from logits: temperature, top-k, top-p, greedy."""
import numpy as np


def check_sampling_args(temperature, top_k, top_p):
    if not temperature > 0:  # NaN too
        raise ValueError(f"temperature must be > 0 when sampling, got {temperature} (use do_sample=False for greedy)")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


def filtered_probs(logits, temperature=1.0, top_k=None, top_p=None):
    """logits (..., V) -> the probabilities (..., V) that sampling draws from, in
    transformers' order: temperature, then top-k, then top-p; a dropped token gets 0."""
    check_sampling_args(temperature, top_k, top_p)
    logits = np.asarray(logits, dtype=np.float64)
    logits = logits / temperature
    V = logits.shape[-1]
    if top_k is not None and top_k < V:
        kth = np.partition(logits, V - top_k, axis=-1)[..., V - top_k, None]  # (..., 1)
        logits = np.where(logits < kth, -np.inf, logits)
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    if top_p is not None and top_p < 1:
        order = np.argsort(-probs, axis=-1, kind="stable")
        sorted_p = np.take_along_axis(probs, order, axis=-1)
        # keep the most likely tokens until their mass reaches top_p (at least one)
        keep_sorted = np.cumsum(sorted_p, axis=-1) - sorted_p < top_p
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=-1)
        probs = np.where(keep, probs, 0)
        probs /= probs.sum(axis=-1, keepdims=True)
    return probs


def next_token(logits, temperature=1.0, top_k=None, top_p=None, do_sample=True, rng=None):
    """logits (B, V) -> ids (B,): the most likely token (do_sample=False), or one drawn
    from filtered_probs. rng: one generator for the batch, or a list of one per row."""
    if not do_sample:
        logits = np.asarray(logits)
        return logits.argmax(axis=-1)
    probs = filtered_probs(logits, temperature, top_k, top_p)  # (B, V)
    u = np.array([[g.random()] for g in rng]) if isinstance(rng, list) else rng.random((probs.shape[0], 1))
    ids = (np.cumsum(probs, axis=-1) < u).sum(axis=-1)
    return np.minimum(ids, probs.shape[-1] - 1)
