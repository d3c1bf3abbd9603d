"""What the figure scripts share: where a PNG goes (--out DIR, docs/img by default), and
a tiny character GPT trained for a few seconds on the built-in corpus, seeded."""
import argparse
import tempfile
from pathlib import Path

import minitx
from minitx.data import TokenDataset, builtin_text
from minitx.models.gpt import GPT, GPTConfig
from minitx.tokenizers import CharTokenizer
from minitx.training import TrainConfig, Trainer

IMG = Path(__file__).resolve().parent.parent / "img"


def output_path(script, description):
    """DIR/<script's name>.png, DIR from --out (docs/img by default), created if missing."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=IMG, metavar="DIR", help="folder for the PNG (default: docs/img)")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    return out / (Path(script).stem + ".png")


def tiny_gpt(steps=200, out_dir=None, seed=0):
    """(model in eval mode, tokenizer) after `steps` AdamW steps on batches of 8 x 64
    characters; the run's metrics.jsonl and checkpoints go to out_dir (by default a
    temporary folder, removed)."""
    text = builtin_text()
    tokenizer = CharTokenizer.train(text)
    config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=64, n_layer=2, n_head=4, n_embd=64)
    data = TokenDataset(tokenizer.encode(text), config.block_size, val_fraction=0.1, seed=seed)
    minitx.manual_seed(seed)
    model = GPT(config)
    train = TrainConfig(max_iters=steps, batch_size=8, lr=6e-3, eval_interval=max(1, steps // 5), eval_iters=4,
                        log_interval=2)
    with tempfile.TemporaryDirectory() as scratch:
        Trainer(model, data, train, out_dir or scratch, progress=False,
                checkpoint_config={"model_type": "gpt", "model": config.to_dict()}).fit()
    return model.eval(), tokenizer
