"""sinusoidal_position_encoding against the paper's formula written out element by element."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minitx.kernels.position import sinusoidal_position_encoding


@given(T=st.integers(0, 20), C=st.integers(1, 17))
def test_matches_the_formula(T, C):
    pe = sinusoidal_position_encoding(T, C)
    assert pe.shape == (T, C) and pe.dtype == np.float32 and not pe.requires_grad
    for pos in range(T):
        for c in range(C):
            angle = pos / 10000 ** ((c - c % 2) / C)  # channels 2i and 2i+1 share 2i's frequency
            expected = math.sin(angle) if c % 2 == 0 else math.cos(angle)
            assert pe.data[pos, c] == pytest.approx(expected, abs=1e-6)


def test_known_values():
    pe = sinusoidal_position_encoding(2, 4).data
    np.testing.assert_allclose(pe[0], [0, 1, 0, 1])
    np.testing.assert_allclose(pe[1], [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)],
                               rtol=1e-6)


def test_odd_C_ends_on_a_sin_channel():
    pe = sinusoidal_position_encoding(3, 5).data
    np.testing.assert_allclose(pe[:, 4], np.sin(np.arange(3) / 10000 ** (4 / 5)), rtol=1e-6)


@pytest.mark.parametrize("T, C", [(-1, 4), (3, 0)])
def test_bad_sizes_raise(T, C):
    with pytest.raises(ValueError, match=f"T={T}, C={C}"):
        sinusoidal_position_encoding(T, C)
