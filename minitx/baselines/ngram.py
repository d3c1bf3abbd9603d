"""An n-gram language model over token ids, with add-k or interpolated Kneser-Ney smoothing.

The next token depends on the n - 1 before it, and on nothing further back: the model
is a table of counts. Each sequence is padded on the left with n - 1 copies of a
beginning-of-sequence symbol BOS (id V, never predicted), so every token, the first
included, has a context of n - 1 symbols.

add-k:  P(w | h) = (c(h w) + k) / (c(h) + k V), with h the longest suffix of the context
        that was seen in training (down to the empty context: an unseen context backs off).

interpolated Kneser-Ney (Chen and Goodman 1998; Jurafsky and Martin, ch. 3):
        P(w | h) = max(c(h w) - d, 0) / c(h) + d N1+(h .) / c(h) * P(w | h')
where h' is h without its first symbol, c(h) = sum_w c(h w), N1+(h .) the number of
distinct w after h. c is the raw count at the top order n and the continuation count
N1+(. h w), the number of distinct symbols seen before h w, at every lower order; the
empty context interpolates with the uniform 1 / V. A context never seen (c(h) = 0)
passes P(w | h') through. Each level sums to 1 over the V tokens, so the model does.
"""
import math

import numpy as np

from ..random import default_generator

SMOOTHINGS = ("add_k", "kneser_ney")


def _lookup(keys, values, queries):
    """values[i] where keys[i] == query (keys sorted, unique), else 0; queries (Q,) -> (Q,)."""
    if not len(keys):
        return np.zeros(queries.shape, dtype=values.dtype)
    i = np.minimum(np.searchsorted(keys, queries), len(keys) - 1)
    return np.where(keys[i] == queries, values[i], 0)


