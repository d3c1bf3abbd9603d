"""Perplexity: exp of the mean cross-entropy (in nats) of the tokens scored."""
import math

import numpy as np


def perplexity(loss_or_logits, targets=None, ignore_index=-100):
    """exp(mean token cross-entropy).

    perplexity(loss): from a mean cross-entropy already computed (a float, e.g. a
    validation loss). perplexity(logits, targets): logits (..., V) and integer targets
    (...), the targets equal to ignore_index left out, as torch's cross_entropy does.
    A model that predicts uniformly over V tokens has perplexity V."""
    if targets is None:
        loss = np.asarray(getattr(loss_or_logits, "data", loss_or_logits), dtype=np.float64)
        if loss.size != 1 or not loss.item() >= 0:
            raise ValueError(f"perplexity: the loss must be one number >= 0, got {loss_or_logits!r}")
        try:
            return math.exp(loss.item())
        except OverflowError:   # a loss above about 709 nats
            return math.inf
    return perplexity(_mean_cross_entropy(loss_or_logits, targets, ignore_index))


def _mean_cross_entropy(logits, targets, ignore_index):
    logits = np.asarray(getattr(logits, "data", logits), dtype=np.float64)   # (..., V)
    targets = np.asarray(targets)                                            # (...)
    if logits.ndim < 1 or logits.shape[:-1] != targets.shape:
        raise ValueError(f"perplexity: logits {logits.shape} must be targets' shape {targets.shape} "
                         f"and a vocabulary axis V")
    if not np.issubdtype(targets.dtype, np.integer):
        raise ValueError(f"perplexity: targets must be integers, got {targets.dtype}")
    V = logits.shape[-1]
    keep = targets != ignore_index
    logits, targets = logits.reshape(-1, V)[keep.ravel()], targets[keep]      # (N, V), (N,)
    if not len(targets):
        raise ValueError(f"perplexity: every target is ignore_index {ignore_index}; no token to score")
    bad = (targets < 0) | (targets >= V)
    if bad.any():
        raise ValueError(f"perplexity: target {targets[bad][0]} is outside the vocabulary [0, {V})")
    top = logits.max(axis=1, keepdims=True)                                   # (N, 1)
    log_z = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))              # (N,) log sum exp
    return float(np.mean(log_z - logits[np.arange(len(targets)), targets]))
