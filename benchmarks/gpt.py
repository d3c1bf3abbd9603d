"""GPT side by side: minitx against PyTorch eager (nanoGPT's model, SDPA) on the same weights.

Training step (forward, backward, AdamW step) in steady state at two sizes, with
MFU against the fp32 GEMM peak measured in the same run; optionally the same
step with one core kept busy by another process; greedy generation with a KV
cache against transformers' generate; the peak memory of training. Ratios are
minitx / PyTorch speed: above 1 means minitx is faster (or, for memory, smaller).

How it measures (docs/performance.md has the details):
- every measurement runs in a fresh process, one framework per process; the
  PyTorch processes never import minitx (they read the weights from a
  safetensors file this script writes, and check that minitx is not loaded);
- a training process runs --warmup untimed steps (the first compiles or loads
  kernels), then --steps timed ones, and reports their median;
- --rounds rounds, each one process per framework, the order alternating round
  by round; the figure is the median over rounds (training steps and generation);
- each framework runs at its own default thread settings (printed), unless
  --threads N sets Numba's, OpenBLAS's and PyTorch's to N;
- MFU = model FLOPs per step / median step time / the fp32 GEMM peak: the
  fastest GEMM this run measured, numpy's or PyTorch's, n x n or the step's
  own shapes.

    python benchmarks/gpt.py                      # the full run, about 8 minutes on 2 cores
    python benchmarks/gpt.py --quick              # a smoke run
    python benchmarks/gpt.py --under-load --json results.json --plot ratios.png \\
        --kernels-json kernels.json               # (python benchmarks/kernels.py --json kernels.json)
    python benchmarks/gpt.py --plot ratios.png --from-json results.json --kernels-json kernels.json
"""
import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time

# The minitx measured is this checkout's: its root goes first on the path, ahead of any
# installed one. This folder comes off the path: its tokenizers.py and kernels.py would
# shadow the `tokenizers` library and the `kernels` package that transformers imports
# (transformers probes for `kernels`; benchmarks/kernels.py imports minitx). harness.py
# is loaded from its file.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [os.path.dirname(_HERE)] + [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

# A minitx process imports minitx before numpy, as `minitx train` does: minitx/runtime.py
# then sets how long numpy's OpenBLAS threads spin before numpy loads OpenBLAS.
if "--child" in sys.argv and json.loads(sys.argv[sys.argv.index("--child") + 2])[:1] == ["minitx"]:
    import minitx  # noqa: E402, F401

import numpy as np  # noqa: E402


def _load_harness():
    import importlib.util
    spec = importlib.util.spec_from_file_location("harness", os.path.join(_HERE, "harness.py"))
    module = sys.modules["harness"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


harness = _load_harness()

SIZES = {
    "small": dict(B=12, T=64, n_layer=4, n_head=4, n_embd=128, V=65),
    "gpt": dict(B=8, T=256, n_layer=6, n_head=6, n_embd=384, V=65),
}

# A model far smaller than both sizes: its steps load (minitx) or set up (PyTorch)
# every kernel before the memory baseline is taken.
WARMUP = dict(B=2, T=8, n_layer=1, n_head=2, n_embd=16, V=65)


def label(s):
    return f"B={s['B']} T={s['T']} L={s['n_layer']} C={s['n_embd']} V={s['V']}"


def build_minitx(s, seed=0):
    """GPT and AdamW at size s (a SIZES entry), GPT-2's initialisation under `seed`."""
    import minitx
    from minitx.models.gpt import GPT, GPTConfig
    from minitx.optim import AdamW
    minitx.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=s["V"], block_size=harness.block_size(s), n_layer=s["n_layer"],
                          n_head=s["n_head"], n_embd=s["n_embd"]))
    return model, AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)


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


def set_threads(framework, threads):
    """0: leave the framework's defaults alone; N: Numba's or PyTorch's, and OpenBLAS's, to N."""
    if not threads:
        return
    if framework == "torch":
        import torch
        torch.set_num_threads(threads)
    else:
        import numba
        numba.set_num_threads(threads)
    try:
        import threadpoolctl
        threadpoolctl.threadpool_limits(threads, user_api="blas")
    except ImportError:
        pass


