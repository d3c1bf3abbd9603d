"""BERT's commands: `minitx train bert`, `minitx finetune bert`, `minitx embed`."""
import os
import sys
import warnings

from ..pipelines.base import load_bert
from .app import CLIError, note
from .limits import check_answers_fit, check_bert_memory
from .config_file import config_record
from .data_options import add_data_options, columns
from .options import add_training_args, fraction, positive_int
from .report import run_report
from .training import STDIN, check_file, clear_out, exit_code, prepare, resume
from .same_run import data_record, keep, keep_data, resumed_data

_MODEL_OPTIONS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                  "max_length", "vocab_size")
_TASK_CLASSES = {"classify": "BertForSequenceClassification", "tag": "BertForTokenClassification",
                 "qa": "BertForQuestionAnswering"}
# Tokens an example needs at least: [CLS] a piece [SEP]; for qa [CLS] question [SEP] context [SEP].
_MIN_LENGTH = {"classify": 3, "tag": 3, "qa": 5}


# ---- minitx train bert --------------------------------------------------------------
def add_train_bert(models):
    p = models.add_parser("bert", help="pretrain a small BERT (masked LM + next sentence)",
                          description="Pretrain a small BERT with masked-LM and next-sentence "
                                      "prediction, with a WordPiece vocab trained on the same text. With no "
                                      "options: the built-in corpus (its 79 topics are the documents, "
                                      "paragraphs the segments), a few minutes on 2 cores, reporting "
                                      "held-out MLM and NSP accuracy. --data FILE: one sentence or "
                                      "paragraph per line, a blank line between documents.")
    p.add_argument("--vocab-size", type=positive_int, default=4096, help="WordPiece vocab to train")
    p.add_argument("--hidden-size", type=positive_int, default=128, help="channels C")
    p.add_argument("--num-hidden-layers", type=positive_int, default=2, help="encoder layers")
    p.add_argument("--num-attention-heads", type=positive_int, default=2, help="heads (must divide --hidden-size)")
    p.add_argument("--intermediate-size", type=positive_int, default=512, help="MLP width")
    p.add_argument("--max-length", type=positive_int, default=64, help="tokens per pair T, specials included")
    p.add_argument("--dropout", type=fraction, default=0.1, help="hidden and attention dropout")
    add_training_args(p, out=os.path.join("runs", "bert"), max_iters=1000, batch_size=32, lr=2e-3,
                      eval_interval=100)
    p.set_defaults(run=train_bert, weight_decay=0.01, eval_iters=8)
    val = next(a for a in p._actions if a.dest == "val_fraction")
    val.help = "share of the documents held out for validation (every round(1/x)-th)"


