"""Indexing: t[ints, slices, None, ..., integer or boolean arrays]."""
import numpy as np

from ..autograd import Function
from ..tensor import Tensor


def index_arrays(index):
    """The index with every Tensor or list inside replaced by a NumPy array."""
    if isinstance(index, tuple):
        return tuple(_one(i) for i in index)
    return _one(index)


def _one(i):
    if isinstance(i, Tensor):
        return i.data
    if isinstance(i, list):
        return np.asarray(i)
    return i


def _is_basic(index):
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (slice, int, np.integer)) for p in parts)


class GetItem(Function):
    @staticmethod
    def forward(ctx, a, index):
        ctx.shape, ctx.index = a.shape, index
        try:
            return a[index]
        except IndexError as e:
            raise IndexError(f"index into a tensor of shape {a.shape}: {e}") from None

    @staticmethod
    def backward(ctx, grad):
        # out = a[index]: route each gradient element back to where it was read
        full = np.zeros(ctx.shape, dtype=grad.dtype)
        if _is_basic(ctx.index):
            full[ctx.index] = grad          # a basic index never reads an element twice
        else:
            np.add.at(full, ctx.index, grad)  # repeated indices accumulate
        return full, None


def getitem(a, index):
    return GetItem.apply(a, index_arrays(index))
