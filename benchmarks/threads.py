"""How Numba's threads and OpenBLAS's threads get along: the measurement behind _jit.py.

    python benchmarks/threads.py            # every setting, idle and with one core busy
    python benchmarks/threads.py --quick

One step is what a transformer layer does on 2 cores: a BLAS matmul, then the
Numba kernels (layer_norm, softmax, gelu and causal attention, forward and backward
each, all on both cores through kernels/numba/pair.py at this shape), then another
matmul, at B=8, T=256, C=384, NH=6 in float32. Each setting runs in a fresh process
(threading layers and OpenMP settings are fixed at start-up) and prints the median
step time; settings alternate round by round. "busy" adds a process spinning on one
core for the whole run. See docs/kernels/threads.md for the choice made, and
docs/lab/threads.md for the figures (taken when gelu and attention ran on Numba's
own pool).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

SETTINGS = {
    # name: environment of the measured process
    "omp 2 default": {"NUMBA_NUM_THREADS": "2", "NUMBA_THREADING_LAYER": "omp"},
    "omp 2 active": {"NUMBA_NUM_THREADS": "2", "NUMBA_THREADING_LAYER": "omp",
                     "OMP_WAIT_POLICY": "ACTIVE"},
    "omp 2 passive": {"NUMBA_NUM_THREADS": "2", "NUMBA_THREADING_LAYER": "omp",
                      "OMP_WAIT_POLICY": "PASSIVE"},
    "workqueue 2": {"NUMBA_NUM_THREADS": "2", "NUMBA_THREADING_LAYER": "workqueue"},
    "1 thread": {"NUMBA_NUM_THREADS": "1"},
}

WORKER = r"""
import json, os, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
from minitx.kernels import attention, gelu, layernorm, softmax
import numba
B, T, C, NH = 8, 256, 384, 6
rng = np.random.default_rng(0)
x = rng.standard_normal((B * T, C)).astype(np.float32)            # (B*T, C)
w = rng.standard_normal((C, C)).astype(np.float32) / C ** 0.5     # (C, C)
g, b = np.ones(C, np.float32), np.zeros(C, np.float32)            # (C,)
att = rng.standard_normal((B * NH * T, T)).astype(np.float32)     # (B*NH*T, T)
u = rng.standard_normal((B * T, 4 * C)).astype(np.float32)        # (B*T, 4C)
q = rng.standard_normal((B, NH, T, C // NH)).astype(np.float32)   # (B, NH, T, HS)
def step():
    h = x @ w
    y, mean, rstd = layernorm.layer_norm_forward.numba(h, g, b, 1e-5)
    dh, _, _ = layernorm.layer_norm_backward.numba(y, h, g, mean, rstd)
    p = softmax.softmax_forward.numba(att)
    softmax.softmax_backward.numba(p, p)
    gelu.gelu_backward.numba(gelu.gelu_forward.numba(u, "tanh"), u, "tanh")
    o, lse = attention.attention_forward.numba(q, q, q, 0.125, is_causal=True)
    attention.attention_backward.numba(o, q, q, q, o, lse, 0.125, is_causal=True)
    return dh @ w.T
step()
times, end = [], time.perf_counter() + float(sys.argv[2])
while time.perf_counter() < end or len(times) < 5:
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
times.sort()
print(json.dumps({"median": times[len(times) // 2], "p90": times[int(len(times) * 0.9)],
                  "layer": numba.threading_layer(), "threads": numba.get_num_threads()}))
"""


def _run(env_extra, seconds):
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_NUM_THREADS", "NUMBA_THREADING_LAYER", "OMP_WAIT_POLICY")}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", WORKER, ROOT, str(seconds)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    rounds, seconds = (1, 1.5) if args.quick else (3, 2.0)
    results = {}
    for busy in (False, True):
        spinner = (subprocess.Popen([sys.executable, "-c", "while True: pass"])
                   if busy else None)
        try:
            for _ in range(rounds):
                for name, env in SETTINGS.items():
                    r = _run(env, seconds)
                    results.setdefault((name, busy), []).append(r)
        finally:
            if spinner is not None:
                spinner.kill()
                spinner.wait()
    print(f"{'setting':<16} {'load':<10} {'median ms':>10} {'p90 ms':>8}  layer")
    for (name, busy), rs in results.items():
        med = statistics.median(r["median"] for r in rs) * 1e3
        p90 = statistics.median(r["p90"] for r in rs) * 1e3
        print(f"{name:<16} {'1 core busy' if busy else 'idle':<10} {med:10.2f} {p90:8.2f}  "
              f"{rs[0]['layer']} x{rs[0]['threads']}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (other processes share these cores)")


if __name__ == "__main__":
    main()
