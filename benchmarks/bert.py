"""BERT pretraining step, side by side: minitx against transformers' BertForPreTraining
(PyTorch eager, its default sdpa attention) on the same config, weights, batch and threads.

One step is forward (MLM logits over every position and NSP logits), the loss,
backward and an AdamW step, with dropout 0.1 as in pretraining. Prints tokens
per second of each and the ratio minitx / transformers (above 1: minitx is faster).

Each side runs in its own process, one after the other: in one process the
thread pool of one library keeps spinning while the other works (measured:
transformers drops from ~3,300 to ~450 tokens/s when alternated with minitx).

    python benchmarks/bert.py [--steps N] [--vocab-size V] [--threads N]
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

# benchmarks/tokenizers.py would shadow the tokenizers package that transformers imports
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

CONFIG = dict(num_hidden_layers=4, hidden_size=256, num_attention_heads=4, intermediate_size=1024,
              max_position_embeddings=128)
B, T = 8, 128


def batch(vocab_size, seed=0):
    """Pairs with a padded tail in half the rows, two token types, 15% of positions labelled."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, vocab_size, size=(B, T))
    mask = np.ones((B, T), dtype=np.int64)
    mask[::2, T - 24:] = 0
    types = np.zeros((B, T), dtype=np.int64)
    types[:, T // 2:] = 1
    labels = np.where((rng.random((B, T)) < 0.15) & (mask == 1), ids, -100)
    return dict(input_ids=ids, attention_mask=mask, token_type_ids=types, labels=labels,
                next_sentence_label=rng.integers(0, 2, size=B))


def step(model, opt, inputs):
    loss = model(**inputs).loss
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def measure(side, folder, steps, threads):
    """Eval-mode loss (no dropout: the same number on both sides) and the median step time."""
    inputs = batch(json.load(open(os.path.join(folder, "config.json")))["vocab_size"])
    if side == "minitx":
        from minitx.autograd import no_grad
        from minitx.models.bert import BertForPreTraining
        from minitx.optim import AdamW
        model = BertForPreTraining.from_pretrained(folder)
        opt = AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
        grad_off = no_grad
    else:
        import torch
        import transformers
        torch.set_num_threads(threads)
        model = transformers.BertForPreTraining.from_pretrained(folder)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
        inputs = {k: torch.from_numpy(v) for k, v in inputs.items()}
        grad_off = torch.no_grad
    with grad_off():
        loss = model.eval()(**inputs).loss.item()
    model.train()
    step(model, opt, inputs)  # warm up (and compile)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step(model, opt, inputs)
        times.append(time.perf_counter() - t0)
    return {"loss": loss, "seconds": statistics.median(times)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps of each (median)")
    parser.add_argument("--vocab-size", type=int, default=8192)
    parser.add_argument("--side", choices=["minitx", "transformers"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=None,
                        help="threads of both (default: Numba's count; 1 holds up best on a busy machine)")
    args = parser.parse_args()
    if args.side:  # a child: one side, printed as JSON
        print(json.dumps(measure(args.side, args.folder, args.steps, args.threads)))
        return

    import numba
    import torch
    import transformers
    threads = args.threads or numba.get_num_threads()
    with tempfile.TemporaryDirectory() as folder:
        torch.manual_seed(0)
        model = transformers.BertForPreTraining(transformers.BertConfig(vocab_size=args.vocab_size, **CONFIG))
        model.save_pretrained(folder)
        result = {}
        for side in ("minitx", "transformers"):
            out = subprocess.run([sys.executable, __file__, "--side", side, "--folder", folder, "--steps",
                                  str(args.steps), "--threads", str(threads)],
                                 capture_output=True, text=True, check=True,
                                 env={**os.environ, "NUMBA_NUM_THREADS": str(threads)})
            result[side] = json.loads(out.stdout.strip().splitlines()[-1])
    a, b = result["minitx"]["loss"], result["transformers"]["loss"]
    assert abs(a - b) < 1e-4 * abs(b), f"losses differ: minitx {a}, transformers {b}"
    tokens = B * T
    mx, th = (tokens / result[s]["seconds"] for s in ("minitx", "transformers"))
    print(f"BertForPreTraining training step: {CONFIG['num_hidden_layers']} layers, hidden "
          f"{CONFIG['hidden_size']}, {CONFIG['num_attention_heads']} heads, B={B}, T={T}, "
          f"V={args.vocab_size}, {threads} threads, median of {args.steps}, each in its own process")
    print(f"  minitx        {mx:10,.0f} tokens/s")
    print(f"  transformers  {th:10,.0f} tokens/s")
    print(f"  ratio minitx / transformers: {mx / th:.2f}")


if __name__ == "__main__":
    main()
