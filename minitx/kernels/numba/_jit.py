"""How every kernel is compiled: `njit` with an on-disk cache (minitx/runtime.py sets
its folder before any kernel module is imported), and when a kernel runs threaded."""
import math
import os

import numba
from numba.np.ufunc import parallel as _parallel


def njit(*args, **kwargs):
    """numba.njit with cache=True; pass parallel=True only where a benchmark shows it pays.

    error_model='numpy': a float division by zero gives inf/nan as in NumPy
    instead of a Python ZeroDivisionError check on every division, which would
    also stop LLVM from vectorizing the loop around it.
    """
    kwargs.setdefault("cache", True)
    kwargs.setdefault("error_model", "numpy")
    return numba.njit(*args, **kwargs)


# NOALIAS: njit(**NOALIAS) marks every array argument noalias (C's `restrict`), for
# kernels whose arguments never overlap. Without it LLVM guards each vectorized loop
# with a check of every pair of addresses and a scalar fallback, which costs more
# than a loop of HS = 64 numbers. Numba has the flag for its own parallel loops but
# no jit option for it; this registers one. On a Numba version without those
# internals the kernels compile without it: slower, the same results.
try:
    from numba.core import cpu as _cpu, options as _options
    if not hasattr(_cpu.CPUTargetOptions, "noalias"):
        _cpu.CPUTargetOptions.noalias = _options.TargetOptions.Mapping("noalias")
    NOALIAS = {"noalias": True}
except (ImportError, AttributeError):
    NOALIAS = {}


# How a kernel runs on both cores: it cuts its rows, elements or heads into BLOCKS fixed
# blocks and hands them to pair.py, minitx's own worker thread (a launch costs about
# 2 us; Numba's workqueue pool cost 70 to 150 us). A sum over blocks is added in block
# order, so results are the same on any thread count. docs/kernels/threads.md has the
# design, docs/lab/threads.md the measurements.
BLOCKS = 16

# Threads do not survive fork() (pair.py's worker is gone in the child, and Numba's
# OpenMP layer kills a forked child that starts a parallel loop), so a forked child
# (multiprocessing's fork start method) runs every kernel on one core.
_forked = False


def _after_fork_in_child():
    global _forked
    _forked = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def _num_threads():
    """numba.get_num_threads(), without the two locks it takes each call (0.5 us of a
    2 us launch) once Numba's threads are up."""
    if getattr(_parallel, "_is_initialized", False):
        return _parallel._get_num_threads()
    return numba.get_num_threads()


def threads_usable():
    """Whether this process may run kernels on more than one thread."""
    return not _forked and _num_threads() > 1


@njit
def block_start(blk, n):
    """First row of block blk when n rows are cut into BLOCKS blocks (block_start(BLOCKS, n) == n)."""
    return n * blk // BLOCKS


@njit
def sum_blocks(partial, total):
    """total (C,) += the rows of partial (BLOCKS, C), added in block order."""
    for blk in range(BLOCKS):
        for j in range(total.shape[0]):
            total[j] += partial[blk, j]


def as_rows(a):
    """a (..., C) as a (R, C) view, R the product of the leading dims (a C-contiguous)."""
    return a.reshape(math.prod(a.shape[:-1]), a.shape[-1])
