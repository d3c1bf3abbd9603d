"""BERT: the bidirectional post-LN encoder (BertModel) and what every BERT class
shares (BertPreTrainedModel). The heads are in heads.py, the Hugging Face folder
IO in hf.py.

Module and parameter names are Hugging Face's (bert.embeddings.word_embeddings,
bert.encoder.layer.0.attention.self.query, cls.predictions.transform.dense, ...),
so a checkpoint loads by name with no renaming table.
"""
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ... import nn
from ...nn import functional as F
from ...nn.init import transformer_init_
from ...nn.transformer import ForwardContext, attention_probs, merge_heads, split_heads
from ...tensor import Tensor
from ..hub import HF_GELU
from ..inputs import as_ids

# ---- outputs: transformers' field names ---------------------------------------

@dataclass
class BertModelOutput:
    last_hidden_state: Tensor             # (B, T, C)
    pooler_output: Optional[Tensor] = None  # (B, C)
    attentions: Optional[tuple] = None    # output_attentions: (B, NH, T, T) per layer


@dataclass
class BertForPreTrainingOutput:
    prediction_logits: Tensor             # (B, T, V)
    seq_relationship_logits: Tensor       # (B, 2)
    loss: Optional[Tensor] = None
    attentions: Optional[tuple] = None


@dataclass
class MaskedLMOutput:
    logits: Tensor                        # (B, T, V)
    loss: Optional[Tensor] = None
    attentions: Optional[tuple] = None


@dataclass
class SequenceClassifierOutput:
    logits: Tensor                        # (B, num_labels)
    loss: Optional[Tensor] = None
    attentions: Optional[tuple] = None


@dataclass
class TokenClassifierOutput:
    logits: Tensor                        # (B, T, num_labels)
    loss: Optional[Tensor] = None
    attentions: Optional[tuple] = None


@dataclass
class QuestionAnsweringModelOutput:
    start_logits: Tensor                  # (B, T)
    end_logits: Tensor                    # (B, T)
    loss: Optional[Tensor] = None
    attentions: Optional[tuple] = None



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

    def forward(self, x, ctx):
        NH = self.num_attention_heads
        q, k, v = (split_heads(proj(x), NH) for proj in (self.query, self.key, self.value))  # (B, NH, T, HS)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=ctx.attn_mask,
                                           dropout_p=self.dropout_p if self.training else 0.0)
        if ctx.output_attentions:  # recomputed beside the fused kernel, for reading
            ctx.attentions.append(attention_probs(q, k, ctx.attn_mask))
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

    def forward(self, x, ctx):
        return self.output(self.self(x, ctx), x)


class BertIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)
        self.intermediate_act_fn = nn.GELU(HF_GELU[c.hidden_act])

    def forward(self, x):
        return nn.layers.linear_then_gelu(self.dense, self.intermediate_act_fn, x)


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

    def forward(self, x, ctx):
        x = self.attention(x, ctx)
        return self.output(self.intermediate(x), x)


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(c) for _ in range(c.num_hidden_layers))

    def forward(self, x, ctx):
        for layer in self.layer:
            x = layer(x, ctx)
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

    def _init_weights(self, done=None):
        # transformers' BERT init; the parameters of `done` (the encoder, initialised by
        # itself) are left alone
        transformer_init_(self, self.config.initializer_range, skip=done)

    def _tied_keys(self):
        """state_dict keys that alias another parameter and are not saved, as transformers."""
        keys = {"cls.predictions.decoder.bias"}
        if self.config.tie_word_embeddings:
            keys.add("cls.predictions.decoder.weight")
        return keys

    @classmethod
    def from_pretrained(cls, path, dtype=np.float32, **config_overrides):
        """Load a Hugging Face BERT folder (config.json + model.safetensors) into this class;
        config_overrides set config fields (num_labels=3 for a new classifier). See
        models/bert/hf.py for what is checked, skipped and freshly initialised."""
        from . import hf
        return hf.from_pretrained(cls, path, dtype, **config_overrides)

    @classmethod
    def from_state_dict(cls, config, weights, where="state_dict", dtype=np.float32):
        """A model of this class from the weights of any BERT class (name -> array)."""
        from . import hf
        return hf.from_state_dict(cls, config, weights, where, dtype)

    def save_pretrained(self, path):
        """Write config.json and model.safetensors in the layout transformers writes and reads."""
        from . import hf
        hf.save_pretrained(self, path)


class BertModel(BertPreTrainedModel):
    """The encoder: model(input_ids, attention_mask=None, token_type_ids=None) ->
    .last_hidden_state (B, T, C) and .pooler_output (B, C). output_attentions=True adds
    .attentions: per layer the softmax probabilities (B, NH, T, T) after masking (padded
    keys get 0), Tensors without gradient computed in NumPy beside the fused kernel (see
    nn.transformer.attention_probs), as transformers' eager attention gives them; every
    head class passes the flag through."""

    def __init__(self, config, add_pooling_layer=True):
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self._init_weights()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, output_attentions=False):
        ids = as_ids(input_ids, "input_ids")  # (B, T)
        B, T = ids.shape
        if T > self.config.max_position_embeddings:
            raise ValueError(f"BertModel: sequence of {T} tokens is longer than max_position_embeddings "
                             f"{self.config.max_position_embeddings}")
        types = np.zeros_like(ids) if token_type_ids is None else as_ids(token_type_ids, "token_type_ids", (B, T))
        mask = None
        if attention_mask is not None:
            # (B, 1, 1, T), True = the key is a real token: padding is never attended to
            mask = as_ids(attention_mask, "attention_mask", (B, T)).astype(bool)[:, None, None, :]
        ctx = ForwardContext(attn_mask=mask, output_attentions=output_attentions)
        h = self.encoder(self.embeddings(ids, types), ctx)  # (B, T, C)
        return BertModelOutput(h, self.pooler(h) if self.pooler is not None else None,
                               tuple(ctx.attentions) if output_attentions else None)


def mean_pool(last_hidden_state, attention_mask=None):
    """Sentence embeddings (B, C): the mean of the hidden states of the real tokens."""
    h = last_hidden_state  # (B, T, C)
    if attention_mask is None:
        return h.mean(dim=1)
    m = as_ids(attention_mask, "attention_mask", h.shape[:2]).astype(h.dtype)[:, :, None]  # (B, T, 1)
    return (h * m).sum(dim=1) / np.maximum(m.sum(axis=1), 1)
