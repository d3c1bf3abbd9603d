"""clip_grad_norm_: scale all gradients together so their joint norm is at most max_norm."""
import math

import numpy as np

from ..tensor import Tensor


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale the grads of `parameters` in place when their total norm exceeds max_norm.

    The total norm is that of all grads joined into one vector (norm_type may be
    inf: the largest |g|). As torch, grads are multiplied by
    max_norm / (total + 1e-6) when that is below 1. Returns the total norm before
    clipping as a Python float (torch returns a 0-d tensor); 0.0 when no
    parameter has a grad. Parameters whose grad is None are skipped.
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    norm_type = float(norm_type)
    norms = [np.linalg.norm(g.reshape(-1), ord=norm_type) for g in grads if g.size]
    if not norms:
        return 0.0
    total = float(np.linalg.norm(np.array(norms), ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the "
                           f"gradients is {total}; pass error_if_nonfinite=False to clip anyway")
    clip_coef = max_norm / (total + 1e-6)
    # `not >=` so that a NaN norm also scales: NaN reaches every grad, as in torch
    if not clip_coef >= 1.0:
        for g in grads:
            g *= clip_coef
    return total
