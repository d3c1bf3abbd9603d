"""The strategies deliver what the op tests rely on: real non-contiguous layouts,
shapes that broadcast, independent buffers."""
import numpy as np
import pytest
from hypothesis import find, given
from hypothesis import strategies as st

from tests.strategies import arrays, broadcast_shapes, layouts, shapes


@given(data=st.data())
def test_layouts_keep_shape_and_values_and_own_their_buffer(data):
    a = data.draw(arrays(layout=False))
    b = data.draw(layouts(a))
    assert b.shape == a.shape and b.dtype == a.dtype
    np.testing.assert_array_equal(a, b)
    assert not np.shares_memory(a, b) and b.flags.writeable


def _kind(a):
    if a.flags.c_contiguous:
        return "contiguous"
    return "strided" if a.base is not None and a.base.size > a.size else "transposed"


@pytest.mark.parametrize("kind", ["contiguous", "strided", "transposed"])
def test_every_layout_comes_up(kind):
    # find() raises NoSuchExample if the strategy never produces this layout
    find(arrays(shapes(min_dims=2, min_side=2)), lambda a: _kind(a) == kind)


@given(pair=broadcast_shapes(), triple=broadcast_shapes(n=3))
def test_broadcast_shapes_broadcast(pair, triple):
    np.broadcast_shapes(*pair)
    np.broadcast_shapes(*triple)
