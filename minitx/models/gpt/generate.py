"""Generation for GPT: the decoding loop with its KV cache, and what shapes each next
token, in transformers' names and order.

Each step: the logits (B, V) of the last position; repetition_penalty and
no_repeat_ngram_size adjust them (transformers' logits processors, in its order);
then greedy argmax or sampling (temperature, top-k, top-p: sampling.py); finished
rows (an eos token, or a stop string) get pad_token_id from then on. A streamer
sees the prompt, then each new token, as transformers' streamers do.
"""
import sys

import numpy as np

from ... import nn
from ...autograd import no_grad
from ...random import default_generator
from ..inputs import as_ids
from .sampling import check_sampling_args, next_token


def penalize_repetition(logits, ids, penalty):
    """logits (B, V), ids (B, T): every token already in a row (prompt included) made less
    likely, as transformers' RepetitionPenaltyLogitsProcessor: a positive logit divided by
    `penalty`, a negative one multiplied by it."""
    seen = np.take_along_axis(logits, ids, axis=1)                  # (B, T)
    seen = np.where(seen < 0, seen * penalty, seen / penalty)
    out = logits.copy()
    np.put_along_axis(out, ids, seen, axis=1)
    return out


def banned_ngram_tokens(ids, n):
    """ids (B, T) -> for each row, the tokens that would repeat an n-gram the row already
    holds: those that followed an earlier occurrence of its last n - 1 tokens."""
    banned = []
    for row in ids.tolist():
        if len(row) + 1 < n:
            banned.append([])
            continue
        tail = tuple(row[len(row) - n + 1:])
        banned.append([row[i + n - 1] for i in range(len(row) - n + 1) if tuple(row[i:i + n - 1]) == tail])
    return banned


