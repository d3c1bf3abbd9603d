"""Cold compile time of every Numba kernel: forward+backward of each op in float32 and float64.

    NUMBA_CACHE_DIR=$(mktemp -d) python benchmarks/compile.py    # cold: compiles everything
    python benchmarks/compile.py                                 # warm: loads the on-disk cache

Each op runs once at a small shape (the serial kernels) and once at a shape
large enough for its parallel driver, if it has one, so the time covers every
kernel a first `minitx train gpt` or `minitx train bert` can meet.
"""
import os
import sys
import time

T0 = time.perf_counter()
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

import minitx  # noqa: E402
from minitx.kernels import attention, cross_entropy, dropout, embedding  # noqa: E402
from minitx.kernels import gelu, layernorm, softmax  # noqa: E402
from minitx.optim.adamw_step import adamw_step  # noqa: E402


def _leaf(rng, shape, dtype):
    return minitx.Tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)


def _step(out):
    out.sum().backward()


def run_all(dtype, big):
    """One forward+backward of every op; `big` picks shapes past the parallel thresholds."""
    rng = np.random.default_rng(0)
    B, T, C, NH = (8, 256, 512, 8) if big else (2, 8, 16, 2)
    HS = C // NH
    _step(layernorm.layer_norm(_leaf(rng, (B, T, C), dtype), (C,),
                               _leaf(rng, (C,), dtype), _leaf(rng, (C,), dtype)))
    for approximate in ("none", "tanh"):
        _step(gelu.gelu(_leaf(rng, (B, T, C), dtype), approximate))
    _step(softmax.softmax(_leaf(rng, (B, NH, T, T), dtype), -1))
    _step(softmax.log_softmax(_leaf(rng, (B, NH, T, T), dtype), -1))
    V = 4096 if big else 65
    _step(cross_entropy.cross_entropy(_leaf(rng, (B * T, V), dtype), rng.integers(0, V, B * T)))
    q, k, v = (_leaf(rng, (B, NH, T, HS), dtype) for _ in range(3))
    _step(attention.scaled_dot_product_attention(q, k, v, is_causal=True))
    if big:
        return
    mask = rng.random((B, 1, T, T)) < 0.8
    _step(attention.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.1))
    w = _leaf(rng, (65, C), dtype)
    _step(embedding.embedding(rng.integers(0, 65, (B, T)), w))
    _step(dropout.dropout(_leaf(rng, (B, T, C), dtype), 0.1))
    p, g, m, s = (rng.standard_normal(100).astype(dtype) for _ in range(4))
    adamw_step(p, g, m, s, None, 1e-3, 0.9, 0.999, 1e-8, 0.1, 1)


def main():
    t_import = time.perf_counter() - T0
    t = time.perf_counter()
    for dtype in (np.float32, np.float64):
        run_all(dtype, big=False)
        run_all(dtype, big=True)
    print(f"import {t_import:.1f} s, first call of every kernel {time.perf_counter() - t:.1f} s "
          f"(cache: {minitx.runtime.cache_dir}; "
          f"load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
