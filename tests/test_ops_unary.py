"""exp log sqrt tanh sigmoid relu abs: NumPy values, gradcheck in any layout, edge values."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitx as mt
from minitx.testing import gradcheck
from tests.strategies import bounded_floats, float_dtypes, nonzero_floats, tensors

# name: (op, NumPy reference, elements where the op is smooth)
UNARY = {
    "exp": (mt.exp, np.exp, bounded_floats()),
    "log": (mt.log, np.log, st.floats(0.1, 5.0)),
    "sqrt": (mt.sqrt, np.sqrt, st.floats(0.1, 5.0)),
    "tanh": (mt.tanh, np.tanh, bounded_floats()),
    "sigmoid": (mt.sigmoid, lambda a: 1 / (1 + np.exp(-a)), bounded_floats(-6.0, 6.0)),
    "relu": (mt.relu, lambda a: np.maximum(a, 0), nonzero_floats()),
    "abs": (mt.abs, np.abs, nonzero_floats()),
}


@pytest.mark.parametrize("name", UNARY)
@given(data=st.data())
def test_unary_matches_numpy(name, data):
    op, ref, elements = UNARY[name]
    x = data.draw(tensors(elements=elements))
    np.testing.assert_allclose(op(x).data, ref(x.data), rtol=1e-12)
    np.testing.assert_allclose(getattr(x, name)().data, ref(x.data), rtol=1e-12)


@pytest.mark.parametrize("name", UNARY)
@given(data=st.data())
def test_unary_gradcheck(name, data):
    op, _, elements = UNARY[name]
    gradcheck(op, data.draw(tensors(elements=elements)))


@pytest.mark.parametrize("name", UNARY)
@given(dtype=float_dtypes)
def test_unary_keeps_dtype(name, dtype):
    x = mt.tensor(np.array([0.5, 1.5]), dtype=dtype, requires_grad=True)
    y = UNARY[name][0](x)
    assert y.dtype == dtype
    y.sum().backward()
    assert x.grad.dtype == dtype


def test_sigmoid_does_not_overflow():
    x = mt.tensor(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0]), requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        y = mt.sigmoid(x)
        y.sum().backward()
    np.testing.assert_allclose(y.data, [0.0, np.exp(-50.0), 0.5, 1.0, 1.0], atol=1e-30)
    assert np.all(np.isfinite(x.grad))


def test_relu_and_abs_have_zero_gradient_at_zero():
    # PyTorch's convention at the kink
    for op in (mt.relu, mt.abs):
        x = mt.tensor(np.array([0.0]), requires_grad=True)
        op(x).sum().backward()
        assert x.grad[0] == 0.0


def test_log_and_sqrt_at_zero_follow_ieee():
    with np.errstate(divide="ignore"):
        assert mt.log(mt.tensor(np.array(0.0))).item() == -np.inf
        x = mt.tensor(np.array([0.0]), requires_grad=True)
        mt.sqrt(x).sum().backward()
    assert x.grad[0] == np.inf
