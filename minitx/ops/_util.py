"""Helpers shared by every op: operand conversion and undoing broadcasting."""
import numpy as np

from ..tensor import Tensor


def operand(x, like):
    """A Tensor stays; a Python or NumPy scalar/array takes the dtype of `like`."""
    if isinstance(x, Tensor):
        return x
    ref = like.data if isinstance(like, Tensor) else np.asarray(like)
    if np.issubdtype(ref.dtype, np.floating):
        return np.asarray(x, dtype=ref.dtype) if np.ndim(x) == 0 else np.asarray(x)
    if isinstance(x, float):  # int tensor and a Python float: float32, as in PyTorch
        return np.asarray(x, dtype=np.float32)
    return np.asarray(x)


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
