"""BERT: the bidirectional post-LN encoder, its pretraining heads (masked LM and
next-sentence prediction), the fine-tuning heads, and BERT weights in and out in
the Hugging Face layout.

Module and parameter names are Hugging Face's (bert.embeddings.word_embeddings,
bert.encoder.layer.0.attention.self.query, cls.predictions.transform.dense, ...),
so a checkpoint loads by name with no renaming table.
"""
import dataclasses
import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .. import nn
from ..nn import functional as F
from ..nn.transformer import merge_heads, split_heads
from ..random import default_generator
from ..tensor import Tensor
from . import hub


@dataclass
class BertConfig:
    """BERT's hyperparameters, named as in transformers' BertConfig."""
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"  # the exact erf GELU, as BERT
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    classifier_dropout: Optional[float] = None  # None means hidden_dropout_prob
    tie_word_embeddings: bool = True
    num_labels: int = 2
    id2label: Optional[dict] = None  # label names of a fine-tuned head, {0: "neg", ...}

    def __post_init__(self):
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size", "num_labels"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"BertConfig: {name} must be positive, got {getattr(self, name)}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"BertConfig: hidden_size {self.hidden_size} is not divisible by "
                             f"num_attention_heads {self.num_attention_heads}")
        if self.hidden_act not in hub.HF_GELU:
            raise ValueError(f"BertConfig: hidden_act {self.hidden_act!r} is not one of {sorted(hub.HF_GELU)}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"):
            p = getattr(self, name)
            if p is not None and not 0 <= p < 1:
                raise ValueError(f"BertConfig: {name} must be in [0, 1), got {p}")
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(f"BertConfig: pad_token_id {self.pad_token_id} outside [0, {self.vocab_size})")
        if self.id2label is not None:
            self.id2label = {int(k): v for k, v in self.id2label.items()}
            if sorted(self.id2label) != list(range(self.num_labels)):
                raise ValueError(f"BertConfig: id2label keys {sorted(self.id2label)} are not "
                                 f"0..{self.num_labels - 1}")

    def to_dict(self):
        return dataclasses.asdict(self)

    def to_hf_dict(self, architecture):
        """config.json as transformers writes it."""
        d = {k: v for k, v in self.to_dict().items() if k not in ("num_labels", "id2label")}
        labels = self.id2label or {i: f"LABEL_{i}" for i in range(self.num_labels)}
        d.update(architectures=[architecture], model_type="bert", position_embedding_type="absolute",
                 id2label={str(i): name for i, name in labels.items()},
                 label2id={name: i for i, name in labels.items()})
        return d

    @classmethod
    def from_hf_dict(cls, hf, where="config.json", **overrides):
        """From a transformers config.json; keys transformers uses but BERT here does not are ignored."""
        if hf.get("model_type", "bert") != "bert":
            raise ValueError(f"{where}: model_type {hf.get('model_type')!r} is not bert")
        if hf.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{where}: position_embedding_type {hf['position_embedding_type']!r} "
                             f"is not supported (only 'absolute')")
        if hf.get("is_decoder"):
            raise ValueError(f"{where}: is_decoder=true (a causal BERT) is not supported")
        fields = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in hf.items() if k in fields}
        if kw.get("pad_token_id") is None:
            kw.pop("pad_token_id", None)
        if hf.get("id2label"):
            kw["id2label"] = {int(k): v for k, v in hf["id2label"].items()}
            kw["num_labels"] = len(kw["id2label"])
        kw.update(overrides)
        if "num_labels" in overrides and "id2label" not in overrides:
            kw.pop("id2label", None)  # a new head: the checkpoint's label names no longer apply
        return cls(**kw)


# ---- outputs: transformers' field names ---------------------------------------

@dataclass
class BertModelOutput:
    last_hidden_state: Tensor             # (B, T, C)
    pooler_output: Optional[Tensor] = None  # (B, C)


@dataclass
class BertForPreTrainingOutput:
    prediction_logits: Tensor             # (B, T, V)
    seq_relationship_logits: Tensor       # (B, 2)
    loss: Optional[Tensor] = None


