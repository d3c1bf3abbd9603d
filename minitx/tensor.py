"""Tensor: a NumPy array, its gradient, and the edge back into the graph."""
import numpy as np

float32, float64 = np.dtype(np.float32), np.dtype(np.float64)
int32, int64, bool_ = np.dtype(np.int32), np.dtype(np.int64), np.dtype(np.bool_)


def _to_array(data, dtype):
    if isinstance(data, Tensor):
        return data.data if dtype is None else np.asarray(data.data, dtype=dtype)
    if dtype is not None:
        arr = np.asarray(data, dtype=dtype)
    elif isinstance(data, (np.ndarray, np.generic)):
        arr = np.asarray(data)
    else:
        arr = np.asarray(data)
        # Python floats are float32 by default, as in PyTorch; NumPy arrays keep theirs.
        arr = arr.astype(np.float32) if arr.dtype == np.float64 else arr
    if arr.dtype.kind not in "biuf":  # strings, objects, complex, dates: no op of minitx reads them
        raise TypeError(f"Tensor: data of dtype {arr.dtype} (shape {arr.shape}) is not supported; a tensor "
                        f"holds bools, integers or floats")
    return arr


class Tensor:
    """An n-dimensional array that can record the ops applied to it."""

    # NumPy ufuncs decline Tensors, so `np.float32(2) * t` and `array + t` reach
    # Tensor's reflected operators (and stay in the graph) instead of NumPy's.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False, dtype=None):
        self.data = _to_array(data, dtype)
        self.grad = None
        self._ctx = None  # the Context of the op that made this tensor; None for a leaf
        self._requires_grad = False
        if requires_grad:
            self.requires_grad = True

    # ---- attributes -------------------------------------------------------
    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        if value and not np.issubdtype(self.data.dtype, np.floating):
            raise TypeError(f"only floating-point tensors can require grad, not {self.data.dtype}")
        if not value and self._ctx is not None:
            raise RuntimeError("requires_grad can be turned off only on a leaf; use detach()")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad=True):
        """Set requires_grad in place and return self, as PyTorch's method."""
        self.requires_grad = requires_grad
        return self

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def is_leaf(self):
        return self._ctx is None

    @property
    def T(self):
        return self.permute(*reversed(range(self.ndim)))

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self):
        return self.data.size

    def dim(self):
        return self.ndim

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = "" if self.dtype == float32 else f", dtype={self.dtype}"
        extra += ", requires_grad=True" if self.requires_grad else ""
        return f"tensor({body}{extra})"

    __hash__ = object.__hash__

    # ---- leaving the graph ------------------------------------------------
    def numpy(self):
        return self.data

    def __array__(self, dtype=None, copy=None):
        # np.asarray(t) gives the data, as np.asarray(t.numpy()) would
        return np.array(self.data, dtype=dtype, copy=copy)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor of one element, got shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def detach(self):
        return Tensor(self.data)

    def backward(self, grad=None, retain_graph=False):
        _autograd.backward(self, grad, retain_graph)

    # ---- dtype ------------------------------------------------------------
    def to(self, dtype):
        return self if np.dtype(dtype) == self.dtype else ops.cast(self, dtype)

    def float(self):
        return self.to(float32)

    def double(self):
        return self.to(float64)

    def long(self):
        return self.to(int64)

    def bool(self):
        return self.to(bool_)

    def is_floating_point(self):
        return np.issubdtype(self.dtype, np.floating)

    # ---- in-place helpers (no graph) ---------------------------------------
    def zero_(self):
        self.data[...] = 0
        return self

    def __setitem__(self, index, value):
        if self.requires_grad:
            raise RuntimeError("in-place assignment into a tensor that requires grad")
        self.data[ops.index_arrays(index)] = value.data if isinstance(value, Tensor) else value

    # ---- operators --------------------------------------------------------
    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.sub(self, other)

    def __rsub__(self, other):
        return ops.sub(other, self)

    def __mul__(self, other):
        return ops.mul(self, other)

    def __rmul__(self, other):
        return ops.mul(other, self)

    def __truediv__(self, other):
        return ops.div(self, other)

    def __rtruediv__(self, other):
        return ops.div(other, self)

    def __pow__(self, other):
        return ops.pow(self, other)

    def __rpow__(self, other):
        return ops.pow(other, self)

    def __neg__(self):
        return ops.neg(self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __getitem__(self, index):
        return ops.getitem(self, index)

    def __eq__(self, other):
        return ops.eq(self, other)

    def __ne__(self, other):
        return ops.ne(self, other)

    def __lt__(self, other):
        return ops.lt(self, other)

    def __le__(self, other):
        return ops.le(self, other)

    def __gt__(self, other):
        return ops.gt(self, other)

    def __ge__(self, other):
        return ops.ge(self, other)

    def __invert__(self):
        return ops.logical_not(self)

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(f"truth value of a tensor of shape {self.shape} is ambiguous")
        return bool(self.data)

    # ---- methods: x.exp() is ops.exp(x), the op of the same name, with its backward ---
    # arithmetic (ops/arithmetic.py, ops/matmul.py); the operators above call the same ops
    def add(self, other):
        return ops.add(self, other)

    def sub(self, other):
        return ops.sub(self, other)

    def mul(self, other):
        return ops.mul(self, other)

    def div(self, other):
        return ops.div(self, other)

    def pow(self, exponent):
        return ops.pow(self, exponent)

    def neg(self):
        return ops.neg(self)

    def matmul(self, other):
        return ops.matmul(self, other)

    # elementwise functions (ops/unary.py)
    def exp(self):
        return ops.exp(self)

    def log(self):
        return ops.log(self)

    def sqrt(self):
        return ops.sqrt(self)

    def tanh(self):
        return ops.tanh(self)

    def sigmoid(self):
        return ops.sigmoid(self)

    def relu(self):
        return ops.relu(self)

    def abs(self):
        return ops.abs(self)

    # reductions (ops/reduce.py)
    def sum(self, dim=None, keepdim=False):
        return ops.sum(self, dim, keepdim)

    def mean(self, dim=None, keepdim=False):
        return ops.mean(self, dim, keepdim)

    def max(self, dim=None, keepdim=False):
        return ops.max(self, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        return ops.min(self, dim, keepdim)

    def var(self, dim=None, keepdim=False, *, correction=1, unbiased=None):
        return ops.var(self, dim, keepdim, correction=correction, unbiased=unbiased)

    def argmax(self, dim=None, keepdim=False):
        return ops.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return ops.argmin(self, dim, keepdim)

    # shape (ops/shape.py) and selection (ops/select.py)
    def reshape(self, *shape):
        return ops.reshape(self, *shape)

    def view(self, *shape):
        return ops.view(self, *shape)

    def transpose(self, dim0, dim1):
        return ops.transpose(self, dim0, dim1)

    def permute(self, *dims):
        return ops.permute(self, *dims)

    def unsqueeze(self, dim):
        return ops.unsqueeze(self, dim)

    def squeeze(self, dim=None):
        return ops.squeeze(self, dim)

    def flatten(self, start_dim=0, end_dim=-1):
        return ops.flatten(self, start_dim, end_dim)

    def expand(self, *sizes):
        return ops.expand(self, *sizes)

    def split(self, split_size_or_sections, dim=0):
        return ops.split(self, split_size_or_sections, dim)

    def chunk(self, chunks, dim=0):
        return ops.chunk(self, chunks, dim)

    def masked_fill(self, mask, value):
        return ops.masked_fill(self, mask, value)

    def clone(self):
        return ops.clone(self)

    def contiguous(self):
        return ops.contiguous(self)


from . import autograd as _autograd  # noqa: E402  (autograd needs Tensor first)
from . import ops  # noqa: E402
