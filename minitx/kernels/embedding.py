"""Embedding lookup: out[n] = weight[ids[n]], and its backward, a scatter-add of rows.

Shapes: ids any integer shape, flattened to N ids; weight (V, C); out ids.shape + (C,).
The backward adds row n of the incoming gradient into row ids[n] of dweight
(V, C); an id that appears twice gets both rows. The padding_idx row gets no
gradient (its embedding stays what it was, as in torch).

Ids are checked against [0, V) in Python before any kernel runs: the Numba
kernels index without bounds checks, and an id out of range would read (or,
in backward, write) memory outside weight. The compiled version is
kernels/numba/embedding.py.
"""
import numpy as np

from ..autograd import Function
from ..backend import dispatch
from ..tensor import Tensor
from .numba import embedding as compiled


# ---- NumPy twin ------------------------------------------------------------------

def embedding_forward_numpy(ids, weight):
    """out (N, C) = the rows of weight (V, C) picked by ids (N,)."""
    return weight[ids]


def embedding_backward_numpy(ids, dout, V, padding_idx):
    """dweight (V, C) from dout (N, C); padding_idx is -1 for none."""
    # out[n] = weight[ids[n]]  =>  dweight[v] = sum over n with ids[n] == v of dout[n]
    dweight = np.zeros((V, dout.shape[1]), dtype=dout.dtype)
    np.add.at(dweight, ids, dout)                   # unbuffered: repeated ids accumulate
    if padding_idx >= 0:
        dweight[padding_idx] = 0
    return dweight


embedding_forward = dispatch(embedding_forward_numpy, compiled.embedding_forward)
embedding_backward = dispatch(embedding_backward_numpy, compiled.embedding_backward)


# ---- autograd --------------------------------------------------------------------

class Embedding(Function):
    @staticmethod
    def forward(ctx, ids, weight, padding_idx):
        flat = np.ascontiguousarray(ids.reshape(-1), dtype=np.int64)  # (N,)
        ctx.save_for_backward(flat)
        ctx.V, ctx.C, ctx.padding_idx = weight.shape[0], weight.shape[1], padding_idx
        out = embedding_forward(flat, np.ascontiguousarray(weight))    # (N, C)
        return out.reshape(ids.shape + (weight.shape[1],))

    @staticmethod
    def backward(ctx, grad):
        (flat,) = ctx.saved_tensors
        dout = np.ascontiguousarray(grad.reshape(flat.shape[0], ctx.C))  # (N, C)
        return None, embedding_backward(flat, dout, ctx.V, ctx.padding_idx), None


def _check_ids(ids, weight):
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"embedding: ids must be integers, got {ids.dtype}")
    V = weight.shape[0]
    if ids.size:
        lo, hi = ids.min(), ids.max()
        if lo < 0 or hi >= V:
            raise IndexError(f"embedding: id {lo if lo < 0 else hi} is out of range [0, {V}) "
                             f"for weight of shape {weight.shape}")


def embedding(input, weight, padding_idx=None):
    """Rows of weight (V, C) picked by the integer ids in `input` (any shape)."""
    ids = np.asarray(input.data if isinstance(input, Tensor) else input)
    weight = weight if isinstance(weight, Tensor) else Tensor(weight)
    if weight.ndim != 2 or not weight.is_floating_point():
        raise ValueError(f"embedding: weight must be a 2-D float (V, C) tensor, got shape "
                         f"{weight.shape} of {weight.dtype}")
    _check_ids(ids, weight)
    V = weight.shape[0]
    if padding_idx is None:
        padding_idx = -1
    elif -V <= padding_idx < V:
        padding_idx %= V
    else:
        raise IndexError(f"embedding: padding_idx {padding_idx} is out of range [-{V}, {V})")
    return Embedding.apply(ids, weight, padding_idx)
