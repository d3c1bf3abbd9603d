"""Training BERT with the Trainer: the pretraining loss, the metrics each task
reports, and loading and exporting BERT weights with their tokenizer.

The pretraining loss runs the MLM head only at the masked positions: it is the
same loss as BertForPreTraining's (a test checks), at about 15% of the cost of
the (B, T, V) logits, which at a small hidden size cost more than the encoder.
"""
import json
import os

import numpy as np

from .autograd import no_grad
from .checkpoint import CheckpointError, find_checkpoint, load_checkpoint
from .models.bert import BertConfig
from .nn import functional as F
from .tokenizers import WordPieceTokenizer
from .train import Trainer

# task -> model_type in its checkpoints' config.json (models.bert.MODEL_TYPES has their classes)
TASK_MODEL_TYPES = {"pretrain": "bert", "classify": "bert-classify", "tag": "bert-tag", "qa": "bert-qa"}


# ---- pretraining ------------------------------------------------------------------

def _pretraining_outputs(model, batch):
    """(MLM logits (N, V) at the N masked positions, their labels (N,), NSP logits (B, 2))."""
    out = model.bert(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    h = out.last_hidden_state  # (B, T, C)
    B, T, C = h.shape
    labels = np.asarray(batch["labels"]).reshape(-1)  # (B * T,)
    at = np.flatnonzero(labels != -100)  # (N,)
    logits = model.cls.predictions(h.reshape(B * T, C)[at])  # (N, V)
    return logits, labels[at], model.cls.seq_relationship(out.pooler_output)


def pretraining_loss(model, batch):
    """BertForPreTraining's loss: mean MLM cross-entropy + NSP cross-entropy."""
    logits, labels, nsp = _pretraining_outputs(model, batch)
    return F.cross_entropy(logits, labels) + F.cross_entropy(nsp, batch["next_sentence_label"])


def pretraining_metrics(model, batches):
    """Held-out masked-token accuracy and next-sentence accuracy."""
    hits = total = nsp_hits = nsp_total = 0
    for batch in batches:
        logits, labels, nsp = _pretraining_outputs(model, batch)
        hits += int((logits.data.argmax(-1) == labels).sum())
        total += len(labels)
        nsp_hits += int((nsp.data.argmax(-1) == batch["next_sentence_label"]).sum())
        nsp_total += len(batch["next_sentence_label"])
    return {"mlm_accuracy": hits / max(total, 1), "nsp_accuracy": nsp_hits / max(nsp_total, 1)}


# ---- fine-tuning metrics ------------------------------------------------------------

def classify_metrics(model, batches):
    hits = total = 0
    for batch in batches:
        logits = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]).logits
        hits += int((logits.data.argmax(-1) == batch["labels"]).sum())
        total += len(batch["labels"])
    return {"accuracy": hits / max(total, 1)}


def tag_metrics(model, batches, outside=None):
    """Token F1: precision and recall of the tags other than `outside` (e.g. 'O'),
    over each word's first piece; with no outside tag it equals accuracy."""
    tp = pred_pos = gold_pos = hits = total = 0
    for batch in batches:
        logits = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]).logits
        at = batch["labels"] != -100  # (B, T)
        pred, gold = logits.data.argmax(-1)[at], batch["labels"][at]
        hits += int((pred == gold).sum())
        total += len(gold)
        tp += int(((pred == gold) & (gold != outside)).sum())
        pred_pos += int((pred != outside).sum())
        gold_pos += int((gold != outside).sum())
    precision, recall = tp / max(pred_pos, 1), tp / max(gold_pos, 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"token_f1": f1, "accuracy": hits / max(total, 1)}


def best_span(start, end, lo, hi, max_answer=30):
    """(s, e) maximizing start[s] + end[e] with lo <= s <= e < hi and e - s < max_answer."""
    s = np.arange(lo, hi)
    score = start[lo:hi, None] + end[None, lo:hi]  # (n, n)
    gap = s[None, :] - s[:, None]
    score = np.where((gap >= 0) & (gap < max_answer), score, -np.inf)
    i, j = np.unravel_index(np.argmax(score), score.shape)
    return lo + i, lo + j


