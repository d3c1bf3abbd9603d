"""matmul / @: 2-D, batched, broadcast batch dims, 1-D operands; values and gradcheck."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitx as mt
from minitx.testing import gradcheck
from tests.strategies import broadcast_shapes, tensors

sides = st.integers(1, 4)


@st.composite
def matmul_shapes(draw):
    """Shapes (..., M, K) and (..., K, N) with broadcast batch dims; either may be 1-D."""
    M, K, N = draw(sides), draw(sides), draw(sides)
    batch_a, batch_b = draw(broadcast_shapes(max_dims=2, max_side=3))
    a = (K,) if draw(st.integers(0, 4)) == 0 else batch_a + (M, K)
    b = (K,) if draw(st.integers(0, 4)) == 0 else batch_b + (K, N)
    return a, b


@given(data=st.data())
def test_matmul_matches_numpy(data):
    sa, sb = data.draw(matmul_shapes())
    a, b = data.draw(tensors(sa)), data.draw(tensors(sb))
    expected = np.matmul(a.data, b.data)
    out = a @ b
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)


@given(data=st.data())
def test_matmul_gradcheck(data):
    sa, sb = data.draw(matmul_shapes())
    gradcheck(mt.matmul, data.draw(tensors(sa)), data.draw(tensors(sb)))


@pytest.mark.parametrize("sa, sb", [
    ((3,), (3,)),             # dot product, 0-d result
    ((3,), (3, 2)),           # vector @ matrix
    ((2, 3), (3,)),           # matrix @ vector
    ((4, 2, 3), (3,)),        # batched matrix @ vector
    ((3,), (4, 3, 2)),        # vector @ batched matrix
    ((2, 1, 2, 3), (5, 3, 4)),  # batch dims (2, 1) and (5,) broadcast to (2, 5)
    ((1, 2, 3), (3, 3, 2)),
])
def test_matmul_named_cases(sa, sb):
    rng = np.random.default_rng(0)
    a = mt.tensor(rng.standard_normal(sa), requires_grad=True)
    b = mt.tensor(rng.standard_normal(sb), requires_grad=True)
    assert (a @ b).shape == np.matmul(a.data, b.data).shape
    gradcheck(mt.matmul, a, b)


def test_matmul_with_a_constant_operand():
    w = mt.tensor(np.eye(3), requires_grad=True)
    x = np.arange(6.0).reshape(2, 3)
    (x @ w).sum().backward()       # __rmatmul__ with a NumPy array on the left
    np.testing.assert_allclose(w.grad, x.sum(0)[:, None] * np.ones((1, 3)))


def test_matmul_float32_stays_float32():
    a, b = mt.ones(2, 3, requires_grad=True), mt.ones(3, 4)
    out = a @ b
    assert out.dtype == mt.float32
    out.sum().backward()
    assert a.grad.dtype == np.float32
