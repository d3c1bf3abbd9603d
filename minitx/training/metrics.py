"""What each task reports at an evaluation (the Trainer's `metrics` hook), scored
by minitx.metrics (the references' definitions), and BERT's pretraining loss.

The pretraining loss runs the MLM head only at the masked positions: it is the
same loss as BertForPreTraining's (a test checks), at about 15% of the cost of
the (B, T, V) logits, which at a small hidden size cost more than the encoder.
"""
import numpy as np

from ..metrics import accuracy, entity_f1, entity_precision, entity_recall, macro_f1, perplexity, squad
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
    """Held-out masked-token accuracy and perplexity (exp of the mean cross-entropy over
    every masked token), and next-sentence accuracy."""
    hits = total = nsp_hits = nsp_total = 0
    nll = 0.0   # summed over the masked tokens
    for batch in batches:
        logits, labels, nsp = _pretraining_outputs(model, batch)
        hits += int((logits.data.argmax(-1) == labels).sum())
        total += len(labels)
        if len(labels):
            nll += F.cross_entropy(logits, labels).item() * len(labels)
        nsp_hits += int((nsp.data.argmax(-1) == batch["next_sentence_label"]).sum())
        nsp_total += len(batch["next_sentence_label"])
    return {"mlm_accuracy": hits / max(total, 1), "nsp_accuracy": nsp_hits / max(nsp_total, 1),
            **({"mlm_perplexity": perplexity(nll / total)} if total else {})}


def lm_metrics(model, batches, val_loss):
    """A language model's validation perplexity: exp of the validation loss, its mean
    token cross-entropy (every validation batch holds the same number of tokens)."""
    return {"val_perplexity": perplexity(val_loss)}


# ---- fine-tuning metrics ------------------------------------------------------------

def classify_metrics(model, batches):
    """Accuracy and macro F1 (scikit-learn's: every class seen in the truth or the predictions)."""
    gold, pred = [], []
    for batch in batches:
        logits = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]).logits
        pred.append(logits.data.argmax(-1))
        gold.append(batch["labels"])
    gold, pred = np.concatenate(gold), np.concatenate(pred)
    return {"accuracy": accuracy(gold, pred), "macro_f1": macro_f1(gold, pred)}


def is_chunk_scheme(names):
    """Whether tag names are entity chunks (IOB1, IOB2, IOE or IOBES: "O", "B-PER", ...)
    that entity-level scores apply to, rather than one label per word (part of speech)."""
    return bool(names) and all(n == "O" or n[:2] in ("B-", "I-", "E-", "S-") for n in names)


def tag_metrics(model, batches, outside=None, names=None):
    """Over each word's first piece: accuracy, and token F1, the precision and recall
    of the tags other than `outside` (e.g. 'O'; with none it equals accuracy). With
    `names` (tag id -> name) in a chunk scheme, also the entity-level precision, recall
    and F1 that NER results quote (seqeval's, each sentence's tags in order)."""
    tp = pred_pos = gold_pos = hits = total = 0
    gold_tags, pred_tags = [], []
    for batch in batches:
        logits = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]).logits
        at = batch["labels"] != -100  # (B, T)
        pred, gold = logits.data.argmax(-1)[at], batch["labels"][at]
        hits += int((pred == gold).sum())
        total += len(gold)
        tp += int(((pred == gold) & (gold != outside)).sum())
        pred_pos += int((pred != outside).sum())
        gold_pos += int((gold != outside).sum())
        if names is not None:
            row_pred = logits.data.argmax(-1)
            for row in range(len(at)):
                gold_tags.append([names[i] for i in batch["labels"][row][at[row]]])
                pred_tags.append([names[i] for i in row_pred[row][at[row]]])
    precision, recall = tp / max(pred_pos, 1), tp / max(gold_pos, 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    entities = {}
    if names is not None and gold_tags:
        entities = {"entity_f1": entity_f1(gold_tags, pred_tags),
                    "entity_precision": entity_precision(gold_tags, pred_tags),
                    "entity_recall": entity_recall(gold_tags, pred_tags)}
    return {**entities, "token_f1": f1, "accuracy": hits / max(total, 1)}


def best_span(start, end, lo, hi, max_answer=30):
    """(s, e) maximizing start[s] + end[e] with lo <= s <= e < hi and e - s < max_answer."""
    s = np.arange(lo, hi)
    score = start[lo:hi, None] + end[None, lo:hi]  # (n, n)
    gap = s[None, :] - s[:, None]
    score = np.where((gap >= 0) & (gap < max_answer), score, -np.inf)
    i, j = np.unravel_index(np.argmax(score), score.shape)
    return lo + i, lo + j


def qa_metrics(model, batches, spans, answers, contexts, offsets):
    """SQuAD v1.1's exact match and F1 (minitx.metrics.squad) of the best-scoring span,
    cut from the context text by its tokens' character offsets (as the QA pipeline
    answers), against the true answer."""
    em = f1 = 0.0
    k = 0
    for batch in batches:
        out = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        for row in range(len(batch["input_ids"])):
            lo, hi = spans[k]
            s, e = best_span(out.start_logits.data[row], out.end_logits.data[row], lo, hi)
            pred = contexts[k][offsets[k][s - lo][0]:offsets[k][e - lo][1]]
            exact, overlap = squad(pred, answers[k])
            em, f1, k = em + exact, f1 + overlap, k + 1
    return {"exact_match": em / max(k, 1), "f1": f1 / max(k, 1)}


def task_metrics(task, labels, val, tokenizer):
    """The Trainer's `metrics` hook for a fine-tuning task on the encoded validation split `val`."""
    if task == "classify":
        return classify_metrics
    if task == "tag":
        outside = labels.index("O") if "O" in labels else None
        names = labels if is_chunk_scheme(labels) else None
        return lambda model, batches: tag_metrics(model, batches, outside, names)
    contexts = val.extra["context"]
    offsets = [tokenizer.encode(c, add_special_tokens=False, return_offsets_mapping=True).offset_mapping
               for c in contexts]   # each context token's (start, end) in the text
    return lambda model, batches: qa_metrics(model, batches, val.extra["context_span"], val.extra["answer"],
                                             contexts, offsets)
