"""Forward+backward time of each fused kernel: minitx Numba, minitx NumPy twin, PyTorch eager.

    python benchmarks/kernels.py            # all cases, 3 rounds, about five minutes on 2 cores
    python benchmarks/kernels.py --quick    # fewer repeats, one round, skips the V=50257 case
    python benchmarks/kernels.py --only layer_norm,gelu
    python benchmarks/kernels.py --json kernels.json   # also the medians as JSON (for gpt.py --plot)

Each framework runs in its own fresh processes, one per round, the order
alternating round by round (--rounds, default 3): in one process PyTorch's
OpenMP threads spin for milliseconds after its ops and hold the cores the next
minitx kernel needs. In a process every case builds its inputs once, then times
forward+backward steps (minitx: of the Numba kernel, then of its NumPy twin) and
takes the median; the figure is the median over rounds. Each timed step follows
an untimed one of the same implementation: right after another implementation
has freed its arrays (the NumPy twin of gelu frees millions of Python floats),
the first step pays for page faults that a training loop would not (measured:
4x on gelu). Before it is timed, a case runs untimed for WARMUP_S seconds:
threaded kernels reach their steady speed after a few hundred calls. PyTorch
runs on as many threads as Numba. Ratios above 1 mean minitx is faster.

To add an op, append a `Case` to CASES: `setup(rng)` builds the inputs and
returns two zero-argument functions, one forward+backward step for minitx (run
under both backends) and one for PyTorch.
"""
import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import harness  # noqa: E402  (benchmarks/harness.py: the machine's description)
# torch before minitx: PyTorch then loads its own libgomp, whatever minitx's Numba does
# (docs/lab/performance.md, "What was tried").
import torch  # noqa: E402, F401
import minitx  # noqa: E402
from minitx.kernels.cross_entropy import cross_entropy  # noqa: E402
from minitx.kernels.gelu import gelu  # noqa: E402
from minitx.kernels.layernorm import layer_norm  # noqa: E402
from minitx.kernels.softmax import log_softmax, softmax  # noqa: E402

GPT = dict(B=8, T=256, C=384, NH=6)
SMALL = dict(B=2, T=32, C=64, NH=2)

# Seconds of untimed steps before a case is timed, for the Numba kernel and PyTorch (not
# for the NumPy twin, a slow reference: one untimed step). A threaded kernel reaches its
# steady speed only after a few hundred calls: on the 2-vCPU KVM guest of
# docs/performance.md, gelu's threaded forward+backward at the GPT shape took 2.6-3.0 ms
# in its first 30 calls and 1.9-2.1 ms after a second of them (likely the guest's
# haltpoll idle governor, which lets an idle vCPU poll instead of halting once wake-ups
# come often). A training loop runs at the latter speed.
WARMUP_S = 1.0


@dataclass
class Case:
    op: str
    shape: dict
    setup: Callable          # setup(rng) -> (minitx_step, torch_step)
    quick: bool = True       # run under --quick too
    label: str = ""          # extra shape detail for the table (e.g. "V=65")


def _shape_label(case):
    s = " ".join(f"{k}={v}" for k, v in case.shape.items())
    return f"{s} {case.label}".strip()


# ---- helpers shared by the cases ----------------------------------------------

def _params(rng, *shapes, dtype=np.float32):
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _minitx_step(fn, arrays, grad):
    """One forward+backward of fn over fresh leaf tensors (grads reset each step)."""
    leaves = [minitx.Tensor(a, requires_grad=True) for a in arrays]

    def step():
        for t in leaves:
            t.grad = None
        fn(*leaves).backward(grad)
    return step


def _torch_step(torch, fn, arrays, grad):
    leaves = [torch.from_numpy(a).requires_grad_() for a in arrays]
    g = None if grad is None else torch.from_numpy(grad)

    def step():
        for t in leaves:
            t.grad = None
        fn(*leaves).backward(g)
    return step


# ---- the cases ----------------------------------------------------------------

