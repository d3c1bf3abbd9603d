"""The attention weights of every head of docs/transformer.md's GPT (2 blocks, 4 heads,
C = 64), trained as the page trains it (seeded: 600 steps of 32 x 64 characters, warmup
and cosine decay), on one line of the manual: a panel per head, layer 0's heads first."""
from _common import output_path

import numpy as np

import minitx as mt
from minitx.data import TokenDataset, builtin_text
from minitx.models.gpt import GPT, GPTConfig
from minitx.tokenizers import CharTokenizer
from minitx.viz import attention_map
from minitx.viz._figure import DPI

LINE = "The else clause is executed"
B, T, C, NH, L, STEPS = 32, 64, 64, 4, 2, 600


def page_gpt():
    """(GPT in eval mode, tokenizer): section 6 of docs/transformer.md, step for step."""
    text = builtin_text()
    tok = CharTokenizer.train(text)
    ids = np.array(tok.encode(text), dtype=np.int64)
    mt.manual_seed(0)
    gpt = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=T, n_layer=L, n_head=NH, n_embd=C))
    batches = TokenDataset(ids, block_size=T, val_fraction=0.1, seed=0)
    optimizer = mt.optim.AdamW(gpt.parameters(), lr=1e-2, weight_decay=0.0)
    schedule = mt.optim.lr_scheduler.WarmupCosineLR(optimizer, warmup_steps=30, max_steps=STEPS, min_lr=1e-3)
    for _ in range(STEPS):
        x, y = batches.get_batch(B)
        loss = gpt(x, targets=y).loss
        optimizer.zero_grad()
        loss.backward()
        mt.optim.clip_grad_norm_(gpt.parameters(), 1.0)
        optimizer.step()
        schedule.step()
    return gpt.eval(), tok


if __name__ == "__main__":
    path = output_path(__file__, __doc__)
    gpt, tok = page_gpt()
    with mt.no_grad():
        attentions = gpt(np.array([tok.encode(LINE)]), output_attentions=True).attentions  # L x (1, NH, T, T)
    weights = np.concatenate([a.numpy()[0] for a in attentions])  # (L * NH, T, T), layer 0's heads first
    fig = attention_map(weights, list(LINE), title="docs/transformer.md's GPT, each head on one line of the manual")
    for i, ax in enumerate(fig.axes[:L * NH]):
        ax.set_title(f"layer {i // NH}, head {i % NH}", fontsize=10)
    fig.savefig(path, dpi=DPI, format="png")
    print(path)
