"""The neural models of benchmarks/baselines.py and the loop that trains them.

Every model reads characters (ids into one alphabet) and is built from minitx
layers: an embedding, then a recurrence (nn.RNN, nn.LSTM) or transformer blocks
(models.gpt.GPT, models.bert), then a linear head over the alphabet (a language
model) or over the classes (a classifier, reading the last position; BERT reads
its [CLS]). The loop is AdamW with warmup and cosine decay and clipping, the
Trainer's recipe without its checkpoints.
"""
import time
import warnings

import numpy as np

from minitx import nn
from minitx.autograd import no_grad
from minitx.data.bert import MaskingCollator
from minitx.models.bert import BertConfig, BertForMaskedLM, BertForSequenceClassification
from minitx.models.gpt import GPT, GPTConfig
from minitx.nn import functional as F
from minitx.optim import AdamW, clip_grad_norm_
from minitx.optim.lr_scheduler import warmup_cosine_lr
from minitx.training.trainer import param_groups

PAD, CLS, SEP, MASK = 0, 1, 2, 3     # BERT's specials; the other models read PAD as a character
SPECIALS = 4                          # character ids start here


class Recurrent(nn.Module):
    """Embedding -> nn.RNN or nn.LSTM -> Linear: logits (B, T, V) over the next
    character, or with n_classes (B, n_classes) from the last position's state."""

    def __init__(self, cell, V, C, n_classes=None):
        super().__init__()
        self.classify = n_classes is not None
        self.wte = nn.Embedding(V, C)
        self.rnn = {"rnn": nn.RNN, "lstm": nn.LSTM}[cell](C, C, batch_first=True)
        self.head = nn.Linear(C, n_classes or V)

    def forward(self, ids):
        h, _ = self.rnn(self.wte(ids))                   # (B, T, C)
        return self.head(h[:, -1] if self.classify else h)


class GPTModel(nn.Module):
    """GPT (pre-LN causal blocks); with n_classes a linear head on the last position,
    which attends to every character before it."""

    def __init__(self, V, C, T, n_classes=None, n_layer=2, n_head=4):
        super().__init__()
        self.classify = n_classes is not None
        self.gpt = GPT(GPTConfig(vocab_size=V, block_size=T, n_layer=n_layer, n_head=n_head, n_embd=C))
        if self.classify:
            self.head = nn.Linear(C, n_classes)

    def forward(self, ids):
        if not self.classify:
            return self.gpt(ids).logits                   # (B, T, V)
        tr = self.gpt.transformer
        x = tr.wte(ids) + tr.wpe(np.arange(ids.shape[1]))  # (B, T, C)
        for block in tr.h:
            x = block(x)
        return self.head(tr.ln_f(x)[:, -1])               # (B, n_classes)


def bert_config(V, C, T, n_classes=2, n_layer=2, n_head=4):
    return BertConfig(vocab_size=V, hidden_size=C, num_hidden_layers=n_layer, num_attention_heads=n_head,
                      intermediate_size=4 * C, max_position_embeddings=T, num_labels=n_classes,
                      hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, pad_token_id=PAD)


def bert_inputs(ids):
    """(B, T) left-padded character ids -> [CLS] text [SEP] right-padded (B, T + 2), and the mask."""
    B, T = ids.shape
    out = np.full((B, T + 2), PAD, dtype=np.int64)
    for i, row in enumerate(ids):
        text = row[row != PAD]
        out[i, :len(text) + 2] = np.concatenate([[CLS], text, [SEP]])
    return out, (out != PAD).astype(np.int64)


def count_parameters(model):
    """Distinct parameters (a tied embedding counts once)."""
    return int(sum(p.data.size for p in {id(p): p for p in model.parameters()}.values()))


def train(model, batch, loss_of, steps, lr):
    """`steps` AdamW steps on batch(step) -> (inputs, targets); returns (seconds, tokens seen)."""
    optimizer = AdamW(param_groups(model, 0.01), lr=lr, betas=(0.9, 0.99), weight_decay=0.01)
    params = list(model.parameters())
    warmup = max(1, steps // 10)
    model.train()
    tokens, start = 0, time.perf_counter()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = warmup_cosine_lr(step, lr, warmup, steps, lr / 10)
        inputs, targets = batch(step)
        loss = loss_of(model, inputs, targets)
        optimizer.zero_grad()
        loss.backward()
        clip_grad_norm_(params, 1.0)
        optimizer.step()
        tokens += int(np.asarray(inputs[0] if isinstance(inputs, tuple) else inputs).size)
    model.eval()
    return time.perf_counter() - start, tokens


def lm_loss(model, ids, targets):
    logits = model(ids)                                   # (B, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def class_loss(model, ids, labels):
    return F.cross_entropy(model(ids), labels)


def predict(model, ids, batch_size=64):
    """(N, T) -> (N,) argmax classes, in batches, without the graph."""
    with no_grad():
        return np.concatenate([model(ids[i:i + batch_size]).data.argmax(-1) for i in range(0, len(ids), batch_size)])


def position_losses(model, windows, batch_size=32):
    """(N, T + 1) windows -> (T,) mean cross-entropy in nats of predicting character t + 1 from the
    t + 1 before it, t = 0 .. T - 1."""
    out = []
    with no_grad():
        for i in range(0, len(windows), batch_size):
            w = windows[i:i + batch_size]
            logp = F.log_softmax(model(w[:, :-1]), dim=-1).data     # (B, T, V)
            out.append(-np.take_along_axis(logp, w[:, 1:, None], axis=-1)[..., 0])   # (B, T)
    return np.concatenate(out).mean(axis=0)


class BertClassifier:
    """BERT pretrained on the training texts with masked-LM, then fine-tuned: the
    encoder's weights move into BertForSequenceClassification, whose pooler and
    classifier start fresh (as transformers does)."""

    def __init__(self, V, C, T, n_classes, seed):
        self.config = bert_config(V, C, T + 2, n_classes)
        self.mlm = BertForMaskedLM(self.config)
        self.masking = MaskingCollator(V, MASK, range(SPECIALS), seed=seed)

    def fit(self, ids, labels, pretrain_steps, steps, B, lr, rng):
        inputs, mask = bert_inputs(ids)

        def mlm_batch(step):
            rows = rng.integers(0, len(inputs), B)
            masked, targets = self.masking(inputs[rows], mask[rows])
            return (masked, mask[rows]), targets

        def mlm_loss(model, x, targets):
            return model(x[0], attention_mask=x[1], labels=targets).loss

        s1, n1 = train(self.mlm, mlm_batch, mlm_loss, pretrain_steps, lr)
        with warnings.catch_warnings():                   # "newly initialised": the pooler and classifier
            warnings.simplefilter("ignore")
            self.model = BertForSequenceClassification.from_state_dict(self.config, self.mlm.state_dict())

        def batch(step):
            rows = rng.integers(0, len(inputs), B)
            return (inputs[rows], mask[rows]), labels[rows]

        def loss(model, x, y):
            return model(x[0], attention_mask=x[1], labels=y).loss

        s2, n2 = train(self.model, batch, loss, steps, lr)
        return s1 + s2, n1 + n2

    def predict(self, ids, batch_size=64):
        inputs, mask = bert_inputs(ids)
        with no_grad():
            return np.concatenate([self.model(inputs[i:i + batch_size], attention_mask=mask[i:i + batch_size])
                                   .logits.data.argmax(-1) for i in range(0, len(inputs), batch_size)])
