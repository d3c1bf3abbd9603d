"""Fine-tuning data for BERT: examples read, checked, and turned into model inputs.

Examples come from a JSONL, CSV, TSV or Parquet file or from Python rows
(minitx.data.tables); docs/bert.md has examples. The fields of each:
    classify  {"text": str, "label": str or int}, optional "text_pair": str
              (multi-label: {"text": str, "labels": [str or int, ...]}, any number of labels)
    tag       {"tokens": [str, ...], "tags": [str, ...]}, one tag per token
    qa        {"question": str, "context": str, "answer": str}, optional
              "answer_start": the answer's character offset in the context
              (default: its first occurrence on word boundaries)
An example that lacks a field or has one of the wrong type (or a line that is not
valid JSON) is a ValueError naming the file and line (or row) and the column.
"""
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .tables import is_file, read_rows, table_format

TASKS = ("classify", "tag", "qa")
_FIELDS = {
    "classify": {"text": str, "label": (str, int)},
    "tag": {"tokens": list, "tags": list},
    "qa": {"question": str, "context": str, "answer": str},
}


# the columns that hold each field, by default: the fields' own names
COLUMNS = ("text", "text_pair", "label", "labels", "tokens", "tags", "question", "context", "answer",
           "answer_start")


def read_examples(data, task, multi_label=False, columns=None, data_format=None):
    """The examples of `data`, checked for `task`: a list of dicts, each with a 'line' key
    naming where it came from. `data` is a file (JSONL, CSV, TSV or Parquet, by its suffix
    or `data_format`: minitx.data.tables), a list of dicts or a datasets.Dataset.
    `columns` maps a field to the column (or JSON key) that holds it, e.g. {"label": "sentiment"}.
    multi_label (classify only): each example has "labels", a list, instead of "label"."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    unknown = sorted(set(columns or {}) - set(COLUMNS))
    if unknown:
        raise ValueError(f"columns: {unknown[0]!r} is not a field (the fields: {', '.join(COLUMNS)})")
    column = {**{name: name for name in COLUMNS}, **(columns or {})}
    fields = {"text": str, "labels": list} if multi_label else _FIELDS[task]
    optional = {"classify": ("text_pair",), "tag": (), "qa": ("answer_start",)}[task]
    # a CSV, TSV or Parquet file has columns, and in CSV and TSV every cell is a string
    table = is_file(data) and table_format(data, data_format) != "jsonl"
    noun, unit = ("column", "row") if table else ("field", "line" if is_file(data) else "example")
    examples = []
    for where, row in read_rows(data, data_format, lists=[column[f] for f in fields if fields[f] is list]):
        # the example in the fields' own names, whatever the columns are called
        ex = {name: row[column[name]] for name in (*fields, *optional) if column[name] in row}
        # an optional field that is None (a datasets.Dataset's missing value, a Parquet null) or an
        # empty CSV cell is absent
        ex = {name: value for name, value in ex.items()
              if not (name in optional and (value is None or table and value == ""))}
        if task == "qa" and isinstance(ex.get("answer"), Mapping):
            ex.update(_first_answer(ex["answer"], f"{where}: {noun} {column['answer']!r}"))
        if table and isinstance(ex.get("answer_start"), str):
            ex["answer_start"] = _integer(ex["answer_start"], f"{where}: {noun} {column['answer_start']!r}")
        for name, kind in fields.items():
            if name not in ex:
                raise ValueError(f"{where}: missing {noun} {column[name]!r} (a {'multi-label ' * multi_label}"
                                 f"{task} {unit} needs {', '.join(column[f] for f in fields)}"
                                 + (f"; the columns are {', '.join(row)})" if table else ")"))
            if not isinstance(ex[name], kind) or isinstance(ex[name], bool):
                raise ValueError(f"{where}: {noun} {column[name]!r} is {type(ex[name]).__name__}, "
                                 f"expected {getattr(kind, '__name__', 'str or int')}")
        _check(task, ex, where)
        ex["line"] = where
        examples.append(ex)
    if not examples:
        raise ValueError(f"{data if is_file(data) else 'examples'}: no examples")
    return examples


def read_jsonl(path, task, multi_label=False):
    """read_examples of a JSONL file, whatever its suffix."""
    return read_examples(path, task, multi_label, data_format="jsonl")


def _first_answer(answers, what):
    """SQuAD's answers, {"text": [str, ...], "answer_start": [int, ...]} (a datasets.Dataset of
    squad): the first, as "answer" and "answer_start"."""
    texts, starts = answers.get("text"), answers.get("answer_start")
    texts = texts if isinstance(texts, list) else [texts]
    starts = starts if isinstance(starts, list) else [starts]
    if not texts or not isinstance(texts[0], str):
        raise ValueError(f"{what} holds no answer text: {answers!r:.80}")
    return {"answer": texts[0], **({"answer_start": starts[0]} if starts and starts[0] is not None else {})}


def _integer(value, what):
    """A CSV cell (a string) that must be an integer, e.g. answer_start."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ValueError(f"{what} is {value!r}, expected an integer")


