"""Adam / AdamW update, in place on a parameter and its state, in one pass.

The math is torch.optim.Adam's single-tensor path (what torch runs on CPU),
step t counting from 1:

    g = grad + weight_decay * p           Adam: L2 penalty folded into the gradient
    p = p * (1 - lr * weight_decay)       AdamW: decoupled decay, instead of the line above
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    v_max = max(v_max, v)                 amsgrad only; v_max then stands for v below
    p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

eps is added after sqrt(v) is bias-corrected, as torch does (not inside the
sqrt, not before the correction). The step's scalars are computed once in
Python floats, as torch computes them, and rounded to the arrays' dtype, so a
float32 update runs in float32 like torch's and the two versions agree.
"""
import numpy as np

from ..backend import dispatch
from ._jit import njit


def _scalars(dtype, lr, beta1, beta2, eps, weight_decay, step, decoupled):
    """decay, l2, beta1, 1 - beta1, beta2, 1 - beta2, sqrt(1 - beta2**t), eps and the
    step size lr / (1 - beta1**t), each rounded to `dtype`."""
    decay = 1 - lr * weight_decay if decoupled else 1.0
    l2 = 0.0 if decoupled else weight_decay
    step_size = lr / (1 - beta1 ** step)
    bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
    cast = dtype.type
    return tuple(cast(s) for s in (decay, l2, beta1, 1 - beta1, beta2, 1 - beta2,
                                   bias_correction2_sqrt, eps, step_size))


def _check(p, g, m, v, v_max):
    if p.dtype not in (np.float32, np.float64):
        raise TypeError(f"adamw_step: parameter dtype {p.dtype}; only float32 and float64")
    for name, a in (("grad", g), ("exp_avg", m), ("exp_avg_sq", v), ("max_exp_avg_sq", v_max)):
        if a is not None and a.shape != p.shape:
            raise ValueError(f"adamw_step: {name} of shape {a.shape} for a parameter "
                             f"of shape {p.shape}")
    for name, a in (("parameter", p), ("exp_avg", m), ("exp_avg_sq", v), ("max_exp_avg_sq", v_max)):
        # written in place through a flat view, which only a contiguous array has
        if a is not None and not (a.flags.c_contiguous and a.flags.writeable
                                  and a.dtype == p.dtype):
            raise ValueError(f"adamw_step: {name} must be a writable C-contiguous {p.dtype} array")


def adamw_step_numpy(p, g, m, v, v_max, lr, beta1, beta2, eps, weight_decay, step,
                     decoupled=True):
    """One Adam(W) step on p in place; m, v (and v_max for amsgrad, else None) updated in place."""
    # p, g, m, v, v_max: any shape, all the same
    _check(p, g, m, v, v_max)
    decay, l2, b1, one_minus_b1, b2, one_minus_b2, bc2_sqrt, eps, step_size = _scalars(
        p.dtype, lr, beta1, beta2, eps, weight_decay, step, decoupled)
    if l2 != 0:
        g = g + l2 * p
    if decay != 1:
        p *= decay
    m *= b1
    m += one_minus_b1 * g
    v *= b2
    v += one_minus_b2 * (g * g)
    if v_max is not None:
        np.maximum(v_max, v, out=v_max)
        v = v_max
    denom = np.sqrt(v) / bc2_sqrt + eps
    p -= step_size * (m / denom)


@njit  # error_model="numpy" (see _jit.py) lets this loop vectorize: 5x faster here
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


def adamw_step_numba(p, g, m, v, v_max, lr, beta1, beta2, eps, weight_decay, step,
                     decoupled=True):
    _check(p, g, m, v, v_max)
    flat = np.ascontiguousarray(g, dtype=p.dtype).reshape(-1)
    _adamw_kernel(p.reshape(-1), flat, m.reshape(-1), v.reshape(-1),
                  None if v_max is None else v_max.reshape(-1),
                  *_scalars(p.dtype, lr, beta1, beta2, eps, weight_decay, step, decoupled))


adamw_step = dispatch(adamw_step_numpy, adamw_step_numba)