def train_bert(args):
    if args.hidden_size % args.num_attention_heads:
        raise CLIError(f"--hidden-size {args.hidden_size} is not divisible by --num-attention-heads "
                       f"{args.num_attention_heads}")
    cfg, found, stored = prepare(args, ("bert",), "train bert", _MODEL_OPTIONS)

    from .. import manual_seed
    from ..data import builtin_documents, read_text
    from ..data.bert import PretrainingData, split_documents, split_segments
    from ..data.corpus import NAME as CORPUS
    from ..models.bert import BertConfig, BertForPreTraining
    from ..tokenizers import WordPieceTokenizer
    from ..training import Trainer
    from ..training.checkpoint import data_section, model_config
    from ..training.metrics import pretraining_loss, pretraining_metrics

    if stored is not None:
        data = data_section(stored)
        # the validation batches are drawn with batch_size and eval_iters
        train, model = stored.config["train"], stored.config["model"]
        data_path = keep_data(args, stored, data, "train bert", batch_size=train.get("batch_size"),
                              eval_iters=train.get("eval_iters"), dropout=model.get("hidden_dropout_prob"))
        seed, val_fraction = data["seed"], data["val_fraction"]
    else:
        data_path, seed, val_fraction = args.data, args.seed, args.val_fraction
    if data_path is None:
        docs = [split_segments(d) for d in builtin_documents()]
    else:
        docs = split_documents(read_text(data_path))
        if not docs:
            raise CLIError(f"--data {data_path}: is empty (no text to train on)")
    if stored is not None:
        tokenizer, config = stored.tokenizer, model_config(stored, BertConfig)
    else:
        tokenizer = WordPieceTokenizer.train(["\n".join(d) for d in docs], args.vocab_size)
        config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=args.hidden_size,
                            num_hidden_layers=args.num_hidden_layers,
                            num_attention_heads=args.num_attention_heads,
                            intermediate_size=args.intermediate_size,
                            max_position_embeddings=args.max_length, hidden_dropout_prob=args.dropout,
                            attention_probs_dropout_prob=args.dropout, pad_token_id=tokenizer.pad_id)
    data = PretrainingData(docs, tokenizer, config.max_position_embeddings,
                           val_every=max(2, round(1 / val_fraction)), seed=seed)
    check_bert_memory(config, cfg)
    manual_seed(seed)
    model = BertForPreTraining(config)
    options = stored.config["options"] if stored else {name: getattr(args, name) for name in _MODEL_OPTIONS}
    trainer = Trainer(model, data, cfg, args.out, tokenizer=tokenizer, progress=not args.no_progress,
                      shard_optimizer=args.shard_optimizer,
                      report=run_report(args),
                      compute_loss=pretraining_loss, metrics=pretraining_metrics,
                      checkpoint_config={"model_type": "bert", "model": config.to_dict(), "options": options,
                                         "data": {**data_record(data_path), "seed": seed,
                                                  "val_fraction": val_fraction},
                                         **config_record(args, stored)})
    if stored is not None:
        resume(trainer, args, cfg)
    clear_out(args.out, found)
    note(f"data: {data_path or CORPUS}, {len(docs)} documents ({len(data.splits['val'].documents)} held out), "
         f"WordPiece vocab {tokenizer.vocab_size}; model: BERT {config.num_hidden_layers} layers, "
         f"{config.num_attention_heads} heads, {config.hidden_size} channels, {model.num_parameters():,} "
         f"parameters; {cfg.max_iters} steps of {cfg.batch_size * cfg.grad_accum} pairs x "
         f"{config.max_position_embeddings} tokens")
    summary = trainer.fit()
    _finish(trainer, summary, model, tokenizer)
    return exit_code(summary)


def _finish(trainer, summary, model, tokenizer):
    """Print the last evaluation; export the best weights as a Hugging Face folder in --out/hf."""
    from ..distributed import world
    from ..models.bert import export_hf
    from ..training.checkpoint import load_checkpoint
    if not world().is_main:   # under MPI: rank 0 reports and exports
        return
    best = os.path.join(trainer.out_dir, "best")
    shown = ", ".join(f"{k.replace('_', ' ')} {v:.4f}" for k, v in trainer.last_metrics.items())
    print(f"step {summary['step']}: {shown}; {summary['seconds']:.0f} s, "
          f"{summary['tokens_per_sec']:,.0f} tokens/s; checkpoints in {trainer.out_dir}")
    if os.path.isdir(best):
        model.load_state_dict(load_checkpoint(best).weights)
        export_hf(model, tokenizer, os.path.join(trainer.out_dir, "hf"))
        print(f"best weights (val loss {summary['best_val_loss']:.4f}) exported for transformers and "
              f"`minitx embed`/`minitx finetune`: {os.path.join(trainer.out_dir, 'hf')}")


# ---- minitx finetune bert -----------------------------------------------------------
def add_finetune(commands):
    p = commands.add_parser("finetune", help="fine-tune a pretrained model on a task",
                            description="Fine-tune a pretrained model on a task.")
    models = p.add_subparsers(title="models", dest="model", metavar="MODEL", required=True)
    add_finetune_bert(models)
    from .gpt import add_finetune_gpt
    add_finetune_gpt(models)


