"""The `minitx` command: `minitx train gpt`, `minitx sample`, and what other modules add.

Each subcommand is a function that adds its parser to a subparsers object and
sets `run` (a function of the parsed args returning an exit code) with
set_defaults. COMMANDS lists the top-level ones, TRAIN_MODELS the models of
`minitx train`. A new command adds one line to a list; its module should import
heavy things (models, kernels) inside `run`, so `--help` stays fast.

Errors a user can fix (a missing file, a bad size, a damaged checkpoint) print
one line on stderr and exit with 1 (2 for a malformed command line); no traceback.
MINITX_DEBUG=1 shows the traceback.
"""
import argparse
import os
import secrets
import shutil
import sys

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class CLIError(Exception):
    """An error the user can fix; main prints its message as one line."""


class _Store(argparse._StoreAction):
    """store, remembering which options were typed (args._given), so --resume can
    tell an explicit --lr from the default."""

    def __call__(self, parser, namespace, values, option_string=None):
        super().__call__(parser, namespace, values, option_string)
        given = set(getattr(namespace, "_given", ()))
        namespace._given = given | {self.dest}


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: ...)" to each option's help, unless the help already tells
    it or there is nothing to tell (None, a flag that is off, an empty string)."""

    def _get_help_string(self, action):
        if action.default in (None, False, "") or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """Shows defaults in --help; a bad argument is one line on stderr, exit 2."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)
        self.register("action", None, _Store)
        self.register("action", "store", _Store)

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def given(args, name):
    """Whether option `name` (its dest) was typed on the command line."""
    return name in getattr(args, "_given", ())


# ---- argument types: each rejects a bad value with a message that names it -----------
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


def _number(kind, text):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                         f"got {text!r}") from None


# ---- shared by every `train` command ------------------------------------------------
def add_training_args(p, out, max_iters, batch_size, lr, eval_interval):
    """The options of the Trainer (minitx.train.TrainConfig), with per-model defaults."""
    from .train import TrainConfig  # light: no model code
    d = TrainConfig(max_iters=max_iters, batch_size=batch_size, lr=lr, eval_interval=eval_interval)
    p.add_argument("--data", metavar="FILE", help="a UTF-8 text file (default: the built-in corpus, "
                   "the Python reference manual from pydoc_data)")
    p.add_argument("--out", default=out, metavar="DIR", help="folder for checkpoints (best/, last/) and metrics.jsonl")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last/ checkpoint")
    p.add_argument("--overwrite", action="store_true", help="start afresh even if --out holds a run")
    p.add_argument("--max-iters", type=positive_int, default=d.max_iters, help="optimizer steps in all")
    p.add_argument("--batch-size", type=positive_int, default=d.batch_size, help="sequences per micro-batch")
    p.add_argument("--grad-accum", type=positive_int, default=d.grad_accum, help="micro-batches per step")
    p.add_argument("--lr", type=positive_float, default=d.lr, help="peak learning rate")
    p.add_argument("--min-lr", type=non_negative_float, default=d.min_lr, help="learning rate at the end of the cosine")
    p.add_argument("--warmup", type=non_negative_int, default=None,
                   help="warmup steps (default: max_iters // 10, at most 100)")
    p.add_argument("--weight-decay", type=non_negative_float, default=d.weight_decay, help="AdamW decay of 2-D weights")
    p.add_argument("--grad-clip", type=non_negative_float, default=d.grad_clip, help="max gradient norm (0: off)")
    p.add_argument("--eval-interval", type=positive_int, default=d.eval_interval, help="steps between evaluations")
    p.add_argument("--eval-iters", type=positive_int, default=d.eval_iters, help="validation batches per evaluation")
    p.add_argument("--val-fraction", type=fraction, default=0.1, help="share of the text held out for validation")
    p.add_argument("--seed", type=int, default=1337, help="seeds initialisation, dropout and batch sampling")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


_TRAIN_OPTIONS = {"max_iters": "max_iters", "batch_size": "batch_size", "grad_accum": "grad_accum", "lr": "lr",
                  "min_lr": "min_lr", "warmup": "warmup_iters", "weight_decay": "weight_decay",
                  "grad_clip": "grad_clip", "eval_interval": "eval_interval", "eval_iters": "eval_iters"}


def train_config(args, stored=None):
    """TrainConfig from the options; on --resume, the stored one with the typed options applied."""
    from .train import TrainConfig
    values = dict(stored or {})
    for opt, field in _TRAIN_OPTIONS.items():
        if stored is None or given(args, opt):
            values[field] = getattr(args, opt)
    if values.get("warmup_iters") is not None and values["warmup_iters"] >= values["max_iters"]:
        raise CLIError(f"--warmup {values['warmup_iters']} must be less than --max-iters {values['max_iters']}")
    return TrainConfig(**values)


