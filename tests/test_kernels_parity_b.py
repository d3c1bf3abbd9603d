"""Parity with torch.nn.functional: attention, embedding, linear, dropout (forward and gradients).

Tolerances: float64 rtol 1e-9 (different summation orders only); float32 rtol
1e-4, atol 1e-5 (torch's CPU attention uses its own blocked kernels).
Where torch and minitx define causal differently (Tq != Tk, see
minitx/kernels/attention.py) torch gets the equivalent explicit mask.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitx as mt
from minitx.kernels.attention import scaled_dot_product_attention
from minitx.kernels.dropout import dropout
from minitx.kernels.embedding import embedding
from minitx.kernels.linear import linear
from tests.kernel_strategies_b import attention_cases, embedding_cases

torch = pytest.importorskip("torch", reason="parity tests compare against PyTorch")
F = torch.nn.functional

TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-9, atol=1e-12)}


def _torch_attention(q, k, v, mask, is_causal, scale, dout):
    """torch's out and grads; a causal call with Tq != Tk becomes an explicit bottom-right mask."""
    Tq, Tk = q.shape[2], k.shape[2]
    tq, tk, tv = (torch.from_numpy(a.copy()).requires_grad_() for a in (q, k, v))
    tmask = None
    if mask is not None:                            # torch wants at least (Tq, Tk); we take (Tk,)
        mask = mask.reshape((1,) * (2 - mask.ndim) + mask.shape)
        tmask = torch.from_numpy(np.ascontiguousarray(mask))
    if is_causal and (Tq != Tk or mask is not None):   # torch allows causal alone only
        allowed = torch.from_numpy(np.tril(np.ones((Tq, Tk), bool), k=Tk - Tq))
        if tmask is None:
            tmask = allowed
        elif tmask.dtype == torch.bool:
            tmask = tmask & allowed
        else:
            tmask = tmask.masked_fill(~allowed, float("-inf"))
        is_causal = False
    out = F.scaled_dot_product_attention(tq, tk, tv, attn_mask=tmask, is_causal=is_causal,
                                         scale=scale)
    out.backward(torch.from_numpy(dout))
    return [t.detach().numpy() for t in (out, tq.grad, tk.grad, tv.grad)]


def _ours(q, k, v, mask, is_causal, scale, dout, backend="numba"):
    tq, tk, tv = (mt.Tensor(a.copy(), requires_grad=True) for a in (q, k, v))
    with mt.use_backend(backend):
        out = scaled_dot_product_attention(tq, tk, tv, attn_mask=mask, is_causal=is_causal,
                                           scale=scale)
        out.backward(dout)
    return [out.data, tq.grad, tk.grad, tv.grad]


def _compare(case, backend="numba"):
    q, k, v = case["q"], case["k"], case["v"]
    dout = np.random.default_rng(2).standard_normal(q.shape).astype(q.dtype)
    args = (q, k, v, case["attn_mask"], case["is_causal"], case["scale"], dout)
    for ours, theirs, name in zip(_ours(*args, backend=backend), _torch_attention(*args),
                                  ["out", "dq", "dk", "dv"]):
        np.testing.assert_allclose(ours, theirs, err_msg=name, **TOL[q.dtype.type])


@given(case=attention_cases(), backend=st.sampled_from(["numba", "numpy"]))
def test_attention_matches_torch(case, backend):
    _compare(case, backend)


