"""Whether rotary_embedding's compiled version pays: the NumPy twin against the Numba
kernel, per call, on a head view as SelfAttention hands it over ((B, NH, T, HS) strided
out of c_attn's (B, T, 3C)), and the share of a rotary GPT training step spent in the
rotation with the twin and with the kernel.

    python benchmarks/rotary.py            # both shapes of gpt.py, best of 5 x 50 calls
    python benchmarks/rotary.py --steps 20 # also time 20 training steps of each shape

The figures are in docs/kernels/rotary.md.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import minitx as mt  # noqa: E402  (before numpy: see minitx/runtime.py)
import numpy as np  # noqa: E402

from minitx.kernels import rotary  # noqa: E402
from minitx.models.gpt import GPT, GPTConfig  # noqa: E402

SHAPES = {"small": dict(B=12, T=64, L=4, C=128, NH=4), "gpt": dict(B=8, T=256, L=6, C=384, NH=6)}


def best_ms(fn, calls=50, rounds=5):
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best * 1e3


def per_call(B, T, NH, C, **_):
    HS = C // NH
    qkv = np.random.default_rng(0).standard_normal((B, T, 3, NH, HS)).astype(np.float32)
    x = qkv[:, :, 0].transpose(0, 2, 1, 3)                      # (B, NH, T, HS), a strided view
    cos, sin = rotary.rotary_cos_sin(np.arange(T), HS, 10000.0, np.float32)
    return {version: [best_ms(lambda: getattr(fn, version)(x, cos, sin))
                      for fn in (rotary.rotary_forward, rotary.rotary_backward)] for version in ("numpy", "numba")}


def step_share(B, T, L, C, NH, steps):
    """(min step ms, rotation ms per step) of a rotary GPT's training step, current backend."""
    mt.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=65, block_size=T, n_layer=L, n_head=NH, n_embd=C, position="rotary"))
    opt = mt.optim.AdamW(model.parameters(), lr=1e-3)
    ids = np.random.default_rng(0).integers(0, 65, (B, T + 1))
    spent = [0.0]

    def timed(fn):
        def run(*args):
            t0 = time.perf_counter()
            result = fn(*args)
            spent[0] += time.perf_counter() - t0
            return result
        return staticmethod(run)

    fn = rotary.RotaryEmbedding
    original = fn.forward, fn.backward
    fn.forward, fn.backward = timed(fn.forward), timed(fn.backward)
    times = []
    for i in range(steps + 3):
        if i == 3:
            spent[0] = 0.0
        t0 = time.perf_counter()
        loss = model(ids[:, :-1], targets=ids[:, 1:]).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    fn.forward, fn.backward = (staticmethod(f) for f in original)
    return min(times[3:]) * 1e3, spent[0] / steps * 1e3


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=0, help="also time this many training steps per shape")
    args = p.parse_args()
    for name, shape in SHAPES.items():
        ms = per_call(**shape)
        print(f"{name} {shape}, per call (forward, backward; a step makes {2 * shape['L']} of each): "
              + "; ".join(f"{v} {f:.3f}, {b:.3f} ms" for v, (f, b) in ms.items()))
        for version in ("numpy", "numba") if args.steps else ():
            dispatched = rotary.rotary_forward, rotary.rotary_backward
            # only the rotation on `version`; every other kernel as configured
            rotary.rotary_forward, rotary.rotary_backward = (getattr(f, version) for f in dispatched)
            try:
                step, spent = step_share(**shape, steps=args.steps)
            finally:
                rotary.rotary_forward, rotary.rotary_backward = dispatched
            print(f"  rotary GPT step, rotation on {version}: min {step:.1f} ms, of which the rotation {spent:.2f} ms")


if __name__ == "__main__":
    main()
