"""nanoGPT's CPU recipe end to end, minitx against PyTorch eager: wall time and final loss.

nanoGPT's README trains its character-level Shakespeare model on a CPU with

    python train.py config/train_shakespeare_char.py --device=cpu --compile=False
        --eval_iters=20 --log_interval=1 --block_size=64 --batch_size=12 --n_layer=4
        --n_head=4 --n_embd=128 --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0

that is: B=12, T=64, 4 layers, 4 heads, C=128, AdamW (betas 0.9, 0.99, weight decay
0.1 on the 2-D weights only), lr 1e-3 with 100 warm-up steps and a cosine decay to
1e-4 at step 2000, gradient clipping at norm 1.0, an evaluation every 250 steps
(9 in all: before the first step and after steps 250, ..., 2000) of 20 batches of
each split. Here the text is minitx's built-in corpus (Python's reference manual,
one id per character, as `minitx train gpt` reads it; vocab 103 instead of
Shakespeare's 65) and the model is GPT-2's layout (biases on; nanoGPT's recipe turns
them off), the same in both frameworks.

Each framework trains in its own fresh process from the same initial weights (a
safetensors file) on the same token ids (a .npy file) in the same order: this
script draws every batch's window starts up front and both processes read them.
The PyTorch process never imports minitx. The wall time is the training loop's,
evaluations included, from before the first evaluation to after the last (imports
and model building excluded; the process's whole wall time is printed too).

    python benchmarks/recipe.py                 # 2000 iterations, a few minutes per framework
    python benchmarks/recipe.py --iters 40      # a smoke run (evaluations every iters / 8)
"""
import argparse
import json
import math
import os
import sys
import tempfile
import time