def _layer_norm_case(shape):
    def setup(rng, torch):
        B, T, C = shape["B"], shape["T"], shape["C"]
        x, w, b, g = _params(rng, (B, T, C), (C,), (C,), (B, T, C))
        F = torch.nn.functional
        return (_minitx_step(lambda x, w, b: layer_norm(x, (C,), w, b), [x, w, b], g),
                _torch_step(torch, lambda x, w, b: F.layer_norm(x, (C,), w, b), [x, w, b], g))
    return Case("layer_norm", shape, setup)


def _gelu_case(shape, approximate):
    def setup(rng, torch):
        B, T, C = shape["B"], shape["T"], shape["C"]
        x, g = _params(rng, (B, T, 4 * C), (B, T, 4 * C))
        F = torch.nn.functional
        return (_minitx_step(lambda x: gelu(x, approximate=approximate), [x], g),
                _torch_step(torch, lambda x: F.gelu(x, approximate=approximate), [x], g))
    return Case(f"gelu({approximate})", shape, setup, label="x (B,T,4C)")


def _softmax_case(shape, log):
    def setup(rng, torch):
        B, T, NH = shape["B"], shape["T"], shape["NH"]
        x, g = _params(rng, (B, NH, T, T), (B, NH, T, T))
        F = torch.nn.functional
        mine, theirs = (log_softmax, F.log_softmax) if log else (softmax, F.softmax)
        return (_minitx_step(lambda x: mine(x, -1), [x], g),
                _torch_step(torch, lambda x: theirs(x, -1), [x], g))
    return Case("log_softmax" if log else "softmax", shape, setup, label="x (B,NH,T,T)")


def _cross_entropy_case(shape, V, quick=True):
    def setup(rng, torch):
        N = shape["B"] * shape["T"]
        (logits,) = _params(rng, (N, V))
        targets = rng.integers(0, V, N)
        t_targets = torch.from_numpy(targets)
        F = torch.nn.functional
        return (_minitx_step(lambda z: cross_entropy(z, targets), [logits], None),
                _torch_step(torch, lambda z: F.cross_entropy(z, t_targets), [logits], None))
    return Case("cross_entropy", shape, setup, quick=quick, label=f"V={V} N=B*T")


def _adamw_case(shape):
    """One AdamW step over the parameters of a 6-layer GPT of width C with V=65
    (at C=384: 10.8M parameters in 76 tensors); torch.optim.AdamW as it defaults."""
    def setup(rng, torch):
        from minitx.optim import AdamW
        C = shape["C"]
        block = [(C,), (C,), (3 * C, C), (3 * C,), (C, C), (C,),
                 (C,), (C,), (4 * C, C), (4 * C,), (C, 4 * C), (C,)]
        shapes = [(65, C), (256, C)] + block * 6 + [(C,), (C,)]
        values, grads = _params(rng, *shapes), _params(rng, *shapes)
        ours = [minitx.Tensor(v.copy(), requires_grad=True) for v in values]
        theirs = [torch.from_numpy(v.copy()).requires_grad_() for v in values]
        for p, q, g in zip(ours, theirs, grads):
            p.grad, q.grad = g, torch.from_numpy(g)
        return AdamW(ours, weight_decay=0.1).step, torch.optim.AdamW(theirs, weight_decay=0.1).step
    return Case("adamw", shape, setup, label="6-layer GPT params")


def _attention_case(shape):
    """Causal self-attention, q, k, v (B, NH, T, HS) with HS = C / NH."""
    def setup(rng, torch):
        from minitx.kernels.attention import scaled_dot_product_attention
        B, NH, T, HS = shape["B"], shape["NH"], shape["T"], shape["C"] // shape["NH"]
        q, k, v, g = _params(rng, *[(B, NH, T, HS)] * 4)
        F = torch.nn.functional
        return (_minitx_step(lambda q, k, v: scaled_dot_product_attention(q, k, v, is_causal=True),
                             [q, k, v], g),
                _torch_step(torch, lambda q, k, v: F.scaled_dot_product_attention(
                    q, k, v, is_causal=True), [q, k, v], g))
    return Case("attention", shape, setup, label="causal HS=C/NH")