@dataclass
class MaskedLMOutput:
    logits: Tensor                        # (B, T, V)
    loss: Optional[Tensor] = None


@dataclass
class SequenceClassifierOutput:
    logits: Tensor                        # (B, num_labels)
    loss: Optional[Tensor] = None


@dataclass
class TokenClassifierOutput:
    logits: Tensor                        # (B, T, num_labels)
    loss: Optional[Tensor] = None


@dataclass
class QuestionAnsweringModelOutput:
    start_logits: Tensor                  # (B, T)
    end_logits: Tensor                    # (B, T)
    loss: Optional[Tensor] = None


def _ids(x, name, shape=None):
    """An int64 array from a list, array or Tensor of integers (or bools), of `shape` if given."""
    a = x.data if isinstance(x, Tensor) else np.asarray(x)
    if not (np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_):
        raise ValueError(f"{name}: expected integers, got {a.dtype}")
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name}: shape {a.shape} does not match input_ids {shape}")
    return a.astype(np.int64, copy=False)


# ---- the encoder ---------------------------------------------------------------

class BertEmbeddings(nn.Module):
    """word + learned position + token-type embeddings, then LayerNorm and dropout."""

    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, ids, token_type_ids):
        T = ids.shape[1]
        x = self.word_embeddings(ids) + self.token_type_embeddings(token_type_ids)  # (B, T, C)
        x = x + self.position_embeddings(np.arange(T))  # + (T, C)
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    """Separate query, key, value projections (BERT's layout), heads on the fused kernel."""

    def __init__(self, c):
        super().__init__()
        C = c.hidden_size
        self.num_attention_heads = c.num_attention_heads
        self.query, self.key, self.value = nn.Linear(C, C), nn.Linear(C, C), nn.Linear(C, C)
        self.dropout_p = c.attention_probs_dropout_prob

    def forward(self, x, mask):
        NH = self.num_attention_heads
        q, k, v = (split_heads(proj(x), NH) for proj in (self.query, self.key, self.value))  # (B, NH, T, HS)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.dropout_p if self.training else 0.0)
        return merge_heads(y)  # (B, T, C)


class BertSelfOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, h, residual):
        return self.LayerNorm(self.dropout(self.dense(h)) + residual)  # post-LN


class BertAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertSelfOutput(c)

    def forward(self, x, mask):
        return self.output(self.self(x, mask), x)


class BertIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)
        self.intermediate_act_fn = nn.GELU(hub.HF_GELU[c.hidden_act])

    def forward(self, x):
        return self.intermediate_act_fn(self.dense(x))


class BertOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.intermediate_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, h, residual):
        return self.LayerNorm(self.dropout(self.dense(h)) + residual)


class BertLayer(nn.Module):
    """x = LN(x + attn(x)); x = LN(x + mlp(x)): post-LN, as the original Transformer."""

    def __init__(self, c):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertOutput(c)

    def forward(self, x, mask):
        x = self.attention(x, mask)
        return self.output(self.intermediate(x), x)


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(c) for _ in range(c.num_hidden_layers))

    def forward(self, x, mask):
        for layer in self.layer:
            x = layer(x, mask)
        return x


class BertPooler(nn.Module):
    """dense + tanh on the first token ([CLS])."""

    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, h):
        return self.activation(self.dense(h[:, 0]))


