"""Option types that reject a bad value with a message naming it, and the options
every training command shares (those of minitx.training.TrainConfig)."""
import argparse


def given(args, name):
    """Whether option `name` (its dest) was typed on the command line."""
    return name in getattr(args, "_given", ())


def positive_int(text):
    value = _number(int, text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text):
    value = _number(int, text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def non_negative_float(text):
    value = _number(float, text)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def positive_float(text):
    value = non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def probability(text):
    """A number in (0, 1], e.g. top-p."""
    value = _number(float, text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def fraction(text):
    """A number in [0, 1), e.g. a dropout probability."""
    value = _number(float, text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def open_fraction(text):
    """A number in (0, 1), e.g. the share held out for validation."""
    value = _number(float, text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {text}")
    return value


def _number(kind, text):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                         f"got {text!r}") from None


def add_training_args(p, out, max_iters, batch_size, lr, eval_interval, min_lr=None):
    """The options of the Trainer (minitx.training.TrainConfig), with per-model defaults
    (min_lr: TrainConfig's if None)."""
    from ..training.trainer import TrainConfig  # light: no model code
    d = TrainConfig(max_iters=max_iters, batch_size=batch_size, lr=lr, eval_interval=eval_interval,
                    **({} if min_lr is None else {"min_lr": min_lr}))
    p.add_argument("--data", metavar="FILE", help="a UTF-8 text file, - for standard input (default: the "
                   "built-in corpus, the Python reference manual from pydoc_data)")
    p.add_argument("--out", default=out, metavar="DIR", help="folder for checkpoints (best/, last/) and metrics.jsonl")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--resume", action="store_true", help="continue the run in --out from its last/ checkpoint")
    start.add_argument("--overwrite", action="store_true", help="start afresh even if --out holds a run "
                   "(replaces its checkpoints and metrics.jsonl)")
    p.add_argument("--max-iters", type=positive_int, default=d.max_iters, help="optimizer steps in all")
    p.add_argument("--batch-size", type=positive_int, default=d.batch_size, help="sequences per micro-batch, "
                   "over all MPI ranks (each takes batch-size / ranks)")
    p.add_argument("--grad-accum", type=positive_int, default=d.grad_accum, help="micro-batches per step")
    p.add_argument("--lr", type=positive_float, default=d.lr, help="peak learning rate")
    p.add_argument("--min-lr", type=non_negative_float, default=d.min_lr, help="learning rate at the end of the cosine")
    p.add_argument("--warmup", type=non_negative_int, default=None,
                   help="warmup steps (default: max_iters // 10, at most 100)")
    p.add_argument("--weight-decay", type=non_negative_float, default=d.weight_decay, help="AdamW decay of 2-D weights")
    p.add_argument("--grad-clip", type=non_negative_float, default=d.grad_clip, help="max gradient norm (0: off)")
    p.add_argument("--eval-interval", type=positive_int, default=d.eval_interval, help="steps between evaluations")
    p.add_argument("--eval-iters", type=positive_int, default=d.eval_iters, help="validation batches per evaluation")
    p.add_argument("--early-stopping-patience", type=non_negative_int, default=d.early_stopping_patience,
                   metavar="N", help="stop when the validation loss has not improved in N evaluations in a row "
                   "(0: never); best/ keeps the best weights")
    p.add_argument("--early-stopping-min-delta", type=non_negative_float, default=d.early_stopping_min_delta,
                   metavar="D", help="the least drop of the validation loss that counts as an improvement")
    p.add_argument("--val-fraction", type=open_fraction, default=0.1, help="share of the text held out for validation")
    p.add_argument("--seed", type=non_negative_int, default=1337, help="seeds initialisation, dropout and batch sampling")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--log", choices=["csv"], default=None, help="csv: also write metrics.csv (rewritten from "
                   "metrics.jsonl at each evaluation, as report.html is)")
    p.add_argument("--shard-optimizer", action="store_true", help="under MPI: each rank keeps the AdamW "
                   "moments of its share of the parameters only (ZeRO-1); checkpoints are unchanged")
    p.set_defaults(distributed=True)   # under mpirun: data-parallel over the ranks (minitx/distributed)
