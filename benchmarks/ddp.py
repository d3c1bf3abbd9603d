"""Data-parallel training on one machine: 1 process x 2 threads against 2 MPI ranks x 1 thread,
and PyTorch DDP (gloo) at 2 ranks x 1 thread, at both GPT sizes of benchmarks/gpt.py (with
1 process x 1 thread beside them: on a machine others share, 2 threads can lose more than 2x).

Each configuration runs in fresh processes (mpirun for the ranks). minitx runs
the Trainer's own step (global batch B split over the ranks, bucketed allreduce
overlapped with backward, clipping, AdamW); PyTorch runs DDP over the same
architecture (harness.TorchGPT) with the same global batch. Reported per
configuration (of --rounds rounds, the order alternating, the round with the median step):
the median step over --steps timed steps after --warmup, the
global tokens/s, and for minitx's ranks the time a step waited for the allreduce
after backward (what backward did not hide) beside the time the same bytes take
in a blocking Allreduce alone.

    python benchmarks/ddp.py                  # both sizes, 3 alternating rounds, about 15 minutes on 2 cores
    python benchmarks/ddp.py --sizes small --steps 20
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [os.path.dirname(_HERE)] + [p for p in sys.path if os.path.abspath(p or ".") != _HERE]


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
BIND = "core"   # --bind-to for mpirun; --bind none lets ranks move off a core others keep busy
RANK_VARS = ("OMPI_COMM_WORLD_RANK", "PMI_RANK")
SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE")


def _env(names, default):
    return next((int(os.environ[n]) for n in names if n in os.environ), default)


# ---- the child processes --------------------------------------------------------------

def peak_rss_mb(w):
    """The peak resident memory of a rank, the mean over ranks (Linux: ru_maxrss in KiB)."""
    import resource
    return float(w.mean([resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024])[0])


def minitx_child(size, warmup, steps, threads, shard=False):
    """The Trainer's step, in one process (threads given) or as one rank under mpirun."""
    s = SIZES[size]
    import minitx
    from minitx.data import TokenDataset
    from minitx.distributed import world
    from minitx.models.gpt import GPT, GPTConfig
    from minitx.training import Trainer
    from minitx.training.trainer import TrainConfig
    w = world()
    if w.size == 1 and threads:
        import numba
        numba.set_num_threads(threads)
        try:
            import threadpoolctl
            threadpoolctl.threadpool_limits(threads, user_api="blas")
        except ImportError:
            pass
    minitx.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=s["V"], block_size=s["T"], n_layer=s["n_layer"], n_head=s["n_head"],
                          n_embd=s["n_embd"]))
    ids = np.random.default_rng(0).integers(0, s["V"], size=200_000)
    data = TokenDataset(ids, s["T"], val_fraction=0.0)
    out = tempfile.mkdtemp()
    trainer = Trainer(model, data, TrainConfig(max_iters=10 ** 6, batch_size=s["B"], warmup_iters=0), out,
                      checkpoint_config={}, progress=False, shard_optimizer=shard)
    for _ in range(warmup):
        trainer.train_step()
    times, waits = [], []
    for _ in range(steps):
        w.barrier()   # each step timed from a common start
        before = trainer.reducer.seconds_waiting if trainer.reducer else 0.0
        t0 = time.perf_counter()
        trainer.train_step()
        times.append(time.perf_counter() - t0)
        waits.append((trainer.reducer.seconds_waiting if trainer.reducer else 0.0) - before)
    allreduce = []
    if trainer.reducer is not None:   # the same buckets, blocking, with nothing to overlap
        for _ in range(max(5, steps // 2)):
            w.barrier()
            t0 = time.perf_counter()
            for bucket in trainer.reducer.buckets:
                w.allreduce_sum(bucket.flat)
            allreduce.append(time.perf_counter() - t0)
    shutil.rmtree(out, ignore_errors=True)
    opt = trainer.optimizer
    moments = opt.moment_bytes() if hasattr(opt, "moment_bytes") else sum(
        v.nbytes for st in opt.state.values() for v in st.values() if isinstance(v, np.ndarray))
    slowest = w.mean([statistics.median(times)])[0] if w.size > 1 else statistics.median(times)
    return {"framework": "minitx", "ranks": w.size, "threads": harness.thread_settings("minitx"),
            "median_s": slowest, "tok_s": s["B"] * s["T"] / slowest,
            "wait_ms": 1e3 * statistics.median(waits), "allreduce_ms": 1e3 * statistics.median(allreduce)
            if allreduce else None, "grad_mb": trainer.reducer.nbytes / 2 ** 20 if trainer.reducer else None,
            "moments_mb": moments / 2 ** 20, "peak_rss_mb": peak_rss_mb(w)}


def torch_child(size, warmup, steps, threads, port):
    """PyTorch DDP (gloo), one rank under mpirun: the global batch B split over the ranks."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    s = SIZES[size]
    rank, n = _env(RANK_VARS, 0), _env(SIZE_VARS, 1)
    torch.set_num_threads(threads or 1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=n)
    torch.manual_seed(0)
    model = DistributedDataParallel(harness.TorchGPT.build(s))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    ids = np.random.default_rng(0).integers(0, s["V"], size=(s["B"], s["T"] + 1))
    b = s["B"] // n
    x = torch.from_numpy(np.ascontiguousarray(ids[rank * b:(rank + 1) * b, :-1]))
    y = torch.from_numpy(np.ascontiguousarray(ids[rank * b:(rank + 1) * b, 1:]))

    def step():
        loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        dist.barrier()
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    med = torch.tensor([statistics.median(times)], dtype=torch.float64)
    dist.all_reduce(med)
    slowest = float(med[0]) / n
    dist.destroy_process_group()
    harness.assert_no_minitx()
    return {"framework": "torch DDP (gloo)", "ranks": n, "threads": harness.thread_settings("torch"),
            "median_s": slowest, "tok_s": s["B"] * s["T"] / slowest}


# ---- the parent -----------------------------------------------------------------------

def mpirun():
    found = shutil.which("mpirun", path=os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]]))
    if found is None:
        sys.exit("ddp.py: no mpirun; pip install 'minitx[mpi]'")
    return found


def run(argv, ranks):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    command = ([mpirun(), "-n", str(ranks), "--bind-to", BIND] if ranks > 1 else []) + \
        [sys.executable, __file__, *map(str, argv)]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-4000:]}")
    return json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    p.add_argument("--steps", type=int, default=None, help="timed steps (default: 30 small, 6 gpt)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--json", metavar="FILE", help="write the results here")
    p.add_argument("--rounds", type=int, default=3,
                   help="rounds of every configuration, the order alternating; the median round is shown")
    p.add_argument("--bind", default="core", choices=["core", "none"], help="mpirun --bind-to")
    p.add_argument("--child", choices=["minitx", "torch"], help=argparse.SUPPRESS)
    p.add_argument("--size", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--shard", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=29517, help=argparse.SUPPRESS)
    args = p.parse_args()
    global BIND
    BIND = args.bind
    if args.child:
        steps = args.steps or (30 if args.size == "small" else 6)
        result = (minitx_child(args.size, args.warmup, steps, args.threads, args.shard) if args.child == "minitx" else
                  torch_child(args.size, args.warmup, steps, args.threads, args.port))
        if _env(RANK_VARS, 0) == 0:
            print(json.dumps(result))
        return
    m = harness.machine()
    print("\n".join(harness.describe(m)))
    print(f"load average at start: {harness.loadavg()}")
    results = {}
    for size in args.sizes:
        s = SIZES[size]
        common = ["--size", size, "--warmup", args.warmup] + (["--steps", args.steps] if args.steps else [])
        configs = [("minitx, 1 process x 2 threads", ["--child", "minitx", *common, "--threads", 2], 1),
                   ("minitx, 1 process x 1 thread", ["--child", "minitx", *common, "--threads", 1], 1),
                   ("minitx, 2 ranks x 1 thread", ["--child", "minitx", *common], 2),
                   ("minitx, 2 x 1, --shard-optimizer", ["--child", "minitx", *common, "--shard"], 2),
                   ("torch DDP gloo, 2 ranks x 1 thread", ["--child", "torch", *common, "--threads", 1], 2)]
        runs = {name: [] for name, _, _ in configs}
        for r in range(args.rounds):   # the order reversed every other round: drift hits all alike
            for name, argv, ranks in (configs if r % 2 == 0 else configs[::-1]):
                runs[name].append(run(argv, ranks))
        # per configuration, the round with the median step time
        rows = [(name, sorted(runs[name], key=lambda x: x["median_s"])[(args.rounds - 1) // 2])
                for name, _, _ in configs]
        results[size] = {name: r for name, r in rows}
        base = rows[0][1]["tok_s"]
        print(f"\n{size}: B={s['B']} T={s['T']} L={s['n_layer']} C={s['n_embd']} (global batch)")
        print(f"  {'':38s} {'step ms':>8s} {'tokens/s':>9s} {'vs 1 proc':>9s} {'moments':>9s} {'peak RSS':>9s}"
              f"  allreduce")
        for name, r in rows:
            extra = ""
            if r.get("allreduce_ms") is not None:
                extra = (f"{r['grad_mb']:.1f} MB: {r['allreduce_ms']:.1f} ms alone, "
                         f"{r['wait_ms']:.1f} ms not hidden by backward")
            moments = f"{r['moments_mb']:.1f} MB" if r.get("moments_mb") is not None else ""
            rss = f"{r['peak_rss_mb']:.0f} MB" if r.get("peak_rss_mb") is not None else ""
            print(f"  {name:38s} {1e3 * r['median_s']:8.1f} {r['tok_s']:9,.0f} {r['tok_s'] / base:8.2f}x "
                  f"{moments:>9s} {rss:>9s}  {extra}")
    print(f"\nload average at end: {harness.loadavg()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": m, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
