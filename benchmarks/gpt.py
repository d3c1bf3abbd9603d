"""GPT side by side: minitx against PyTorch eager on the same weights and threads.

Training step (forward, backward, AdamW step) tokens/s at two sizes, greedy
generation tokens/s for 200 new tokens with a KV cache against transformers'
generate, and the peak memory of training. Prints ratios; above 1 means minitx
is faster (or, for memory, smaller).

Each measurement runs in fresh processes, one framework per process, as its
users run it: the PyTorch processes never import minitx (they read the weights
from a safetensors file this script writes), so neither framework's thread pool
or memory allocator settings reach the other.

    python benchmarks/gpt.py [--quick] [--steps N] [--rounds N]
"""
import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

# benchmarks/tokenizers.py would shadow the `tokenizers` library that transformers imports.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

SIZES = {
    "small": dict(B=12, T=64, n_layer=4, n_head=4, n_embd=128, V=65),
    "gpt": dict(B=8, T=256, n_layer=6, n_head=6, n_embd=384, V=65),
}


# A model far smaller than both sizes: its steps load (minitx) or set up (PyTorch)
# every kernel before the memory baseline is taken.
WARMUP = dict(B=2, T=8, n_layer=1, n_head=2, n_embd=16, V=65)


def block_size(s):
    return max(s["T"], 256)


def build_minitx(s, seed=0):
    """GPT and AdamW at size s (a SIZES entry), GPT-2's initialisation under `seed`."""
    import minitx
    from minitx.models.gpt import GPT, GPTConfig
    from minitx.optim import AdamW
    minitx.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=s["V"], block_size=block_size(s), n_layer=s["n_layer"],
                          n_head=s["n_head"], n_embd=s["n_embd"]))
    return model, AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)


class TorchGPT:
    """The same architecture in torch.nn, GPT-2's names and (out, in) Linear weights."""

    @staticmethod
    def build(s, state=None):
        """GPT and AdamW at size s; `state` maps minitx's parameter names to arrays."""
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
        return model, torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)


def batch(s, seed=0):
    ids = np.random.default_rng(seed).integers(0, s["V"], size=(s["B"], s["T"] + 1))
    return np.ascontiguousarray(ids[:, :-1]), np.ascontiguousarray(ids[:, 1:])


def step_minitx(model, opt, x, y):
    loss = model(x, targets=y).loss
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


