"""BERT pretraining step, side by side: minitx against transformers' BertForPreTraining
(PyTorch eager, its default sdpa attention) on the same config, weights, batch and threads.

One step is forward (MLM logits over every position and NSP logits), the loss,
backward and an AdamW step, with dropout 0.1 as in pretraining. Prints tokens
per second of each and the ratio minitx / transformers (above 1: minitx is faster).

    python benchmarks/bert.py [--steps N] [--vocab-size V]
"""
import argparse
import statistics
import tempfile
import time

import numpy as np

CONFIG = dict(num_hidden_layers=4, hidden_size=256, num_attention_heads=4, intermediate_size=1024,
              max_position_embeddings=128)
B, T = 8, 128


def build(vocab_size, folder):
    """transformers' model with random weights, and minitx's loaded from its saved folder."""
    import torch
    import transformers

    from minitx.models.bert import BertForPreTraining
    torch.manual_seed(0)
    theirs = transformers.BertForPreTraining(transformers.BertConfig(vocab_size=vocab_size, **CONFIG))
    theirs.save_pretrained(folder)
    return BertForPreTraining.from_pretrained(folder), theirs


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps of each, alternating")
    parser.add_argument("--vocab-size", type=int, default=8192)
    args = parser.parse_args()

    import numba
    import torch

    from minitx.autograd import no_grad
    from minitx.optim import AdamW
    threads = numba.get_num_threads()
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as folder:
        ours, theirs = build(args.vocab_size, folder)
    inputs = batch(args.vocab_size)
    torch_inputs = {k: torch.from_numpy(v) for k, v in inputs.items()}
    ours.eval(), theirs.eval()
    with no_grad(), torch.no_grad():  # the same model: the same loss without dropout
        a, b = ours(**inputs).loss.item(), theirs(**torch_inputs).loss.item()
    assert abs(a - b) < 1e-4 * abs(b), f"losses differ: minitx {a}, transformers {b}"
    ours.train(), theirs.train()
    opt_ours = AdamW(ours.parameters(), lr=1e-4, weight_decay=0.01)
    opt_theirs = torch.optim.AdamW(theirs.parameters(), lr=1e-4, weight_decay=0.01)
    step(ours, opt_ours, inputs), step(theirs, opt_theirs, torch_inputs)  # warm up (and compile)
    t_ours, t_theirs = [], []
    for _ in range(args.steps):  # alternate, so both meet the same machine state
        t0 = time.perf_counter()
        step(ours, opt_ours, inputs)
        t_ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        step(theirs, opt_theirs, torch_inputs)
        t_theirs.append(time.perf_counter() - t0)
    tokens = B * T
    mx, th = tokens / statistics.median(t_ours), tokens / statistics.median(t_theirs)
    print(f"BertForPreTraining training step: {CONFIG['num_hidden_layers']} layers, hidden "
          f"{CONFIG['hidden_size']}, {CONFIG['num_attention_heads']} heads, B={B}, T={T}, "
          f"V={args.vocab_size}, {threads} threads, median of {args.steps}")
    print(f"  minitx        {mx:10,.0f} tokens/s")
    print(f"  transformers  {th:10,.0f} tokens/s")
    print(f"  ratio minitx / transformers: {mx / th:.2f}")


if __name__ == "__main__":
    main()