class BertPreTrainedModel(nn.Module):
    """Init, from_pretrained and save_pretrained shared by BertModel and the heads."""

    base_model_prefix = "bert"
    # Keys of other heads that a checkpoint may carry; not loading them is not an error.
    _head_prefixes = ("cls.", "classifier.", "qa_outputs.")

    def _init_weights(self, done=None):
        # transformers' BERT init: N(0, initializer_range) for Linear and Embedding
        # weights (padding row zeroed), zero biases, LayerNorm ones and zeros. A
        # parameter shared by two modules (the tied decoder) is set once, by its
        # first; those of `done` (the encoder, initialised by itself) are left alone.
        std, rng = self.config.initializer_range, default_generator()
        seen = {id(p) for p in done.parameters()} if done is not None else set()

        def fresh(p):
            new = p is not None and id(p) not in seen
            seen.add(id(p))
            return new
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)) and fresh(m.weight):
                m.weight.data[...] = rng.normal(0.0, std, size=m.weight.shape)
                if isinstance(m, nn.Embedding) and m.padding_idx is not None:
                    m.weight.data[m.padding_idx] = 0
            if isinstance(m, nn.LayerNorm) and fresh(m.weight):
                m.weight.data[...] = 1
            b = getattr(m, "bias", None)
            if isinstance(b, nn.Parameter) and fresh(b):
                b.data[...] = 0

    def _tied_keys(self):
        """state_dict keys that alias another parameter and are not saved, as transformers."""
        keys = {"cls.predictions.decoder.bias"}
        if self.config.tie_word_embeddings:
            keys.add("cls.predictions.decoder.weight")
        return keys

    def _bare(self):
        return isinstance(self, BertModel)

    @classmethod
    def from_pretrained(cls, path, dtype=np.float32, **config_overrides):
        """Load a Hugging Face BERT folder (config.json + model.safetensors).

        Both layouts load into every class: a bare BertModel checkpoint (keys
        without `bert.`, as sentence-embedding models) and one with heads
        (BertForPreTraining, ...). config_overrides set config fields, e.g.
        num_labels=3 for a new classifier. See from_state_dict for what is
        skipped, dropped and freshly initialised.
        """
        config = BertConfig.from_hf_dict(hub.read_config(path), where=f"{path}/config.json",
                                         **config_overrides)
        return cls.from_state_dict(config, hub.read_weights(path), where=str(path), dtype=dtype)

    @classmethod
    def from_state_dict(cls, config, weights, where="state_dict", dtype=np.float32):
        """A model of this class from the weights of any BERT class (name -> array).

        Buffers such as embeddings.position_ids are skipped. Heads the weights
        lack keep a fresh init, with a warning (as transformers does when a
        classifier is added for fine-tuning); a head they have but this class
        does not use is dropped. Anything else missing or extra is an error.
        """
        model = cls(config)
        state = {}
        for key, value in weights.items():
            key = key.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
            if key.endswith(("embeddings.position_ids", "embeddings.token_type_ids")):
                continue  # index buffers of transformers, not weights
            if model._bare():
                if key.startswith("bert."):
                    key = key[len("bert."):]
                elif key.startswith(cls._head_prefixes):
                    continue
            elif not key.startswith(("bert.",) + cls._head_prefixes):
                key = "bert." + key
            state[key] = value
        # An older checkpoint stores the tied decoder too; it aliases the embedding and bias.
        decoder_bias = state.pop("cls.predictions.decoder.bias", None)
        if decoder_bias is not None:
            state.setdefault("cls.predictions.bias", decoder_bias)
        own, tied = model.state_dict(), model._tied_keys()
        for key in tied:
            state.pop(key, None)
        optional = cls._head_prefixes + (("" if model._bare() else "bert.") + "pooler.",)
        unexpected = [k for k in state if k not in own]
        bad = [k for k in unexpected if not k.startswith(optional)]
        if bad:
            raise ValueError(f"{where}: weights that BERT {cls.__name__} has no place for: {', '.join(bad)}")
        for k in unexpected:
            del state[k]
        missing = [k for k in own if k not in state and k not in tied]
        bad = [k for k in missing if not k.startswith(optional)]
        if bad:
            raise ValueError(f"{where}: the weights lack {', '.join(bad)}")
        if missing:
            warnings.warn(f"{cls.__name__} from {where}: newly initialised, train before use: "
                          f"{', '.join(missing)}", stacklevel=3)
        model.load_state_dict(state, strict=False)
        return model.to(dtype)

    def save_pretrained(self, path):
        """Write config.json and model.safetensors in the layout transformers writes and reads."""
        tied = self._tied_keys()
        weights = {k: v for k, v in self.state_dict().items() if k not in tied}
        hub.write_folder(path, self.config.to_hf_dict(type(self).__name__), weights)


