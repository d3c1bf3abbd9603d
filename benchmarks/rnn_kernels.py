"""Forward+backward time of the recurrences (F.rnn_sequence, lstm_sequence, gru_sequence
kernels): the Numba version against the NumPy twin, on one core.

    python benchmarks/rnn_kernels.py              # the shapes below, 20 repeats each
    python benchmarks/rnn_kernels.py --repeats 50
    python benchmarks/rnn_kernels.py --shape 32,64,512 --shape 32,128,1024   # other (T, B, H)

Both run on one thread (OpenBLAS is held to one before NumPy loads): the Numba kernels
are serial, and the twin's per-step products are too small for a second core to pay.
Each figure is the minimum over the repeats of one forward+backward of the kernel pair
(not the input projection, which is the same GEMM for both), in the CPU time of the
one thread that runs everything (time.thread_time): on a machine other processes
share, wall-clock time would count their turns too. Ratios above 1 mean the Numba
version is faster.
"""
import argparse
import os
import sys
import time

os.environ["OPENBLAS_NUM_THREADS"] = "1"
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from minitx.kernels import gru, lstm, rnn  # noqa: E402

SHAPES = [(64, 8, 32), (64, 32, 128), (128, 16, 256)]   # (T, B, H)


def _step(kind, impl, rng, T, B, H):
    """One forward+backward of `kind`'s kernel pair, float32, torch-like weights."""
    G = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    xw = rng.standard_normal((T, B, G * H)).astype(np.float32)
    h0 = rng.standard_normal((B, H)).astype(np.float32)
    w = rng.uniform(-1, 1, (G * H, H)).astype(np.float32) / np.float32(np.sqrt(H))
    b = rng.uniform(-1, 1, G * H).astype(np.float32) / np.float32(np.sqrt(H))
    if kind == "lstm":
        fwd, bwd = getattr(lstm.lstm_forward, impl), getattr(lstm.lstm_backward, impl)
        dhc = rng.standard_normal((2, T, B, H)).astype(np.float32)
        return lambda: bwd(dhc, h0, h0, w, *fwd(xw, h0, h0, w, b))
    if kind == "gru":
        fwd, bwd = getattr(gru.gru_forward, impl), getattr(gru.gru_backward, impl)
        dout = rng.standard_normal((T, B, H)).astype(np.float32)
        return lambda: bwd(dout, h0, w, *fwd(xw, h0, w, b))
    fwd, bwd = getattr(rnn.rnn_forward, impl), getattr(rnn.rnn_backward, impl)
    dout = rng.standard_normal((T, B, H)).astype(np.float32)
    return lambda: bwd(dout, h0, w, fwd(xw, h0, w, b, "tanh"), "tanh")


def best_ms(step, repeats):
    step()                                          # compile or warm the caches
    times = []
    for _ in range(repeats):
        start = time.thread_time()
        step()
        times.append(time.thread_time() - start)
    return 1e3 * min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--shape", action="append", metavar="T,B,H", help="instead of the default shapes")
    args = parser.parse_args()
    shapes = [tuple(int(n) for n in s.split(",")) for s in args.shape] if args.shape else SHAPES
    print(f"{'kernel':6} {'T':>4} {'B':>3} {'H':>4} {'Numba ms':>9} {'twin ms':>9} {'ratio':>6}")
    for kind in ("rnn", "lstm", "gru"):
        for T, B, H in shapes:
            ms = [best_ms(_step(kind, impl, np.random.default_rng(0), T, B, H), args.repeats)
                  for impl in ("numba", "numpy")]
            print(f"{kind:6} {T:4} {B:3} {H:4} {ms[0]:9.2f} {ms[1]:9.2f} {ms[1] / ms[0]:6.2f}")


if __name__ == "__main__":
    main()
