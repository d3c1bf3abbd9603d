"""What every pipeline shares: loading a model with the head a task needs, the
one-or-many calling convention, batching, and notes on truncated inputs."""
import os
import inspect
import warnings
from typing import Any, Callable, NamedTuple, Optional

import numpy as np

from ..autograd import no_grad


def is_hf_folder(path):
    """A Hugging Face folder (config.json), not a minitx checkpoint (checkpoint.json)."""
    return (os.path.exists(os.path.join(path, "config.json"))
            and not os.path.exists(os.path.join(path, "checkpoint.json")))


def load_bert(path, cls, **config_overrides):
    """(model of class `cls`, tokenizer) from a Hugging Face BERT folder or a minitx
    checkpoint (a checkpoint folder, or a training --out folder: its best/)."""
    from ..models.bert import MODEL_TYPES, hf_tokenizer
    from ..training.checkpoint import CheckpointError, find_checkpoint, load_model
    if is_hf_folder(path):
        model, tokenizer = cls.from_pretrained(path, **config_overrides), hf_tokenizer(path)
        if tokenizer.vocab_size > model.config.vocab_size:
            vocab = "tokenizer.json" if os.path.exists(os.path.join(path, "tokenizer.json")) else "vocab.txt"
            raise ValueError(f"{os.path.join(path, vocab)}: {tokenizer.vocab_size} tokens, more than the model's "
                             f"vocab_size {model.config.vocab_size} ({os.path.join(path, 'config.json')})")
        return model, tokenizer
    try:
        folder = find_checkpoint(path)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: neither a Hugging Face BERT folder (config.json) nor a "
                              f"minitx checkpoint ({e})") from None
    return load_model(folder, model_types=tuple(MODEL_TYPES), cls=cls, **config_overrides)


def load_for_task(path, task, cls, model_types):
    """(model, tokenizer) for `task`: a model with the head the task needs, or a
    ValueError saying which head it lacks. model_types: the minitx checkpoint kinds
    that carry that head."""
    from ..models.bert.config import checkpoint_problem_type
    from ..training.checkpoint import find_checkpoint, load_checkpoint
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such model folder")
    overrides = {}
    if not is_hf_folder(path):
        config = load_checkpoint(find_checkpoint(path)).config
        kind = config.get("model_type")
        problem_type = checkpoint_problem_type(config)   # older checkpoints keep it outside "model"
        if problem_type is not None:
            overrides["problem_type"] = problem_type
        if kind not in model_types:
            raise ValueError(f"{path}: a {kind} checkpoint has no head for {task} "
                             f"(needs one of: {', '.join(model_types)})")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, tokenizer = load_bert(path, cls, **overrides)
    fresh = [str(w.message) for w in caught if "newly initialised" in str(w.message)]
    if fresh:
        raise ValueError(f"{path}: has no {cls.__name__} head for {task} (its weights lack "
                         f"{fresh[0].split(': ')[-1]})")
    model.eval()
    return model, tokenizer


def clean_up_spaces(text):
    """The cleanup of the WordPiece decoder that transformers' BERT tokenizer decodes
    with (tokenizers' `cleanup`): no space before . ? ! , and English contractions.
    It runs on each token with its leading space, not on the whole text, so a lone
    apostrophe keeps its spaces ("zurich ' s"): a rule spanning two tokens never fires."""
    for before, after in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" n't", "n't"),
                          (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(before, after)
    return text


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


class Option(NamedTuple):
    """A call option of a pipeline as `minitx predict` offers it: `flag` (--top-k), what
    its value is (kind, choices), its default for this task, and `to_call`, what the
    value becomes among the call's keywords (by default {the flag's name: value};
    {} leaves the call's own default)."""
    flag: str
    help: str
    default: Any = None
    kind: Optional[str] = None      # a value type of minitx/cli/options.py, "flag" (on/off), None: a string
    choices: Optional[tuple] = None
    to_call: Optional[Callable] = None

    @property
    def dest(self):
        return self.flag.lstrip("-").replace("-", "_")

    def call_options(self, value):
        return self.to_call(value) if self.to_call is not None else {self.dest: value}


class Pipeline:
    """A callable over one input or a list of them (a list in, a list out).

    Subclasses set `task` and implement `_run(inputs, **options) -> results`, one
    result per input, for a batch of at most `batch_size` inputs. After each call
    `notes` holds one dict per input: {"truncated": True} where a text was cut to
    the model's length, {"windows": n} where a QA context was read in n windows.
    `inputs` names the fields of one input as `minitx predict` reads them, and
    `cli_options` the call options it offers (Option), so the command line is
    made from the pipelines and cannot drift from them.
    """

    task = None
    inputs = ("text",)
    cli_options = ()

    def __init__(self, model, tokenizer, batch_size=8, **defaults):
        if batch_size < 1:
            raise ValueError(f"{self.task}: batch_size must be >= 1, got {batch_size}")
        self.model, self.tokenizer, self.batch_size, self.defaults = model, tokenizer, batch_size, defaults
        self.notes = []

    def __call__(self, inputs, **options):
        one = not isinstance(inputs, (list, tuple))
        items = [inputs] if one else list(inputs)
        for i, item in enumerate(items):
            self._check(i, item)
        options = {**self.defaults, **options}
        known = list(inspect.signature(self._run).parameters)[2:]   # after the inputs and their notes
        for name in options:
            if name not in known:
                raise TypeError(f"{self.task}: unknown option {name!r} (its options: {', '.join(known) or 'none'})")
        self.notes = [{} for _ in items]
        results = []
        with no_grad():
            for start in range(0, len(items), self.batch_size):
                batch = items[start:start + self.batch_size]
                results.extend(self._run(batch, self.notes[start:start + len(batch)], **options))
        for i, note in enumerate(self.notes):
            if note.get("truncated"):
                warnings.warn(f"{self.task}: input {i} is longer than the model's "
                              f"{self.max_length} tokens and was truncated", stacklevel=2)
        return self._shape(results[0], options) if one else results

    def _shape(self, result, options):
        """The result of one input given alone (some tasks wrap it in a list)."""
        return result

    def _check(self, i, item):
        if not isinstance(item, str):
            raise TypeError(f"{self.task}: input {i} is a {type(item).__name__}, not a str")
        if not item.strip():
            raise ValueError(f"{self.task}: input {i} is empty")

    @property
    def max_length(self):
        return self.model.config.max_position_embeddings

    def _encode(self, texts, notes, **kw):
        """encode_batch, truncated to the model's length, noting which texts were cut."""
        T = self.max_length
        enc = self.tokenizer.encode_batch(texts, max_length=T, **kw)
        pairs = kw.get("text_pairs") or [None] * len(texts)
        for text, pair, note in zip(texts, pairs, notes):
            if len(self.tokenizer.encode(text, pair).input_ids) > T:
                note["truncated"] = True
        return enc