class BertModel(BertPreTrainedModel):
    """The encoder: model(input_ids, attention_mask=None, token_type_ids=None) ->
    .last_hidden_state (B, T, C) and .pooler_output (B, C)."""

    def __init__(self, config, add_pooling_layer=True):
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self._init_weights()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        ids = _ids(input_ids, "input_ids")
        ids = ids[None, :] if ids.ndim == 1 else ids
        if ids.ndim != 2:
            raise ValueError(f"BertModel: input_ids must be (B, T), got shape {ids.shape}")
        B, T = ids.shape
        if T > self.config.max_position_embeddings:
            raise ValueError(f"BertModel: sequence of {T} tokens is longer than max_position_embeddings "
                             f"{self.config.max_position_embeddings}")
        types = np.zeros_like(ids) if token_type_ids is None else _ids(token_type_ids, "token_type_ids", (B, T))
        mask = None
        if attention_mask is not None:
            # (B, 1, 1, T), True = the key is a real token: padding is never attended to
            mask = _ids(attention_mask, "attention_mask", (B, T)).astype(bool)[:, None, None, :]
        h = self.encoder(self.embeddings(ids, types), mask)  # (B, T, C)
        return BertModelOutput(h, self.pooler(h) if self.pooler is not None else None)


def mean_pool(last_hidden_state, attention_mask=None):
    """Sentence embeddings (B, C): the mean of the hidden states of the real tokens."""
    h = last_hidden_state  # (B, T, C)
    if attention_mask is None:
        return h.mean(dim=1)
    m = _ids(attention_mask, "attention_mask", h.shape[:2]).astype(h.dtype)[:, :, None]  # (B, T, 1)
    return (h * m).sum(dim=1) / np.maximum(m.sum(axis=1), 1)


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.transform_act_fn = nn.GELU(hub.HF_GELU[c.hidden_act])
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, h):
        return self.LayerNorm(self.transform_act_fn(self.dense(h)))


class BertLMPredictionHead(nn.Module):
    """transform, then the decoder: the word embeddings (tied) plus a bias of its own."""

    def __init__(self, c, word_embeddings):
        super().__init__()
        self.transform = BertPredictionHeadTransform(c)
        self.bias = nn.Parameter(np.zeros(c.vocab_size, dtype=np.float32))
        self.decoder = nn.Linear(c.hidden_size, c.vocab_size)
        self.decoder.bias = self.bias
        if c.tie_word_embeddings:
            self.decoder.weight = word_embeddings.weight

    def forward(self, h):
        return self.decoder(self.transform(h))  # (B, T, V)


class BertOnlyMLMHead(nn.Module):
    def __init__(self, c, word_embeddings):
        super().__init__()
        self.predictions = BertLMPredictionHead(c, word_embeddings)


class BertPreTrainingHeads(nn.Module):
    def __init__(self, c, word_embeddings):
        super().__init__()
        self.predictions = BertLMPredictionHead(c, word_embeddings)
        self.seq_relationship = nn.Linear(c.hidden_size, 2)


def _mlm_loss(logits, labels):
    B, T, V = logits.shape
    return F.cross_entropy(logits.reshape(B * T, V), _ids(labels, "labels", (B, T)).reshape(-1))


