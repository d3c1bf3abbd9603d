"""Helpers shared by every op: operand conversion and undoing broadcasting."""
import numpy as np

from ..tensor import Tensor


def _float_dtype(x):
    """The floating dtype `x` brings to a binary op (float32 for a Python float), or None."""
    if isinstance(x, float):
        return np.dtype(np.float32)
    dtype = x.data.dtype if isinstance(x, Tensor) else np.asarray(x).dtype
    return dtype if dtype.kind == "f" else None


def operand(x, like):
    """One side of a binary op, promoted against the other side `like` as in PyTorch.

    Meeting a float (a floating tensor, or a Python float), a scalar or an
    integer/bool operand takes that float's dtype, so `x32 * 2.0`, `x32 / mask.sum()`
    and `ids * 0.5` stay float32. A Python float alone is float32. A Tensor left
    as is keeps its place in the graph; a cast one needs no gradient (it was integer).
    """
    target = _float_dtype(like)
    if isinstance(x, Tensor):
        return x if target is None or x.data.dtype.kind == "f" else x.data.astype(target)
    arr = np.asarray(x)
    if target is not None and (arr.ndim == 0 or arr.dtype.kind != "f"):
        return arr.astype(target)
    return arr.astype(np.float32) if isinstance(x, float) else arr


def broadcast_shape(name, *shapes):
    """The common shape, or a ValueError naming every shape."""
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        listed = " and ".join(str(tuple(s)) for s in shapes)
        raise ValueError(f"{name}: shapes {listed} cannot be broadcast together") from None


def unbroadcast(grad, shape):
    """Sum `grad` over the axes that broadcasting stretched, back to `shape`.

    The one place broadcasting is undone: leading axes that broadcasting added
    are summed away, and axes of size 1 in `shape` are summed with keepdims.
    """
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape) if axes else grad.reshape(shape)


def normalize_dim(dim, ndim, name):
    """One dim, negatives counting from the end, as an axis in range(ndim)."""
    if not -ndim <= dim < ndim:
        raise IndexError(f"{name}: dim {dim} is out of range [{-ndim}, {ndim - 1}]")
    return int(dim) % ndim


def normalize_dims(dim, ndim, name):
    """`dim` (None, int or tuple, negatives allowed) as a sorted tuple of axes.

    A 0-d tensor accepts dim 0 or -1, as in PyTorch, and has no axes to name: ().
    """
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = [normalize_dim(d, max(ndim, 1), name) for d in dims]
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: dim {dim} repeats an axis")
    return tuple(sorted(out)) if ndim else ()