def check_out_dir(args):
    """A fresh run must not silently replace the checkpoints of another one."""
    from .checkpoint import MANIFEST
    last = os.path.join(args.out, "last")
    if args.resume:
        if not os.path.exists(os.path.join(last, MANIFEST)) and not os.path.exists(
                os.path.join(args.out, ".last.old", MANIFEST)):
            raise CLIError(f"--resume: {args.out} holds no checkpoint to continue ({last} is missing)")
        return
    old = [os.path.join(args.out, sub) for sub in ("last", "best")
           if os.path.exists(os.path.join(args.out, sub, MANIFEST))]
    if old and not args.overwrite:
        raise CLIError(f"{args.out} already holds a run; pass --resume to continue it, --overwrite to "
                       f"start afresh, or another --out")
    for folder in old:  # a stale best/ must not outlive the run that replaces it
        shutil.rmtree(folder)


def note(message):
    print(message, file=sys.stderr, flush=True)


# ---- minitx train gpt -------------------------------------------------------------
_GPT_OPTIONS = ("n_layer", "n_head", "n_embd", "block_size", "dropout")


def add_train_gpt(models):
    p = models.add_parser("gpt", help="train a character-level GPT",
                          description="Train a character-level GPT. With no options: a small model on "
                                      "the built-in corpus, a few minutes on 2 cores, then a sample.")
    p.add_argument("--n-layer", type=positive_int, default=4, help="transformer blocks")
    p.add_argument("--n-head", type=positive_int, default=4, help="attention heads (must divide --n-embd)")
    p.add_argument("--n-embd", type=positive_int, default=128, help="channels C")
    p.add_argument("--block-size", type=positive_int, default=64, help="context length T")
    p.add_argument("--dropout", type=fraction, default=0.0, help="dropout probability")
    add_training_args(p, out=os.path.join("runs", "gpt"), max_iters=800, batch_size=32, lr=2e-3,
                      eval_interval=100)
    p.add_argument("--sample-tokens", type=non_negative_int, default=300,
                   help="characters to sample when training ends (0: none)")
    p.set_defaults(run=train_gpt)


def train_gpt(args):
    if args.n_embd % args.n_head:
        raise CLIError(f"--n-embd {args.n_embd} is not divisible by --n-head {args.n_head}")
    if args.data is not None and not os.path.isfile(args.data):
        raise CLIError(f"--data {args.data}: no such file")
    check_out_dir(args)
    from . import manual_seed
    from .checkpoint import load_checkpoint
    from .data import TokenDataset, builtin_text, read_text
    from .data.corpus import NAME as CORPUS
    from .models.gpt import GPT, GPTConfig
    from .plot import loss_chart, read_metrics
    from .tokenizers import CharTokenizer
    from .train import METRICS, Trainer

    stored = load_checkpoint(os.path.join(args.out, "last")) if args.resume else None
    if stored is not None:
        model_cfg = stored.config["model"]
        for name in _GPT_OPTIONS:
            if given(args, name) and getattr(args, name) != model_cfg[name]:
                raise CLIError(f"--{name.replace('_', '-')} {getattr(args, name)} differs from the checkpoint's "
                               f"{model_cfg[name]}; a resumed run keeps its model")
        data_path = args.data if args.data is not None else stored.config["data"]["path"]
        tokenizer, seed = stored.tokenizer, stored.config["data"]["seed"]
        val_fraction = stored.config["data"]["val_fraction"]
        cfg = train_config(args, stored.config["train"])
    else:
        data_path, tokenizer, seed, val_fraction = args.data, None, args.seed, args.val_fraction
        cfg = train_config(args)
    text = read_text(data_path) if data_path is not None else builtin_text()
    tokenizer = tokenizer or CharTokenizer.train(text)
    gpt = GPTConfig(**model_cfg) if stored is not None else GPTConfig(
        vocab_size=tokenizer.vocab_size, block_size=args.block_size, n_layer=args.n_layer,
        n_head=args.n_head, n_embd=args.n_embd, dropout=args.dropout)
    data = TokenDataset(tokenizer.encode(text), gpt.block_size, val_fraction=val_fraction, seed=seed)
    manual_seed(seed)
    model = GPT(gpt)
    trainer = Trainer(model, data, cfg, args.out, tokenizer=tokenizer, progress=not args.no_progress,
                      checkpoint_config={"model_type": "gpt", "model": gpt.to_dict(),
                                         "data": {"path": data_path and os.path.abspath(data_path),
                                                  "seed": seed, "val_fraction": val_fraction}})
    if stored is not None:
        trainer.resume()
        note(f"resuming {args.out} at step {trainer.step} of {cfg.max_iters}"
             + ("; nothing to do: pass a larger --max-iters to train further" if trainer.step >= cfg.max_iters else ""))
    note(f"data: {data_path or CORPUS}, {len(text):,} characters, vocab {tokenizer.vocab_size}; "
         f"model: GPT n_layer {gpt.n_layer}, n_head {gpt.n_head}, n_embd {gpt.n_embd}, "
         f"{model.num_parameters():,} parameters; {cfg.max_iters} steps of "
         f"{cfg.batch_size * cfg.grad_accum} x {gpt.block_size} tokens")
    summary = trainer.fit()
    print(loss_chart(read_metrics(os.path.join(args.out, METRICS))))
    val, best, step = summary["val_loss"], summary["best_val_loss"], summary["step"]
    val_at = "" if summary["val_step"] == step else f" at step {summary['val_step']}"
    print(f"step {step}: " + (f"val loss {val:.4f}{val_at}, " if val is not None else "")
          + (f"best {best:.4f}, " if best is not None else "")
          + f"{summary['seconds']:.0f} s, {summary['tokens_per_sec']:,.0f} tokens/s; checkpoints in {args.out}")
    if args.sample_tokens and not summary["interrupted"]:
        print("---- sample ----")
        print(generate_text(model, tokenizer, "", args.sample_tokens, temperature=0.8, seed=args.seed))
    return EXIT_INTERRUPTED if summary["interrupted"] else 0