def _qkv_attention_case(shape):
    """Causal self-attention as GPT's SelfAttention runs it: c_attn's output qkv (B, T, 3C)
    in, merged heads y (B, T, C) out; torch splits, views, transposes and merges around
    its scaled_dot_product_attention."""
    def setup(rng, torch):
        from minitx.kernels.attention import qkv_attention
        B, T, C, NH = shape["B"], shape["T"], shape["C"], shape["NH"]
        qkv, g = _params(rng, (B, T, 3 * C), (B, T, C))
        F = torch.nn.functional

        def theirs(x):
            q, k, v = (t.view(B, T, NH, C // NH).transpose(1, 2) for t in x.split(C, dim=2))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return y.transpose(1, 2).contiguous().view(B, T, C)
        return (_minitx_step(lambda x: qkv_attention(x, NH, is_causal=True), [qkv], g),
                _torch_step(torch, theirs, [qkv], g))
    return Case("attention(qkv)", shape, setup, label="causal, qkv (B,T,3C)")


def _embedding_case(shape, V, quick=True):
    """B*T ids into a (V, C) table; the backward builds the dense (V, C) gradient."""
    def setup(rng, torch):
        from minitx.kernels.embedding import embedding
        B, T, C = shape["B"], shape["T"], shape["C"]
        ids = rng.integers(0, V, (B, T))
        weight, g = _params(rng, (V, C), (B, T, C))
        t_ids = torch.from_numpy(ids)
        F = torch.nn.functional
        return (_minitx_step(lambda w: embedding(ids, w), [weight], g),
                _torch_step(torch, lambda w: F.embedding(t_ids, w), [weight], g))
    return Case("embedding", shape, setup, quick=quick, label=f"V={V}")


CASES = []
for _shape in (SMALL, GPT):
    CASES += [_layer_norm_case(_shape),
              _gelu_case(_shape, "none"), _gelu_case(_shape, "tanh"),
              _softmax_case(_shape, log=False), _softmax_case(_shape, log=True),
              _cross_entropy_case(_shape, 65)]
CASES.append(_cross_entropy_case(GPT, 50257, quick=False))
CASES += [_adamw_case(SMALL), _adamw_case(GPT)]
CASES += [_attention_case(SMALL), _attention_case(GPT), _qkv_attention_case(SMALL),
          _qkv_attention_case(GPT), _embedding_case(SMALL, 65),
          _embedding_case(GPT, 65), _embedding_case(GPT, 50257, quick=False)]


# ---- timing -------------------------------------------------------------------
# Each framework runs in its own processes, as in a training job: in one process
# PyTorch's OpenMP threads spin on the cores for milliseconds after each of its ops,
# and the minitx kernel timed next would find no core free (and the other way round).

def _time_child(framework, cases, repeats, budget_s):
    """Median seconds per step of each case, for framework 'minitx' (its Numba kernels
    and then their NumPy twins) or 'torch'."""
    import torch
    medians = {}
    for case in cases:
        rng = np.random.default_rng(0)
        mine, theirs = case.setup(rng, torch)
        if framework == "minitx":
            runs = {"numba": lambda: _under("numba", mine), "numpy": lambda: _under("numpy", mine)}
        else:
            runs = {"torch": theirs}
        times = {}
        for name, run in runs.items():  # one after the other: the twin's garbage (gelu's frees
            run()                       # millions of Python floats) would slow the kernel after it
            warm_until = time.perf_counter() + (0 if name == "numpy" else WARMUP_S)
            while time.perf_counter() < warm_until:
                run()
            times[name] = []
            start = time.perf_counter()
            for rep in range(repeats):
                run()    # untimed: settles the allocator
                t0 = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - t0)
                if rep >= 2 and time.perf_counter() - start > budget_s:
                    break
        medians[_key(case)] = {name: statistics.median(ts) for name, ts in times.items()}
    return medians


def _key(case):
    return f"{case.op} {_shape_label(case)}"


def _under(backend, step):
    with minitx.use_backend(backend):
        step()


def _children(args, rounds):
    """Per case, per implementation: the median over rounds of each child's medians. The
    frameworks' processes alternate in order round by round."""
    import json
    import subprocess
    import tempfile
    rounds_out = []
    for r in range(rounds):
        order = ("minitx", "torch") if r % 2 == 0 else ("torch", "minitx")
        merged = {}
        for framework in order:
            with tempfile.NamedTemporaryFile(suffix=".json") as f:
                cmd = [sys.executable, os.path.abspath(__file__), "--child", framework, "--child-out", f.name,
                       "--only", args.only, "--threads", str(args.threads)] + (["--quick"] if args.quick else [])
                subprocess.run(cmd, check=True)
                for key, meds in json.load(open(f.name)).items():
                    merged.setdefault(key, {}).update(meds)
        rounds_out.append(merged)
    return {key: {name: statistics.median(r[key][name] for r in rounds_out) for name in rounds_out[0][key]}
            for key in rounds_out[0]}


def _selected(args):
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    return [case for case in CASES if not (args.quick and not case.quick)
            and not (only and case.op.split("(")[0] not in only)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, one round; skip slow cases")
    parser.add_argument("--only", default="", help="comma-separated op names to run")
    parser.add_argument("--threads", type=int, default=0,
                        help="threads for Numba and PyTorch (default: Numba's, one per core)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating rounds of one process per framework (default 3)")
    parser.add_argument("--json", metavar="FILE", help="also write the medians as JSON to FILE")
    parser.add_argument("--child", choices=("minitx", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    import numba
    import torch
    if args.threads:
        numba.set_num_threads(args.threads)
    threads = numba.get_num_threads()
    torch.set_num_threads(threads)
    repeats, budget_s = (5, 1.0) if args.quick else (15, 4.0)
    if args.child:
        import json
        with open(args.child_out, "w") as f:
            json.dump(_time_child(args.child, _selected(args), repeats, budget_s), f)
        return

    machine = harness.machine()
    print("\n".join(harness.describe(machine)))
    rounds = 1 if args.quick else args.rounds
    header = (f"{'op':<16} {'shape':<34} {'numba ms':>9} {'numpy ms':>9} {'torch ms':>9} "
              f"{'torch/numba':>11} {'numpy/numba':>11}")
    print(header)
    print("-" * len(header))
    medians = _children(args, rounds)
    rows = []
    for case in _selected(args):
        med = medians[_key(case)]
        print(f"{case.op:<16} {_shape_label(case):<34} {med['numba'] * 1e3:9.3f} "
              f"{med['numpy'] * 1e3:9.3f} {med['torch'] * 1e3:9.3f} "
              f"{med['torch'] / med['numba']:11.2f} {med['numpy'] / med['numba']:11.2f}")
        rows.append({"op": case.op, "shape": _shape_label(case), "rounds": rounds, "numba_s": med["numba"],
                     "numpy_s": med["numpy"], "torch_s": med["torch"]})
    print(f"threads: numba {threads} ({numba.threading_layer()} layer), torch "
          f"{torch.get_num_threads()}; float32; each framework in its own processes, {rounds} "
          f"alternating round(s); medians of up to {repeats} repeats per process, then over rounds; "
          f"ratios > 1: minitx Numba faster; load average {os.getloadavg()[0]:.1f} "
          f"(other processes on these cores make the figures noisy)")
    if args.json:
        import json
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "torch_version": torch.__version__,
                       "threads": {"numba": threads, "numba_layer": numba.threading_layer(),
                                   "torch": torch.get_num_threads()},
                       "repeats": repeats, "rounds": rounds, "loadavg_end": os.getloadavg(),
                       "cases": rows}, f, indent=1)
        print(f"results: {args.json}")


if __name__ == "__main__":
    main()
