"""Hypothesis strategies and tolerances shared by the kernel tests (tests/test_kernels_*.py)."""
import contextlib

import numba
import numpy as np
from hypothesis import strategies as st

from minitx.kernels.numba import pair

DTYPES = st.sampled_from([np.float32, np.float64])

# Numba kernel against its NumPy twin. Both compute the same math; float32
# results differ by rounding in a different order (a few ulp of values near 1,
# or of the row sums behind them), float64 ones by a few ulp of float64.
TWIN_TOL = {np.dtype(np.float32): dict(rtol=2e-5, atol=2e-6),
            np.dtype(np.float64): dict(rtol=1e-11, atol=1e-13)}


def twin_tol(dtype):
    return TWIN_TOL[np.dtype(dtype)]


def shapes(min_dims=1, max_dims=3, max_side=6):
    """Array shapes with every side >= 1."""
    return st.lists(st.integers(1, max_side), min_size=min_dims, max_size=max_dims).map(tuple)


@st.composite
def arrays(draw, shape, dtype, scale=None):
    """A random normal array of `shape` and `dtype`, times a drawn scale (0.1 to 10) unless given.

    Values come from a drawn seed rather than element by element: fast, and
    hypothesis still shrinks the shape, dtype and seed.
    """
    seed = draw(st.integers(0, 2 ** 32 - 1))
    if scale is None:
        scale = draw(st.sampled_from([0.1, 1.0, 10.0]))
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


@st.composite
def rows(draw, max_rows=40, max_cols=40, dtype=None):
    """(R, C) float array, the layout every row kernel works on."""
    R = draw(st.integers(1, max_rows))
    C = draw(st.integers(1, max_cols))
    dt = dtype if dtype is not None else draw(DTYPES)
    return draw(arrays((R, C), dt))


@st.composite
def class_targets(draw, N, V, ignore_index=-100, ignore=True):
    """(N,) int64 class ids in [0, V), some set to ignore_index when `ignore`."""
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    t = rng.integers(0, V, N)
    if ignore:
        t[rng.random(N) < draw(st.sampled_from([0.0, 0.3, 1.0]))] = ignore_index
    return t


PATHS = ["serial", "parallel"]


def assert_threads():
    """pair.py uses its worker only on two threads or more (pair.usable); on one, a
    'parallel' test would pass on the serial code. tests/conftest.py asks Numba for two."""
    assert numba.get_num_threads() >= 2, (
        f"Numba has {numba.get_num_threads()} thread(s): the parallel path would not run "
        f"(was numba imported before tests/conftest.py set NUMBA_NUM_THREADS?)")


@contextlib.contextmanager
def kernel_path(path):
    """Run the Numba kernels on one thread ('serial') or through their parallel driver
    ('parallel'), whatever the size of the input: tests use small inputs, which would
    otherwise always take the serial path."""
    if path == "parallel":
        assert_threads()
    saved = pair.MIN_ELEMENTS
    pair.MIN_ELEMENTS = 0 if path == "parallel" else 1 << 62
    try:
        yield
    finally:
        pair.MIN_ELEMENTS = saved
