"""What the GPT benchmarks share: the machine's description, the PyTorch model,
FLOP counts, the GEMM peak, fresh child processes and a busy core.

Nothing here imports minitx or torch at import time: the PyTorch child processes
import this module and must never load minitx (gpt.py and recipe.py check it).
"""
import contextlib
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

OPENBLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


# ---- the machine ----------------------------------------------------------------

def cpu_model():
    """/proc/cpuinfo's "model name" (lscpu prints the same), else platform's guess."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags():
    """The SIMD extensions that decide GEMM speed: avx2, fma, avx512f, ..."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile") if f in have]
    except OSError:
        pass
    return []


def blas_info():
    """numpy's BLAS: threadpoolctl's view (library, version, kernel architecture, threads)
    when it is installed, else numpy's build configuration."""
    try:
        import threadpoolctl
        return [{k: v for k, v in pool.items() if k != "filepath"} | {"file": os.path.basename(pool["filepath"])}
                for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]
    except ImportError:
        blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
        return [{"name": blas.get("name"), "version": blas.get("version"),
                 "note": "pip install threadpoolctl for the thread count and kernel architecture"}]


def openblas_env(env=None):
    env = os.environ if env is None else env
    return {k: env[k] for k in OPENBLAS_ENV if k in env}


def machine(unset_openblas_env=False):
    """What every benchmark prints first: CPU, cores, date, load, numpy's BLAS."""
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cores": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas_info(),
        "openblas_env": openblas_env(),
        "openblas_env_unset_in_children": bool(unset_openblas_env),
    }


def describe(m):
    """The header lines for machine(m)."""
    blas = "; ".join(f"{b.get('internal_api', b.get('name'))} {b.get('version')}"
                     + (f" ({b['architecture']} kernels)" if b.get("architecture") else "")
                     + (f", {b['num_threads']} threads" if "num_threads" in b else "")
                     for b in m["blas"]) or "unknown"
    lines = [f"date {m['date']}   CPU: {m['cpu']} ({', '.join(m['cpu_flags'])}), {m['cores']} cores   "
             f"load average {' '.join(map(str, m['loadavg']))}",
             f"python {m['python']}, numpy {m['numpy']}, numpy's BLAS: {blas}"]
    if m["openblas_env"]:
        env = " ".join(f"{k}={v}" for k, v in m["openblas_env"].items())
        lines.append(f"environment: {env}" + (" -- UNSET in the measured processes (--unset-openblas-env)"
                                              if m["openblas_env_unset_in_children"]
                                              else " (kept; they can slow numpy's OpenBLAS: see "
                                                   "--unset-openblas-env)"))
    return lines


def loadavg():
    return round(os.getloadavg()[0], 2)


def assert_no_minitx():
    """For the PyTorch processes: minitx must not have been imported (its allocator and
    thread settings would reach PyTorch)."""
    loaded = [m for m in sys.modules if m == "minitx" or m.startswith("minitx.")]
    assert not loaded, f"a PyTorch process imported minitx: {loaded[:3]}"


def thread_settings(framework):
    """The thread counts this process runs with (call after the model is built)."""
    out = {}
    if framework == "torch":
        import torch
        out.update(torch=torch.get_num_threads(), torch_interop=torch.get_num_interop_threads())
    else:
        import numba
        out.update(numba=numba.get_num_threads(), numba_layer=numba.threading_layer())
    try:
        import threadpoolctl
        for pool in threadpoolctl.threadpool_info():
            out[f"{pool['internal_api']}"] = pool["num_threads"]
    except ImportError:
        pass
    return out


def describe_threads(t):
    return ", ".join(f"{k} {v}" for k, v in t.items())


# ---- child processes ------------------------------------------------------------

def child_env(unset_openblas_env):
    env = dict(os.environ)
    if unset_openblas_env:
        for k in OPENBLAS_ENV:
            env.pop(k, None)
    return env


def run_child(argv, env):
    """Runs `python argv...`, returns the JSON its last stdout line prints and the wall time."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, *map(str, argv)], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if out.returncode:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed:\n{out.stderr[-4000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = wall
    return result


@contextlib.contextmanager
def busy_core():
    """One process spinning on a core for the duration (a pure-Python loop)."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # let it reach the run queue
        yield spinner.pid
    finally:
        spinner.kill()
        spinner.wait()


# ---- the model: sizes, FLOPs, the PyTorch twin --------------------------------------

def block_size(s):
    """The model's context (the position table's rows): s["block_size"], else max(T, 256)."""
    return s.get("block_size", max(s["T"], 256))


def num_params(s, with_wpe=False):
    """Parameters of minitx's GPT at size s (GPT-2's layout: biases, tied lm_head)."""
    C, L, V = s["n_embd"], s["n_layer"], s["V"]
    n = L * (12 * C * C + 13 * C) + V * C + 2 * C
    return n + (block_size(s) * C if with_wpe else 0)


def step_flops(s):
    """Model FLOPs of one training step, counted as nanoGPT's estimate_mfu and PaLM's
    appendix B do: 6 N per token (forward 2 N, backward 4 N) with N the parameters
    less the position embeddings (a lookup; the tied token embedding counts once, for
    the lm_head matmul), plus attention's two T-long matmuls, 12 L C T per token
    (not halved for the causal mask). Times B T tokens."""
    N, T, L, C = num_params(s), s["T"], s["n_layer"], s["n_embd"]
    return (6 * N + 12 * L * C * T) * s["B"] * T


