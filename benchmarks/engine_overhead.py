"""Per-op overhead of the engine: a tiny MLP step where Python bookkeeping, not NumPy, dominates.

    python benchmarks/engine_overhead.py

Prints the best time of one forward + backward step (10 ops) and how many Python
function calls it makes; the call count does not depend on machine load.
"""
import cProfile
import pstats
import timeit

import minitx as mt

B, C, H = 8, 16, 32


def main():
    mt.manual_seed(0)
    W1, b1 = mt.randn(C, H, requires_grad=True), mt.zeros(H, requires_grad=True)
    W2, b2 = mt.randn(H, H, requires_grad=True), mt.zeros(H, requires_grad=True)
    W3 = mt.randn(H, 1, requires_grad=True)
    x, y = mt.randn(B, C), mt.randn(B, 1)
    params = (W1, b1, W2, b2, W3)

    def step():
        h = (x @ W1 + b1).relu()
        h = (h @ W2 + b2).tanh()
        loss = ((h @ W3 - y) ** 2).mean()
        for p in params:
            p.grad = None
        loss.backward()

    for _ in range(50):
        step()
    best = min(timeit.repeat(step, number=500, repeat=7)) / 500
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(100):
        step()
    profile.disable()
    calls = pstats.Stats(profile).total_calls // 100
    print(f"MLP step (B={B}, C={C}, H={H}; 10 ops fwd+bwd): {best * 1e6:.0f} us, "
          f"{calls} Python calls per step")


if __name__ == "__main__":
    main()
