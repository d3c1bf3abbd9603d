"""GPT side by side: minitx against PyTorch eager on the same weights and threads.

Training step (forward, backward, AdamW step) tokens/s at two sizes, greedy
generation tokens/s for 200 new tokens with a KV cache against transformers'
generate, and peak memory of a training step. Prints ratios; above 1 means
minitx is faster (or, for memory, smaller).

    python benchmarks/gpt.py [--quick] [--steps N]
"""
import argparse
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


def threads():
    import numba
    return numba.get_num_threads()


def build_minitx(size, seed=0):
    import minitx
    from minitx.models.gpt import GPT, GPTConfig
    from minitx.optim import AdamW
    s = SIZES[size]
    minitx.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=s["V"], block_size=max(s["T"], 256), n_layer=s["n_layer"],
                          n_head=s["n_head"], n_embd=s["n_embd"]))
    return model, AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)


class TorchGPT:
    """The same architecture in torch.nn, GPT-2's names and (out, in) Linear weights."""

    @staticmethod
    def build(model_mx):
        import torch
        from torch import nn
        c = model_mx.config

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
        state = {k: torch.from_numpy(np.array(v)) for k, v in model_mx.state_dict().items()}
        model.load_state_dict(state)
        return model, torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)


def batch(size, seed=0):
    s = SIZES[size]
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


def train_child(framework, size, steps):
    """Runs in a subprocess: one framework alone, so neither's thread pool
    (Numba's workqueue, PyTorch's OpenMP) spins against the other's. Prints the
    first step's loss and the median step's tokens/s as JSON."""
    mx_model, mx_opt = build_minitx(size)
    x, y = batch(size)
    if framework == "torch":
        import torch  # only here: its OpenMP pool would otherwise share the cores with Numba's
        torch.set_num_threads(threads())
        model, opt = TorchGPT.build(mx_model)
        args, step = (model, opt, torch.from_numpy(x), torch.from_numpy(y)), step_torch
    else:
        args, step = (mx_model, mx_opt, x, y), step_minitx
    first = step(*args)  # also compiles / warms up
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step(*args)
        times.append(time.perf_counter() - t0)
    print(json.dumps({"loss": first, "tok_s": x.size / statistics.median(times)}))


def child(*args):
    out = subprocess.run([sys.executable, __file__, *map(str, args)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def time_training(size, steps, rounds):
    """Median tokens/s of each framework, each in its own process, alternating rounds."""
    mx, th = [], []
    for _ in range(rounds):
        a, b = child("--train-child", "minitx", size, steps), child("--train-child", "torch", size, steps)
        assert abs(a["loss"] - b["loss"]) < 1e-3 * max(1.0, abs(b["loss"])), f"losses differ: {a} vs {b}"
        mx.append(a["tok_s"])
        th.append(b["tok_s"])
    return statistics.median(mx), statistics.median(th)


def gen_child(framework, new_tokens, repeats):
    """Runs in a subprocess: greedy generation with the KV cache, batch 1, on the
    GPT-size weights; prints the median tokens/s and the tokens as JSON."""
    mx_model, _ = build_minitx("gpt")
    mx_model.eval()
    prompt = np.random.default_rng(1).integers(0, 65, size=(1, 16))
    if framework == "torch":
        import torch
        import transformers
        torch.set_num_threads(threads())
        with tempfile.TemporaryDirectory() as d:
            mx_model.save_pretrained(d)
            hf = transformers.GPT2LMHeadModel.from_pretrained(d).eval()

        def run(n):
            with torch.no_grad():
                return hf.generate(torch.from_numpy(prompt), max_new_tokens=n, min_new_tokens=n,
                                   do_sample=False, use_cache=True, pad_token_id=0).numpy()
    else:
        def run(n):
            return mx_model.generate(prompt, n, do_sample=False)
    run(4)  # compile and warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = run(new_tokens)
        times.append(time.perf_counter() - t0)
    print(json.dumps({"tok_s": new_tokens / statistics.median(times), "ids": out[0].tolist()}))


def time_generation(new_tokens, repeats):
    a = child("--gen-child", "minitx", new_tokens, repeats)
    b = child("--gen-child", "torch", new_tokens, repeats)
    same = sum(i == j for i, j in zip(a["ids"], b["ids"]))
    return a["tok_s"], b["tok_s"], same, len(a["ids"])


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_child(framework, size, steps):
    """Runs in a subprocess. After one warm-up step (kernels compiled, optimizer state
    allocated) it samples RSS every 0.5 ms during the timed steps and reports
    the peak above the RSS between steps (weights, grads, optimizer state), i.e.
    what the step's activations and temporaries cost."""
    import gc
    import threading

    mx_model, mx_opt = build_minitx(size)
    x, y = batch(size)
    if framework == "torch":
        import torch
        torch.set_num_threads(threads())
        model, opt = TorchGPT.build(mx_model)
        del mx_model, mx_opt
        args, step = (model, opt, torch.from_numpy(x), torch.from_numpy(y)), step_torch
    else:
        args, step = (mx_model, mx_opt, x, y), step_minitx
    step(*args)
    gc.collect()
    base, peak, running = rss_mb(), [0.0], [True]

    def sample():
        while running[0]:
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.0005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    for _ in range(steps):
        step(*args)
    running[0] = False
    sampler.join()
    print(json.dumps({"step_mb": peak[0] - base}))


def peak_memory(framework, size, steps=3):
    return child("--memory-child", framework, size, steps)["step_mb"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10, help="timed training steps per framework and size")
    ap.add_argument("--new-tokens", type=int, default=200)
    ap.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of fresh processes")
    ap.add_argument("--memory-child", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--train-child", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--gen-child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.gen_child:
        gen_child(args.gen_child[0], int(args.gen_child[1]), int(args.gen_child[2]))
        return
    if args.train_child:
        train_child(args.train_child[0], args.train_child[1], int(args.train_child[2]))
        return
    if args.memory_child:
        memory_child(args.memory_child[0], args.memory_child[1], int(args.memory_child[2]))
        return
    import torch
    n = threads()
    torch.set_num_threads(n)
    steps = 3 if args.quick else args.steps
    rounds = 1 if args.quick else args.rounds
    print(f"threads: {n} (numba and torch)   {steps} timed steps per process, {rounds} rounds of "
          f"one process per framework; medians")
    print(f"{'training step':<34}{'minitx tok/s':>14}{'torch tok/s':>14}{'ratio':>8}")
    for size in SIZES:
        s = SIZES[size]
        mx, th = time_training(size, steps, rounds)
        label = f"B={s['B']} T={s['T']} L={s['n_layer']} C={s['n_embd']}"
        print(f"{label:<34}{mx:>14.0f}{th:>14.0f}{mx / th:>8.2f}")
    mx, hf, same, total = time_generation(50 if args.quick else args.new_tokens, 1 if args.quick else 3)
    print(f"\n{'generation, batch 1, KV cache':<34}{'minitx tok/s':>14}{'hf tok/s':>14}{'ratio':>8}")
    print(f"{'greedy, L=6 C=384 V=65':<34}{mx:>14.1f}{hf:>14.1f}{mx / hf:>8.2f}   "
          f"({same}/{total} tokens identical to transformers')")
    print(f"\n{'step peak memory above steady state':<34}{'minitx MB':>14}{'torch MB':>14}{'ratio':>8}")
    for size in SIZES:
        m_mx, m_th = peak_memory("minitx", size), peak_memory("torch", size)
        print(f"{size:<34}{m_mx:>14.0f}{m_th:>14.0f}{m_th / max(m_mx, 1e-9):>8.2f}")


if __name__ == "__main__":
    main()