def setup(framework, s, threads, weights=None):
    """The step function and its arguments for size s, built in this process.
    PyTorch reads `weights` (a safetensors file of minitx's state_dict; None: its own
    random ones); minitx builds the same weights from the seed."""
    x, y = batch(s)
    if framework == "torch":
        import torch
        from safetensors.numpy import load_file
        set_threads("torch", threads)
        model = harness.TorchGPT.build(s, None if weights is None else load_file(weights))
        opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
        return step_torch, (model, opt, torch.from_numpy(x), torch.from_numpy(y))
    import minitx  # noqa: F401  (before Numba starts its threads: minitx picks their layer)
    set_threads("minitx", threads)
    model, opt = build_minitx(s)
    return step_minitx, (model, opt, x, y)


# ---- the child processes --------------------------------------------------------------

def train_child(framework, size, warmup, steps, threads, weights):
    """The first step's loss, every timed step's seconds, their median and tokens/s."""
    s = SIZES[size]
    step, args = setup(framework, s, threads, weights)
    t0 = time.perf_counter()
    first = step(*args)  # also compiles / loads the kernels
    first_s = time.perf_counter() - t0
    for _ in range(warmup - 1):
        step(*args)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step(*args)
        times.append(time.perf_counter() - t0)
    if framework == "torch":
        harness.assert_no_minitx()
    med = statistics.median(times)
    return {"loss": first, "first_step_s": first_s, "times": times, "median_s": med,
            "tok_s": s["B"] * s["T"] / med, "threads": harness.thread_settings(framework)}


def memory_child(framework, size, steps, threads, weights):
    """The peak resident memory of training at `size`, above the process as it is
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
    if framework == "torch":
        harness.assert_no_minitx()
    return {"peak_mb": proc_status_mb("VmHWM") - base}


def proc_status_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def gen_child(framework, new_tokens, repeats, threads, folder):
    """Greedy generation with the KV cache, batch 1, from the GPT-2-layout `folder`:
    the median tokens/s and the tokens."""
    prompt = np.random.default_rng(1).integers(0, 65, size=(1, 16))
    if framework == "torch":
        import torch
        import transformers
        set_threads("torch", threads)
        hf = transformers.GPT2LMHeadModel.from_pretrained(folder).eval()

        def run(n):
            with torch.no_grad():
                return hf.generate(torch.from_numpy(prompt), max_new_tokens=n, min_new_tokens=n,
                                   do_sample=False, use_cache=True, pad_token_id=0).numpy()
    else:
        from minitx.models.gpt import GPT  # first: minitx picks Numba's threading layer
        set_threads("minitx", threads)
        model = GPT.from_pretrained(folder).eval()

        def run(n):
            return model.generate(prompt, n, do_sample=False)
    run(4)  # compile and warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = run(new_tokens)
        times.append(time.perf_counter() - t0)
    if framework == "torch":
        harness.assert_no_minitx()
    return {"tok_s": new_tokens / statistics.median(times), "ids": out[0].tolist()}


def gemm_child(library, threads):
    """The fp32 GEMM rates of numpy (no torch loaded) or torch (no minitx loaded)."""
    if library == "torch":
        set_threads("torch", threads)
    elif threads:
        import threadpoolctl
        threadpoolctl.threadpool_limits(threads, user_api="blas")
    out = harness.gemm_rates(library, shapes={k: harness.step_gemms(s) for k, s in SIZES.items()})
    if library == "torch":
        harness.assert_no_minitx()
    return out


CHILDREN = {"train": train_child, "memory": memory_child, "gen": gen_child, "gemm": gemm_child}


class Runner:
    def __init__(self, env):
        self.env = env

    def __call__(self, kind, *args):
        return harness.run_child([__file__, "--child", kind, json.dumps(args)], self.env)


# ---- the parent --------------------------------------------------------------------

def time_training(run, size, warmup, steps, rounds, threads, weights):
    """Each framework's per-round results, one fresh process each, the order alternating."""
    res = {"minitx": [], "torch": []}
    for r in range(rounds):
        order = ("minitx", "torch") if r % 2 == 0 else ("torch", "minitx")
        for fw in order:
            res[fw].append(run("train", fw, size, warmup, steps, threads, weights))
        a, b = res["minitx"][-1]["loss"], res["torch"][-1]["loss"]
        assert abs(a - b) < 1e-3 * max(1.0, abs(b)), f"first-step losses differ: {a} vs {b}"
    return res


