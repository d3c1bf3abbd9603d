"""GPT's commands: `minitx train gpt`, `minitx finetune gpt` (the same, from pretrained
weights) and `minitx sample`."""
import dataclasses
import os
import secrets

from .app import CLIError, note
from .config_file import config_record
from .options import (
    add_training_args,
    fraction,
    non_negative_int,
    positive_float,
    positive_int,
    probability,
)
from .limits import check_gpt_memory
from .same_run import data_record, keep_data
from .prepare import corpus_dataset, prepared_corpus
from .report import record_text, run_report
from .training import clear_out, exit_code, prepare, resume

_MODEL_OPTIONS = ("n_layer", "n_head", "n_embd", "block_size", "dropout", "position", "init", "tokenizer")
# the options that shape a new model: --init brings its own
_SHAPE_OPTIONS = ("n_layer", "n_head", "n_embd", "position", "tokenizer")
# nn.transformer.POSITIONS, written out: building the parser imports no model code
POSITIONS = ("learned", "sinusoidal", "rotary")


def add_train_gpt(models):
    p = models.add_parser("gpt", help="train a GPT (character-level, or with a BPE of your choice)",
                          description="Train a GPT. With no options: a small character-level model on "
                                      "the built-in corpus, a few minutes on 2 cores, then a sample. "
                                      "--init starts from pretrained weights instead. --data takes a text "
                                      "file, or a corpus bigger than memory that `minitx prepare` wrote.")
    _add_gpt_options(p, init_required=False)
    add_training_args(p, out=os.path.join("runs", "gpt"), max_iters=800, batch_size=32, lr=2e-3,
                      eval_interval=100)
    p.set_defaults(run=train_gpt)


def add_finetune_gpt(models):
    p = models.add_parser("gpt", help="continue training a pretrained GPT on your text",
                          description="Fine-tune a pretrained GPT (a Hugging Face GPT-2 folder with its "
                                      "tokenizer, or a minitx GPT run) on a text file: `train gpt --init` "
                                      "with a fine-tuning schedule.")
    _add_gpt_options(p, init_required=True)
    add_training_args(p, out=os.path.join("runs", "gpt-finetune"), max_iters=200, batch_size=8, lr=1e-4,
                      eval_interval=50, min_lr=1e-5)
    p.set_defaults(run=train_gpt, block_size=128)


def _add_gpt_options(p, init_required):
    p.add_argument("--init", required=init_required, metavar="DIR",
                   help="start from these weights and their tokenizer: a Hugging Face GPT-2 folder "
                        "(config.json, model.safetensors, tokenizer.json or vocab.json + merges.txt) or "
                        "a minitx GPT run or checkpoint")
    p.add_argument("--tokenizer", default=None, metavar="SPEC",
                   help="a new model's tokenizer: char (one id per character; the default), bpe:N (a "
                        "byte-level BPE of N tokens learnt from --data), or a Hugging Face tokenizer folder "
                        "or tokenizer.json")
    p.add_argument("--n-layer", type=positive_int, default=4, help="transformer blocks")
    p.add_argument("--n-head", type=positive_int, default=4, help="attention heads (must divide --n-embd)")
    p.add_argument("--n-embd", type=positive_int, default=128, help="channels C")
    p.add_argument("--block-size", type=positive_int, default=64,
                   help="context length T (with --init: of the training windows, at most the model's)")
    p.add_argument("--dropout", type=fraction, default=0.0, help="dropout probability")
    p.add_argument("--position", choices=POSITIONS, default="learned",
                   help="positions: learned (GPT-2's table), sinusoidal (the Transformer paper's fixed one) "
                        "or rotary (q and k rotated by position, as LLaMA)")
    p.add_argument("--sample-tokens", type=non_negative_int, default=300,
                   help="tokens to sample when training ends (0: none)")


def make_tokenizer(spec, text):
    """--tokenizer: char, bpe:N learnt from `text`, or a Hugging Face tokenizer folder or file."""
    from ..models.gpt.hf import hf_tokenizer
    from ..tokenizers import BPETokenizer, CharTokenizer
    if spec in (None, "char"):
        return CharTokenizer.train(text)
    if spec.startswith("bpe:"):
        try:
            n = int(spec[4:])
        except ValueError:
            n = 0
        if n < 257:
            raise CLIError(f"--tokenizer {spec}: bpe:N needs N >= 257 (256 bytes and <|endoftext|>)")
        return BPETokenizer.train(text, n)
    if os.path.isdir(spec):
        return hf_tokenizer(spec)
    if os.path.isfile(spec) and os.path.basename(spec) == "tokenizer.json":
        return hf_tokenizer(os.path.dirname(os.path.abspath(spec)))
    raise CLIError(f"--tokenizer {spec}: not char, bpe:N, or a tokenizer folder or tokenizer.json")


def load_init(path):
    """(GPT, tokenizer) of --init: a Hugging Face GPT-2 folder or a minitx GPT run/checkpoint."""
    from ..pipelines.generate import load_gpt
    if not os.path.isdir(path):
        raise CLIError(f"--init {path}: no such folder")
    model, tokenizer = load_gpt(path)
    if tokenizer.vocab_size > model.config.vocab_size:
        raise CLIError(f"--init {path}: its tokenizer has {tokenizer.vocab_size} tokens, more than the model's "
                       f"vocab_size {model.config.vocab_size}")
    return model, tokenizer