def step_gemms(s):
    """(M, K, N) of every GEMM in a training step: each Linear's forward x W^T and
    its two backward products (dX = dY W, dW = dY^T X), per layer times L, and the
    lm_head's. Attention's batched matmuls are not included."""
    M, C, V, L = s["B"] * s["T"], s["n_embd"], s["V"], s["n_layer"]
    linears = [(C, 3 * C), (C, C), (C, 4 * C), (4 * C, C)] * L + [(C, V)]
    out = []
    for k, n in linears:
        out += [(M, k, n), (M, n, k), (n, M, k)]
    return out


class TorchGPT:
    """minitx's GPT architecture in torch.nn (nanoGPT's model.py with GPT-2's biases, the
    tied lm_head, SDPA attention), GPT-2's names and (out, in) Linear weights."""

    @staticmethod
    def build(s, state=None):
        """The model at size s; `state` maps minitx's parameter names to arrays."""
        import types

        import torch
        from torch import nn
        c = types.SimpleNamespace(vocab_size=s["V"], block_size=block_size(s), n_layer=s["n_layer"],
                                  n_head=s["n_head"], n_embd=s["n_embd"])

        class Attn(nn.Module):
            def __init__(self):
                super().__init__()
                self.c_attn = nn.Linear(c.n_embd, 3 * c.n_embd)
                self.c_proj = nn.Linear(c.n_embd, c.n_embd)

            def forward(self, x):
                B, T, C = x.shape
                q, k, v = self.c_attn(x).split(C, dim=2)
                q, k, v = (t.view(B, T, c.n_head, C // c.n_head).transpose(1, 2) for t in (q, k, v))
                y = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
                return self.c_proj(y.transpose(1, 2).reshape(B, T, C))

        class MLP(nn.Module):
            def __init__(self):
                super().__init__()
                self.c_fc = nn.Linear(c.n_embd, 4 * c.n_embd)
                self.c_proj = nn.Linear(4 * c.n_embd, c.n_embd)

            def forward(self, x):
                return self.c_proj(nn.functional.gelu(self.c_fc(x), approximate="tanh"))

        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.ln_1, self.attn = nn.LayerNorm(c.n_embd), Attn()
                self.ln_2, self.mlp = nn.LayerNorm(c.n_embd), MLP()

            def forward(self, x):
                x = x + self.attn(self.ln_1(x))
                return x + self.mlp(self.ln_2(x))

        class GPT(nn.Module):
            def __init__(self):
                super().__init__()
                self.transformer = nn.ModuleDict(dict(
                    wte=nn.Embedding(c.vocab_size, c.n_embd), wpe=nn.Embedding(c.block_size, c.n_embd),
                    h=nn.ModuleList(Block() for _ in range(c.n_layer)), ln_f=nn.LayerNorm(c.n_embd)))
                self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
                self.lm_head.weight = self.transformer.wte.weight

            def forward(self, ids, targets):
                T = ids.shape[1]
                x = self.transformer.wte(ids) + self.transformer.wpe(torch.arange(T))
                for block in self.transformer.h:
                    x = block(x)
                logits = self.lm_head(self.transformer.ln_f(x))
                return nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))

        model = GPT()
        if state is not None:
            model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
        return model


# ---- the GEMM peak ------------------------------------------------------------------

def _times(fn, repeats):
    fn()
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def gemm_rates(library, square=2048, shapes=None, repeats=7):
    """fp32 GEMM GFLOP/s in this process with `library` ("numpy" or "torch") at its
    default threads: a square n x n x n product and, for each entry of `shapes`
    ({name: [(M, K, N), ...]}), all of the list's products in turn (the rate a
    training step's own GEMMs get). Of `repeats` timings each, the fastest (the
    peak: other processes on the cores only ever slow a run down) and the median."""
    rng = np.random.default_rng(0)

    def arrays(m, k, n):
        a, b = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
        if library == "torch":
            import torch
            return torch.from_numpy(a), torch.from_numpy(b)
        return a, b

    if library == "torch":
        import torch
        mm = torch.mm
    else:
        mm = np.matmul
    a, b = arrays(square, square, square)
    ts = _times(lambda: mm(a, b), repeats)
    out = {"square_n": square, "square_gflops": 2 * square ** 3 / min(ts) / 1e9,
           "square_gflops_median": 2 * square ** 3 / statistics.median(ts) / 1e9}
    for name, gemms in (shapes or {}).items():
        pairs = [arrays(*g) for g in gemms]

        def run():
            for x, y in pairs:
                mm(x, y)
        flops = sum(2 * m * k * n for m, k, n in gemms)
        ts = _times(run, repeats)
        out[f"step_gflops_{name}"] = flops / min(ts) / 1e9
        out[f"step_gflops_median_{name}"] = flops / statistics.median(ts) / 1e9
    return out


# ---- the plot -----------------------------------------------------------------------

def plot_ratios(path, steps, kernels, title):
    """Horizontal bars of minitx's speed over PyTorch's (above 1: minitx faster), one
    per training step size (`steps`: {label: ratio}) and one per kernel (`kernels`:
    {label: ratio}), written to `path` (the format from its extension)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [(f"step {k}", v) for k, v in steps.items()] + [(k, v) for k, v in kernels.items()]
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(rows) + 1.6))
    labels, values = [r[0] for r in rows][::-1], [r[1] for r in rows][::-1]
    colors = ["tab:green" if v >= 1 else "tab:red" for v in values]
    ax.barh(labels, values, color=colors, left=0)
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=0.8)
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:.2f}", va="center", fontsize=7)
    if steps and kernels:
        ax.axhline(len(kernels) - 0.5, color="grey", linewidth=0.6, linestyle="--")
    ax.set_xlabel("minitx speed / PyTorch speed = PyTorch time / minitx time (log scale; > 1: minitx faster)",
                  fontsize=8)
    ax.set_title(title, fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
