"""The public kit for writing a kernel of your own (minitx.kernels.numba; docs/tutorial.md)."""
import numpy as np
import pytest

import minitx.kernels.numba as kit


def test_the_kit_names_what_it_exports():
    assert sorted(kit.__all__) == ["njit", "poly_exp", "row_dot", "row_max", "row_sum"]


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 3e-7), (np.float64, 1e-15)])
def test_a_kernel_of_ones_own_can_use_it(dtype, rtol):
    @kit.njit(cache=False)          # defined in a function: nothing to cache it by
    def softmax_row(x, y):
        m = kit.row_max(x)
        for j in range(x.shape[0]):
            y[j] = kit.poly_exp(x[j] - m)
        s = kit.row_sum(y)
        for j in range(x.shape[0]):
            y[j] /= s
        return kit.row_dot(y, x)

    x = np.linspace(-5, 5, 37).astype(dtype)
    y = np.empty_like(x)
    expected = np.exp(x.astype(np.float64) - 5) / np.exp(x.astype(np.float64) - 5).sum()
    dot = softmax_row(x, y)
    np.testing.assert_allclose(y, expected, rtol=10 * rtol)
    assert dot == pytest.approx(float((expected * x).sum()), rel=1e-5)


def test_tensor_methods_are_written_out():
    # `grep "def exp" minitx/tensor.py` finds the method: none is attached at runtime.
    import inspect
    import minitx as mt
    source = inspect.getsource(mt.Tensor)
    for name in ("exp", "sum", "reshape", "masked_fill", "var"):
        assert f"    def {name}(self" in source