def train_gpt(args):
    from .options import given
    if args.n_embd % args.n_head:
        raise CLIError(f"--n-embd {args.n_embd} is not divisible by --n-head {args.n_head}")
    if args.init is not None and not args.resume:
        typed = [name for name in _SHAPE_OPTIONS if given(args, name)]
        if typed:
            raise CLIError(f"--{typed[0].replace('_', '-')}: the model and its tokenizer come from --init "
                           f"{args.init}; leave out --{typed[0].replace('_', '-')}")
    cfg, found, stored = prepare(args, ("gpt",), "train gpt", _MODEL_OPTIONS)

    import numpy as np

    from .. import manual_seed
    from ..data import TokenDataset, builtin_text, read_text
    from ..data.corpus import NAME as CORPUS
    from ..data.token_file import dtype_for
    from ..models.gpt import GPT, GPTConfig
    from ..training import Trainer
    from ..training.checkpoint import data_section, model_config
    from ..training.metrics import lm_metrics

    init = None
    if stored is not None:
        data = data_section(stored)
        train = stored.config["train"]   # the validation batches are drawn with these two
        data_path = keep_data(args, stored, data, f"{args.command} gpt", batch_size=train.get("batch_size"),
                              eval_iters=train.get("eval_iters"))
        tokenizer, seed, val_fraction = stored.tokenizer, data["seed"], data["val_fraction"]
        gpt = model_config(stored, GPTConfig)
        options = stored.config["options"]
        T = options.get("block_size") or gpt.block_size
    else:
        data_path, seed, val_fraction = args.data, args.seed, args.val_fraction
        options = {name: getattr(args, name) for name in _MODEL_OPTIONS}
    corpus = prepared_corpus(args, data_path, stored)   # a file of `minitx prepare`, or None: text
    if corpus is not None:
        text, val_fraction = None, corpus.val_fraction
        options["tokenizer"] = corpus.header["tokenizer_spec"]
    else:
        text = read_text(data_path) if data_path is not None else builtin_text()
    if corpus is None and not text:
        raise CLIError(f"--data {data_path}: is empty (no text to train on)")
    if stored is None and args.init is not None:
        init, tokenizer = load_init(args.init)
        gpt = dataclasses.replace(init.config, dropout=args.dropout)
        T = min(args.block_size, gpt.block_size)
        options.update(block_size=T, n_layer=gpt.n_layer, n_head=gpt.n_head, n_embd=gpt.n_embd,
                       position=gpt.position, tokenizer=None)
    elif stored is None:
        tokenizer = corpus.tokenizer if corpus is not None else make_tokenizer(args.tokenizer, text)
        gpt = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=args.block_size, n_layer=args.n_layer,
                        n_head=args.n_head, n_embd=args.n_embd, dropout=args.dropout, position=args.position)
        T = gpt.block_size
    if corpus is not None:
        data = corpus_dataset(corpus, tokenizer, T, seed, init=args.init if init is not None else None)
        described = f"{data_path}, {corpus.tokens:,} prepared tokens"
    else:
        try:
            # the narrowest integer type that holds the vocabulary (2 bytes a token, not
            # int64's 8); the batches are widened to int64 as they are drawn
            ids = np.asarray(tokenizer.encode(text), dtype=dtype_for(tokenizer.vocab_size))
        except ValueError as e:
            raise CLIError(f"--data {data_path or CORPUS}: {e}") from None
        data = TokenDataset(ids, T, val_fraction=val_fraction, seed=seed)
        tokens = "" if len(ids) == len(text) else f", {len(ids):,} tokens"   # one per character: said once
        described = f"{data_path or CORPUS}, {len(text):,} characters{tokens}"
        del text   # the run keeps only the ids
    check_gpt_memory(gpt, cfg, T)
    manual_seed(seed)
    model = GPT(gpt)
    if init is not None:
        model.load_state_dict(init.state_dict())
    trainer = Trainer(model, data, cfg, args.out, tokenizer=tokenizer, progress=not args.no_progress,
                      shard_optimizer=args.shard_optimizer, metrics=lm_metrics,
                      report=run_report(args),
                      checkpoint_config={"model_type": "gpt", "model": gpt.to_dict(), "options": options,
                                         "data": {**data_record(data_path), "seed": seed,
                                                  "val_fraction": val_fraction},
                                         **config_record(args, stored)})
    if stored is not None:
        resume(trainer, args, cfg)
    clear_out(args.out, found)
    note(f"data: {described}, vocab {tokenizer.vocab_size}; "
         f"model: GPT n_layer {gpt.n_layer}, n_head {gpt.n_head}, n_embd {gpt.n_embd}, "
         + ("" if gpt.position == "learned" else f"{gpt.position} positions, ")
         + (f"from {options['init']}, " if options.get("init") else "")
         + f"{model.num_parameters():,} parameters; {cfg.max_iters} steps of "
         f"{cfg.batch_size * cfg.grad_accum} x {T} tokens")
    summary = trainer.fit()
    if not trainer.world.is_main:   # under MPI: rank 0 reports and samples
        return exit_code(summary)
    _report(args.out, summary)
    if args.sample_tokens and not summary["interrupted"]:
        print("---- sample ----")
        text = generate_text(model, tokenizer, "", args.sample_tokens, temperature=0.8, seed=args.seed)
        print(text)
        record_text(trainer, text)
    return exit_code(summary)