def _f1(pred, gold):
    p, g = pred.split(), gold.split()
    common = sum(min(p.count(w), g.count(w)) for w in set(p))
    if not p or not g or not common:
        return float(p == g)
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def qa_metrics(model, batches, spans, answers, tokenizer):
    """SQuAD's exact match and word F1 of the best-scoring span, both texts normalized
    by the tokenizer (lowercased, punctuation split) so they compare word by word."""
    em = f1 = 0.0
    k = 0
    for batch in batches:
        out = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        for row in range(len(batch["input_ids"])):
            s, e = best_span(out.start_logits.data[row], out.end_logits.data[row], *spans[k])
            pred = tokenizer.decode(batch["input_ids"][row, s:e + 1].tolist())
            gold = tokenizer.decode(tokenizer.encode(answers[k], add_special_tokens=False).input_ids)
            em += pred == gold
            f1 += _f1(pred, gold)
            k += 1
    return {"exact_match": em / max(k, 1), "f1": f1 / max(k, 1)}


class BertTrainer(Trainer):
    """The Trainer, with `metrics(model, val_batches)` reported at each evaluation
    beside the validation loss (printed, and written to metrics.jsonl)."""

    def __init__(self, *args, metrics=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.metrics, self.last_metrics = metrics, {}

    @no_grad()
    def evaluate(self):
        self.model.eval()
        try:
            batches = self.data.eval_batches(self.config.batch_size, self.config.eval_iters)
            result = {"val_loss": float(np.mean([self.compute_loss(self.model, b).item() for b in batches]))}
            if self.metrics is not None:
                result.update(self.metrics(self.model, batches))
        finally:
            self.model.train()
        return result

    def _evaluate(self, log, train_loss=None):
        result = self.last_metrics = self.evaluate()
        log.write(event="eval", step=self.step, train_loss=train_loss, **result)
        train = f"train loss {train_loss:.4f}, " if train_loss is not None else ""
        shown = ", ".join(f"{k.replace('_', ' ')} {v:.4f}" for k, v in result.items())
        log.bar.write(f"step {self.step}: {train}{shown}")
        return result["val_loss"]


# ---- weights and tokenizers in and out ----------------------------------------------

def hf_tokenizer(folder):
    """The WordPieceTokenizer of a Hugging Face BERT folder (tokenizer.json, else vocab.txt)."""
    if os.path.exists(os.path.join(folder, "tokenizer.json")):
        return WordPieceTokenizer.load(os.path.join(folder, "tokenizer.json"))
    vocab = os.path.join(folder, "vocab.txt")
    if not os.path.exists(vocab):
        raise FileNotFoundError(f"{folder}: no tokenizer.json or vocab.txt to read the text with")
    lowercase = True
    config = os.path.join(folder, "tokenizer_config.json")
    if os.path.exists(config):
        with open(config, encoding="utf-8") as f:
            lowercase = json.load(f).get("do_lower_case", True)
    return WordPieceTokenizer.from_vocab_file(vocab, lowercase=lowercase)


def load_bert(path, cls, **config_overrides):
    """(model of class `cls`, tokenizer) from a Hugging Face BERT folder or a minitx
    checkpoint (a checkpoint folder, or a training --out folder: its best/)."""
    is_hf = os.path.exists(os.path.join(path, "config.json")) and not os.path.exists(
        os.path.join(path, "checkpoint.json"))
    if is_hf:
        return cls.from_pretrained(path, **config_overrides), hf_tokenizer(path)
    try:
        ckpt = load_checkpoint(find_checkpoint(path))
    except CheckpointError as e:
        raise CheckpointError(f"{path}: neither a Hugging Face BERT folder (config.json) nor a "
                              f"minitx checkpoint ({e})") from None
    kind = ckpt.config.get("model_type")
    if kind not in TASK_MODEL_TYPES.values():
        raise CheckpointError(f"{ckpt.path}: a {kind} checkpoint, not a BERT one")
    if ckpt.tokenizer is None:
        raise CheckpointError(f"{ckpt.path}: holds no tokenizer")
    config = BertConfig(**{**ckpt.config["model"], **config_overrides})
    if "num_labels" in config_overrides and "id2label" not in config_overrides:
        config.id2label = None
    dtype = next(v.dtype for v in ckpt.weights.values() if np.issubdtype(v.dtype, np.floating))
    return cls.from_state_dict(config, ckpt.weights, where=ckpt.path, dtype=dtype), ckpt.tokenizer


def export_hf(model, tokenizer, path):
    """A Hugging Face folder transformers loads: config.json, model.safetensors,
    vocab.txt, tokenizer.json and tokenizer_config.json."""
    model.save_pretrained(path)
    tokenizer.save_vocab_file(os.path.join(path, "vocab.txt"))
    tokenizer.save(os.path.join(path, "tokenizer.json"))
    with open(os.path.join(path, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer_class": "BertTokenizer", "do_lower_case": tokenizer.lowercase,
                   "model_max_length": model.config.max_position_embeddings}, f, indent=2)
