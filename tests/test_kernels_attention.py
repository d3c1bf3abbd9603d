"""scaled_dot_product_attention and qkv_attention: Numba against the NumPy twin, against
a plain loop, gradcheck, causal alignment for a KV cache, masked rows, dropout,
determinism, what is saved, errors; qkv_attention against the split-heads composition.

Tolerances, Numba vs twin: the Numba kernel sums dot products in SIMD lanes and
uses a polynomial exp (within 2 ulp), the twin uses BLAS and NumPy's exp, so
they agree to rounding: rtol 1e-4, atol 1e-5 in float32; rtol 1e-9, atol 1e-11
in float64. Parity with torch is in test_kernels_parity_b.py and
test_kernels_attention_qkv.py.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minitx as mt
from minitx.kernels.numba import attention as compiled
from minitx.kernels.attention import (attention_backward, attention_forward, qkv_attention,
                                     scaled_dot_product_attention)
from minitx.nn.transformer import BlockConfig, ForwardContext, KVCache, SelfAttention
from minitx.testing import gradcheck
from tests.kernel_strategies_b import attention_cases, qkv_cases

TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-9, atol=1e-11)}


def _run(case, backend, dropout_p=0.0, seed=0):
    """out, dq, dk, dv of one forward+backward with a fixed random cotangent."""
    q, k, v = (mt.Tensor(case[n].copy(), requires_grad=True) for n in "qkv")
    with mt.use_backend(backend):
        mt.manual_seed(seed)
        out = scaled_dot_product_attention(q, k, v, attn_mask=case["attn_mask"],
                                           dropout_p=dropout_p, is_causal=case["is_causal"],
                                           scale=case["scale"])
        dout = np.random.default_rng(1).standard_normal(out.shape).astype(out.dtype)
        out.backward(dout)
    return out.data, q.grad, k.grad, v.grad


def _loop_reference(q, k, v, mask, is_causal, scale):
    """Attention one query row at a time in float64, from the definition."""
    B, NH, Tq, HS = q.shape
    Tk = k.shape[2]
    scale = 1 / math.sqrt(HS) if scale is None else scale
    mask = None if mask is None else np.broadcast_to(mask, (B, NH, Tq, Tk))
    out = np.zeros((B, NH, Tq, HS))
    for b, h, i in np.ndindex(B, NH, Tq):
        keys, scores = [], []
        for j in range(Tk):
            s = scale * float(np.dot(q[b, h, i].astype(np.float64), k[b, h, j]))
            if is_causal and j > i + Tk - Tq:
                continue
            if mask is not None and mask.dtype == np.bool_:
                if not mask[b, h, i, j]:
                    continue
            elif mask is not None:
                s += float(mask[b, h, i, j])
            if s != -math.inf:
                keys.append(j)
                scores.append(s)
        if keys:
            top = max(scores)
            w = [math.exp(s - top) for s in scores]
            rows = (wj / sum(w) * v[b, h, j].astype(np.float64) for wj, j in zip(w, keys))
            out[b, h, i] = sum(rows)
    return out


@given(case=attention_cases())
def test_numba_matches_numpy_twin(case):
    tol = TOL[case["q"].dtype.type]
    for ours, ref, name in zip(_run(case, "numba"), _run(case, "numpy"), ["out", "dq", "dk", "dv"]):
        assert ours.dtype == case["q"].dtype
        np.testing.assert_allclose(ours, ref, err_msg=name, **tol)


@given(case=attention_cases())
def test_forward_matches_loop_reference(case):
    out = _run(case, "numba")[0]
    ref = _loop_reference(case["q"], case["k"], case["v"], case["attn_mask"], case["is_causal"],
                          case["scale"])
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


@settings(max_examples=8)
@given(case=attention_cases(dtype=np.float64, max_T=4, max_HS=3))
def test_gradcheck(case):
    q, k, v = (mt.Tensor(case[n], requires_grad=True) for n in "qkv")
    gradcheck(lambda q, k, v: scaled_dot_product_attention(
        q, k, v, attn_mask=case["attn_mask"], is_causal=case["is_causal"], scale=case["scale"]),
        q, k, v)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_gradcheck_with_dropout(backend):
    rng = np.random.default_rng(3)
    q, k, v = (mt.Tensor(rng.standard_normal((1, 2, 3, 2)), requires_grad=True) for _ in range(3))

    def fn(q, k, v):
        mt.manual_seed(5)                           # the same dropout mask on every call
        return scaled_dot_product_attention(q, k, v, dropout_p=0.4, is_causal=True)
    with mt.use_backend(backend):
        gradcheck(fn, q, k, v)


@given(case=attention_cases(), p=st.sampled_from([0.2, 0.5]))
def test_dropout_same_draws_in_both_backends(case, p):
    tol = TOL[case["q"].dtype.type]
    for ours, ref in zip(_run(case, "numba", p, seed=7), _run(case, "numpy", p, seed=7)):
        np.testing.assert_allclose(ours, ref, **tol)


def test_dropout_keeps_the_expected_value():
    # v = 1 makes every output element sum_j p_ij keep_ij / (1 - p), whose mean is 1
    B, NH, T, HS = 4, 4, 32, 1
    mt.manual_seed(0)                               # the masks, not whatever ran before
    q = mt.Tensor(np.zeros((B, NH, T, HS), np.float32))
    v = mt.Tensor(np.ones((B, NH, T, HS), np.float32))
    out = scaled_dot_product_attention(q, q, v, dropout_p=0.3).data
    assert abs(out.mean() - 1) < 0.02
    assert not np.allclose(out, 1)
    zero = scaled_dot_product_attention(q, q, v, dropout_p=1.0).data
    np.testing.assert_array_equal(zero, 0)


def test_causal_with_kv_cache_matches_full_sequence():
    # queries are the last Tq of Tk positions: their rows equal the full causal attention's
    rng = np.random.default_rng(0)
    B, NH, T, HS, Tq = 2, 3, 7, 4, 3
    q, k, v = (rng.standard_normal((B, NH, T, HS)).astype(np.float32) for _ in range(3))
    full = scaled_dot_product_attention(q, k, v, is_causal=True).data
    for backend in ("numba", "numpy"):
        with mt.use_backend(backend):
            last = scaled_dot_product_attention(q[:, :, -Tq:], k, v, is_causal=True).data
        np.testing.assert_allclose(last, full[:, :, -Tq:], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("Tq", [1, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_decode_path_equals_blocked_kernel_and_twin(Tq, dtype, monkeypatch):
    # Few queries against a KV cache's prefix (a strided view): the decode kernel reads
    # the cache rows in place; it must agree with the blocked kernel and the twin.
    rng = np.random.default_rng(3)
    B, NH, HS, Tk = 2, 3, 7, 37
    cache_k, cache_v = (rng.standard_normal((B, NH, 64, HS)).astype(dtype) for _ in range(2))
    q = rng.standard_normal((B, NH, Tq, HS)).astype(dtype)
    mask = rng.random((B, 1, Tq, Tk)) > 0.3
    k, v = cache_k[:, :, :Tk], cache_v[:, :, :Tk]

    def run(backend, dropout_p):
        with mt.use_backend(backend):
            mt.manual_seed(5)
            return scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=True,
                                                dropout_p=dropout_p).data

    tol = TOL[dtype]
    for p in (0.0, 0.4):
        decoded = run("numba", p)
        np.testing.assert_allclose(decoded, run("numpy", p), **tol)
        monkeypatch.setattr(compiled, "DECODE_MAX_QUERIES", 0)
        np.testing.assert_allclose(decoded, run("numba", p), **tol)
        monkeypatch.undo()


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("kind", ["bool", "additive", "causal"])
def test_fully_masked_rows_give_zeros_and_zero_grads(backend, kind):
    rng = np.random.default_rng(0)
    B, NH, Tq, Tk, HS = 1, 2, 4, 3, 2
    case = dict(q=rng.standard_normal((B, NH, Tq, HS)), k=rng.standard_normal((B, NH, Tk, HS)),
                v=rng.standard_normal((B, NH, Tk, HS)), scale=None, is_causal=kind == "causal")
    allowed = np.ones((Tq, Tk), bool)
    allowed[1] = False                              # row 1 sees nothing
    case["attn_mask"] = {"bool": allowed, "additive": np.where(allowed, 0.0, -np.inf),
                         "causal": None}[kind]
    out, dq, dk, dv = _run(case, backend)
    dead = 1 if kind != "causal" else 0             # Tq > Tk: causal row 0 sees key j <= -1
    assert np.isfinite(out).all() and np.isfinite(dq).all()
    np.testing.assert_array_equal(out[:, :, dead], 0)
    np.testing.assert_array_equal(dq[:, :, dead], 0)
    assert np.isfinite(dk).all() and np.isfinite(dv).all()


def test_bool_mask_equals_additive_mask():
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((2, 2, 4, 3)) for _ in range(3))
    allowed = rng.random((2, 1, 4, 4)) < 0.6
    a = scaled_dot_product_attention(q, k, v, attn_mask=allowed).data
    b = scaled_dot_product_attention(q, k, v, attn_mask=np.where(allowed, 0.0, -np.inf)).data
    np.testing.assert_array_equal(a, b)


def test_non_contiguous_inputs():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 5, 3, 4))           # (B, T, NH, HS), as a model holds it
    q = mt.Tensor(x, requires_grad=True)
    out = scaled_dot_product_attention(q.transpose(1, 2), q.transpose(1, 2), q.transpose(1, 2),
                                       is_causal=True)
    ref = _loop_reference(*(x.transpose(0, 2, 1, 3),) * 3, None, True, None)
    np.testing.assert_allclose(out.data, ref, rtol=1e-12)
    out.sum().backward()
    assert q.grad.shape == x.shape


@given(case=attention_cases(max_B=2, max_NH=3, max_T=9, max_HS=8), p=st.sampled_from([0.0, 0.3]))
def test_numba_runs_are_bit_identical(case, p):
    first, second = _run(case, "numba", p, seed=11), _run(case, "numba", p, seed=11)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def _kernel_run(q, k, v, dout, is_causal=True, scale=0.25):
    """out, lse, dq, dk, dv of the Numba kernel called directly."""
    out, lse = attention_forward.numba(q, k, v, scale, is_causal=is_causal)
    dq, dk, dv = attention_backward.numba(dout, q, k, v, out, lse, scale, is_causal=is_causal)
    return out, lse, dq, dk, dv


def test_numba_kernel_twice_bit_identical_at_a_wide_shape():
    # enough heads for both threads, rows long enough for the SIMD lanes, two query blocks
    rng = np.random.default_rng(4)
    q, k, v, dout = (rng.standard_normal((3, 4, 77, 16)).astype(np.float32) for _ in range(4))
    for a, b in zip(_kernel_run(q, k, v, dout), _kernel_run(q, k, v, dout)):
        np.testing.assert_array_equal(a, b)


def test_one_and_two_threads_give_the_same_bits(monkeypatch):
    rng = np.random.default_rng(6)
    q, k, v, dout = (rng.standard_normal((2, 3, 9, 8)).astype(np.float32) for _ in range(4))
    runs = []
    for min_work in (0, 1 << 60):                   # always two cores, always one
        monkeypatch.setattr(compiled, "_PAIR_MIN_MULADDS", min_work)
        runs.append(_kernel_run(q, k, v, dout, scale=0.3))
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("layout", ["every_other_column", "read_only", "cache_prefix",
                                    "reversed_time", "merged_heads"])
def test_kernel_reads_and_writes_any_layout(layout):
    # rows the kernel can take in place (a prefix, merged heads) and ones it copies first
    rng = np.random.default_rng(8)
    B, NH, Tq, Tk, HS = 2, 3, 5, 7, 4

    def array(T, writable=False):
        a = rng.standard_normal((B, NH, T + 3, 2 * HS))
        a = {"every_other_column": a[:, :, :T, ::2], "read_only": a[:, :, :T, :HS],
             "cache_prefix": a[:, :, :T, :HS], "reversed_time": a[:, :, T - 1::-1, :HS],
             "merged_heads": a[:, :, :T, :HS].transpose(0, 2, 1, 3).copy().transpose(0, 2, 1, 3)
             }[layout]
        a.flags.writeable = writable or layout != "read_only"
        return a
    q, k, v, dout = array(Tq), array(Tk), array(Tk), array(Tq)
    results = []
    for impl in ("numba", "numpy"):
        out, dq, dk, dv = array(Tq, True), array(Tq, True), array(Tk, True), array(Tk, True)
        _, lse = getattr(attention_forward, impl)(q, k, v, 0.5, is_causal=True, out=out)
        getattr(attention_backward, impl)(dout, q, k, v, out, lse, 0.5, is_causal=True,
                                          grads=(dq, dk, dv))
        results.append((out, lse, dq, dk, dv))
    for ours, ref in zip(*results):
        np.testing.assert_allclose(ours, ref, **TOL[np.float64])
    # every layout reaches the kernels as a pair.py job of the same types: one compiled
    # block function per dtype, whatever ran before
    for block in (compiled._forward_block, compiled._backward_block):
        assert np.dtype(np.float64) in block._compiled
        assert set(block._compiled) <= {np.dtype(np.float32), np.dtype(np.float64)}


def test_grad_does_not_flow_to_mask_and_no_grad_saves_nothing():
    q = mt.Tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    mask = mt.Tensor(np.zeros((2, 2)), requires_grad=True)
    scaled_dot_product_attention(q, q, q, attn_mask=mask).sum().backward()
    assert mask.grad is None and q.grad is not None
    with mt.no_grad():
        out = scaled_dot_product_attention(q, q, q)
    assert not out.requires_grad


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(q=(2, 3, 4), k=(2, 3, 4), v=(2, 3, 4)), ValueError, "(B, NH, Tq, HS)"),
    (dict(q=(1, 2, 3, 4), k=(1, 2, 5, 3), v=(1, 2, 5, 3)), ValueError, "k (1, 2, 5, 3)"),
    (dict(q=(1, 2, 3, 4), k=(1, 2, 5, 4), v=(1, 2, 6, 4)), ValueError, "v (1, 2, 6, 4)"),
    (dict(mask=np.ones((3, 4), bool)), ValueError, "attn_mask of shape (3, 4)"),
    (dict(mask=np.ones((2, 3), np.int64)), TypeError, "int64"),
    (dict(dropout_p=1.5), ValueError, "1.5"),
    (dict(dtype_k=np.float32), TypeError, "float32"),
])
def test_errors_name_the_bad_values(kwargs, error, words):
    q = np.zeros(kwargs.get("q", (1, 2, 2, 4)))
    k = np.zeros(kwargs.get("k", (1, 2, 3, 4)), dtype=kwargs.get("dtype_k", np.float64))
    v = np.zeros(kwargs.get("v", (1, 2, 3, 4)))
    with pytest.raises(error) as info:
        scaled_dot_product_attention(q, k, v, attn_mask=kwargs.get("mask"),
                                     dropout_p=kwargs.get("dropout_p", 0.0))
    assert words in str(info.value)


# ---- qkv_attention: c_attn's fused output in, merged heads out ------------------

def _run_qkv(case, backend, dropout_p=0.0, seed=0, split=False):
    """y and dqkv of one forward+backward, through qkv_attention or (split=True) through
    split, split_heads, scaled_dot_product_attention and merge_heads."""
    x = mt.Tensor(case["qkv"].copy(), requires_grad=True)
    B, T, C3 = x.shape
    NH, C = case["n_head"], C3 // 3
    kwargs = dict(attn_mask=case["attn_mask"], dropout_p=dropout_p, is_causal=case["is_causal"],
                  scale=case["scale"])
    with mt.use_backend(backend):
        mt.manual_seed(seed)
        if split:
            q, k, v = (t.reshape(B, T, NH, C // NH).transpose(1, 2) for t in x.split(C, dim=2))
            y = scaled_dot_product_attention(q, k, v, **kwargs).transpose(1, 2).reshape(B, T, C)
        else:
            y = qkv_attention(x, NH, **kwargs)
        y.backward(np.random.default_rng(1).standard_normal(y.shape).astype(y.dtype))
    return y.data, x.grad


@given(case=qkv_cases(), p=st.sampled_from([0.0, 0.3]))
def test_qkv_numba_matches_numpy_twin(case, p):
    tol = TOL[case["qkv"].dtype.type]
    for ours, ref, name in zip(_run_qkv(case, "numba", p), _run_qkv(case, "numpy", p),
                               ["y", "dqkv"]):
        assert ours.dtype == case["qkv"].dtype and ours.shape == ref.shape
        np.testing.assert_allclose(ours, ref, err_msg=name, **tol)


@given(case=qkv_cases(max_T=9, max_HS=6), p=st.sampled_from([0.0, 0.3]))
def test_qkv_equals_split_heads_bit_for_bit(case, p):
    # the same kernel reads the heads from qkv in place or from the split copies
    for backend in ("numba", "numpy"):
        for ours, ref in zip(_run_qkv(case, backend, p), _run_qkv(case, backend, p, split=True)):
            np.testing.assert_array_equal(ours, ref)


@settings(max_examples=8)
@given(case=qkv_cases(max_T=4, max_NH=2, max_HS=3, dtype=np.float64),
       p=st.sampled_from([0.0, 0.4]), backend=st.sampled_from(["numba", "numpy"]))
def test_qkv_gradcheck(case, p, backend):
    def fn(x):
        mt.manual_seed(5)                           # the same dropout mask on every call
        return qkv_attention(x, case["n_head"], attn_mask=case["attn_mask"], dropout_p=p,
                             is_causal=case["is_causal"], scale=case["scale"])
    with mt.use_backend(backend):
        gradcheck(fn, mt.Tensor(case["qkv"], requires_grad=True))


def test_qkv_runs_and_thread_counts_give_the_same_bits(monkeypatch):
    # two query blocks, T and HS off the padding multiples, enough heads for both threads
    qkv = np.random.default_rng(7).standard_normal((3, 70, 3 * 4 * 10)).astype(np.float32)
    case = dict(qkv=qkv, n_head=4, attn_mask=None, is_causal=True, scale=None)
    runs = []
    for min_work in (0, 0, 1 << 60):                # two cores twice, then one
        monkeypatch.setattr(compiled, "_PAIR_MIN_MULADDS", min_work)
        runs.append(_run_qkv(case, "numba", dropout_p=0.2, seed=3))
    for run in runs[1:]:
        for a, b in zip(runs[0], run):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("T, HS", [(5, 3), (66, 7)])
def test_qkv_gradient_is_fresh_and_fully_written(T, HS):
    # np.empty hands back the NaN-filled block just freed: an entry left unwritten shows
    B, NH = 2, 3
    x = mt.Tensor(np.random.default_rng(0).standard_normal((B, T, 3 * NH * HS)),
                  requires_grad=True)
    y = qkv_attention(x, NH, is_causal=True)
    junk = np.full(x.shape, np.nan)
    del junk
    y.backward(np.ones(y.shape))
    assert x.grad.shape == x.shape and x.grad.flags.c_contiguous and np.isfinite(x.grad).all()


def test_qkv_saves_the_log_sum_exp_not_the_probabilities():
    B, NH, T, HS = 1, 2, 64, 2                      # p would be (1, 2, 64, 64): 8192 numbers
    x = mt.Tensor(np.zeros((B, T, 3 * NH * HS), np.float32), requires_grad=True)
    saved = qkv_attention(x, NH, is_causal=True)._ctx.saved_tensors
    assert max(a.size for a in saved if a is not None) < B * NH * T * T
    assert any(a is not None and a.shape == (B, NH, T) for a in saved)    # lse


def test_self_attention_without_cache_equals_with_cache():
    # the fused path (training) and the KV-cache path (generation) agree on a prefill
    mt.manual_seed(0)
    attn = SelfAttention(BlockConfig(12, 3, causal=True))
    x = mt.Tensor(np.random.default_rng(2).standard_normal((2, 7, 12)).astype(np.float32))
    with mt.no_grad():
        np.testing.assert_array_equal(attn(x).data, attn(x, ForwardContext(kv_caches=[KVCache(9)])).data)


@pytest.mark.parametrize("shape, n_head, kwargs, error, words", [
    ((2, 3), 1, {}, ValueError, "qkv (2, 3)"),
    ((2, 3, 4, 6), 1, {}, ValueError, "(2, 3, 4, 6)"),
    ((1, 2, 12), 3, {}, ValueError, "n_head 3"),      # C = 4 not divisible by 3 heads
    ((1, 2, 10), 1, {}, ValueError, "(1, 2, 10)"),    # 10 columns are not 3C
    ((1, 2, 12), 0, {}, ValueError, "n_head 0"),
    ((1, 2, 12), 2, dict(dropout_p=-0.1), ValueError, "-0.1"),
    ((1, 2, 12), 2, dict(attn_mask=np.ones((3, 2), bool)), ValueError, "qkv_attention: attn_mask"),
    ((1, 2, 12), 2, dict(attn_mask=np.ones((2, 2), np.int8)), TypeError, "int8"),
])
def test_qkv_errors_name_the_bad_values(shape, n_head, kwargs, error, words):
    with pytest.raises(error) as info:
        qkv_attention(np.zeros(shape), n_head, **kwargs)
    assert words in str(info.value)


def test_qkv_rejects_integer_input():
    with pytest.raises(TypeError, match="int64"):
        qkv_attention(np.zeros((1, 2, 6), np.int64), 1)