def _report(out, summary):
    """The loss chart of the run, then one line: where it ended and how fast."""
    from ..training.plot import loss_chart, read_metrics
    from ..training.trainer import METRICS
    print(loss_chart(read_metrics(os.path.join(out, METRICS))))
    val, best, step = summary["val_loss"], summary["best_val_loss"], summary["step"]
    val_at = "" if summary["val_step"] == step else f" at step {summary['val_step']}"
    print(f"step {step}: " + (f"val loss {val:.4f}{val_at}, " if val is not None else "")
          + (f"best {best:.4f}, " if best is not None else "")
          + f"{summary['seconds']:.0f} s, {summary['tokens_per_sec']:,.0f} tokens/s; checkpoints in {out}")


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
    p.add_argument("--seed", type=non_negative_int, default=None,
                   help="seed for the sampler (default: a fresh one, printed)")
    p.add_argument("--greedy", action="store_true", help="take the most likely token each step (no sampling)")
    p.add_argument("--repetition-penalty", type=positive_float, default=1.0,
                   help="above 1 makes every token already in the text less likely")
    p.add_argument("--no-repeat-ngram-size", type=non_negative_int, default=0,
                   help="never repeat an n-gram of this many tokens (0: off)")
    p.add_argument("--num-return-sequences", type=positive_int, default=1,
                   help="texts to sample, one after another (seeds --seed, --seed + 1, ...)")
    p.add_argument("--stop", action="append", default=None, metavar="TEXT",
                   help="end the text once it holds TEXT (repeat for several)")
    p.add_argument("--stream", action="store_true", help="print each token as it comes")
    p.set_defaults(run=sample)


def sample(args):
    from ..training.checkpoint import build_model, find_checkpoint, load_checkpoint

    ckpt = load_checkpoint(find_checkpoint(args.ckpt))
    if ckpt.config.get("model_type") != "gpt":
        raise CLIError(f"{ckpt.path}: a {ckpt.config.get('model_type')} checkpoint; sample needs a GPT")
    if ckpt.tokenizer is None:
        raise CLIError(f"{ckpt.path}: holds no tokenizer to turn the prompt into ids")
    if args.greedy and args.num_return_sequences > 1:
        raise CLIError("--greedy gives one text; --num-return-sequences needs sampling")
    model = build_model(ckpt)
    seed = args.seed if args.seed is not None else secrets.randbits(31)
    state = ckpt.trainer_state or {}
    val = state.get("best_val_loss")
    note(f"{ckpt.path}: step {state.get('step', '?')}"
         + (f", val loss {val:.4f}" if isinstance(val, (int, float)) else "")
         + ("; greedy" if args.greedy else f"; sampling with seed {seed}"))
    for n in range(args.num_return_sequences):
        if n:
            print("----")
        text = generate_text(model, ckpt.tokenizer, args.prompt, args.max_new_tokens, args.temperature,
                             args.top_k, args.top_p, seed + n, do_sample=not args.greedy,
                             repetition_penalty=args.repetition_penalty,
                             no_repeat_ngram_size=args.no_repeat_ngram_size, stop_strings=args.stop,
                             stream=args.stream)
        if not args.stream:
            print(text)
    return 0


def generate_text(model, tokenizer, prompt, max_new_tokens, temperature=0.8, top_k=None, top_p=None, seed=None,
                  do_sample=True, repetition_penalty=1.0, no_repeat_ngram_size=0, stop_strings=None, stream=False):
    """prompt + its continuation; an empty prompt starts at a newline (or token 0). With
    stream, the text is printed as it comes (and returned too)."""
    import sys

    from ..models.gpt.generate import TextStreamer, cut_at_stop
    ids = tokenizer.encode(prompt) if prompt else [_start_id(tokenizer)]
    streamer = None
    if stream:
        sys.stdout.write(prompt)
        streamer = TextStreamer(tokenizer, skip_prompt=True, stop_strings=stop_strings)
    out = model.generate([ids], max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                         do_sample=do_sample, repetition_penalty=repetition_penalty,
                         no_repeat_ngram_size=no_repeat_ngram_size, stop_strings=stop_strings,
                         tokenizer=tokenizer, streamer=streamer)
    new = cut_at_stop(tokenizer.decode(out[0, len(ids):].tolist()), stop_strings)
    if prompt:
        return prompt + new
    start = tokenizer.decode(ids)
    return (start[1:] if start.startswith("\n") else start) + new


def _start_id(tokenizer):
    try:
        return tokenizer.encode("\n")[0]
    except (ValueError, KeyError, IndexError):
        return 0
