"""Every engine op against PyTorch: same float64 inputs, same forward, same gradients.

Inputs are drawn by hypothesis (any layout, broadcasting, ties and zeros where
the ops have conventions at them); one random cotangent drives both backwards.
"""
import operator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minitx as mt
from tests.strategies import arrays, broadcast_shapes, nonzero_floats, shapes

torch = pytest.importorskip("torch", reason="PyTorch parity tests need torch (pip install .[parity])")

TOL = dict(rtol=1e-10, atol=1e-12)


def _same(ours, theirs, what):
    theirs = theirs.detach().numpy()
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs PyTorch {theirs.shape}"
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} vs PyTorch {theirs.dtype}"
    np.testing.assert_allclose(ours, theirs, err_msg=what, **TOL)


def compare(fn, inputs, torch_fn=None, seed=0):
    """Run fn(*tensors) in minitx and torch_fn(*tensors) (default fn) in PyTorch on the
    same arrays; check outputs, then every float input's gradient for one cotangent."""
    torch_fn = torch_fn or fn
    ours = [mt.Tensor(np.array(a, copy=True), requires_grad=a.dtype.kind == "f") for a in inputs]
    theirs = [torch.tensor(np.array(a, order="C"), requires_grad=a.dtype.kind == "f") for a in inputs]
    out, ref = fn(*ours), torch_fn(*theirs)
    _same(out.data, ref, "forward")
    if not ref.requires_grad:
        assert not out.requires_grad, "an op without a gradient in PyTorch has one here"
        return
    v = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(v)
    ref.backward(torch.tensor(v))
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if b.requires_grad:
            _same(a.grad if a.grad is not None else np.zeros(a.shape), b.grad, f"grad of input {i}")


# ---- arithmetic ------------------------------------------------------------------

BINARY = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv}


@pytest.mark.parametrize("name", BINARY)
@given(data=st.data())
def test_binary(name, data):
    sa, sb = data.draw(broadcast_shapes())
    b_elements = nonzero_floats(0.5, 3.0) if name == "div" else None
    a, b = data.draw(arrays(sa)), data.draw(arrays(sb, elements=b_elements))
    compare(BINARY[name], [a, b])
    compare(getattr(mt, name), [a, b], getattr(torch, name))


@pytest.mark.parametrize("name", BINARY)
@given(data=st.data(), scalar=nonzero_floats(0.5, 3.0))
def test_binary_with_scalars(name, data, scalar):
    x = data.draw(arrays(elements=nonzero_floats(0.5, 3.0)))
    op = BINARY[name]
    compare(lambda t: op(t, scalar), [x])
    compare(lambda t: op(scalar, t), [x])


@given(data=st.data())
def test_pow(data):
    sa, sb = data.draw(broadcast_shapes())
    a = data.draw(arrays(sa, elements=st.just(0.0) | st.floats(0.1, 3.0)))   # 0 ** b too
    b = data.draw(arrays(sb, elements=st.sampled_from([0.0, 0.5, 1.0, 2.0, -1.5, 3.0])))
    if np.any((np.broadcast_to(a, np.broadcast_shapes(sa, sb)) == 0)
              & (np.broadcast_to(b, np.broadcast_shapes(sa, sb)) < 1)):
        b = np.abs(b) + 1.0     # keep 0 ** b finite in value and slope
    compare(operator.pow, [a, b])


@given(data=st.data(), exponent=st.sampled_from([0, 1, 2, 3, -1, 0.5, 2.5]))
def test_pow_scalar_exponent_and_base(data, exponent):
    x = data.draw(arrays(elements=st.floats(0.3, 3.0)))
    compare(lambda t: t ** exponent, [x])
    compare(lambda t: 2.0 ** t, [x])


@given(data=st.data())
def test_neg(data):
    compare(operator.neg, [data.draw(arrays())])


# ---- unary -------------------------------------------------------------------------

# zeros included where PyTorch has a convention at the kink (relu, abs: slope 0)
UNARY = {
    "exp": st.floats(-5, 5), "log": st.floats(0.1, 5), "sqrt": st.floats(0.1, 5),
    "tanh": st.floats(-5, 5), "sigmoid": st.floats(-40, 40),
    "relu": st.sampled_from([0.0, -1.5, 2.0, -0.25, 0.75]),
    "abs": st.sampled_from([0.0, -1.5, 2.0, -0.25, 0.75]),
}


@pytest.mark.parametrize("name", UNARY)
@given(data=st.data())
def test_unary(name, data):
    x = data.draw(arrays(elements=UNARY[name]))
    compare(getattr(mt, name), [x], getattr(torch, name))
    compare(lambda t: getattr(t, name)(), [x])


# ---- matmul ------------------------------------------------------------------------

