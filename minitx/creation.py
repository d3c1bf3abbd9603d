"""Making tensors: from data, filled, random (from the seeded generator), ranges."""
import numpy as np

from .random import default_generator
from .tensor import Tensor


def _shape(size):
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)


def tensor(data, dtype=None, requires_grad=False):
    """A new tensor holding a copy of `data`; Python floats become float32."""
    data = data.data if isinstance(data, Tensor) else data
    return Tensor(np.array(Tensor(data, dtype=dtype).data, copy=True), requires_grad=requires_grad)


def from_numpy(array):
    """A tensor sharing memory with `array`."""
    return Tensor(array)


def zeros(*size, dtype=np.float32, requires_grad=False):
    return Tensor(np.zeros(_shape(size), dtype=dtype), requires_grad=requires_grad)


def ones(*size, dtype=np.float32, requires_grad=False):
    return Tensor(np.ones(_shape(size), dtype=dtype), requires_grad=requires_grad)


def full(size, fill_value, dtype=np.float32, requires_grad=False):
    return Tensor(np.full(_shape((size,)), fill_value, dtype=dtype), requires_grad=requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return Tensor(np.zeros(t.shape, dtype=dtype or t.dtype), requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return Tensor(np.ones(t.shape, dtype=dtype or t.dtype), requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None):
    """Integers give int64; any Python float among the bounds gives float32."""
    if end is None:
        start, end = 0, start
    arr = np.arange(start, end, step)
    if dtype is None and arr.dtype == np.float64:
        dtype = np.float32
    return Tensor(arr if dtype is None else arr.astype(dtype))


def randn(*size, dtype=np.float32, requires_grad=False):
    arr = default_generator().standard_normal(_shape(size)).astype(dtype)
    return Tensor(arr, requires_grad=requires_grad)


def rand(*size, dtype=np.float32, requires_grad=False):
    arr = default_generator().random(_shape(size)).astype(dtype)
    return Tensor(arr, requires_grad=requires_grad)


def randint(low, high, size, dtype=np.int64):
    return Tensor(default_generator().integers(low, high, size=_shape((size,)), dtype=dtype))