def check_generation_args(max_new_tokens, repetition_penalty, no_repeat_ngram_size, num_return_sequences,
                          do_sample):
    if not isinstance(max_new_tokens, (int, np.integer)) or max_new_tokens < 0:
        raise ValueError(f"GPT.generate: max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
    if not repetition_penalty > 0 or repetition_penalty == float("inf"):
        raise ValueError(f"GPT.generate: repetition_penalty must be a finite number > 0 (1.0: none), "
                         f"got {repetition_penalty!r}")
    if not isinstance(no_repeat_ngram_size, (int, np.integer)) or no_repeat_ngram_size < 0:
        raise ValueError(f"GPT.generate: no_repeat_ngram_size must be an integer >= 0 (0: none), "
                         f"got {no_repeat_ngram_size!r}")
    if not isinstance(num_return_sequences, (int, np.integer)) or num_return_sequences < 1:
        raise ValueError(f"GPT.generate: num_return_sequences must be an integer >= 1, got {num_return_sequences!r}")
    if num_return_sequences > 1 and not do_sample:
        raise ValueError(f"GPT.generate: num_return_sequences={num_return_sequences} needs do_sample=True "
                         f"(greedy decoding would give the same sequence {num_return_sequences} times)")


def _generators(seed, rows, copies):
    """One generator for the batch, or one per row of the (rows * copies) batch."""
    if seed is None:
        return default_generator()
    if np.ndim(seed) == 0:
        return np.random.default_rng(seed)
    if len(seed) == rows * copies:
        return [np.random.default_rng(s) for s in seed]
    if len(seed) == rows:   # each copy of a prompt its own stream, derived from the prompt's seed
        return [np.random.default_rng([s, j] if copies > 1 else s) for s in seed for j in range(copies)]
    raise ValueError(f"GPT.generate: {len(seed)} seeds for {rows} rows")


def generate(model, input_ids, max_new_tokens, temperature=1.0, top_k=None, top_p=None, do_sample=True,
             seed=None, eos_token_id=None, use_cache=True, attention_mask=None, repetition_penalty=1.0,
             no_repeat_ngram_size=0, num_return_sequences=1, stop_strings=None, tokenizer=None,
             pad_token_id=None, streamer=None):
    """GPT.generate's loop; see its docstring."""
    ids = as_ids(input_ids, "input_ids")
    if ids.shape[1] == 0:
        raise ValueError(f"GPT.generate: the prompt is empty (shape {ids.shape}); give at least one token")
    check_generation_args(max_new_tokens, repetition_penalty, no_repeat_ngram_size, num_return_sequences,
                          do_sample)
    stops = [stop_strings] if isinstance(stop_strings, str) else list(stop_strings or [])
    if stops and tokenizer is None:
        raise ValueError("GPT.generate: stop_strings needs tokenizer= to read the text generated")
    if any(not isinstance(s, str) or not s for s in stops):
        raise ValueError(f"GPT.generate: stop_strings must be non-empty strings, got {stop_strings!r}")
    mask = None
    if attention_mask is not None:
        mask = as_ids(attention_mask, "attention_mask", ids.shape).astype(bool)  # (B, T0)
        if not mask[:, -1].all():
            raise ValueError("GPT.generate: attention_mask must end in a real token on every row "
                             "(pad on the left)")
        if mask.all():
            mask = None  # no padding: the unmasked kernels, exactly as without a mask
    if do_sample:
        check_sampling_args(temperature, top_k, top_p)
    rng = _generators(seed, ids.shape[0], num_return_sequences)
    if num_return_sequences > 1:   # the copies of a prompt side by side, as transformers
        ids = np.repeat(ids, num_return_sequences, axis=0)
        mask = None if mask is None else np.repeat(mask, num_return_sequences, axis=0)
    fill = pad_token_id if pad_token_id is not None else eos_token_id if eos_token_id is not None else 0
    T0, bs = ids.shape[1], model.config.block_size
    done = np.zeros(ids.shape[0], dtype=bool)
    if streamer is not None and hasattr(streamer, "put"):
        streamer.put(ids)

    def last(n):  # the mask over the last n columns, or None
        return None if mask is None else mask[:, -n:]

    was_training = model.training
    model.eval()
    try:
        with no_grad():
            caches, logits = None, None
            for _ in range(max_new_tokens):
                if not use_cache:
                    window = min(ids.shape[1], bs)
                    logits = model(ids[:, -window:], last_only=True,
                                   attention_mask=last(window)).logits.data[:, -1]
                elif caches is None:
                    window = (bs // 2 or 1) if ids.shape[1] >= bs else ids.shape[1]
                    caches = [nn.KVCache(bs) for _ in model.transformer.h]
                    logits = model(ids[:, -window:], kv_caches=caches, last_only=True,
                                   attention_mask=last(window)).logits.data[:, -1]
                scores = logits.astype(np.float64)                    # (B, V)
                if repetition_penalty != 1.0:
                    scores = penalize_repetition(scores, ids, repetition_penalty)
                if no_repeat_ngram_size:
                    for row, tokens in enumerate(banned_ngram_tokens(ids, no_repeat_ngram_size)):
                        scores[row, tokens] = -np.inf
                nxt = next_token(scores, temperature, top_k, top_p, do_sample, rng)
                nxt = np.where(done, fill, nxt)
                if eos_token_id is not None:
                    done |= nxt == eos_token_id
                ids = np.concatenate([ids, nxt[:, None]], axis=1)
                if mask is not None:
                    mask = np.concatenate([mask, np.ones((ids.shape[0], 1), bool)], axis=1)
                if stops:
                    for row in np.flatnonzero(~done):
                        text = tokenizer.decode(ids[row, T0:].tolist())
                        done[row] = any(s in text for s in stops)
                if hasattr(streamer, "put"):
                    streamer.put(nxt)
                elif streamer is not None:
                    streamer(nxt)
                if done.all():
                    break
                if use_cache and caches[0].length < bs:
                    logits = model(ids[:, -1:], kv_caches=caches,
                                   attention_mask=last(caches[0].length + 1)).logits.data[:, -1]
                elif use_cache:
                    caches = None  # full: rebuilt from a window on the next step
    finally:
        model.train(was_training)
        if streamer is not None and hasattr(streamer, "end"):
            streamer.end()
    return ids


def cut_at_stop(text, stop_strings):
    """text up to and including the first stop string in it (all of it if none occurs)."""
    ends = [text.find(s) + len(s) for s in stop_strings or () if s and s in text]
    return text[:min(ends)] if ends else text


class TextStreamer:
    """A streamer that writes the text of row 0 as it is generated, as transformers'
    TextStreamer: put() gets the prompt (B, T) first, then each new token (B,); only
    whole characters are written (a byte-level token may end inside one)."""

    def __init__(self, tokenizer, skip_prompt=True, file=None, stop_strings=None):
        self.tokenizer, self.skip_prompt, self.file = tokenizer, skip_prompt, file or sys.stdout
        self.stop_strings = stop_strings
        self.ids, self.shown, self.prompt = [], 0, None

    def put(self, value):
        value = np.asarray(value)
        if self.prompt is None:              # the prompt: (B, T)
            self.prompt = value[0].tolist()
            if not self.skip_prompt:
                self.file.write(self.tokenizer.decode(self.prompt))
                self.file.flush()
            return
        self.ids.append(int(value[0]))
        self._write(final=False)

    def end(self):
        self._write(final=True)
        self.file.write("\n")
        self.file.flush()

    def _write(self, final):
        text = cut_at_stop(self.tokenizer.decode(self.ids), self.stop_strings)
        if not final:
            text = text.rstrip("\ufffd")     # a character whose bytes have not all come yet
        self.file.write(text[self.shown:])
        self.file.flush()
        self.shown = max(self.shown, len(text))