@given(data=st.data())
def test_matmul(data):
    M, K, N = (data.draw(st.integers(1, 4)) for _ in range(3))
    batch_a, batch_b = data.draw(broadcast_shapes(max_dims=2, max_side=3))
    sa = (K,) if data.draw(st.integers(0, 4)) == 0 else batch_a + (M, K)
    sb = (K,) if data.draw(st.integers(0, 4)) == 0 else batch_b + (K, N)
    compare(operator.matmul, [data.draw(arrays(sa)), data.draw(arrays(sb))])


# ---- reductions --------------------------------------------------------------------

def _dim(data, ndim, allow_tuple=True):
    if ndim == 0 or data.draw(st.booleans()):
        return None
    if allow_tuple and data.draw(st.booleans()):
        return tuple(data.draw(st.lists(st.integers(-ndim, ndim - 1), min_size=1, max_size=ndim,
                                        unique_by=lambda d: d % ndim)))
    return data.draw(st.integers(-ndim, ndim - 1))


def _reduce(name, x, dim, keepdim, **kwargs):
    # PyTorch has no keepdim when dim is None; ours returns the same 0-d result
    if dim is None:
        return getattr(x, name)(**kwargs)
    return getattr(x, name)(dim=dim, keepdim=keepdim, **kwargs)


@pytest.mark.parametrize("name", ["sum", "mean"])
@given(data=st.data(), keepdim=st.booleans())
def test_sum_mean(name, data, keepdim):
    x = data.draw(arrays())
    dim = _dim(data, x.ndim)
    compare(lambda t: _reduce(name, t, dim, keepdim), [x])


@given(data=st.data(), keepdim=st.booleans(), correction=st.sampled_from([0, 1]))
def test_var(data, keepdim, correction):
    x = data.draw(arrays(shapes(min_dims=1, min_side=2)))
    dim = _dim(data, x.ndim)
    compare(lambda t: _reduce("var", t, dim, keepdim, correction=correction), [x])


# few distinct values, so ties are common
tied = st.sampled_from([-1.0, 0.0, 0.5, 2.0])


@pytest.mark.parametrize("name", ["max", "min"])
@given(data=st.data())
def test_full_max_min_with_ties(name, data):
    compare(lambda t: getattr(t, name)(), [data.draw(arrays(elements=tied))])


@pytest.mark.parametrize("name", ["max", "min"])
@given(data=st.data(), keepdim=st.booleans())
def test_max_min_along_a_dim_with_ties(name, data, keepdim):
    x = data.draw(arrays(shapes(min_dims=1), elements=tied))
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    compare(lambda t: getattr(t, name)(dim=dim, keepdim=keepdim).values, [x])
    compare(lambda t: getattr(t, name)(dim=dim, keepdim=keepdim).indices, [x])


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@given(data=st.data(), keepdim=st.booleans())
def test_argmax_argmin(name, data, keepdim):
    x = data.draw(arrays(shapes(min_dims=1), elements=tied))
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    compare(lambda t: getattr(t, name)(), [x])
    compare(lambda t: getattr(t, name)(dim=dim, keepdim=keepdim), [x])


# ---- shape ---------------------------------------------------------------------------

@given(data=st.data())
def test_reshape_view_flatten(data):
    x = data.draw(arrays(shapes(min_dims=1)))
    n = x.size
    new = data.draw(st.sampled_from([(n,), (1, n), (n, 1), (-1,), (1, -1, 1)]))
    compare(lambda t: t.reshape(new), [x])
    compare(lambda t: t.view(*new), [x])
    s = data.draw(st.integers(0, x.ndim - 1))
    e = data.draw(st.integers(s, x.ndim - 1))
    compare(lambda t: t.flatten(s, e), [x])


@given(data=st.data())
def test_permute_transpose(data):
    x = data.draw(arrays(shapes(min_dims=1)))
    dims = data.draw(st.permutations(range(x.ndim)))
    compare(lambda t: t.permute(*dims), [x])
    i, j = data.draw(st.integers(-x.ndim, x.ndim - 1)), data.draw(st.integers(-x.ndim, x.ndim - 1))
    compare(lambda t: t.transpose(i, j), [x])


@given(data=st.data())
def test_unsqueeze_squeeze(data):
    x = data.draw(arrays(shapes(max_side=2)))
    dim = data.draw(st.integers(-x.ndim - 1, x.ndim))
    compare(lambda t: t.unsqueeze(dim), [x])
    compare(lambda t: t.squeeze(), [x])
    if x.ndim:
        d = data.draw(st.integers(-x.ndim, x.ndim - 1))
        compare(lambda t: t.squeeze(d), [x])


@given(data=st.data())
def test_expand(data):
    x = data.draw(arrays(shapes(max_side=3)))
    lead = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2)))
    target = lead + tuple(data.draw(st.integers(1, 3)) if n == 1 else n for n in x.shape)
    compare(lambda t: t.expand(target), [x])


