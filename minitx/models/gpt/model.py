"""GPT: the GPT-2 architecture (pre-LN decoder). Its config is config.py, generation
with a KV cache generate.py, GPT-2 folders in and out hf.py.

Names follow GPT-2 (transformer.wte, transformer.h.0.attn.c_attn, ...), as nanoGPT.
"""
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ... import nn
from ...nn import functional as F
from ...nn.init import transformer_init_
from ...tensor import Tensor
from ..inputs import as_ids

@dataclass
class GPTOutput:
    logits: Tensor               # (B, T, V)
    loss: Optional[Tensor] = None
    attentions: Optional[tuple] = None  # output_attentions: (B, NH, T, past + T) per layer


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = c = config
        block = c.block_config()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(c.vocab_size, c.n_embd),
            **({"wpe": nn.Embedding(c.block_size, c.n_embd)} if c.position == "learned" else {}),
            drop=nn.Dropout(c.dropout),
            h=nn.ModuleList(nn.Block(block, layer_idx=i) for i in range(c.n_layer)),
            ln_f=nn.LayerNorm(c.n_embd, eps=c.layer_norm_eps, bias=c.bias),
        ))
        if c.position == "sinusoidal":  # a fixed table, not saved: the config rebuilds it
            self.register_buffer("position_table", F.sinusoidal_position_encoding(c.block_size, c.n_embd).data,
                                 persistent=False)
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        if c.tie_word_embeddings:
            self.lm_head.weight = self.transformer.wte.weight
        self._init_weights()

    def _init_weights(self):
        # GPT-2: N(0, 0.02), and the projections that write into the residual stream
        # scaled by 1/sqrt(2 n_layer) (two per block).
        std_resid = 0.02 / math.sqrt(2 * self.config.n_layer)
        transformer_init_(self, 0.02, std_of=lambda name: std_resid if name.endswith("c_proj.weight") else 0.02)

    def forward(self, input_ids, targets=None, kv_caches=None, last_only=False, attention_mask=None,
                position_ids=None, output_attentions=False):
        """input_ids (B, T) -> logits (B, T, V); with targets (B, T) (the next tokens,
        -100 to skip a position) also the mean cross-entropy loss.

        attention_mask (B, past + T), 1 = a real token, 0 = padding, covers the cached
        positions too (transformers' convention); keys at 0 are hidden. position_ids
        (B, T) default to arange, or with a mask to transformers' left-padding ones
        (see padded_positions). Without a mask the kernels run exactly as in training.
        output_attentions=True adds .attentions: per layer the softmax probabilities
        (B, NH, T, past + T) after masking, Tensors without gradient computed in NumPy beside
        the fused kernel (see nn.transformer.attention_probs); the logits are unchanged.
        """
        ids = as_ids(input_ids, "input_ids")
        B, T = ids.shape
        past = kv_caches[0].length if kv_caches else 0
        if past + T > self.config.block_size:
            raise ValueError(f"GPT: sequence of {past + T} positions is longer than block_size "
                             f"{self.config.block_size}")
        attn_mask = None
        if attention_mask is not None:
            keys = as_ids(attention_mask, "attention_mask", (B, past + T)).astype(bool)  # (B, past + T)
            attn_mask = keys[:, None, None, :]      # (B, 1, 1, past + T), with the causal mask
            if position_ids is None:
                position_ids = padded_positions(keys)[:, past:]
        if position_ids is None:
            position_ids = np.arange(past, past + T)  # (T,)
        else:
            position_ids = as_ids(position_ids, "position_ids", (B, T))
            if position_ids.min() < 0 or position_ids.max() >= self.config.block_size:
                raise ValueError(f"GPT: position_ids must be in [0, {self.config.block_size}), got "
                                 f"[{position_ids.min()}, {position_ids.max()}]")
        tr = self.transformer
        x = tr.drop(self._embed(ids, position_ids))  # (B, T, C)
        ctx = nn.ForwardContext(attn_mask, kv_caches, position_ids, output_attentions)
        for block in tr.h:
            x = block(x, ctx)
        x = tr.ln_f(x)
        if last_only:
            x = x[:, -1:, :]
        logits = self.lm_head(x)  # (B, T, V)
        loss = None
        if targets is not None:
            tgt = as_ids(targets, "targets")
            if tgt.shape != (B, T):
                raise ValueError(f"GPT: targets of shape {tgt.shape} do not match input_ids {ids.shape}")
            loss = F.cross_entropy(logits.reshape(B * T, -1), tgt.reshape(-1), ignore_index=-100)
        return GPTOutput(logits, loss, tuple(ctx.attentions) if output_attentions else None)

    def _embed(self, ids, position_ids):
        """Token embeddings plus the config's positions: (B, T, C) + (T, C) or (B, T, C); rotary
        adds none here (its attention layers rotate q and k)."""
        tok = self.transformer.wte(ids)
        if self.config.position == "learned":
            return tok + self.transformer.wpe(position_ids)
        if self.config.position == "sinusoidal":
            return tok + Tensor(self.position_table[position_ids])
        return tok

    # ---- generation -------------------------------------------------------
    def generate(self, input_ids, max_new_tokens, temperature=1.0, top_k=None, top_p=None,
                 do_sample=True, seed=None, eos_token_id=None, use_cache=True, attention_mask=None,
                 repetition_penalty=1.0, no_repeat_ngram_size=0, num_return_sequences=1, stop_strings=None,
                 tokenizer=None, pad_token_id=None, streamer=None):
        """Extend each prompt by up to max_new_tokens; returns ids (B, T0 + n) as a NumPy array
        (B * num_return_sequences rows, each prompt's copies side by side). The loop is in
        generate.py.

        With the KV cache each new token costs one forward over one position.
        When the sequence fills block_size the context slides: the cache is
        rebuilt from the last block_size // 2 tokens, then grows again (positions
        restart, as the model never saw positions past block_size in training).
        Sampling draws from a generator seeded by `seed` (the global one if None), or
        with a list of seeds, one per row, each row from its own.

        A batch of prompts of different lengths goes in left-padded, with
        attention_mask (B, T0) marking the real tokens (0 = padding), as for
        transformers' generate: each row then gives the tokens it would alone
        (greedy), except when the batch fills block_size: the rows slide together,
        over the same last columns, so a row shorter than the longest slides earlier
        than it would alone.

        As transformers' generate: repetition_penalty (> 1 makes every token already in
        the row less likely), no_repeat_ngram_size (no n-gram twice in a row),
        stop_strings (with tokenizer=: a row ends once its new text holds one), eos_token_id;
        a row that ended gets pad_token_id (default eos_token_id, else 0). streamer: an
        object with put() and end() (TextStreamer), or a callable given each new token (B,).
        """
        from .generate import generate
        return generate(self, input_ids, max_new_tokens, temperature, top_k, top_p, do_sample, seed,
                        eos_token_id, use_cache, attention_mask, repetition_penalty, no_repeat_ngram_size,
                        num_return_sequences, stop_strings, tokenizer, pad_token_id, streamer)

    # ---- Hugging Face layout (hf.py) -------------------------------------
    @classmethod
    def from_pretrained(cls, path, dtype=np.float32):
        """Load a GPT-2 folder in the Hugging Face layout (config.json + model.safetensors),
        in eval mode as transformers does (call .train() to fine-tune). A config.json of
        wrong types, or sizes unlike the weights, is a ValueError naming the file and key."""
        from . import hf
        return hf.from_pretrained(cls, path, dtype)

    def save_pretrained(self, path, **special_ids):
        """Write config.json and model.safetensors that transformers' GPT2LMHeadModel loads;
        special_ids: bos_token_id, eos_token_id, pad_token_id (default: GPT-2's, the last id)."""
        from . import hf
        hf.save_pretrained(self, path, **special_ids)


def padded_positions(attention_mask):
    """attention_mask (B, T), 1 = real token -> position_ids (B, T) counting from 0 at
    each row's first real token, as transformers' generate does for left padding;
    padding gets 0 (its outputs are discarded)."""
    mask = np.asarray(attention_mask, dtype=bool)
    return np.where(mask, np.cumsum(mask, axis=1) - 1, 0)