def _best_rate(g):
    """The fastest GEMM a library ran: the n^3 sgemm or one of the step's own shapes
    (OpenBLAS runs the step's skinny shapes faster than 2048^3 on some CPUs)."""
    return max(v for k, v in g.items() if k == "square_gflops" or k.startswith("step_gflops_")
               and "median" not in k)


def summarize(res, s, peak_gflops):
    out = {}
    for fw, rounds in res.items():
        med_s = statistics.median(r["median_s"] for r in rounds)
        out[fw] = {"median_step_s": med_s, "tok_s": s["B"] * s["T"] / med_s,
                   "round_medians_s": [r["median_s"] for r in rounds],
                   "mfu": harness.step_flops(s) / med_s / (peak_gflops * 1e9),
                   "achieved_gflops": harness.step_flops(s) / med_s / 1e9,
                   "first_step_s": statistics.median(r["first_step_s"] for r in rounds),
                   "threads": rounds[0]["threads"]}
    out["ratio"] = out["torch"]["median_step_s"] / out["minitx"]["median_step_s"]
    return out


def print_training(title, results, n_steps):
    print(f"\n{title}")
    print(f"{'':<30}{'minitx ms':>10}{'torch ms':>10}{'minitx tok/s':>13}{'torch tok/s':>12}"
          f"{'ratio':>7}{'MFU minitx':>11}{'MFU torch':>10}")
    for size, r in results.items():
        mx, th = r["minitx"], r["torch"]
        print(f"{label(SIZES[size]):<30}{mx['median_step_s'] * 1e3:>10.1f}{th['median_step_s'] * 1e3:>10.1f}"
              f"{mx['tok_s']:>13.0f}{th['tok_s']:>12.0f}{r['ratio']:>7.2f}"
              f"{mx['mfu'] * 100:>10.1f}%{th['mfu'] * 100:>9.1f}%")
        for fw in ("minitx", "torch"):
            rm = r[fw]["round_medians_s"]
            print(f"    {fw:<7} round medians {' '.join(f'{x * 1e3:.1f}' for x in rm)} ms; first step "
                  f"{r[fw]['first_step_s']:.2f} s; {r[fw]['achieved_gflops']:.1f} GFLOP/s")
    print(f"(median of {n_steps})")


def print_flops():
    print("\nmodel FLOPs per step = (6 N + 12 L C T) * B * T   (nanoGPT's estimate_mfu, PaLM appendix B):")
    print("  N = parameters less the position embeddings (tied lm_head counted once), 6 N per token for "
          "forward + backward;")
    print("  12 L C T per token for attention's q k^T and att v, forward + backward, full T (not halved "
          "for the causal mask)")
    for size, s in SIZES.items():
        print(f"  {label(s):<30} N = {harness.num_params(s):,}   {harness.step_flops(s) / 1e9:.3f} GFLOP/step")


def print_gemm(gemm):
    print("\nfp32 GEMM rates, GFLOP/s, best (median) of 7, fresh process per library and measurement, "
          "default threads:")
    for when, libs in gemm.items():
        for lib, g in libs.items():
            steps = ", ".join(f"{k} step's GEMMs {g['step_gflops_' + k]:.1f} ({g['step_gflops_median_' + k]:.1f})"
                              for k in SIZES)
            print(f"  {when:<6} {lib:<6} {g['square_n']}^3 sgemm {g['square_gflops']:.1f} "
                  f"({g['square_gflops_median']:.1f});  {steps}")
    print("  (a step's GEMMs: each Linear's x W^T, dY W and dY^T X at its (B*T, C) shapes, and the lm_head's;\n"
          "   the peak for MFU: the best rate of either library, n^3 or a step's GEMMs, before or after the training runs)")