# As in gpt.py: this checkout's minitx first on the path; this folder off it (its
# tokenizers.py and kernels.py shadow packages that torch's neighbours probe for).
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [os.path.dirname(_HERE)] + [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

# A minitx process imports minitx before numpy, as `minitx train` does: minitx/runtime.py
# then sets how long numpy's OpenBLAS threads spin before numpy loads OpenBLAS.
if "--child" in sys.argv and sys.argv[sys.argv.index("--child") + 1] == "minitx":
    import minitx  # noqa: E402, F401

import numpy as np  # noqa: E402


def _load_harness():
    import importlib.util
    spec = importlib.util.spec_from_file_location("harness", os.path.join(_HERE, "harness.py"))
    module = sys.modules["harness"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


harness = _load_harness()

RECIPE = dict(B=12, T=64, n_layer=4, n_head=4, n_embd=128, lr=1e-3, min_lr=1e-4, warmup=100,
              beta1=0.9, beta2=0.99, weight_decay=0.1, grad_clip=1.0, eval_iters=20, val_fraction=0.1)


def lr_at(it, c):
    """nanoGPT's get_lr: linear warm-up, (it + 1) / (warmup + 1), then a cosine to min_lr at iters."""
    if it < c["warmup"]:
        return c["lr"] * (it + 1) / (c["warmup"] + 1)
    if it > c["iters"]:
        return c["min_lr"]
    ratio = (it - c["warmup"]) / (c["iters"] - c["warmup"])
    return c["min_lr"] + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (c["lr"] - c["min_lr"])


def windows(ids, starts, T):
    """x, y (B, T) int64 from the windows of T + 1 ids at `starts`."""
    w = ids[starts[:, None] + np.arange(T + 1)].astype(np.int64)
    return np.ascontiguousarray(w[:, :-1]), np.ascontiguousarray(w[:, 1:])


# ---- the child: one framework's training run ---------------------------------------------

def child(framework, folder, c):
    data = np.load(os.path.join(folder, "data.npz"))
    split = {"train": data["train"], "val": data["val"]}
    starts, eval_starts = data["train_starts"], {s: data[f"eval_starts_{s}"] for s in split}
    if framework == "torch":
        import torch
        from safetensors.numpy import load_file
        s = dict(B=c["B"], T=c["T"], n_layer=c["n_layer"], n_head=c["n_head"], n_embd=c["n_embd"], V=c["V"],
                 block_size=c["T"])
        model = harness.TorchGPT.build(s, load_file(os.path.join(folder, "weights.safetensors")))
        params = list(model.parameters())
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": c["weight_decay"]},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
        opt = torch.optim.AdamW(groups, lr=c["lr"], betas=(c["beta1"], c["beta2"]))
        as_input, no_grad = torch.from_numpy, torch.no_grad
        clip = torch.nn.utils.clip_grad_norm_

        def loss_of(x, y):
            return model(x, y)
    else:
        import minitx
        from safetensors.numpy import load_file
        from minitx.models.gpt import GPT, GPTConfig
        from minitx.optim import AdamW, clip_grad_norm_
        model = GPT(GPTConfig(vocab_size=c["V"], block_size=c["T"], n_layer=c["n_layer"],
                              n_head=c["n_head"], n_embd=c["n_embd"], dropout=0.0))
        model.load_state_dict(load_file(os.path.join(folder, "weights.safetensors")))
        params = list(model.parameters())
        groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": c["weight_decay"]},
                  {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
        opt = AdamW(groups, lr=c["lr"], betas=(c["beta1"], c["beta2"]))
        as_input, no_grad, clip = (lambda a: a), minitx.no_grad, clip_grad_norm_

        def loss_of(x, y):
            return model(x, targets=y).loss

    def evaluate(e):
        model.eval()
        out = {}
        with no_grad():
            for name, ids in split.items():
                losses = [loss_of(*map(as_input, windows(ids, st, c["T"]))).item()
                          for st in eval_starts[name][e]]
                out[name] = float(np.mean(losses))
        model.train()
        return out

    evals, train_losses, eval_s = [], [], 0.0
    start = time.perf_counter()
    for it in range(c["iters"] + 1):
        if it % c["eval_interval"] == 0 or it == c["iters"]:
            t0 = time.perf_counter()
            evals.append({"step": it, **evaluate(len(evals))})
            eval_s += time.perf_counter() - t0
        if it == c["iters"]:
            break
        lr = lr_at(it, c)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = map(as_input, windows(split["train"], starts[it], c["T"]))
        loss = loss_of(x, y)
        opt.zero_grad()
        loss.backward()
        clip(params, c["grad_clip"])
        opt.step()
        train_losses.append(loss.item())
    wall = time.perf_counter() - start
    if framework == "torch":
        harness.assert_no_minitx()
    return {"loop_s": wall, "eval_s": eval_s, "evals": evals, "final_val": evals[-1]["val"],
            "final_train": evals[-1]["train"], "train_losses_every_100": train_losses[::100],
            "threads": harness.thread_settings(framework)}


# ---- the parent ---------------------------------------------------------------------

def prepare(folder, c, seed):
    """data.npz (the ids of both splits, every batch's window starts) and the initial weights;
    returns the vocabulary size and the corpus's length."""
    import minitx
    from safetensors.numpy import save_file
    from minitx.data import builtin_text
    from minitx.models.gpt import GPT, GPTConfig
    from minitx.tokenizers import CharTokenizer
    text = builtin_text()
    tok = CharTokenizer.train(text)
    ids = np.asarray(tok.encode(text), dtype=np.int64)
    n_val = int(len(ids) * c["val_fraction"])
    split = {"train": ids[:len(ids) - n_val], "val": ids[len(ids) - n_val:]}
    rng = np.random.default_rng(seed)
    arrays = dict(split)
    arrays["train_starts"] = rng.integers(0, len(split["train"]) - c["T"], size=(c["iters"], c["B"]))
    n_evals = c["iters"] // c["eval_interval"] + 1 + (c["iters"] % c["eval_interval"] != 0)
    for name, part in split.items():
        arrays[f"eval_starts_{name}"] = rng.integers(0, len(part) - c["T"], size=(n_evals, c["eval_iters"], c["B"]))
    np.savez(os.path.join(folder, "data.npz"), **arrays)
    minitx.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=c["T"], n_layer=c["n_layer"],
                          n_head=c["n_head"], n_embd=c["n_embd"], dropout=0.0))
    save_file({k: np.ascontiguousarray(v) for k, v in model.state_dict().items()},
              os.path.join(folder, "weights.safetensors"))
    return tok.vocab_size, len(text), n_evals


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=2000, help="training iterations (default 2000)")
    ap.add_argument("--eval-interval", type=int, default=0, help="default: iters / 8 (250 at 2000)")
    ap.add_argument("--rounds", type=int, default=1, help="runs per framework, the order alternating")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--unset-openblas-env", action="store_true",
                    help="unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE in the training processes")
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        framework, folder, c = args.child
        print(json.dumps(child(framework, folder, json.loads(c))))
        return
    c = dict(RECIPE, iters=args.iters, eval_interval=args.eval_interval or max(1, args.iters // 8))
    m = harness.machine(args.unset_openblas_env)
    print("\n".join(harness.describe(m)))
    env = harness.child_env(args.unset_openblas_env)
    results = {"machine": m, "recipe": c, "runs": {"minitx": [], "torch": []}}
    with tempfile.TemporaryDirectory() as tmp:
        c["V"], chars, n_evals = prepare(tmp, c, args.seed)
        print(f"nanoGPT's CPU recipe: B={c['B']} T={c['T']} L={c['n_layer']} H={c['n_head']} C={c['n_embd']} "
              f"V={c['V']}, {c['iters']} iterations, AdamW betas ({c['beta1']}, {c['beta2']}) wd "
              f"{c['weight_decay']}, lr {c['lr']} warm-up {c['warmup']} cosine to {c['min_lr']}, clip "
              f"{c['grad_clip']}, {n_evals} evaluations of {c['eval_iters']} batches per split")
        print(f"data: minitx's built-in corpus, {chars:,} characters; the same initial weights and batch "
              f"order in both frameworks, each in a fresh process at its default threads")
        for r in range(args.rounds):
            for fw in (("minitx", "torch") if r % 2 == 0 else ("torch", "minitx")):
                res = harness.run_child([__file__, "--child", fw, tmp, json.dumps(c)], env)
                results["runs"][fw].append(res)
                print(f"  round {r + 1} {fw:<7} loop {res['loop_s']:7.1f} s (evaluations {res['eval_s']:.1f} s), "
                      f"process {res['process_wall_s']:7.1f} s; final val loss {res['final_val']:.4f}, "
                      f"train {res['final_train']:.4f}", flush=True)
    med = {fw: sorted(runs, key=lambda x: x["loop_s"])[len(runs) // 2] for fw, runs in results["runs"].items()}
    mx, th = med["minitx"], med["torch"]
    print(f"\n{'':<28}{'minitx':>10}{'torch':>10}{'ratio':>8}")
    print(f"{'training loop wall, s':<28}{mx['loop_s']:>10.1f}{th['loop_s']:>10.1f}{th['loop_s'] / mx['loop_s']:>8.2f}"
          "   (torch time / minitx time; > 1: minitx faster)")
    print(f"{'whole process wall, s':<28}{mx['process_wall_s']:>10.1f}{th['process_wall_s']:>10.1f}"
          f"{th['process_wall_s'] / mx['process_wall_s']:>8.2f}")
    print(f"{'final val loss':<28}{mx['final_val']:>10.4f}{th['final_val']:>10.4f}")
    print(f"{'final train loss (eval)':<28}{mx['final_train']:>10.4f}{th['final_train']:>10.4f}")
    print("val loss at each evaluation:")
    for a, b in zip(mx["evals"], th["evals"]):
        print(f"  step {a['step']:>5}: minitx {a['val']:.4f}  torch {b['val']:.4f}")
    for fw in ("minitx", "torch"):
        print(f"threads, {fw}: {harness.describe_threads(med[fw]['threads'])}")
    results["ratio_loop"] = th["loop_s"] / mx["loop_s"]
    results["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(f"load average at the end: {' '.join(map(str, results['loadavg_end']))}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
        print(f"results: {args.json}")


if __name__ == "__main__":
    main()
