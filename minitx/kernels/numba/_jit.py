"""How every kernel is compiled: `njit` with an on-disk cache in a per-user folder
(minitx/kernel_cache.py says where and how it is keyed)."""
import math
import os
import warnings

import numba
import numpy as np

from .. import __version__
from ..kernel_cache import install

CACHE_DIR = install(__version__)  # before the first @njit below: Numba picks a kernel's folder then

# Threading layer: 'workqueue', Numba's own small pool, unless NUMBA_THREADING_LAYER
# says otherwise. Its idle threads sleep at once; OpenMP's (the default 'omp')
# spin while waiting for work, and on 2 cores they spin against OpenBLAS's
# threads, which also spin after every matmul, and against any other busy
# process. benchmarks/threads.py, one step = matmul + layer_norm, softmax, gelu
# and causal attention forward and backward + matmul at B=8 T=256 C=384 NH=6,
# float32, median ms (2 vCPUs, load average 0.6 before the run):
#
#                                  as found   one core kept busy
#     omp, 2 threads (default)       61.5        72.0
#     omp, OMP_WAIT_POLICY=ACTIVE    58.9        66.7
#     omp, OMP_WAIT_POLICY=PASSIVE   44.7        48.2
#     workqueue, 2 threads           50.3        58.0
#     1 thread                       44.2        85.9
#
# Passive OpenMP does as well, but only if set in the environment before the
# OpenMP runtime starts, and PyTorch shares that runtime when both are loaded.
# 'tbb' is not installed here. workqueue cannot run two parallel kernels at
# once, which cannot happen: the kernels keep the GIL (no nogil=True), so one
# Python thread at a time is inside one. Threads: Numba's default, one per core.
# See docs/kernels/threads.md.
if not os.environ.get("NUMBA_THREADING_LAYER"):
    numba.config.THREADING_LAYER = "workqueue"
    try:
        _started = numba.threading_layer()
    except ValueError:  # not started yet: the setting above applies
        _started = "workqueue"
    if _started != "workqueue":
        # Numba's threads started before minitx was imported (numba.set_num_threads or a
        # parallel function), with its default layer; that cannot change any more.
        warnings.warn(f"minitx: Numba's threads were started before minitx was imported, with "
                      f"the '{_started}' threading layer; its spinning threads can make minitx's "
                      f"kernels 2x slower beside OpenBLAS. Import minitx first, or set "
                      f"NUMBA_THREADING_LAYER=workqueue (docs/kernels/threads.md).",
                      RuntimeWarning, stacklevel=2)


def njit(*args, **kwargs):
    """numba.njit with cache=True; pass parallel=True only where a benchmark shows it pays.

    error_model='numpy': a float division by zero gives inf/nan as in NumPy
    instead of a Python ZeroDivisionError check on every division, which would
    also stop LLVM from vectorizing the loop around it.
    """
    kwargs.setdefault("cache", True)
    kwargs.setdefault("error_model", "numpy")
    return numba.njit(*args, **kwargs)


# ---- when a kernel runs in parallel ----------------------------------------------
# gelu and cross_entropy, compute-bound (an erfc or an exp per element), have a
# parallel driver beside their serial kernel: it cuts the elements or rows into
# BLOCKS fixed blocks and runs the serial kernel on each in a prange. layer_norm
# and softmax have none: at the GPT shape they are bound by memory traffic, and a
# second thread made them slower (docs/kernels/threads.md has the figures).
# Starting workqueue's threads costs 60 to 100 us per call here (an empty prange
# loop, measured), so below PARALLEL_MIN_ELEMENTS elements a kernel runs on the
# calling thread. Serial / parallel time of forward+backward on 2 cores (load
# average 0.5 to 0.7): gelu 0.87 to 0.95 at 2^20 elements, 0.9 to 1.8 at 2^21
# and up (1.8 when the second core is free, 1.1 when another job holds it);
# cross-entropy 0.92 at 2^21, 1.4 at 2^23, 1.75 at V=50257 (103M).
# Those figures are for kernels run alone. Inside a training step every kernel
# follows a matmul, whose OpenBLAS threads keep spinning on the cores for a
# while, so a second Numba thread finds no free core. The GPT benchmark step
# (B=8 T=256 L=6 C=384, gelu on 3.1M elements) took 975, 970 and 957 ms with
# threads from 2^21 elements (and attention from 2^25 multiply-adds), against
# 952, 934 and 941 ms with every kernel serial (three alternated runs). So
# threads start at 2^23, where the exp-heavy cross-entropy gains even so.
BLOCKS = 16
PARALLEL_MIN_ELEMENTS = 1 << 23


def parallel_pays(n_elements):
    """Whether a kernel touching n_elements should run its parallel driver."""
    return n_elements >= PARALLEL_MIN_ELEMENTS and numba.get_num_threads() > 1


@njit
def block_start(blk, n):
    """First row of block blk when n rows are cut into BLOCKS blocks (block_start(BLOCKS, n) == n)."""
    return n * blk // BLOCKS


def as_rows(a):
    """a (..., C) as a (R, C) view, R the product of the leading dims (a C-contiguous)."""
    return a.reshape(math.prod(a.shape[:-1]), a.shape[-1])


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
