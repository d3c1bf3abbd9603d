"""The Adam(W) step, compiled: one pass over the flattened parameter, with the twin's
signature (optim/adamw_step.py)."""
import numpy as np

from ._jit import njit


def _scalars(dtype, lr, beta1, beta2, eps, weight_decay, step, decoupled):
    """decay, l2, beta1, 1 - beta1, beta2, 1 - beta2, sqrt(1 - beta2**t), eps and the
    step size lr / (1 - beta1**t), each computed in Python floats and rounded to `dtype`,
    as the twin's Python scalars are when they meet its arrays."""
    decay = 1 - lr * weight_decay if decoupled else 1.0
    l2 = 0.0 if decoupled else weight_decay
    step_size = lr / (1 - beta1 ** step)
    bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
    cast = dtype.type
    return tuple(cast(s) for s in (decay, l2, beta1, 1 - beta1, beta2, 1 - beta2,
                                   bias_correction2_sqrt, eps, step_size))


@njit  # error_model="numpy" (see _jit.py) lets this loop vectorize
def _adamw_kernel(p, g, m, v, v_max, decay, l2, b1, one_minus_b1, b2, one_minus_b2,
                  bc2_sqrt, eps, step_size):
    # p, g, m, v: (N,) the flattened parameter, its grad and moments; v_max: (N,) or None
    for i in range(p.shape[0]):
        gi = g[i] + l2 * p[i] if l2 != 0 else g[i]
        pi = p[i] * decay
        mi = b1 * m[i] + one_minus_b1 * gi
        vi = b2 * v[i] + one_minus_b2 * (gi * gi)
        m[i] = mi
        v[i] = vi
        if v_max is not None:
            if vi > v_max[i]:
                v_max[i] = vi
            vi = v_max[i]
        p[i] = pi - step_size * (mi / (np.sqrt(vi) / bc2_sqrt + eps))


def adamw_step(p, g, m, v, v_max, lr, beta1, beta2, eps, weight_decay, step, decoupled=True):
    """One Adam(W) step on p in place (p, m, v, v_max C-contiguous; g any layout)."""
    flat = np.ascontiguousarray(g, dtype=p.dtype).reshape(-1)
    _adamw_kernel(p.reshape(-1), flat, m.reshape(-1), v.reshape(-1),
                  None if v_max is None else v_max.reshape(-1),
                  *_scalars(p.dtype, lr, beta1, beta2, eps, weight_decay, step, decoupled))