def _check(task, ex, where):
    if task == "classify":
        if not isinstance(ex.get("text_pair", ""), str):
            raise ValueError(f"{where}: field 'text_pair' must be a string")
        if "labels" in ex and "label" not in ex:  # multi-label
            if not all(isinstance(x, (str, int)) and not isinstance(x, bool) for x in ex["labels"]):
                raise ValueError(f"{where}: field 'labels' must be a list of strings or integers")
            ex["labels"] = sorted({str(x) for x in ex["labels"]})
        else:
            ex["label"] = str(ex["label"])  # 1 and "1" name the same class
    if task == "tag":
        if len(ex["tokens"]) != len(ex["tags"]):
            raise ValueError(f"{where}: {len(ex['tokens'])} tokens but {len(ex['tags'])} tags")
        if not all(isinstance(t, str) for t in ex["tokens"] + ex["tags"]):
            raise ValueError(f"{where}: tokens and tags must be strings")
    if task == "qa":
        ctx, answer = ex["context"], ex["answer"]
        start = ex.get("answer_start", ctx.find(answer))
        if not isinstance(start, int) or isinstance(start, bool) or ctx[start:start + len(answer)] != answer \
                or not answer or start < 0:
            raise ValueError(f"{where}: the answer {answer!r} is not in the context"
                             + (f" at answer_start {start}" if "answer_start" in ex else ""))
        starts = [start] if "answer_start" in ex else [i for i in range(len(ctx)) if ctx.startswith(answer, i)]
        if not any(_on_word_boundaries(ctx, i, i + len(answer)) for i in starts):
            raise ValueError(f"{where}: the answer {answer!r} begins or ends inside a word of the context"
                             + (f" at answer_start {start}" if "answer_start" in ex else "")
                             + "; answers sit on word boundaries (docs/bert.md)")


@dataclass
class Features:
    """Model inputs (int64 arrays, (N, T) or (N,)) and what evaluation needs."""
    inputs: dict                       # input_ids, token_type_ids, attention_mask, labels / positions
    extra: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.inputs["input_ids"])


def label_vocab(examples, task):
    """The sorted label names of a task's examples (classes, or tags)."""
    if task == "classify":
        return sorted({name for ex in examples for name in ex.get("labels", [ex.get("label")])})
    if task == "tag":
        return sorted({t for ex in examples for t in ex["tags"]})
    return []


def _rows(rows, pad_id):
    """Pad lists of (ids, types, labels) to (N, T) arrays."""
    N, T = len(rows), max(len(r[0]) for r in rows)
    ids = np.full((N, T), pad_id, dtype=np.int64)
    types = np.zeros((N, T), dtype=np.int64)
    mask = np.zeros((N, T), dtype=np.int64)
    labels = np.full((N, T), -100, dtype=np.int64)
    for i, (a, t, y) in enumerate(rows):
        ids[i, :len(a)], types[i, :len(a)], mask[i, :len(a)] = a, t, 1
        if y is not None:
            labels[i, :len(a)] = y
    return ids, types, mask, labels


def encode(examples, task, tokenizer, max_length, labels=None):
    """Features of `examples` for `task`; `labels` is the label_vocab (classify, tag)."""
    index = {name: i for i, name in enumerate(labels or [])}

    def label_id(name, where):
        if name not in index:
            raise ValueError(f"{where}: label {name!r} is not one of the {len(index)} labels "
                             f"seen in training ({', '.join(map(str, labels))})")
        return index[name]

    if task == "classify":
        enc = tokenizer.encode_batch([ex["text"] for ex in examples],
                                     [ex.get("text_pair") for ex in examples] if any(
                                         "text_pair" in ex for ex in examples) else None,
                                     max_length=max_length)
        if all("labels" in ex for ex in examples):  # multi-label: (N, L) of 0 and 1
            y = np.zeros((len(examples), len(index)), dtype=np.float32)
            for i, ex in enumerate(examples):
                y[i, [label_id(name, ex["line"]) for name in ex["labels"]]] = 1
            return Features(dict(input_ids=enc.input_ids, token_type_ids=enc.token_type_ids,
                                 attention_mask=enc.attention_mask, labels=y), {"per_example": ("labels",)})
        y = np.array([label_id(ex["label"], ex["line"]) for ex in examples], dtype=np.int64)
        return Features(dict(input_ids=enc.input_ids, token_type_ids=enc.token_type_ids,
                             attention_mask=enc.attention_mask, labels=y))
    if task == "tag":
        rows = []
        for ex in examples:
            # each word's label goes on its first piece; continuations get -100
            ids, y = [tokenizer.cls_id], [-100]
            for word, tag in zip(ex["tokens"], ex["tags"]):
                pieces = tokenizer.encode(word, add_special_tokens=False).input_ids
                if pieces:
                    ids += pieces
                    y += [label_id(tag, ex["line"])] + [-100] * (len(pieces) - 1)
            ids, y = ids[:max_length - 1] + [tokenizer.sep_id], y[:max_length - 1] + [-100]
            rows.append((ids, [0] * len(ids), y))
        ids, types, mask, y = _rows(rows, tokenizer.pad_id)
        return Features(dict(input_ids=ids, token_type_ids=types, attention_mask=mask, labels=y))
    return _encode_qa(examples, tokenizer, max_length)


