"""Peak memory of `minitx train gpt` as the corpus grows: a text file against a prepared one.

    python benchmarks/corpus_memory.py [--mb 0.6 60] [--text-mb 0.6 28]

In a temporary folder: texts of each size made by shuffling and repeating the
built-in corpus's documents, `minitx prepare` of each (a character vocabulary,
uint16 ids: two bytes a character), then `minitx train gpt` for 20 steps of a
small model on each, prepared and (for --text-mb) as text. Each command runs in
its own process; its peak resident memory (ru_maxrss, which counts the pages of a
memory map too) comes from the kernel's account of that child (os.wait4). Prints
one row a run and the CPU model. Linux only.
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)

from benchmarks.harness import cpu_flags, cpu_model  # noqa: E402

TRAIN = ["train", "gpt", "--n-layer", "2", "--n-embd", "64", "--max-iters", "20", "--eval-interval", "10",
         "--eval-iters", "4", "--sample-tokens", "0", "--no-progress", "--overwrite"]


def write_text(path, mb, seed=0):
    """About `mb` MB of the built-in corpus: its documents shuffled, again and again."""
    from minitx.data import builtin_documents
    docs, rng, size = builtin_documents(), random.Random(seed), int(mb * 1e6)
    with open(path, "w", encoding="utf-8") as f:
        written = 0
        while written < size:
            rng.shuffle(docs)
            text = "\n\n".join(docs)[:size - written] + "\n"
            f.write(text)
            written += len(text)


def run(argv, cwd):
    """Peak RSS in MB of `python -m minitx ARGV`."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), MINITX_BACKEND="numpy")
    child = subprocess.Popen([sys.executable, "-m", "minitx", *argv], cwd=cwd, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"minitx {' '.join(argv)} failed:\n{child.stderr.read()}")
    return usage.ru_maxrss / 1024   # KB on Linux


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mb", type=float, nargs="+", default=[0.6, 60], help="sizes of the prepared corpora (text MB)")
    p.add_argument("--text-mb", type=float, nargs="*", default=[0.6, 28], help="sizes trained as text files")
    args = p.parse_args()
    print(f"{cpu_model()} ({', '.join(cpu_flags()) or 'no AVX'}), {os.cpu_count()} cores; "
          f"train gpt: {' '.join(TRAIN[2:])}")
    print(f"{'command':<32} {'file MB':>8} {'peak RSS MB':>12}")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for mb in sorted(set(args.mb) | set(args.text_mb)):
            write_text(folder / f"{mb}.txt", mb)
        for mb in args.mb:
            prep = run(["prepare", "--data", f"{mb}.txt", "--out", f"{mb}.bin", "--no-progress"], folder)
            size = (folder / f"{mb}.bin").stat().st_size / 1e6
            print(f"{f'prepare --data {mb}.txt':<32} {size:>8.1f} {prep:>12.0f}")
            peak = run([*TRAIN, "--data", f"{mb}.bin", "--out", "run"], folder)
            print(f"{f'train gpt --data {mb}.bin':<32} {size:>8.1f} {peak:>12.0f}")
        for mb in args.text_mb:
            peak = run([*TRAIN, "--data", f"{mb}.txt", "--out", "run"], folder)
            size = (folder / f"{mb}.txt").stat().st_size / 1e6
            print(f"{f'train gpt --data {mb}.txt':<32} {size:>8.1f} {peak:>12.0f}")


if __name__ == "__main__":
    main()