def add_finetune_bert(models):
    p = models.add_parser("bert", help="fine-tune BERT: classify, tag or qa",
                          description="Fine-tune BERT from a checkpoint (minitx's, or a Hugging Face "
                                      "folder) on a JSONL, CSV, TSV or Parquet file; reports accuracy and "
                                      "macro F1 (classify), "
                                      "entity F1 as seqeval computes it and token F1 (tag), or SQuAD's "
                                      "exact match and F1 (qa) on a validation split. The formats are in "
                                      "docs/bert.md, the metrics in docs/metrics.md.")
    p.add_argument("--task", required=True, choices=sorted(_TASK_CLASSES), help="the head to train")
    p.add_argument("--multi-label", action="store_true",
                   help='classify: each line has "labels", a list of any number of labels; one sigmoid per '
                        "label, trained with binary cross-entropy")
    p.add_argument("--init", required=True, metavar="CKPT_OR_HF_FOLDER",
                   help="pretrained weights: a `minitx train bert` --out folder or checkpoint, or a "
                        "Hugging Face BERT folder (config.json, model.safetensors, vocab.txt)")
    p.add_argument("--val-data", metavar="FILE", help="validation examples, in any format --data reads (default: "
                   "--val-fraction of --data, held out)")
    p.add_argument("--max-length", type=positive_int, default=None,
                   help="tokens per example T (default: the model's limit, at most 128)")
    # the floor a tenth of the peak: a floor equal to it would leave no decay at all
    add_training_args(p, out=os.path.join("runs", "bert-finetune"), max_iters=300, batch_size=16, lr=1e-4,
                      eval_interval=50, min_lr=1e-5)
    data = next(a for a in p._actions if a.dest == "data")
    data.required, data.metavar, data.help = True, "FILE", "the training examples: JSONL (one JSON object a " \
        "line), CSV or TSV (a header row), or Parquet (pip install 'minitx[parquet]')"
    add_data_options(p, ("text", "text_pair", "label", "tokens", "tags", "question", "context", "answer",
                         "answer_start"))
    p.set_defaults(run=finetune_bert, weight_decay=0.01, takes_rows=("data", "val_data"))