class NGramLM:
    """n: the order (1 unigram, 2 bigram, ...); vocab_size V: the ids are 0 .. V - 1."""

    def __init__(self, n, vocab_size, smoothing="kneser_ney", k=1.0, discount=0.75):
        if not (isinstance(n, int) and n >= 1):
            raise ValueError(f"NGramLM: n={n!r}; expected an int >= 1")
        if not (isinstance(vocab_size, int) and vocab_size >= 1):
            raise ValueError(f"NGramLM: vocab_size={vocab_size!r}; expected an int >= 1")
        if smoothing not in SMOOTHINGS:
            raise ValueError(f"NGramLM: smoothing={smoothing!r}; choose one of {SMOOTHINGS}")
        if smoothing == "add_k" and not k > 0:
            raise ValueError(f"NGramLM: k={k}; add-k needs k > 0 (k = 0 gives unseen tokens probability 0)")
        if smoothing == "kneser_ney" and not 0 < discount <= 1:
            raise ValueError(f"NGramLM: discount={discount}; expected 0 < d <= 1")
        if (vocab_size + 1) ** n >= 2 ** 62:
            raise ValueError(f"NGramLM: (vocab_size + 1) ** n = {vocab_size + 1} ** {n} does not fit the "
                             f"int64 keys; lower n or vocab_size")
        self.n, self.V, self.smoothing, self.k, self.discount = n, vocab_size, smoothing, k, discount
        self.bos, self.base = vocab_size, vocab_size + 1

    # ---- ids ----------------------------------------------------------------
    def _ids(self, sequence, where):
        ids = np.asarray(sequence)
        if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
            raise ValueError(f"NGramLM.{where}: a sequence of shape {ids.shape} and dtype {ids.dtype}; "
                             f"expected 1-D integer ids")
        bad = (ids < 0) | (ids >= self.V)
        if bad.any():
            raise ValueError(f"NGramLM.{where}: id {int(ids[bad][0])} outside [0, {self.V})")
        return ids.astype(np.int64)

    def _windows(self, ids):
        """(T,) ids -> (T, n) rows: the n - 1 symbols before each token (BOS-padded), then the token."""
        padded = np.concatenate([np.full(self.n - 1, self.bos, dtype=np.int64), ids])
        if len(padded) < self.n:                                       # an empty sequence of a unigram model
            return np.zeros((0, self.n), dtype=np.int64)
        return np.lib.stride_tricks.sliding_window_view(padded, self.n)

    def _encode(self, columns):
        """(Q, m) symbols -> (Q,) int64 keys, base V + 1, the last symbol least significant."""
        key = np.zeros(columns.shape[0], dtype=np.int64)
        for j in range(columns.shape[1]):
            key = key * self.base + columns[:, j]
        return key

    # ---- fit ------------------------------------------------------------------
    def fit(self, sequences):
        """Count the m-grams, m = 1 .. n, of a list of 1-D id sequences."""
        if isinstance(sequences, np.ndarray) and sequences.ndim == 1:
            raise ValueError("NGramLM.fit: expected a list of sequences, got one 1-D array; wrap it in a list")
        rows = [self._windows(self._ids(s, "fit")) for s in sequences]
        rows = np.concatenate(rows) if rows else np.zeros((0, self.n), np.int64)     # (N, n)
        if not len(rows):
            raise ValueError("NGramLM.fit: the sequences hold no token")
        raw = {}                                       # m -> (sorted unique m-gram keys, their counts)
        for m in range(1, self.n + 1):
            raw[m] = np.unique(self._encode(rows[:, self.n - m:]), return_counts=True)
        self.counts_ = {}                              # m -> (keys, the counts the smoothing uses)
        for m in range(1, self.n + 1):
            if self.smoothing == "add_k" or m == self.n:
                self.counts_[m] = raw[m]
            else:                                      # N1+(. g): distinct symbols before each m-gram g
                self.counts_[m] = np.unique(raw[m + 1][0] % self.base ** m, return_counts=True)
        self.contexts_ = {}                            # m -> (context keys, c(h), N1+(h .))
        for m, (keys, counts) in self.counts_.items():
            ctx, which = np.unique(keys // self.base, return_inverse=True)
            self.contexts_[m] = (ctx, np.bincount(which, weights=counts).astype(np.int64), np.bincount(which))
        return self

    # ---- probabilities ------------------------------------------------------
    def _prob(self, contexts, tokens):
        """contexts (Q, n - 1) symbols, tokens (Q,) ids -> (Q,) float64 P(token | context)."""
        V, d, k = self.V, self.discount, self.k
        p = np.full(tokens.shape, 1.0 / V)
        for m in range(1, self.n + 1):
            h = self._encode(contexts[:, self.n - m:])                 # (Q,) the last m - 1 symbols
            c = _lookup(*self.counts_[m], h * self.base + tokens).astype(np.float64)
            ctx_keys, total, types = self.contexts_[m]
            total = _lookup(ctx_keys, total, h).astype(np.float64)
            seen = total > 0
            total = np.where(seen, total, 1.0)
            if self.smoothing == "add_k":
                level = (c + k) / (total + k * V)
            else:
                types = _lookup(ctx_keys, types, h)
                level = (np.maximum(c - d, 0) + d * types * p) / total
            p = np.where(seen, level, p)
        return p

    def _check_fitted(self):
        if not hasattr(self, "counts_"):
            raise RuntimeError("NGramLM: call fit first")

    def probs(self, context=()):
        """(V,) P(w | context) for every w; context: the ids so far (only the last n - 1 matter)."""
        self._check_fitted()
        ids = self._ids(context, "probs")
        window = self._windows(np.append(ids, 0))[-1, :-1]             # (n - 1,) the padded context
        return self._prob(np.broadcast_to(window, (self.V, self.n - 1)), np.arange(self.V))

    def log_prob(self, sequence):
        """(T,) ln P(token_t | the tokens before it) along one sequence."""
        self._check_fitted()
        rows = self._windows(self._ids(sequence, "log_prob"))          # (T, n)
        return np.log(self._prob(rows[:, :-1], rows[:, -1]))

    def loss(self, sequences):
        """Mean cross-entropy per token in nats over a list of sequences."""
        logs = [self.log_prob(s) for s in sequences]
        n_tokens = sum(len(x) for x in logs)
        if not n_tokens:
            raise ValueError("NGramLM.loss: the sequences hold no token")
        return float(-sum(x.sum() for x in logs) / n_tokens)

    def bits_per_token(self, sequences):
        """The loss in bits: nats / ln 2."""
        return self.loss(sequences) / math.log(2)

    def generate(self, max_new_tokens, context=(), generator=None):
        """Sample max_new_tokens ids after context; generator: a NumPy Generator (minitx's by default)."""
        rng = default_generator() if generator is None else generator
        ids = list(self._ids(context, "generate"))
        for _ in range(max_new_tokens):
            cdf = np.cumsum(self.probs(ids[-(self.n - 1):] if self.n > 1 else ()))
            ids.append(int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), self.V - 1)))
        return np.array(ids[len(ids) - max_new_tokens:], dtype=np.int64)
