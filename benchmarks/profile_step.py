"""Where one minitx training step goes: cProfile, grouped by what the time is spent on.

    python benchmarks/profile_step.py                    # both sizes of gpt.py, default threads
    python benchmarks/profile_step.py --size small --steps 20 --rounds 5
    NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/profile_step.py   # one thread

The step is gpt.py's (forward, backward, AdamW) after 5 warm-up steps. Each round
profiles --steps steps; the round with the least wall time is kept (other processes
on the cores only ever slow a round down). Every function's own time (cProfile's
tottime) goes to one group: minitx's functions by their file and name; time inside
NumPy's and Numba's compiled code (no Python frame of its own) goes to the function
that called it, so a Linear's matmuls count as linear forward or backward. What is
left in autograd, Tensor, the ops, modules and the optimizer's Python is "autograd
and Python overhead". cProfile adds a little to every Python call, so that group
is an upper bound; the unprofiled median step is printed beside it.
"""
import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
# minitx before numpy, as in gpt.py's minitx processes and the `minitx` command: its
# runtime then shortens OpenBLAS's spin after each matmul (minitx/runtime.py), which
# otherwise holds the core a threaded kernel needs (attention took 128 ms of a GPT step
# instead of 58 when this profile imported numpy first).
sys.path.insert(0, os.path.dirname(_HERE))
import minitx  # noqa: E402, F401
import gpt  # noqa: E402  (this checkout's minitx first on the path; harness)

harness = gpt.harness

def _kernel(*stems):
    """A function in minitx/kernels/ (or a subfolder, e.g. kernels/numba/) whose file name
    starts with one of `stems`."""
    return lambda f, n: "/minitx/kernels/" in f and os.path.basename(f).startswith(stems)


GROUPS = [  # (group, test on (file, function name)), the first that matches
    ("linear forward (GEMM)", lambda f, n: _kernel("linear")(f, n) and "forward" in n),
    ("linear backward (GEMM)", lambda f, n: _kernel("linear")(f, n) and "backward" in n),
    ("attention", _kernel("attention")),
    ("gelu", _kernel("gelu")),
    ("layer norm", _kernel("layernorm")),
    ("cross-entropy, softmax", _kernel("cross_entropy", "softmax")),
    ("embedding", _kernel("embedding", "position")),
    ("adamw", lambda f, n: _kernel("adamw")(f, n) or "/minitx/optim/" in f),
    ("other kernels", lambda f, n: "/minitx/kernels/" in f),
    ("autograd and Python overhead", lambda f, n: "/minitx/" in f),
]


def group_of(func):
    f, _, name = func
    f = f.replace(os.sep, "/")
    for group, test in GROUPS:
        if test(f, name):
            return group
    return None


def grouped(stats):
    """Seconds per group. A function outside minitx (a builtin or NumPy's Python) hands
    its own time to its callers in proportion to the time it spent under each."""
    out = {}
    for func, (_, _, tt, _, callers) in stats.stats.items():
        g = group_of(func)
        if g is not None:
            out[g] = out.get(g, 0.0) + tt
            continue
        total = sum(c[2] for c in callers.values()) or 1.0
        for caller, c in callers.items():
            cg = group_of(caller) or "outside minitx (the loop, .item())"
            out[cg] = out.get(cg, 0.0) + tt * c[2] / total
        if not callers:
            out["outside minitx (the loop, .item())"] = out.get("outside minitx (the loop, .item())", 0.0) + tt
    return out


def profile(size, steps, rounds, warmup=5):
    s = gpt.SIZES[size]
    step, args = gpt.setup("minitx", s, 0)
    for _ in range(warmup):
        step(*args)
    plain = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step(*args)
        plain.append(time.perf_counter() - t0)
    best = None
    for _ in range(rounds):
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        for _ in range(steps):
            step(*args)
        prof.disable()
        wall = time.perf_counter() - t0
        if best is None or wall < best[0]:
            best = (wall, prof)
    return statistics.median(plain), best[0] / steps, grouped(pstats.Stats(best[1])), steps


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=[*gpt.SIZES, "all"], default="all")
    ap.add_argument("--steps", type=int, default=10, help="steps per profiled round")
    ap.add_argument("--rounds", type=int, default=3, help="profiled rounds; the fastest is kept")
    args = ap.parse_args()
    print("\n".join(harness.describe(harness.machine())))
    print(f"threads: {harness.describe_threads(harness.thread_settings('minitx'))}")
    for size in (gpt.SIZES if args.size == "all" else [args.size]):
        plain, profiled, groups, n = profile(size, args.steps if size == "small" else max(3, args.steps // 3),
                                             args.rounds)
        total = sum(groups.values())
        print(f"\n{gpt.label(gpt.SIZES[size])}: step {plain * 1e3:.1f} ms unprofiled (median), "
              f"{profiled * 1e3:.1f} ms profiled (fastest of {args.rounds} rounds of {n} steps)")
        print(f"  {'':<38}{'ms/step':>9}{'share':>7}")
        for g, t in sorted(groups.items(), key=lambda kv: -kv[1]):
            print(f"  {g:<38}{t / n * 1e3:>9.2f}{t / total:>7.1%}")
    print(f"\nload average at the end: {harness.loadavg()}")


if __name__ == "__main__":
    main()