def finetune_bert(args):
    check_file("val-data", args.val_data)
    if args.val_data == args.data == STDIN:
        raise CLIError("--data - and --val-data -: standard input can be read once; give one of them as a file")
    if args.multi_label and args.task != "classify":
        raise CLIError(f"--multi-label is for --task classify, not {args.task}")
    if args.max_length is not None and args.max_length < _MIN_LENGTH[args.task]:
        raise CLIError(f"--max-length {args.max_length}: a {args.task} example needs at least "
                       f"{_MIN_LENGTH[args.task]} tokens ({'[CLS] question [SEP] context [SEP]' if args.task == 'qa' else '[CLS] text [SEP]'})")
    model_type = "bert-" + args.task
    cfg, found, stored = prepare(args, (model_type,), f"finetune bert --task {args.task}")

    from .. import manual_seed
    from ..data.finetune import (
        FinetuneData,
        encode,
        label_vocab,
        read_examples,
        split_examples,
    )
    from ..models import bert
    from ..training import Trainer
    from ..training.checkpoint import model_config
    from ..training.metrics import task_metrics

    cls = getattr(bert, _TASK_CLASSES[args.task])
    if stored is not None:
        _keep_run(args, stored)
    examples = read_examples(args.data, args.task, args.multi_label, columns(args), args.data_format)
    if args.val_data is not None:
        train, val = examples, read_examples(args.val_data, args.task, args.multi_label, columns(args),
                                             args.data_format)
    else:
        train, val = split_examples(examples, args.val_fraction, seed=args.seed)
    if stored is not None:
        config = model_config(stored, bert.BertConfig,
                              **({"problem_type": _MULTI_LABEL} if args.multi_label else {}))
        model, tokenizer = cls(config), stored.tokenizer
        labels = [config.id2label[i] for i in range(config.num_labels)] if args.task != "qa" else []
    else:
        labels = label_vocab(train, args.task)
        _check_held_out_labels(args, labels, val)
        if args.task == "classify" and len(labels) < 2:
            raise CLIError(f"--data {_shown(args.data)}: classification needs at least two labels, found {labels}")
        overrides = {} if args.task == "qa" else {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
                                                  "problem_type": _MULTI_LABEL if args.multi_label else None}
        manual_seed(args.seed)
        with warnings.catch_warnings(record=True) as caught:  # a fresh head is expected: one line
            warnings.simplefilter("always")
            model, tokenizer = load_bert(args.init, cls, **overrides)
        for w in caught:
            note(f"note: {w.message}")
        config = model.config
    if args.max_length is None:
        args.max_length = min(128, config.max_position_embeddings)
    elif args.max_length > config.max_position_embeddings:
        raise CLIError(f"--max-length {args.max_length} exceeds the model's max_position_embeddings "
                       f"{config.max_position_embeddings}")
    train_f = encode(train, args.task, tokenizer, args.max_length, labels)
    val_f = encode(val, args.task, tokenizer, args.max_length, labels)
    if args.task == "qa":
        check_answers_fit(args, train_f, val_f)
    data = FinetuneData(train_f, val_f, seed=args.seed)
    trainer = Trainer(model, data, cfg, args.out, tokenizer=tokenizer, progress=not args.no_progress,
                      shard_optimizer=args.shard_optimizer,
                      report=run_report(args),
                      **({"metrics": multi_label_metrics} if args.multi_label
                         else {"metrics": task_metrics(args.task, labels, val_f, tokenizer)}),
                      checkpoint_config={"model_type": model_type, "task": args.task, "model": config.to_dict(),
                                         "options": {"max_length": args.max_length},
                                         "init": os.path.abspath(args.init),
                                         "data": {**data_record(args.data), "seed": args.seed,
                                                  "val_fraction": args.val_fraction,
                                                  "val_data": data_record(args.val_data)},
                                         **config_record(args, stored)})
    if stored is not None:
        resume(trainer, args, cfg)
    clear_out(args.out, found)
    note(f"task {args.task}: {len(train)} training and {len(val)} validation examples"
         + (f", {len(labels)} labels" if labels else "") + f"; from {args.init}")
    summary = trainer.fit()
    _finish(trainer, summary, model, tokenizer)
    return exit_code(summary)


_MULTI_LABEL = "multi_label_classification"  # transformers' problem_type: sigmoids, not a softmax


def _keep_run(args, stored):
    """On --resume, the options that make a fine-tuning run what it is take the checkpoint's
    values: typed with others, they are refused (same_run)."""
    from ..models.bert.config import checkpoint_problem_type
    from ..training.checkpoint import data_section, require
    data, last = data_section(stored), os.path.join(args.out, "last")
    val_data = require(data, "val_data", dict, f"{stored.config_file}: data")
    multi_label = checkpoint_problem_type(stored.config) == _MULTI_LABEL
    max_length = stored.config["options"].get("max_length")
    keep(args, {"init": stored.config.get("init"), "max_length": max_length, "multi_label": multi_label},
         "finetune bert", last)
    args.data = keep_data(args, stored, data, "finetune bert")
    args.val_data = resumed_data(args, val_data, "finetune bert", last, option="val-data")
    args.seed, args.val_fraction, args.max_length, args.multi_label = (data["seed"], data["val_fraction"],
                                                                      max_length, multi_label)


