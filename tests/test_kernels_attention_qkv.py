"""qkv_attention against PyTorch: torch splits c_attn's output qkv (B, T, 3C) into heads,
runs its scaled_dot_product_attention and merges the heads; y and dqkv must agree.

Tolerances as in test_kernels_parity_b.py: float64 rtol 1e-9 (summation order only);
float32 rtol 1e-4, atol 1e-5. torch refuses is_causal with a mask, so a causal call
with a mask hands torch the causal mask combined with it. A row with no key left
gives zeros in both (torch 2.5 and later).
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitx as mt
from minitx.kernels.attention import qkv_attention
from tests.kernel_strategies_b import qkv_cases

torch = pytest.importorskip("torch", reason="parity tests compare against PyTorch")
F = torch.nn.functional

TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-9, atol=1e-12)}


def _torch_qkv(qkv, n_head, mask, is_causal, scale, dy):
    x = torch.from_numpy(qkv.copy()).requires_grad_()
    B, T, C3 = x.shape
    C = C3 // 3
    q, k, v = (t.view(B, T, n_head, C // n_head).transpose(1, 2) for t in x.split(C, dim=2))
    tmask = None                                    # torch wants at least (Tq, Tk); we take (Tk,)
    if mask is not None:
        tmask = torch.from_numpy(np.ascontiguousarray(
            mask.reshape((1,) * (2 - mask.ndim) + mask.shape)))
    if is_causal and tmask is not None:
        allowed = torch.from_numpy(np.tril(np.ones((T, T), bool)))
        if tmask.dtype == torch.bool:
            tmask = tmask & allowed
        else:
            tmask = tmask.masked_fill(~allowed, -np.inf)
        is_causal = False
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=tmask, is_causal=is_causal, scale=scale)
    y = y.transpose(1, 2).reshape(B, T, C)
    y.backward(torch.from_numpy(dy))
    return y.detach().numpy(), x.grad.numpy()


def _ours(qkv, n_head, mask, is_causal, scale, dy, backend):
    x = mt.Tensor(qkv.copy(), requires_grad=True)
    with mt.use_backend(backend):
        y = qkv_attention(x, n_head, attn_mask=mask, is_causal=is_causal, scale=scale)
        y.backward(dy)
    return y.data, x.grad


def _compare(case, backend="numba"):
    qkv = case["qkv"]
    B, T, C3 = qkv.shape
    dy = np.random.default_rng(2).standard_normal((B, T, C3 // 3)).astype(qkv.dtype)
    args = (qkv, case["n_head"], case["attn_mask"], case["is_causal"], case["scale"], dy)
    for ours, ref, name in zip(_ours(*args, backend), _torch_qkv(*args), ["y", "dqkv"]):
        np.testing.assert_allclose(ours, ref, err_msg=name, **TOL[qkv.dtype.type])


@given(case=qkv_cases(), backend=st.sampled_from(["numba", "numpy"]))
def test_qkv_attention_matches_torch(case, backend):
    _compare(case, backend)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpt_like_causal(dtype):
    qkv = np.random.default_rng(0).standard_normal((2, 70, 3 * 3 * 16)).astype(dtype)
    _compare(dict(qkv=qkv, n_head=3, attn_mask=None, is_causal=True, scale=None))


def test_bert_like_padding():
    lengths = np.array([5, 2, 7])
    mask = (np.arange(7)[None, :] < lengths[:, None])[:, None, None, :]    # (B, 1, 1, T)
    qkv = np.random.default_rng(1).standard_normal((3, 7, 3 * 2 * 4)).astype(np.float32)
    _compare(dict(qkv=qkv, n_head=2, attn_mask=mask, is_causal=False, scale=None))