def _encode_qa(examples, tokenizer, max_length):
    """[CLS] question [SEP] context [SEP]; the answer's first and last token positions.

    The answer's tokens are found by tokenizing the context before it, so the
    answer must begin and end on word boundaries. An answer cut off by
    truncation gets position max_length, which the model's loss ignores.
    """
    tok = lambda text: tokenizer.encode(text, add_special_tokens=False).input_ids  # noqa: E731
    rows, starts, ends, spans = [], [], [], []
    for ex in examples:
        q, ctx, answer = tok(ex["question"])[:max_length // 2], ex["context"], tok(ex["answer"])
        context = tok(ctx)
        before = _answer_offset(ex, tok, context, answer)
        room = max_length - len(q) - 3
        context = context[:room]
        offset = len(q) + 2  # the context's first position
        ids = [tokenizer.cls_id, *q, tokenizer.sep_id, *context, tokenizer.sep_id]
        rows.append((ids, [0] * (len(q) + 2) + [1] * (len(context) + 1), None))
        first, last = offset + before, offset + before + len(answer) - 1
        if last >= offset + len(context):
            first = last = max_length
        starts.append(first)
        ends.append(last)
        spans.append((offset, offset + len(context)))  # where an answer may be predicted
    ids, types, mask, _ = _rows(rows, tokenizer.pad_id)
    return Features(dict(input_ids=ids, token_type_ids=types, attention_mask=mask,
                         start_positions=np.array(starts), end_positions=np.array(ends)),
                    dict(context_span=spans, answer=[ex["answer"] for ex in examples],
                         context=[ex["context"] for ex in examples]))


class FinetuneData:
    """Encoded train and validation Features for the Trainer. Training batches are
    random rows (a seeded generator that state_dict() saves); evaluation covers
    the whole validation split, in order. Each batch is cut to its longest row."""

    def __init__(self, train, val, seed=0):
        if len(train) == 0 or len(val) == 0:
            raise ValueError(f"FinetuneData: {len(train)} training and {len(val)} validation examples; "
                             "both splits need at least one")
        self.splits = {"train": train, "val": val}
        self.rng = np.random.default_rng(seed)

    @staticmethod
    def _trim(feats, rows):
        """The rows, cut to their longest; arrays of one row per example (multi-label
        targets, extra["per_example"]) are not cut."""
        inputs, keep = feats.inputs, feats.extra.get("per_example", ())
        T = max(1, int(inputs["attention_mask"][rows].sum(axis=1).max()))
        return {k: (v[rows, :T] if v.ndim == 2 and k not in keep else v[rows]) for k, v in inputs.items()}

    def get_batch(self, batch_size, split="train"):
        feats = self.splits[split]
        rows = self.rng.choice(len(feats), size=min(batch_size, len(feats)), replace=False)
        return self._trim(feats, rows)

    def eval_batches(self, batch_size, n_batches=None, split="val"):
        """All of the split in batches of batch_size (n_batches is ignored: every example counts)."""
        feats = self.splits[split]
        return [self._trim(feats, np.arange(i, min(i + batch_size, len(feats))))
                for i in range(0, len(feats), batch_size)]

    def state_dict(self):
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state):
        self.rng.bit_generator.state = state["rng"]


def split_examples(examples, val_fraction, seed=0):
    """(train, val): a seeded shuffle, the last `val_fraction` held out (at least one of each)."""
    if len(examples) < 2:
        raise ValueError(f"{len(examples)} example(s): too few to hold any out for validation")
    order = np.random.default_rng(seed).permutation(len(examples))
    n_val = min(len(examples) - 1, max(1, round(val_fraction * len(examples))))
    return [examples[i] for i in order[n_val:]], [examples[i] for i in order[:n_val]]


def _answer_offset(ex, tok, context, answer):
    """The answer's first token in the context's tokens: the one at answer_start, or
    else the first occurrence that begins and ends on word boundaries."""
    ctx, text = ex["context"], ex["answer"]
    if "answer_start" in ex:
        starts = [ex["answer_start"]]
    else:
        starts = [i for i in range(len(ctx)) if ctx.startswith(text, i)]
    for s in starts:
        n = len(tok(ctx[:s]))
        if answer and context[n:n + len(answer)] == answer and _on_word_boundaries(ctx, s, s + len(text)):
            return n
    raise ValueError(f"{ex['line']}: the answer {text!r} does not begin and end on word boundaries "
                     f"of the context" + (f" at answer_start {starts[0]}" if "answer_start" in ex else ""))


def _on_word_boundaries(text, start, end):
    """Whether text[start:end] neither begins nor ends inside a word ("cat" in "cats" does)."""
    def inside(i):  # between two letters or digits
        return 0 < i < len(text) and text[i - 1].isalnum() and text[i].isalnum()
    return not inside(start) and not inside(end)
