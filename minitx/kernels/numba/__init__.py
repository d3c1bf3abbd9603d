"""The compiled (Numba) versions of the kernels, one file per op; each is tested equal to
its NumPy twin in kernels/<op>.py.

For a kernel of your own (docs/tutorial.md, step 5), what every kernel here is built
with is public under this name:

    njit          numba.njit with minitx's defaults: an on-disk cache, and NumPy's
                  semantics for a division by zero (no check that stops vectorization)
    poly_exp(x)   exp that LLVM vectorizes (Numba's math.exp runs one element at a time)
    row_max(a), row_sum(a), row_dot(a, b)   reductions of a 1-D array, vectorized,
                  in float64 and in the same order every run (row_max: a's dtype)

Pair them with minitx.backend.dispatch, which picks the twin or the compiled version.
"""
from ._jit import njit
from ._math import poly_exp, row_dot, row_max, row_sum

__all__ = ["njit", "poly_exp", "row_dot", "row_max", "row_sum"]
