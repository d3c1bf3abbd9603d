"""Array helpers the kernels' Functions share."""
import numpy as np


def reshaped(a, shape):
    """a in `shape`: a itself when it has that shape already. A gradient handed back
    as a view (even of the same shape) is copied by autograd before a leaf keeps it."""
    return a if a.shape == tuple(shape) else a.reshape(shape)


def writable_c(a):
    """a as a writable C-contiguous array, copied only if it is not one already.

    Numba types a read-only array (np.broadcast_to, a memory-mapped checkpoint)
    as another type from a writable one and compiles the kernel again for it.
    """
    if a.flags.c_contiguous and a.flags.writeable:
        return a
    return np.array(a, order="C")