def multi_label_metrics(model, batches):
    """accuracy: the share of examples whose label set is exactly right (sigmoid > 0.5);
    f1: micro F1 over every (example, label)."""
    hits = total = tp = pred_pos = gold_pos = 0
    for batch in batches:
        pred = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]).logits.data > 0
        gold = batch["labels"] > 0.5
        hits += int((pred == gold).all(axis=1).sum())
        total += len(gold)
        tp, pred_pos, gold_pos = tp + int((pred & gold).sum()), pred_pos + int(pred.sum()), gold_pos + int(gold.sum())
    return {"accuracy": hits / max(total, 1), "f1": 2 * tp / max(pred_pos + gold_pos, 1)}


def _check_held_out_labels(args, labels, val):
    """A label seen only in the validation split cannot be learnt: name it."""
    if args.task == "qa":
        return
    seen = set(labels)
    unseen = sorted({tag for ex in val
                     for tag in (ex.get("labels", [ex.get("label")]) if args.task == "classify" else ex["tags"])}
                    - seen)
    if unseen:
        where = f"--val-data {_shown(args.val_data)}" if args.val_data is not None else \
            f"the validation examples held out of --data {_shown(args.data)} (--val-fraction {args.val_fraction})"
        raise CLIError(f"label(s) {', '.join(map(repr, unseen))} appear only in {where}, never in training; "
                       f"add training examples of them" + ("" if args.val_data is not None else " or pass --val-data"))


def _shown(data):
    """--data as an error names it: the file, or the Python rows given to main()."""
    from ..data.tables import is_file
    return data if is_file(data) else f"(the {type(data).__name__} given to main())"


# ---- minitx embed -------------------------------------------------------------------
def add_embed(commands):
    p = commands.add_parser("embed", help="sentence embeddings from a BERT",
                            description="Mean-pooled sentence embeddings (the mean of the last hidden "
                                        "states of each text's tokens, [CLS] and [SEP] included, as "
                                        "sentence-transformers' mean pooling). Printed one text a line, "
                                        "or saved with --out.")
    p.add_argument("texts", nargs="+", metavar="TEXT", help="the sentences to embed")
    p.add_argument("--model", required=True, metavar="FOLDER",
                   help="a Hugging Face BERT folder, or a minitx BERT checkpoint or --out folder")
    p.add_argument("--out", metavar="FILE.npy", help="save the (N, C) float32 array here instead of printing it")
    p.add_argument("--max-length", type=positive_int, default=None,
                   help="truncate each text to this many tokens (default: the model's limit)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="texts per forward pass")
    p.add_argument("--normalize", action="store_true", help="scale each embedding to unit length")
    p.set_defaults(run=embed)


def embed(args):
    import numpy as np

    from ..models.bert import BertModel

    if args.out is not None and not args.out.endswith(".npy"):
        raise CLIError(f"--out {args.out}: must end in .npy")
    vectors = embed_texts(*load_bert(args.model, BertModel), args.texts, args.max_length, args.batch_size)
    if args.normalize:
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    if args.out is not None:
        np.save(args.out, vectors.astype(np.float32))
        print(f"{vectors.shape[0]} embeddings of size {vectors.shape[1]} saved to {args.out}", file=sys.stderr)
    else:
        np.savetxt(sys.stdout, vectors, fmt="%.6g")
    return 0


def embed_texts(model, tokenizer, texts, max_length=None, batch_size=32):
    """(N, C) mean-pooled embeddings of `texts` as a NumPy array."""
    import numpy as np

    from ..autograd import no_grad
    from ..models.bert import mean_pool

    limit = model.config.max_position_embeddings
    max_length = min(max_length or limit, limit)
    model.eval()
    rows = []
    with no_grad():
        for i in range(0, len(texts), batch_size):
            enc = tokenizer.encode_batch(texts[i:i + batch_size], max_length=max_length)
            out = model(enc.input_ids, enc.attention_mask, enc.token_type_ids)
            rows.append(mean_pool(out.last_hidden_state, enc.attention_mask).data)
    return np.concatenate(rows)