class BertForPreTraining(BertPreTrainedModel):
    """Masked LM + next-sentence prediction. labels (B, T) hold the original token
    at masked positions and -100 elsewhere; next_sentence_label (B,) is 0 when B
    follows A, 1 when B is random. loss = mean MLM cross-entropy + NSP cross-entropy
    (either alone when only one kind of label is given)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.bert = BertModel(config)
        self.cls = BertPreTrainingHeads(config, self.bert.embeddings.word_embeddings)
        self._init_weights(done=self.bert)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None,
                next_sentence_label=None):
        out = self.bert(input_ids, attention_mask, token_type_ids)
        logits = self.cls.predictions(out.last_hidden_state)  # (B, T, V)
        nsp = self.cls.seq_relationship(out.pooler_output)  # (B, 2)
        loss = None
        if labels is not None:
            loss = _mlm_loss(logits, labels)
        if next_sentence_label is not None:
            nsl = _ids(next_sentence_label, "next_sentence_label", (nsp.shape[0],))
            nsp_loss = F.cross_entropy(nsp, nsl)
            loss = nsp_loss if loss is None else loss + nsp_loss
        return BertForPreTrainingOutput(logits, nsp, loss)


class BertForMaskedLM(BertPreTrainedModel):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config, self.bert.embeddings.word_embeddings)
        self._init_weights(done=self.bert)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        logits = self.cls.predictions(self.bert(input_ids, attention_mask, token_type_ids).last_hidden_state)
        return MaskedLMOutput(logits, None if labels is None else _mlm_loss(logits, labels))


class BertForSequenceClassification(BertPreTrainedModel):
    """A classifier on the pooled [CLS]: labels (B,) are class ids, or floats with
    num_labels=1 (regression, mean squared error), as transformers."""

    def __init__(self, config):
        super().__init__()
        self.config, self.num_labels = config, config.num_labels
        self.bert = BertModel(config)
        p = config.classifier_dropout
        self.dropout = nn.Dropout(config.hidden_dropout_prob if p is None else p)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self._init_weights(done=self.bert)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        pooled = self.bert(input_ids, attention_mask, token_type_ids).pooler_output
        logits = self.classifier(self.dropout(pooled))  # (B, num_labels)
        loss = None
        if labels is not None and self.num_labels == 1:
            y = np.asarray(labels.data if isinstance(labels, Tensor) else labels, dtype=logits.dtype)
            loss = ((logits.reshape(-1) - y.reshape(-1)) ** 2).mean()
        elif labels is not None:
            loss = F.cross_entropy(logits, _ids(labels, "labels", (logits.shape[0],)))
        return SequenceClassifierOutput(logits, loss)


class BertForTokenClassification(BertPreTrainedModel):
    """A classifier on every token: labels (B, T), -100 on padding and on word-piece
    continuations so each word is scored once."""

    def __init__(self, config):
        super().__init__()
        self.config, self.num_labels = config, config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        p = config.classifier_dropout
        self.dropout = nn.Dropout(config.hidden_dropout_prob if p is None else p)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self._init_weights(done=self.bert)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        h = self.bert(input_ids, attention_mask, token_type_ids).last_hidden_state
        logits = self.classifier(self.dropout(h))  # (B, T, num_labels)
        loss = None
        if labels is not None:
            B, T, L = logits.shape
            loss = F.cross_entropy(logits.reshape(B * T, L), _ids(labels, "labels", (B, T)).reshape(-1))
        return TokenClassifierOutput(logits, loss)


class BertForQuestionAnswering(BertPreTrainedModel):
    """Start and end logits over the tokens; loss is the mean of the two
    cross-entropies. Positions are clamped to [0, T] and T is ignored, as
    transformers does for answers cut off by truncation."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        if config.num_labels != 2:
            raise ValueError(f"BertForQuestionAnswering: num_labels must be 2 (start, end), got {config.num_labels}")
        self.bert = BertModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        self._init_weights(done=self.bert)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, start_positions=None,
                end_positions=None):
        h = self.bert(input_ids, attention_mask, token_type_ids).last_hidden_state
        logits = self.qa_outputs(h)  # (B, T, 2)
        B, T, _ = logits.shape
        start, end = logits[:, :, 0], logits[:, :, 1]  # (B, T) each
        loss = None
        if start_positions is not None and end_positions is not None:
            def targets(pos, name):
                pos = np.clip(_ids(pos, name, (B,)), 0, T)
                return np.where(pos == T, -100, pos)
            loss = (F.cross_entropy(start, targets(start_positions, "start_positions"))
                    + F.cross_entropy(end, targets(end_positions, "end_positions"))) / 2
        return QuestionAnsweringModelOutput(start, end, loss)


# model_type in a minitx checkpoint's config.json -> the class it holds (see checkpoint.build_model)
MODEL_TYPES = {"bert": BertForPreTraining, "bert-classify": BertForSequenceClassification,
               "bert-tag": BertForTokenClassification, "bert-qa": BertForQuestionAnswering}
