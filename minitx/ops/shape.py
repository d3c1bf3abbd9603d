"""Ops that move elements without changing them: reshape, permute, cat, split, ..."""
import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from ._util import normalize_dim, normalize_dims, unbroadcast


def _shape_arg(shape):
    """Accept both f(2, 3) and f((2, 3)), as PyTorch does."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape, name):
        ctx.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(f"{name}: cannot reshape {a.shape} ({a.size} elements) into {shape}") from None

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape), None, None


class Permute(Function):
    @staticmethod
    def forward(ctx, a, dims):
        ctx.inverse = tuple(np.argsort(dims))
        return a.transpose(dims)

    @staticmethod
    def backward(ctx, grad):
        # out = a.transpose(dims): undo it with the inverse permutation
        return grad.transpose(ctx.inverse), None


class Expand(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return np.broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, grad):
        return unbroadcast(grad, ctx.shape), None


class Copy(Function):
    @staticmethod
    def forward(ctx, a):
        return np.array(a, order="C", copy=True)

    @staticmethod
    def backward(ctx, grad):
        return grad


class Cat(Function):
    @staticmethod
    def forward(ctx, axis, *arrays):
        ctx.axis = axis
        ctx.bounds = np.cumsum([x.shape[axis] for x in arrays])[:-1]
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        return (None,) + tuple(np.split(grad, ctx.bounds, axis=ctx.axis))


class Stack(Function):
    @staticmethod
    def forward(ctx, axis, *arrays):
        ctx.axis = axis
        return np.stack(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        return (None,) + tuple(np.moveaxis(grad, ctx.axis, 0))


def reshape(a, *shape):
    return Reshape.apply(a, _shape_arg(shape), "reshape")


def view(a, *shape):
    """reshape by PyTorch's other name; NumPy copies where a view is impossible."""
    return Reshape.apply(a, _shape_arg(shape), "view")


def permute(a, *dims):
    dims = _shape_arg(dims)
    axes = tuple(normalize_dim(d, a.ndim, "permute") for d in dims)
    if sorted(axes) != list(range(a.ndim)):
        raise ValueError(f"permute: {dims} is not a permutation of the {a.ndim} dims of {a.shape}")
    return Permute.apply(a, axes)


def transpose(a, dim0, dim1):
    dims = list(range(a.ndim))
    i, j = normalize_dim(dim0, a.ndim, "transpose"), normalize_dim(dim1, a.ndim, "transpose")
    dims[i], dims[j] = dims[j], dims[i]
    return Permute.apply(a, tuple(dims))


def unsqueeze(a, dim):
    axis = normalize_dim(dim, a.ndim + 1, "unsqueeze")
    return reshape(a, a.shape[:axis] + (1,) + a.shape[axis:])


def squeeze(a, dim=None):
    if dim is None:
        return reshape(a, tuple(n for n in a.shape if n != 1))
    axes = normalize_dims(dim, a.ndim, "squeeze")
    return reshape(a, tuple(n for i, n in enumerate(a.shape) if not (i in axes and n == 1)))


def flatten(a, start_dim=0, end_dim=-1):
    if a.ndim == 0:
        return reshape(a, (1,))
    s, e = normalize_dim(start_dim, a.ndim, "flatten"), normalize_dim(end_dim, a.ndim, "flatten")
    return reshape(a, a.shape[:s] + (int(np.prod(a.shape[s:e + 1])),) + a.shape[e + 1:])


def expand(a, *sizes):
    sizes = _shape_arg(sizes)
    lead = len(sizes) - a.ndim
    if lead < 0:
        raise ValueError(f"expand: cannot expand shape {a.shape} to {sizes}, which has fewer dims")
    if -1 in sizes[:lead]:
        raise ValueError(f"expand: -1 in {sizes} stands for a new leading dim of {a.shape}")
    shape = tuple(a.shape[i - lead] if n == -1 else n for i, n in enumerate(sizes))
    for i, n in enumerate(a.shape):
        if n != 1 and n != shape[lead + i]:
            raise ValueError(f"expand: cannot expand shape {a.shape} to {sizes}")
    return Expand.apply(a, shape)


def clone(a):
    return Copy.apply(a)


def contiguous(a):
    return a if a.data.flags.c_contiguous else Copy.apply(a)


def _same_rank(name, tensors):
    if not tensors:
        raise ValueError(f"{name}: needs at least one tensor")
    return [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]


def cat(tensors, dim=0):
    """Join tensors along an existing dim; all other dims must match."""
    tensors = _same_rank("cat", tensors)
    axis = normalize_dim(dim, tensors[0].ndim, "cat")
    first = tensors[0].shape
    for t in tensors[1:]:
        if t.ndim != len(first) or t.shape[:axis] + t.shape[axis + 1:] != first[:axis] + first[axis + 1:]:
            raise ValueError(f"cat: shapes {first} and {t.shape} differ outside dim {dim}")
    return Cat.apply(axis, *tensors)


def stack(tensors, dim=0):
    """Join same-shaped tensors along a new dim."""
    tensors = _same_rank("stack", tensors)
    for t in tensors[1:]:
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: shapes {tensors[0].shape} and {t.shape} differ")
    return Stack.apply(normalize_dim(dim, tensors[0].ndim + 1, "stack"), *tensors)


def split(a, split_size_or_sections, dim=0):
    """Pieces of `split_size` along `dim` (the last may be shorter), or the given sizes."""
    axis = normalize_dim(dim, a.ndim, "split")
    n = a.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        if split_size_or_sections <= 0:
            raise ValueError(f"split: split_size must be positive, got {split_size_or_sections}")
        sizes = [min(split_size_or_sections, n - i) for i in range(0, n, split_size_or_sections)]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise ValueError(f"split: sizes {sizes} do not add up to {n}, the size of dim {dim}")
    pieces, start = [], 0
    for size in sizes:
        index = (slice(None),) * axis + (slice(start, start + size),)
        pieces.append(a[index])
        start += size
    return tuple(pieces)


def chunk(a, chunks, dim=0):
    """At most `chunks` pieces of ceil(n / chunks) along `dim` (PyTorch's rule)."""
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    n = a.shape[normalize_dim(dim, a.ndim, "chunk")]
    return split(a, -(-n // chunks) if n else 1, dim)
