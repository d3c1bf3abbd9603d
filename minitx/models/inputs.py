"""Token ids and masks as the models take them: lists, arrays or Tensors of integers."""
import numpy as np

from ..tensor import Tensor


def as_ids(x, name, shape=None):
    """An int64 array of integers (or bools). Without `shape`: ids (B, T), a 1-D
    sequence being one row; with it (a mask or labels beside input_ids): that shape."""
    a = x.data if isinstance(x, Tensor) else np.asarray(x)
    if a.size == 0 and not np.issubdtype(a.dtype, np.integer):  # [] and [[]] read as float64
        raise ValueError(f"{name}: empty (shape {a.shape}); give at least one token")
    if not (np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_):
        raise ValueError(f"{name}: expected integers, got {a.dtype} of shape {a.shape}")
    if shape is None:
        a = a[None, :] if a.ndim == 1 else a
        if a.ndim != 2:
            raise ValueError(f"{name}: expected ids of shape (B, T), got shape {a.shape}")
    elif a.shape != tuple(shape):
        raise ValueError(f"{name}: shape {a.shape} does not match input_ids {tuple(shape)}")
    return a.astype(np.int64, copy=False)
