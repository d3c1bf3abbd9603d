"""What each BERT task reports at an evaluation (the Trainer's `metrics` hook), and
the pretraining loss.

The pretraining loss runs the MLM head only at the masked positions: it is the
same loss as BertForPreTraining's (a test checks), at about 15% of the cost of
the (B, T, V) logits, which at a small hidden size cost more than the encoder.
"""
import numpy as np

from ..nn import functional as F

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


def pretraining_loss(model, batch, whole=None):
    """BertForPreTraining's loss: mean MLM cross-entropy + NSP cross-entropy.

    whole: the global batch that `batch` is one rank's rows of (data-parallel
    training). The ranks' slices hold different numbers of masked tokens, so the
    MLM mean is rescaled by (masked here / masked in all) / (rows here / rows in
    all): the Trainer's row-weighted mean over the ranks is then the global
    batch's mean, as one process computes it."""
    logits, labels, nsp = _pretraining_outputs(model, batch)
    mlm = F.cross_entropy(logits, labels) if len(labels) else logits.sum() * 0.0
    if whole is not None:
        masked = int((np.asarray(whole["labels"]) != -100).sum())
        rows, all_rows = len(batch["labels"]), len(whole["labels"])
        mlm = mlm * (len(labels) * all_rows / (max(masked, 1) * rows))
    return mlm + F.cross_entropy(nsp, batch["next_sentence_label"])


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


def task_metrics(task, labels, val, tokenizer):
    """The Trainer's `metrics` hook for a fine-tuning task on the encoded validation split `val`."""
    if task == "classify":
        return classify_metrics
    if task == "tag":
        outside = labels.index("O") if "O" in labels else None
        return lambda model, batches: tag_metrics(model, batches, outside)
    return lambda model, batches: qa_metrics(model, batches, val.extra["context_span"], val.extra["answer"],
                                             tokenizer)
