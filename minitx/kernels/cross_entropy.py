"""Softmax cross-entropy of (N, V) logits against (N,) class ids, fused, NumPy and Numba.

For row i with target t = targets[i] and label smoothing eps:

    lse_i    = m_i + log s_i,   m_i = max_j x_ij,  s_i = sum_j exp(x_ij - m_i)
    nll_i    = lse_i - x_it                      (-log softmax(x_i)_t)
    smooth_i = lse_i - mean_j x_ij               (-mean_j log softmax(x_i)_j)
    loss_i   = (1 - eps) nll_i + eps smooth_i    (0 where t == ignore_index)

reduced by 'mean' (over the rows not ignored), 'sum' or 'none', exactly as
torch.nn.functional.cross_entropy, except that a batch whose rows are all
ignored gives 0 and a zero gradient where PyTorch gives nan. The backward is

    dloss_i/dx_ij = softmax(x_i)_j - eps / V - (1 - eps) [j == t],  softmax(x_i)_j = e_ij / s_i

with e_ij = exp(x_ij - m_i). Up to KEEP_EXP_MAX elements (a small vocabulary)
the forward keeps e (N, V) for the backward, which then needs no exp; above it
the forward saves only m and s per row and the backward recomputes e from x,
so a large vocabulary costs no (N, V) array between the passes (411 MB at
N = 2048, V = 50257 in float32).

The derivation is in docs/kernels/cross_entropy.md; the compiled version is
kernels/numba/cross_entropy.py.
"""
import numpy as np

from ..autograd import Function
from ..backend import dispatch
from ..tensor import Tensor
from ._arrays import writable_c
from .numba import cross_entropy as compiled

REDUCTIONS = ("mean", "sum", "none")


# ---- NumPy twin --------------------------------------------------------------

def cross_entropy_forward_numpy(x, targets, valid, label_smoothing, keep_exp=False):
    """x (N, V), targets (N,) int64, valid (N,) bool -> loss (N,) float64, m (N,), s (N,)
    and e = exp(x - m) (N, V) if keep_exp (for the backward), else None.

    Rows that are not valid have loss 0 and any target (it is never read).
    """
    N = x.shape[0]
    m = x.max(axis=1, keepdims=True)                             # (N, 1)
    e = np.exp(x - m)                                            # (N, V)
    s = e.sum(axis=1, dtype=np.float64)                          # (N,)
    m = m[:, 0].astype(np.float64)                               # (N,)
    lse = m + np.log(s)                                          # (N,)
    safe_targets = np.where(valid, targets, 0)                   # (N,)
    nll = lse - x[np.arange(N), safe_targets]                    # (N,)
    smooth = lse - x.mean(axis=1, dtype=np.float64)              # (N,)
    loss = (1 - label_smoothing) * nll + label_smoothing * smooth
    return np.where(valid, loss, 0.0), m, s, (e if keep_exp else None)


def cross_entropy_backward_numpy(g, x, targets, valid, m, s, label_smoothing, e=None):
    """g (N,) float64 (dL/dloss_i, 0 on ignored rows), x (N, V), m, s (N,) -> dx (N, V);
    e = exp(x - m) (N, V) if the forward kept it, else recomputed."""
    V = x.shape[1]
    if e is None:
        e = np.exp(x - m[:, None].astype(x.dtype))               # (N, V)
    p = e / s[:, None].astype(e.dtype)                           # (N, V) softmax
    # loss_i = (1 - eps) (lse_i - x_it) + eps (lse_i - mean_j x_ij)
    dx = p - label_smoothing / V                                 # (N, V)
    rows = np.flatnonzero(valid)
    dx[rows, targets[rows]] -= 1 - label_smoothing               # the one-hot, one entry per row
    return (g[:, None] * dx).astype(x.dtype)


cross_entropy_forward = dispatch(cross_entropy_forward_numpy, compiled.cross_entropy_forward)
cross_entropy_backward = dispatch(cross_entropy_backward_numpy, compiled.cross_entropy_backward)

# Keep e = exp(x - m) between the passes up to this many elements (16 MB of float32):
# the backward then skips its exp pass, which is most of its work at V = 65.
KEEP_EXP_MAX = 1 << 22


# ---- autograd ----------------------------------------------------------------

class CrossEntropy(Function):
    @staticmethod
    def forward(ctx, x, targets, valid, reduction, label_smoothing):
        x = writable_c(x)                                        # (N, V)
        loss, m, s, e = cross_entropy_forward(x, targets, valid, label_smoothing,
                                              keep_exp=x.size <= KEEP_EXP_MAX)
        ctx.save_for_backward(x, m, s, e)                       # m, s (N,); e (N, V) or None
        count = int(valid.sum())
        ctx.targets, ctx.valid, ctx.count = targets, valid, count
        ctx.reduction, ctx.label_smoothing = reduction, label_smoothing
        if reduction == "none":
            return loss.astype(x.dtype)
        total = loss.sum()
        if reduction == "mean":
            total = total / count if count else 0.0             # all ignored: 0, not nan
        return np.asarray(total, dtype=x.dtype)

    @staticmethod
    def backward(ctx, grad):
        x, m, s, e = ctx.saved_tensors
        N = x.shape[0]
        if ctx.reduction == "none":
            g = np.asarray(grad, dtype=np.float64).reshape(N)     # (N,)
        else:
            scale = 1.0 / ctx.count if ctx.reduction == "mean" and ctx.count else 1.0
            g = np.full(N, float(grad) * scale)                  # (N,)
        g = np.where(ctx.valid, g, 0.0)
        dx = cross_entropy_backward(g, x, ctx.targets, ctx.valid, m, s, ctx.label_smoothing, e)
        return dx, None, None, None, None


def cross_entropy(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy of (N, V) logits and (N,) class ids, as torch.nn.functional.cross_entropy."""
    x = input if isinstance(input, Tensor) else Tensor(input)
    t = np.asarray(target.data if isinstance(target, Tensor) else target)
    if x.ndim != 2:
        raise ValueError(f"cross_entropy: logits of shape {x.shape}; expected (N, V) "
                         f"(flatten (B, T, V) to (B*T, V) first)")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"cross_entropy: logits of shape {x.shape} have dtype {x.dtype}; "
                        f"expected float32 or float64")
    if t.shape != x.shape[:1]:
        raise ValueError(f"cross_entropy: targets of shape {t.shape} for logits of shape "
                         f"{x.shape}; expected ({x.shape[0]},)")
    if t.size and not np.issubdtype(t.dtype, np.integer):
        raise TypeError(f"cross_entropy: targets have dtype {t.dtype}; expected integers (class ids)")
    if reduction not in REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction={reduction!r}; choose one of {REDUCTIONS}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing={label_smoothing} is outside [0, 1]")
    t = t.astype(np.int64)
    V = x.shape[1]
    valid = t != ignore_index                                    # (N,)
    bad = valid & ((t < 0) | (t >= V))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        # The kernels index x[i, t[i]] without bounds checks: stop here, before them.
        raise IndexError(f"cross_entropy: target {int(t[i])} at position {i} is out of range "
                         f"for V={V} classes (logits of shape {x.shape}; ignore_index={ignore_index})")
    return CrossEntropy.apply(x, t, valid, reduction, float(label_smoothing))
