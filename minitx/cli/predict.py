"""`minitx predict TASK --model FOLDER [TEXT ...]`: a pipeline from the command line.

Texts come from the command line or from --file (JSONL: {"text": ...} a line;
{"question": ..., "context": ...} for question-answering). Each input becomes
one JSON line, on stdout or in --out: the input's fields, "result" (what the
Python pipeline returns for it) and, where it happened, "truncated": true or
"windows": n (a long QA context read in n windows).
"""
import json
import os
import sys

from .app import CLIError, note
from .options import non_negative_int, positive_float, positive_int, probability

_TASKS = ("fill-mask", "text-classification", "token-classification", "question-answering",
          "text-generation", "feature-extraction")
_ALIASES = ("sentiment-analysis", "ner", "embeddings")


class _TextsAnywhere:
    """argparse fills TEXT ... at the first run of positionals (`predict ner "a b"`) and
    leaves texts after an option (`predict ner --model M "a b"`) unrecognized: those
    join the texts here."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        texts = [a for a in extras if not a.startswith("-") or a == "-"]
        namespace.texts = list(namespace.texts or []) + texts
        return namespace, [a for a in extras if a not in texts]


def add_predict(commands):
    p = commands.add_parser("predict", help="use a model: fill-mask, classify, tag, qa, generate, embed",
                            description="Run a trained model on text, as transformers' pipelines do, and "
                                        "print one JSON line per input. The model is a minitx checkpoint "
                                        "(or training --out folder) or a Hugging Face folder with the head "
                                        "the task needs. See docs/pipelines.md.")
    p.add_argument("task", metavar="TASK", choices=_TASKS + _ALIASES, help=", ".join(_TASKS))
    p.add_argument("texts", nargs="*", metavar="TEXT",
                   help="inputs (questions, for question-answering with --context)")
    p.add_argument("--model", required=True, metavar="FOLDER", help="a checkpoint or Hugging Face folder")
    p.add_argument("--file", metavar="IN.jsonl", help='inputs, one JSON object a line: {"text": ...}, or '
                   '{"question": ..., "context": ...}')
    p.add_argument("--out", metavar="OUT.jsonl", help="write the results here (default: stdout)")
    p.add_argument("--context", help="question-answering: the context of the questions given as TEXT")
    p.add_argument("--batch-size", type=positive_int, default=8, help="inputs per forward pass")
    p.add_argument("--top-k", type=positive_int, default=None,
                   help="fill-mask (default 5), text-classification (default: the best label), "
                        "question-answering (default 1): how many results per input")
    p.add_argument("--all-labels", action="store_true", help="text-classification: score every label")
    p.add_argument("--aggregation-strategy", default="simple", choices=("none", "simple", "first", "average", "max"),
                   help="token-classification: how tokens become entities")
    p.add_argument("--doc-stride", type=positive_int, default=None,
                   help="question-answering: tokens each window shares with the previous one")
    p.add_argument("--max-answer-len", type=positive_int, default=15, help="question-answering: answer tokens")
    p.add_argument("--handle-impossible-answer", action="store_true",
                   help='question-answering: allow the answer "" (no answer in the context)')
    p.add_argument("--pooling", default="mean", choices=("mean", "cls", "none"),
                   help="feature-extraction: one vector per text, or per token (none)")
    p.add_argument("--max-new-tokens", type=positive_int, default=50, help="text-generation: tokens to add")
    p.add_argument("--temperature", type=positive_float, default=0.8, help="text-generation")
    p.add_argument("--sample-top-k", type=positive_int, default=None, help="text-generation: top-k sampling")
    p.add_argument("--top-p", type=probability, default=None, help="text-generation: nucleus sampling")
    p.add_argument("--seed", type=non_negative_int, default=None, help="text-generation: sampler seed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar for --file")
    p.set_defaults(run=predict)
    p.__class__ = type("PredictParser", (_TextsAnywhere, type(p)), {})


def _options(args, task):
    if task == "fill-mask":
        return {"top_k": args.top_k or 5}
    if task == "text-classification":
        return {"top_k": None} if args.all_labels else {"top_k": args.top_k} if args.top_k else {}
    if task == "token-classification":
        return {"aggregation_strategy": args.aggregation_strategy}
    if task == "question-answering":
        return {"top_k": args.top_k or 1, "doc_stride": args.doc_stride, "max_answer_len": args.max_answer_len,
                "handle_impossible_answer": args.handle_impossible_answer}
    if task == "text-generation":
        return {"max_new_tokens": args.max_new_tokens, "temperature": args.temperature,
                "top_k": args.sample_top_k, "top_p": args.top_p, "seed": args.seed}
    return {"pooling": None if args.pooling == "none" else args.pooling}


def _read_inputs(args, task):
    """[{"text": ...}] or [{"question": ..., "context": ...}] from TEXTs or --file."""
    qa = task == "question-answering"
    if args.file is not None and args.texts:
        raise CLIError("give TEXT arguments or --file, not both")
    if args.file is None:
        if not args.texts:
            raise CLIError("no input: give TEXT arguments or --file IN.jsonl")
        if qa:
            if args.context is None:
                raise CLIError("question-answering: --context is needed with questions given as TEXT")
            return [{"question": q, "context": args.context} for q in args.texts]
        return [{"text": t} for t in args.texts]
    if not os.path.isfile(args.file):
        raise CLIError(f"--file {args.file}: no such file")
    keys = ("question", "context") if qa else ("text",)
    rows = []
    with open(args.file, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise CLIError(f"{args.file}:{n}: not valid JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise CLIError(f"{args.file}:{n}: expected a JSON object, got {type(row).__name__}")
            for key in keys:
                if not isinstance(row.get(key), str):
                    raise CLIError(f"{args.file}:{n}: no {key!r} string" + (
                        "" if qa or key != "text" else ' (one {"text": ...} a line)'))
            if qa and args.context is not None:
                row = {**row, "context": row.get("context", args.context)}
            rows.append(row)
    if not rows:
        raise CLIError(f"--file {args.file}: holds no inputs")
    return rows


def predict(args):
    from ..pipelines import ALIASES, pipeline
    task = ALIASES.get(args.task, args.task)
    if args.out is not None and os.path.isdir(args.out):
        raise CLIError(f"--out {args.out}: is a folder; expected a file")
    rows = _read_inputs(args, task)
    pipe = pipeline(task, model=args.model, batch_size=args.batch_size)
    options = _options(args, task)
    out = open(args.out, "w", encoding="utf-8") if args.out is not None else sys.stdout  # noqa: SIM115
    bar = None
    if args.file is not None and not args.no_progress:
        from tqdm import tqdm
        bar = tqdm(total=len(rows), unit="input", file=sys.stderr, dynamic_ncols=True, mininterval=0.5)
    try:
        for start in range(0, len(rows), args.batch_size):
            chunk = rows[start:start + args.batch_size]
            inputs = chunk if task == "question-answering" else [r["text"] for r in chunk]
            try:
                results = pipe(inputs, **options)
            except ValueError as e:  # name the input by its place in the whole list
                raise CLIError(_renumber(str(e), start)) from None
            for row, result, extra in zip(chunk, results, pipe.notes):
                out.write(json.dumps({**row, "result": result, **extra}, ensure_ascii=False) + "\n")
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
        if out is not sys.stdout:
            out.close()
    if args.out is not None:
        note(f"{len(rows)} results written to {args.out}")
    return 0


def _renumber(message, start):
    """'... input 3 ...' of a chunk -> the input's number in the whole run (from 1, as lines are)."""
    import re
    return re.sub(r"\binput (\d+)", lambda m: f"input {int(m.group(1)) + start + 1}", message, count=1)