def add_train(commands):
    p = commands.add_parser("train", help="train a model from scratch", description="Train a model from scratch.")
    models = p.add_subparsers(title="models", dest="model", metavar="MODEL", required=True)
    for add in TRAIN_MODELS:
        add(models)


# ---- minitx sample ----------------------------------------------------------------
def add_sample(commands):
    p = commands.add_parser("sample", help="generate text from a trained GPT",
                            description="Generate text from a GPT checkpoint. The text goes to stdout, "
                                        "messages to stderr.")
    p.add_argument("--ckpt", required=True, metavar="DIR",
                   help="a checkpoint folder, or a training --out folder (its best/ is used)")
    p.add_argument("--prompt", default="", help="text to continue (default: start of a line)")
    p.add_argument("--max-new-tokens", type=positive_int, default=500, help="tokens to generate")
    p.add_argument("--temperature", type=positive_float, default=0.8, help="below 1: safer, above 1: wilder")
    p.add_argument("--top-k", type=positive_int, default=None, help="sample among the k most likely tokens only")
    p.add_argument("--top-p", type=probability, default=None, help="sample among the most likely tokens of total "
                   "probability p (nucleus)")
    p.add_argument("--seed", type=int, default=None, help="seed for the sampler (default: a fresh one, printed)")
    p.set_defaults(run=sample)


def sample(args):
    from .checkpoint import build_model, find_checkpoint, load_checkpoint

    ckpt = load_checkpoint(find_checkpoint(args.ckpt))
    if ckpt.config.get("model_type") != "gpt":
        raise CLIError(f"{ckpt.path}: a {ckpt.config.get('model_type')} checkpoint; sample needs a GPT")
    if ckpt.tokenizer is None:
        raise CLIError(f"{ckpt.path}: holds no tokenizer to turn the prompt into ids")
    model = build_model(ckpt)
    seed = args.seed if args.seed is not None else secrets.randbits(31)
    state = ckpt.trainer_state or {}
    val = state.get("best_val_loss")
    note(f"{ckpt.path}: step {state.get('step', '?')}" + (f", val loss {val:.4f}" if val is not None else "")
         + f"; sampling with seed {seed}")
    print(generate_text(model, ckpt.tokenizer, args.prompt, args.max_new_tokens, args.temperature,
                        args.top_k, args.top_p, seed))
    return 0


def generate_text(model, tokenizer, prompt, max_new_tokens, temperature=0.8, top_k=None, top_p=None, seed=None):
    """prompt + its continuation; an empty prompt starts at a newline (or token 0)."""
    ids = tokenizer.encode(prompt) if prompt else [_start_id(tokenizer)]
    out = model.generate([ids], max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
    text = tokenizer.decode(out[0].tolist())
    return text if prompt else text[1:] if text.startswith("\n") else text


def _start_id(tokenizer):
    try:
        return tokenizer.encode("\n")[0]
    except (ValueError, KeyError, IndexError):
        return 0


# ---- the registry -----------------------------------------------------------------
from .bert_cli import add_embed, add_finetune, add_train_bert  # noqa: E402  (it uses the helpers above)
from .cache_cli import add_cache  # noqa: E402

TRAIN_MODELS = [add_train_gpt, add_train_bert]
COMMANDS = [add_train, add_sample, add_finetune, add_embed, add_cache]


def build_parser():
    parser = Parser(prog="minitx", description="minitx: a readable transformer engine (NumPy + Numba).")
    from . import __version__
    parser.add_argument("--version", action="version", version=f"minitx {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(commands)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        note("minitx: interrupted")
        return EXIT_INTERRUPTED
    except Exception as e:
        from .checkpoint import CheckpointError
        from .train import TrainingDiverged
        if os.environ.get("MINITX_DEBUG") or not isinstance(
                e, (CLIError, CheckpointError, TrainingDiverged, OSError, ValueError)):
            raise
        note(f"minitx: error: {e}")
        return EXIT_ERROR