def step_torch(model, opt, x, y):
    loss = model(x, y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


def setup(framework, s, threads, weights=None):
    """The step function and its arguments for size s, built in this process.
    PyTorch reads `weights` (a safetensors file of minitx's state_dict; None: its own
    random ones); minitx builds the same weights from the seed."""
    x, y = batch(s)
    if framework == "torch":
        import torch
        from safetensors.numpy import load_file
        torch.set_num_threads(threads)
        model, opt = TorchGPT.build(s, None if weights is None else load_file(weights))
        return step_torch, (model, opt, torch.from_numpy(x), torch.from_numpy(y))
    import minitx  # noqa: F401  (before Numba starts its threads: minitx picks their layer)
    import numba
    numba.set_num_threads(threads)
    model, opt = build_minitx(s)
    return step_minitx, (model, opt, x, y)


def train_child(framework, size, steps, threads, weights):
    """Prints the first step's loss and the median step's tokens/s as JSON."""
    s = SIZES[size]
    step, args = setup(framework, s, threads, weights)
    first = step(*args)  # also compiles / warms up
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step(*args)
        times.append(time.perf_counter() - t0)
    print(json.dumps({"loss": first, "tok_s": s["B"] * s["T"] / statistics.median(times)}))


def memory_child(framework, size, steps, threads, weights):
    """Prints the peak resident memory of training at `size`, above the process as it is
    after a few steps of a tiny model (imports done, every kernel loaded): weights,
    gradients, AdamW state, activations, temporaries and whatever the memory allocator
    keeps. The kernel tracks the peak (VmHWM); writing 5 to clear_refs resets it."""
    step, args = setup(framework, WARMUP, threads)
    for _ in range(2):
        step(*args)
    del step, args
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = proc_status_mb("VmRSS")
    step, args = setup(framework, SIZES[size], threads, weights)
    for _ in range(1 + steps):
        step(*args)
    print(json.dumps({"peak_mb": proc_status_mb("VmHWM") - base}))


def proc_status_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def gen_child(framework, new_tokens, repeats, threads, folder):
    """Greedy generation with the KV cache, batch 1, from the GPT-2-layout `folder`;
    prints the median tokens/s and the tokens as JSON."""
    prompt = np.random.default_rng(1).integers(0, 65, size=(1, 16))
    if framework == "torch":
        import torch
        import transformers
        torch.set_num_threads(threads)
        hf = transformers.GPT2LMHeadModel.from_pretrained(folder).eval()

        def run(n):
            with torch.no_grad():
                return hf.generate(torch.from_numpy(prompt), max_new_tokens=n, min_new_tokens=n,
                                   do_sample=False, use_cache=True, pad_token_id=0).numpy()
    else:
        from minitx.models.gpt import GPT  # first: minitx picks Numba's threading layer
        import numba
        numba.set_num_threads(threads)
        model = GPT.from_pretrained(folder).eval()

        def run(n):
            return model.generate(prompt, n, do_sample=False)
    run(4)  # compile and warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = run(new_tokens)
        times.append(time.perf_counter() - t0)
    print(json.dumps({"tok_s": new_tokens / statistics.median(times), "ids": out[0].tolist()}))


CHILDREN = {"--train-child": train_child, "--memory-child": memory_child, "--gen-child": gen_child}


def child(kind, *args):
    out = subprocess.run([sys.executable, __file__, kind, *map(str, args)], capture_output=True,
                         text=True)
    if out.returncode:
        raise RuntimeError(f"{kind} {' '.join(map(str, args))} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def time_training(size, steps, rounds, threads, weights):
    """Median tokens/s of each framework, each in its own process, alternating rounds."""
    mx, th = [], []
    for _ in range(rounds):
        a = child("--train-child", "minitx", size, steps, threads, weights)
        b = child("--train-child", "torch", size, steps, threads, weights)
        assert abs(a["loss"] - b["loss"]) < 1e-3 * max(1.0, abs(b["loss"])), f"losses differ: {a} vs {b}"
        mx.append(a["tok_s"])
        th.append(b["tok_s"])
    return statistics.median(mx), statistics.median(th)


def write_weights(folder):
    """One safetensors file of minitx's state_dict per size, and the GPT size in
    GPT-2's layout for generation; returns their paths."""
    from safetensors.numpy import save_file
    paths = {}
    for size, s in SIZES.items():
        model, _ = build_minitx(s)
        paths[size] = os.path.join(folder, f"{size}.safetensors")
        save_file({k: np.ascontiguousarray(v) for k, v in model.state_dict().items()}, paths[size])
    paths["hf"] = os.path.join(folder, "gpt-hf")
    model.save_pretrained(paths["hf"])
    return paths


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10, help="timed training steps per framework and size")
    ap.add_argument("--new-tokens", type=int, default=200)
    ap.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of fresh processes")
    for kind in CHILDREN:
        ap.add_argument(kind, nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    for kind, fn in CHILDREN.items():
        given = getattr(args, kind[2:].replace("-", "_"))
        if given:
            framework, what, n, threads, path = given
            return fn(framework, int(what) if kind == "--gen-child" else what, int(n), int(threads),
                      path)
    import minitx  # noqa: F401  (before Numba starts its threads: minitx picks their layer)
    import numba
    n = numba.get_num_threads()
    steps = 3 if args.quick else args.steps
    rounds = 1 if args.quick else args.rounds
    print(f"threads: {n} (numba and torch)   {steps} timed steps per process, {rounds} rounds of "
          f"one process per framework; medians")
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_weights(tmp)
        print(f"{'training step':<34}{'minitx tok/s':>14}{'torch tok/s':>14}{'ratio':>8}")
        for size, s in SIZES.items():
            mx, th = time_training(size, steps, rounds, n, paths[size])
            label = f"B={s['B']} T={s['T']} L={s['n_layer']} C={s['n_embd']}"
            print(f"{label:<34}{mx:>14.0f}{th:>14.0f}{mx / th:>8.2f}")
        new, repeats = (50, 1) if args.quick else (args.new_tokens, 3)
        a = child("--gen-child", "minitx", new, repeats, n, paths["hf"])
        b = child("--gen-child", "torch", new, repeats, n, paths["hf"])
        same = sum(i == j for i, j in zip(a["ids"], b["ids"]))
        print(f"\n{'generation, batch 1, KV cache':<34}{'minitx tok/s':>14}{'hf tok/s':>14}{'ratio':>8}")
        print(f"{'greedy, L=6 C=384 V=65':<34}{a['tok_s']:>14.1f}{b['tok_s']:>14.1f}"
              f"{a['tok_s'] / b['tok_s']:>8.2f}   ({same}/{len(a['ids'])} tokens identical to "
              f"transformers')")
        print(f"\n{'peak memory of training':<34}{'minitx MB':>14}{'torch MB':>14}{'ratio':>8}")
        print("(weights, gradients, AdamW state, activations and allocator caches: peak RSS above "
              "a warmed-up process)")
        for size in SIZES:
            m_mx = child("--memory-child", "minitx", size, 3, n, paths[size])["peak_mb"]
            m_th = child("--memory-child", "torch", size, 3, n, paths[size])["peak_mb"]
            print(f"{size:<34}{m_mx:>14.0f}{m_th:>14.0f}{m_th / max(m_mx, 1e-9):>8.2f}")


if __name__ == "__main__":
    main()