@given(data=st.data())
def test_cat_stack(data):
    base = data.draw(shapes(min_dims=1))
    dim = data.draw(st.integers(-len(base), len(base) - 1))
    parts = []
    for _ in range(data.draw(st.integers(1, 3))):
        shape = list(base)
        shape[dim] = data.draw(st.integers(1, 3))
        parts.append(data.draw(arrays(tuple(shape))))
    compare(lambda *ts: mt.cat(ts, dim), parts, lambda *ts: torch.cat(ts, dim))
    same = [data.draw(arrays(base)) for _ in range(len(parts))]
    sdim = data.draw(st.integers(-len(base) - 1, len(base)))
    compare(lambda *ts: mt.stack(ts, sdim), same, lambda *ts: torch.stack(ts, sdim))


@given(data=st.data())
def test_split_chunk(data):
    x = data.draw(arrays(shapes(min_dims=1)))
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    size = data.draw(st.integers(1, 4))
    chunks = data.draw(st.integers(1, 5))

    def weighted(pieces, cat):
        return cat([p * (k + 1) for k, p in enumerate(pieces)], dim)

    compare(lambda t: weighted(t.split(size, dim), mt.cat), [x],
            lambda t: weighted(t.split(size, dim), torch.cat))
    compare(lambda t: weighted(t.chunk(chunks, dim), mt.cat), [x],
            lambda t: weighted(t.chunk(chunks, dim), torch.cat))


# ---- indexing --------------------------------------------------------------------------

@given(data=st.data())
def test_basic_indexing(data):
    x = data.draw(arrays(shapes(min_dims=1)))
    index = data.draw(hnp.basic_indices(x.shape, allow_newaxis=True, allow_ellipsis=True))
    parts = index if isinstance(index, tuple) else (index,)
    if any(isinstance(i, slice) and (i.step or 1) < 0 for i in parts):
        return   # PyTorch has no negative steps
    compare(lambda t: t[index], [x])


@given(data=st.data())
def test_integer_array_indexing_with_repeats(data):
    x = data.draw(arrays(shapes(min_dims=1)))
    index = data.draw(hnp.integer_array_indices(x.shape, result_shape=shapes(max_dims=2)))
    compare(lambda t: t[tuple(torch.as_tensor(i) for i in index)] if isinstance(t, torch.Tensor)
            else t[index], [x])


@given(data=st.data())
def test_boolean_mask_indexing(data):
    x = data.draw(arrays(shapes(min_dims=1)))
    mask = data.draw(hnp.arrays(np.bool_, x.shape[:data.draw(st.integers(1, x.ndim))]))
    compare(lambda t: t[mask] if isinstance(t, mt.Tensor) else t[torch.as_tensor(mask)], [x])


# ---- select and compare -----------------------------------------------------------------

@given(data=st.data())
def test_where(data):
    sc, sx, sy = data.draw(broadcast_shapes(n=3))
    cond = data.draw(hnp.arrays(np.bool_, sc))
    compare(lambda a, b: mt.where(cond, a, b), [data.draw(arrays(sx)), data.draw(arrays(sy))],
            lambda a, b: torch.where(torch.as_tensor(cond), a, b))


@given(data=st.data(), value=st.sampled_from([0.0, -1e9, 2.5]))
def test_masked_fill(data, value):
    x = data.draw(arrays())
    keep = data.draw(st.integers(0, x.ndim))
    mask = data.draw(hnp.arrays(np.bool_, tuple(1 if data.draw(st.booleans()) else n
                                                for n in x.shape[x.ndim - keep:])))
    compare(lambda t: t.masked_fill(mask, value), [x],
            lambda t: t.masked_fill(torch.as_tensor(mask), value))


@pytest.mark.parametrize("name", ["eq", "ne", "lt", "le", "gt", "ge"])
@given(data=st.data())
def test_comparisons(name, data):
    sa, sb = data.draw(broadcast_shapes())
    a, b = data.draw(arrays(sa, elements=tied)), data.draw(arrays(sb, elements=tied))
    compare(getattr(mt, name), [a, b], getattr(torch, name))


# ---- a composite: autograd through a small MLP with a softmax cross-entropy ------------

def test_mlp_with_softmax_cross_entropy():
    rng = np.random.default_rng(0)
    B, C, H, V = 4, 5, 6, 3
    x, W1, b1, W2 = (rng.standard_normal(s) for s in [(B, C), (C, H), (H,), (H, V)])
    targets = np.array([0, 2, 1, 2])

    def loss(lib, x, W1, b1, W2):
        h = (x @ W1 + b1).tanh()
        logits = h @ W2
        m = logits.max(dim=1, keepdim=True).values.detach()
        z = logits - m
        logp = z - z.exp().sum(dim=1, keepdim=True).log()
        picked = logp[lib.arange(B), lib.tensor(targets) if lib is mt else torch.as_tensor(targets)]
        return -picked.mean() + (W1 * W1).sum() * 0.01

    compare(lambda *ts: loss(mt, *ts), [x, W1, b1, W2], lambda *ts: loss(torch, *ts))