def maybe_plot(path, results, kernels_json, m):
    steps = {f"{label(SIZES[k])}": v["ratio"] for k, v in results.get("train", {}).items()}
    steps.update({f"{label(SIZES[k])}, one core busy": v["ratio"]
                  for k, v in results.get("under_load", {}).items()})
    kernels = {}
    if kernels_json:
        with open(kernels_json) as f:
            for row in json.load(f)["cases"]:
                kernels[f"{row['op']} {row['shape']}"] = row["torch_s"] / row["numba_s"]
    title = f"minitx vs PyTorch {results.get('torch_version', '')} eager; {m['cpu']}, {m['date']}"
    harness.plot_ratios(path, steps, kernels, title)
    print(f"\nplot: {path} ({len(steps)} step sizes, {len(kernels)} kernels"
          + ("" if kernels_json else "; pass --kernels-json FILE from kernels.py --json for the kernels") + ")")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps per process (default 5)")
    ap.add_argument("--steps", type=int, default=30, help="timed steps per process (default 30)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of fresh processes (default 3)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 2 warm-up and 5 timed steps, 1 round")
    ap.add_argument("--threads", type=int, default=0,
                    help="threads for Numba, OpenBLAS and PyTorch (default 0: each framework's own default)")
    ap.add_argument("--under-load", action="store_true",
                    help="also time the step with a process spinning on one core")
    ap.add_argument("--load-rounds", type=int, default=1, help="rounds under load (default 1)")
    ap.add_argument("--skip", default="", help="comma-separated sections to skip: gemm,train,gen,memory")
    ap.add_argument("--new-tokens", type=int, default=200)
    ap.add_argument("--unset-openblas-env", action="store_true",
                    help="unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE in the measured processes")
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE ('-': stdout)")
    ap.add_argument("--plot", metavar="FILE", help="bar chart of the ratios (needs matplotlib: pip install "
                                                   "'minitx[bench]')")
    ap.add_argument("--kernels-json", metavar="FILE", help="kernels.py --json output, for --plot")
    ap.add_argument("--from-json", metavar="FILE", help="with --plot: plot these results, run nothing")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, fn_args = args.child
        print(json.dumps(CHILDREN[kind](*json.loads(fn_args))))
        return
    if args.from_json:
        with open(args.from_json) as f:
            results = json.load(f)
        maybe_plot(args.plot, results, args.kernels_json, results["machine"])
        return

    m = harness.machine(args.unset_openblas_env)
    warmup, steps, rounds = (2, 5, 1) if args.quick else (args.warmup, args.steps, args.rounds)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    run = Runner(harness.child_env(args.unset_openblas_env))
    out = sys.stderr if args.json == "-" else sys.stdout
    sys.stdout = out  # the tables go to stderr when the JSON goes to stdout
    from importlib.metadata import version
    results = {"machine": m, "torch_version": version("torch").split("+")[0],
               "settings": {"warmup": warmup, "steps": steps, "rounds": rounds, "threads": args.threads}}
    print("\n".join(harness.describe(m)))
    print(f"minitx vs PyTorch {results['torch_version']} eager; each measurement in fresh processes, one "
          f"framework per process; {warmup} warm-up + {steps} timed steps per process, {rounds} alternating "
          f"rounds; medians")

    with tempfile.TemporaryDirectory() as tmp:
        paths = write_weights(tmp)
        peak = None
        if "gemm" not in skip:
            # measured before the training runs and again after them; the peak is the best of all
            results["gemm"] = {"before": {lib: run("gemm", lib, args.threads) for lib in ("numpy", "torch")}}
            peak = max(_best_rate(g) for g in results["gemm"]["before"].values())
        if "train" not in skip:
            print_flops()
            if peak is None:
                raise SystemExit("MFU needs the GEMM peak: do not skip gemm with train")
            results["train"] = {}
            for size, s in SIZES.items():
                res = time_training(run, size, warmup, steps, rounds, args.threads, paths[size])
                results["train"][size] = summarize(res, s, peak)
            results["gemm"]["after"] = {lib: run("gemm", lib, args.threads) for lib in ("numpy", "torch")}
            print_gemm(results["gemm"])
            best = max(_best_rate(g) for libs in results["gemm"].values() for g in libs.values())
            if best > peak:  # MFU against the better peak
                peak = best
                for size, s in SIZES.items():
                    for fw in ("minitx", "torch"):
                        r = results["train"][size][fw]
                        r["mfu"] = harness.step_flops(s) / r["median_step_s"] / (peak * 1e9)
            print_training(f"training step (forward, backward, AdamW); MFU against {peak:.1f} GFLOP/s",
                           results["train"], f"{steps} timed steps per process, median of {rounds} rounds")
            results["peak_gflops"] = peak
            for fw in ("minitx", "torch"):
                t = results["train"]["gpt"][fw]["threads"]
                print(f"threads, {fw}: {harness.describe_threads(t)}")
        if args.under_load:
            results["under_load"] = {}
            with harness.busy_core() as pid:
                for size, s in SIZES.items():
                    res = time_training(run, size, warmup, steps, args.load_rounds, args.threads, paths[size])
                    results["under_load"][size] = summarize(res, s, peak or float("nan"))
                load = harness.loadavg()
            print_training(f"the same, with one core busy (pid {pid} spinning: while True: pass); load "
                           f"average {load}", results["under_load"],
                           f"{steps} timed steps per process, {args.load_rounds} round(s)")
        if "gen" not in skip:
            new, repeats = (50, 1) if args.quick else (args.new_tokens, 3)
            # Alternating rounds of fresh processes, as the training step: one process per
            # framework reads whatever minute of the host it lands in.
            rounds = {"minitx": [], "torch": []}
            for r in range(1 if args.quick else args.rounds):
                for fw in (("minitx", "torch") if r % 2 == 0 else ("torch", "minitx")):
                    rounds[fw].append(run("gen", fw, new, repeats, args.threads, paths["hf"]))
            a, b = ({"tok_s": statistics.median(x["tok_s"] for x in rounds[fw]), "ids": rounds[fw][0]["ids"]}
                    for fw in ("minitx", "torch"))
            same = sum(i == j for i, j in zip(a["ids"], b["ids"]))
            results["generation"] = {"minitx_tok_s": a["tok_s"], "hf_tok_s": b["tok_s"],
                                     "ratio": a["tok_s"] / b["tok_s"], "new_tokens": new,
                                     "identical_tokens": same,
                                     "rounds": {fw: [x["tok_s"] for x in v] for fw, v in rounds.items()}}
            print(f"\n{'generation, batch 1, KV cache':<34}{'minitx tok/s':>14}{'hf tok/s':>14}{'ratio':>8}")
            print(f"{'greedy, L=6 C=384 V=65':<34}{a['tok_s']:>14.1f}{b['tok_s']:>14.1f}"
                  f"{a['tok_s'] / b['tok_s']:>8.2f}   ({same}/{len(a['ids'])} tokens identical to "
                  f"transformers')")
            for fw, name in (("minitx", "minitx"), ("torch", "hf")):
                print(f"    {name:<7} round medians " + " ".join(f"{x['tok_s']:.1f}" for x in rounds[fw])
                      + " tok/s")
        if "memory" not in skip:
            results["memory"] = {}
            print(f"\n{'peak memory of training':<34}{'minitx MB':>14}{'torch MB':>14}{'ratio':>8}")
            print("(weights, gradients, AdamW state, activations and allocator caches: peak RSS above "
                  "a warmed-up process)")
            for size in SIZES:
                m_mx = run("memory", "minitx", size, 3, args.threads, paths[size])["peak_mb"]
                m_th = run("memory", "torch", size, 3, args.threads, paths[size])["peak_mb"]
                results["memory"][size] = {"minitx_mb": m_mx, "torch_mb": m_th}
                print(f"{size:<34}{m_mx:>14.0f}{m_th:>14.0f}{m_th / max(m_mx, 1e-9):>8.2f}")
    results["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(f"\nload average at the end: {' '.join(map(str, results['loadavg_end']))}")
    if args.plot:
        maybe_plot(args.plot, results, args.kernels_json, m)
    if args.json:
        text = json.dumps(results, indent=1)
        if args.json == "-":
            sys.__stdout__.write(text + "\n")
        else:
            with open(args.json, "w") as f:
                f.write(text + "\n")
            print(f"results: {args.json}")


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


if __name__ == "__main__":
    main()
