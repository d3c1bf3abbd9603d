"""Rotary position embedding (RoPE, Su et al. 2021): the NumPy twin, the Function,
rotary_embedding.

Channel i of a head and channel i + HS/2 form a pair, rotated by the angle
pos * inv_freq[i], inv_freq[i] = 1 / base^(2i / HS) (transformers' LLaMA layout:
the halves, not neighbouring channels, are the pairs):

    y = x * cos + rotate_half(x) * sin,   rotate_half(x1, x2) = (-x2, x1)

cos and sin are (T, HS) or (B, T, HS), each angle written twice (cat(freqs, freqs)),
and are all the forward saves. The backward is the transpose rotation, by -angle.
Rotating q and k this way makes q . k depend on the positions only through their
difference; the derivation is in docs/kernels/rotary.md. The compiled version,
kernels/numba/rotary.py, turns each pair in one pass where the twin makes five.
"""
import numpy as np

from ..autograd import Function
from ..backend import dispatch
from ..tensor import Tensor
from .numba import rotary as compiled


def rotary_cos_sin(position_ids, HS, base, dtype):
    """cos, sin (..., T, HS) of `dtype` for position_ids (..., T); the angles in float64."""
    inv_freq = 1.0 / base ** (np.arange(0, HS, 2, dtype=np.float64) / HS)   # (HS/2,)
    freqs = np.asarray(position_ids, np.float64)[..., None] * inv_freq     # (..., T, HS/2)
    angle = np.concatenate([freqs, freqs], axis=-1)                         # (..., T, HS)
    return np.cos(angle).astype(dtype), np.sin(angle).astype(dtype)


# ---- NumPy twin: reads like the math ----------------------------------------
# x, dy (B, NH, T, HS); cos, sin (T, HS) or (B, 1, T, HS), broadcast over the heads.

def rotate_half(x):
    """(x1, x2) -> (-x2, x1) on the two halves of the last dim: a quarter turn of each pair."""
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def rotary_forward_numpy(x, cos, sin):
    """x rotated by +angle: each pair (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin)."""
    return x * cos + rotate_half(x) * sin


def rotary_backward_numpy(dy, cos, sin):
    """dx (B, NH, T, HS): dy rotated by -angle."""
    # y = x * cos + rotate_half(x) * sin. rotate_half's transpose is -rotate_half, and sin
    # is the same on both halves, so dx = dy * cos - rotate_half(dy) * sin.
    return dy * cos - rotate_half(dy) * sin


rotary_forward = dispatch(rotary_forward_numpy, compiled.rotary_forward)
rotary_backward = dispatch(rotary_backward_numpy, compiled.rotary_backward)


# ---- autograd ----------------------------------------------------------------

class RotaryEmbedding(Function):
    @staticmethod
    def forward(ctx, x, cos, sin):
        ctx.save_for_backward(cos, sin)
        return rotary_forward(x, cos, sin)

    @staticmethod
    def backward(ctx, grad):
        cos, sin = ctx.saved_tensors
        return rotary_backward(grad, cos, sin), None, None


def rotary_embedding(x, position_ids, base=10000.0):
    """Rotate x (B, NH, T, HS), q or k, by position: position_ids (T,) or (B, T);
    transformers' LLaMA convention (q * cos + rotate_half(q) * sin)."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim != 4:
        raise ValueError(f"rotary_embedding: want x (B, NH, T, HS), got shape {x.shape}")
    B, NH, T, HS = x.shape
    if HS % 2:
        raise ValueError(f"rotary_embedding: head size HS must be even (channels rotate in pairs), got {HS}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"rotary_embedding: x must be float32 or float64, not {x.dtype}")
    pos = np.asarray(position_ids.data if isinstance(position_ids, Tensor) else position_ids)
    if pos.shape not in ((T,), (B, T)):
        raise ValueError(f"rotary_embedding: position_ids of shape {pos.shape}, want (T,) = ({T},) "
                         f"or (B, T) = ({B}, {T})")
    if not base > 0:
        raise ValueError(f"rotary_embedding: base must be positive, got {base}")
    cos, sin = rotary_cos_sin(pos, HS, float(base), x.dtype)  # (T, HS) or (B, T, HS)
    if pos.ndim == 2:
        cos, sin = cos[:, None], sin[:, None]                   # (B, 1, T, HS): every head alike
    return RotaryEmbedding.apply(x, cos, sin)
