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
sqrt, not before the correction). Each scalar factor is computed in Python
floats, as torch computes it, and meets the arrays in their dtype, so a float32
update runs in float32 like torch's. The compiled version is
kernels/numba/adamw_step.py.
"""
import numpy as np

from ..backend import dispatch
from ..kernels.numba import adamw_step as compiled


def adamw_step_numpy(p, g, m, v, v_max, lr, beta1, beta2, eps, weight_decay, step,
                     decoupled=True):
    """One Adam(W) step on p in place; m, v (and v_max for amsgrad, else None) updated in place.
    p, g, m, v, v_max: any shape, all the same."""
    if weight_decay != 0:
        if decoupled:
            p *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * p
    m *= beta1
    m += (1 - beta1) * g
    v *= beta2
    v += (1 - beta2) * (g * g)
    if v_max is not None:
        np.maximum(v_max, v, out=v_max)
        v = v_max
    denom = np.sqrt(v) / (1 - beta2 ** step) ** 0.5 + eps
    p -= lr / (1 - beta1 ** step) * (m / denom)


_adamw_step = dispatch(adamw_step_numpy, compiled.adamw_step)


def _check(p, g, m, v, v_max):
    if p.dtype not in (np.float32, np.float64):
        raise TypeError(f"adamw_step: parameter dtype {p.dtype}; only float32 and float64")
    for name, a in (("grad", g), ("exp_avg", m), ("exp_avg_sq", v), ("max_exp_avg_sq", v_max)):
        if a is not None and a.shape != p.shape:
            raise ValueError(f"adamw_step: {name} of shape {a.shape} for a parameter "
                             f"of shape {p.shape}")
    for name, a in (("parameter", p), ("exp_avg", m), ("exp_avg_sq", v), ("max_exp_avg_sq", v_max)):
        # the compiled step writes through a flat view, which only a contiguous array has
        if a is not None and not (a.flags.c_contiguous and a.flags.writeable
                                  and a.dtype == p.dtype):
            raise ValueError(f"adamw_step: {name} must be a writable C-contiguous {p.dtype} array")


def adamw_step(p, g, m, v, v_max, lr, beta1, beta2, eps, weight_decay, step, decoupled=True):
    """One Adam(W) step on the array p in place, with its grad g, moments m, v and (amsgrad)
    v_max, or None; decoupled=False is Adam's L2 penalty. The math: the module docstring."""
    _check(p, g, m, v, v_max)
    _adamw_step(p, g, m, v, v_max, lr, beta1, beta2, eps, weight_decay, step, decoupled)