def _case(B, NH, Tq, Tk, HS, mask=None, is_causal=False, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((B, NH, Tq, HS)).astype(dtype)
    k, v = (rng.standard_normal((B, NH, Tk, HS)).astype(dtype) for _ in range(2))
    return dict(q=q, k=k, v=v, attn_mask=mask, is_causal=is_causal, scale=None)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_attention_causal_gpt_like(dtype):
    _compare(_case(2, 3, 16, 16, 8, is_causal=True, dtype=dtype))


def test_attention_padded_batch():
    lengths = np.array([5, 2, 7])                   # key padding: (B, 1, 1, Tk)
    mask = (np.arange(7)[None, :] < lengths[:, None])[:, None, None, :]
    _compare(_case(3, 2, 7, 7, 4, mask=mask))


def test_attention_padded_and_causal():
    mask = np.ones((2, 1, 1, 6), bool)
    mask[1, ..., 4:] = False
    _compare(_case(2, 2, 6, 6, 4, mask=mask, is_causal=True))


@pytest.mark.parametrize("kind", ["bool", "additive"])
def test_attention_fully_masked_rows(kind):
    allowed = np.ones((4, 5), bool)
    allowed[[0, 2]] = False
    mask = allowed if kind == "bool" else np.where(allowed, 0.0, -np.inf).astype(np.float32)
    _compare(_case(2, 2, 4, 5, 3, mask=mask))


def test_attention_kv_cache_decode_step():
    _compare(_case(2, 3, 1, 9, 8, is_causal=True))  # one new query against 9 cached keys
    _compare(_case(2, 3, 4, 9, 8, is_causal=True))


def test_attention_additive_float_mask_and_scale():
    mask = np.random.default_rng(5).standard_normal((1, 2, 3, 6)).astype(np.float32)
    case = _case(2, 2, 3, 6, 4, mask=mask)
    case["scale"] = 0.3
    _compare(case)


def test_torch_causal_is_top_left_and_ours_bottom_right():
    # documents why the parity tests above hand torch an explicit mask when Tq != Tk
    case = _case(1, 1, 2, 5, 4)
    q, k, v = (torch.from_numpy(case[n]) for n in "qkv")
    top_left = F.scaled_dot_product_attention(q, k, v, is_causal=True).numpy()
    only_first = F.scaled_dot_product_attention(q[..., :1, :], k[..., :1, :], v[..., :1, :]).numpy()
    np.testing.assert_allclose(top_left[..., :1, :], only_first, rtol=1e-5)
    ours = scaled_dot_product_attention(case["q"], case["k"], case["v"], is_causal=True).data
    last_query_sees_all = F.scaled_dot_product_attention(q[..., 1:, :], k, v).numpy()
    np.testing.assert_allclose(ours[..., 1, :], last_query_sees_all[..., 0, :], rtol=1e-5)


@given(case=embedding_cases(), backend=st.sampled_from(["numba", "numpy"]))
def test_embedding_matches_torch(case, backend):
    ids, weight, padding_idx = case
    w = mt.Tensor(weight.copy(), requires_grad=True)
    tw = torch.from_numpy(weight.copy()).requires_grad_()
    with mt.use_backend(backend):
        out = embedding(ids, w, padding_idx=padding_idx)
    tout = F.embedding(torch.from_numpy(ids), tw, padding_idx=padding_idx)
    dout = np.random.default_rng(0).standard_normal(out.shape).astype(weight.dtype)
    with mt.use_backend(backend):
        out.backward(dout)
    tout.backward(torch.from_numpy(dout))
    np.testing.assert_array_equal(out.data, tout.detach().numpy())
    np.testing.assert_allclose(w.grad, tw.grad.numpy(), **TOL[weight.dtype.type])


def test_embedding_padding_idx_and_repeated_ids():
    ids = np.array([[1, 4, 4, 0], [4, 1, 0, 2]])
    weight = np.random.default_rng(3).standard_normal((5, 3)).astype(np.float32)
    w = mt.Tensor(weight.copy(), requires_grad=True)
    tw = torch.from_numpy(weight.copy()).requires_grad_()
    embedding(ids, w, padding_idx=0).sum().backward()
    F.embedding(torch.from_numpy(ids), tw, padding_idx=0).sum().backward()
    np.testing.assert_array_equal(w.grad, tw.grad.numpy())
    assert w.grad[4, 0] == 3 and w.grad[0, 0] == 0


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_matches_torch(bias, dtype):
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in [(2, 3, 5), (4, 5), (4,)])
    dout = rng.standard_normal((2, 3, 4)).astype(dtype)
    ours = [mt.Tensor(a.copy(), requires_grad=True) for a in (x, w, b)]
    theirs = [torch.from_numpy(a.copy()).requires_grad_() for a in (x, w, b)]
    out = linear(ours[0], ours[1], ours[2] if bias else None)
    tout = F.linear(theirs[0], theirs[1], theirs[2] if bias else None)
    out.backward(dout)
    tout.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(out.data, tout.detach().numpy(), **TOL[dtype])
    for a, t in zip(ours[:3 if bias else 2], theirs):
        np.testing.assert_allclose(a.grad, t.grad.numpy(), **TOL[dtype])


def test_dropout_matches_torch_where_no_randomness_is_involved():
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    tx = torch.from_numpy(x)
    for p, training in [(0.5, False), (0.0, True), (1.0, True)]:
        np.testing.assert_array_equal(dropout(mt.Tensor(x), p, training).data,
                                      F.dropout(tx, p, training).numpy())
