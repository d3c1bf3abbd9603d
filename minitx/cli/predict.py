"""`minitx predict TASK --model FOLDER [TEXT ...]`: a pipeline from the command line.

Texts come from the command line or from --file (JSONL: {"text": ...} a line;
{"question": ..., "context": ...} for question-answering; or CSV, TSV, Parquet
with those columns, or others named by --text-column and the like). Each input becomes
one JSON line, on stdout or in --out: the input's fields, "result" (what the
Python pipeline returns for it) and, where it happened, "truncated": true or
"windows": n (a long QA context read in n windows).
"""
import json
import os
import sys
import warnings

from . import options as value_types
from .app import CLIError, note
from .data_options import add_data_options
from .options import positive_int
from .training import check_file


def _task(text):
    """The TASK argument: a pipeline's task or one of transformers' other names for it."""
    import argparse

    from ..pipelines import ALIASES, TASKS
    if text not in TASKS and text not in ALIASES:
        raise argparse.ArgumentTypeError(f"unknown task {text!r} (known: {', '.join([*TASKS, *ALIASES])})")
    return ALIASES.get(text, text)


class _TextsAnywhere:
    """argparse fills TEXT ... at the first run of positionals (`predict ner "a b"`) and
    leaves texts after an option (`predict ner --model M "a b"`) unrecognized: those
    join the texts here."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        texts = [a for a in extras if not a.startswith("-") or a == "-"]
        namespace.texts = list(namespace.texts or []) + texts
        return namespace, [a for a in extras if a not in texts]


def _task_options():
    """{flag: [(task, Option)]}: every pipeline's command-line options, by flag."""
    from ..pipelines import TASKS
    by_flag = {}
    for task, cls in TASKS.items():
        for option in cls.cli_options:
            by_flag.setdefault(option.flag, []).append((task, option))
    return by_flag


def add_predict(commands):
    from ..pipelines import ALIASES, TASKS
    p = commands.add_parser("predict", help="use a model: " + ", ".join(TASKS),
                            description="Run a trained model on text, as transformers' pipelines do, and "
                                        "print one JSON line per input. The model is a minitx checkpoint "
                                        "(or training --out folder) or a Hugging Face folder with the head "
                                        "the task needs. See docs/pipelines.md.")
    p.add_argument("task", metavar="TASK", type=_task,
                   help=", ".join(TASKS) + " (or " + ", ".join(ALIASES) + ")")
    p.add_argument("texts", nargs="*", metavar="TEXT",
                   help="inputs (questions, for question-answering with --context)")
    p.add_argument("--model", required=True, metavar="FOLDER", help="a checkpoint or Hugging Face folder")
    p.add_argument("--file", metavar="IN", help='inputs: JSONL, one JSON object a line ({"text": ...}, or '
                   '{"question": ..., "context": ...}), CSV or TSV with a header row, or Parquet; - reads standard input')
    p.add_argument("--out", metavar="OUT.jsonl", help="write the results here (default: stdout)")
    p.add_argument("--context", help="question-answering: the context of the questions given as TEXT")
    p.add_argument("--batch-size", type=positive_int, default=8, help="inputs per forward pass")
    # The pipelines' own options: a flag several tasks share (--top-k) is one option whose
    # help names each task and its default; its value is each task's default when not typed.
    for flag, uses in _task_options().items():
        option = uses[0][1]
        helps = "; ".join(f"{task}: {o.help}" + (f" (default {o.default})" if o.default not in (None, False) else "")
                          for task, o in uses)
        if option.kind == "flag":
            p.add_argument(flag, action="store_true", help=helps)
        else:
            p.add_argument(flag, default=None, help=helps, choices=option.choices,
                           type=getattr(value_types, option.kind) if option.kind else str)
    add_data_options(p, ("text", "question", "context"))
    p.add_argument("--no-progress", action="store_true", help="no progress bar for --file")
    p.set_defaults(run=predict)
    p.__class__ = type("PredictParser", (_TextsAnywhere, type(p)), {})


def _options(args, task):
    """The pipeline call's keywords from the options; an option of another task is one line."""
    from ..pipelines import TASKS
    own = {o.flag: o for o in TASKS[task].cli_options}
    for flag, uses in _task_options().items():
        dest = uses[0][1].dest
        if flag not in own and getattr(args, dest) not in (None, False):
            known = ", ".join(own) or "none"
            raise CLIError(f"{flag}: not an option of {task} (its options: {known})")
    call = {}
    for option in own.values():
        value = getattr(args, option.dest)
        call.update(option.call_options(option.default if value is None else value))
    return call


def _read_inputs(args, task):
    """[{"text": ...}] or [{"question": ..., "context": ...}] (the pipeline's `inputs`)
    from TEXTs or --file."""
    from ..pipelines import TASKS
    keys = TASKS[task].inputs
    qa = keys == ("question", "context")
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
    check_file("file", args.file)
    from ..data.tables import read_rows, table_format
    column = {key: getattr(args, f"{key}_column") or key for key in keys}
    kind = table_format(args.file, args.data_format)
    rows = []
    for where, row in read_rows(args.file, kind):
        for key in keys:
            if not isinstance(row.get(column[key]), str):
                noun = "field" if kind == "jsonl" else "column"
                raise CLIError(f"{where}: no {column[key]!r} {'string' if noun == 'field' else noun}" + (
                    "" if qa or key != "text" or kind != "jsonl" else ' (one {"text": ...} a line)'))
        if column != {key: key for key in keys}:  # the pipeline reads the inputs by its own names
            row = {**row, **{key: row[column[key]] for key in keys}}
        if qa and args.context is not None:
            row = {**row, "context": row.get("context", args.context)}
        rows.append(row)
    if not rows:
        raise CLIError(f"--file {args.file}: holds no inputs")
    return rows


def predict(args):
    from ..pipelines import pipeline
    task = args.task
    if args.out is not None and os.path.isdir(args.out):
        raise CLIError(f"--out {args.out}: is a folder; expected a file")
    options = _options(args, task)
    rows = _read_inputs(args, task)
    pipe = pipeline(task, model=args.model, batch_size=args.batch_size)
    out = open(args.out, "w", encoding="utf-8") if args.out is not None else sys.stdout  # noqa: SIM115
    bar = None
    if args.file is not None and not args.no_progress:
        from tqdm import tqdm
        bar = tqdm(total=len(rows), unit="input", file=sys.stderr, dynamic_ncols=True, mininterval=0.5)
    warned = set()
    try:
        for start in range(0, len(rows), args.batch_size):
            chunk = rows[start:start + args.batch_size]
            inputs = chunk if task == "question-answering" else [r["text"] for r in chunk]
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    results = pipe(inputs, **options)
            except ValueError as e:  # name the input by its place in the whole list
                raise CLIError(_renumber(str(e), start)) from None
            for w in caught:   # one line each, numbered as errors are, without Python's source line
                line = f"minitx: warning: {_renumber(str(w.message), start)}"
                if line not in warned:   # an option's warning (a fill-mask target) comes once, not per batch
                    warned.add(line)
                    note(line)
            for row, result, extra in zip(chunk, results, pipe.notes):
                out.write(json.dumps({**row, "result": result, **extra}, ensure_ascii=False, default=str) + "\n")
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
