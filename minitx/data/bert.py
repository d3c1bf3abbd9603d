"""BERT's pretraining data: next-sentence pairs from documents, and the masking
that turns them into masked-LM examples.

A pair is `[CLS] A [SEP] B [SEP]` then padding: A is a run of consecutive
segments (paragraphs) of a document; half the time B is the text that follows A
in the same document (next_sentence_label 0, "is next"), half the time a run of
segments from another document (label 1, "random"), as in BERT.

Masking (BERT's recipe): in each row, round(15%) of the tokens that are neither
special nor padding are chosen (at least one); labels hold the original id there
and -100 everywhere else; of the chosen, 80% become [MASK], 10% a random token,
10% stay as they are, so the model cannot tell which unmasked tokens it is asked
about. Random tokens are drawn from the non-special vocab, so no stray [CLS] or
[PAD] appears inside the text.
"""
from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass
class PretrainingBatch:
    """int64 arrays; (B, T) unless noted."""
    input_ids: np.ndarray
    token_type_ids: np.ndarray           # 0 for [CLS] A [SEP], 1 for B [SEP], 0 for padding
    attention_mask: np.ndarray           # 1 for real tokens, 0 for padding
    next_sentence_label: np.ndarray      # (B,): 0 = B follows A, 1 = B is random
    labels: Optional[np.ndarray] = None  # masked-LM targets: the original id, -100 elsewhere


class MaskingCollator:
    """Masks a batch for masked-LM, drawing from a generator seeded by `seed`.

    special_ids: ids never chosen (a WordPieceTokenizer's [PAD] [UNK] [CLS] [SEP]
    [MASK]); vocab_size and mask_id as the tokenizer's.
    """

    def __init__(self, vocab_size, mask_id, special_ids, mlm_probability=0.15, seed=0):
        if not 0 < mlm_probability <= 1:
            raise ValueError(f"MaskingCollator: mlm_probability must be in (0, 1], got {mlm_probability}")
        special = np.zeros(vocab_size, dtype=bool)
        special[list(special_ids)] = True
        if special.all():
            raise ValueError(f"MaskingCollator: every one of the {vocab_size} ids is special")
        self.special = special                              # (V,)
        self.ordinary = np.flatnonzero(~special)            # ids a random replacement may take
        self.mask_id, self.mlm_probability = int(mask_id), mlm_probability
        self.rng = np.random.default_rng(seed)

    @classmethod
    def for_tokenizer(cls, tokenizer, mlm_probability=0.15, seed=0):
        return cls(tokenizer.vocab_size, tokenizer.mask_id, tokenizer.special_tokens.values(),
                   mlm_probability, seed)

    def __call__(self, input_ids, attention_mask=None):
        """(masked input_ids, labels), both int64 (B, T); the input is not modified."""
        ids = np.asarray(input_ids, dtype=np.int64)  # (B, T)
        if ids.ndim != 2:
            raise ValueError(f"MaskingCollator: input_ids must be (B, T), got shape {ids.shape}")
        if ids.size and not (0 <= ids.min() and ids.max() < len(self.special)):
            raise ValueError(f"MaskingCollator: ids must lie in [0, {len(self.special)}), "
                             f"got {ids.min()}..{ids.max()}")
        eligible = ~self.special[ids]  # (B, T)
        if attention_mask is not None:
            eligible &= np.asarray(attention_mask).astype(bool)
        # A random key per position, +inf where not eligible: a row's k smallest are
        # k distinct positions drawn uniformly from its eligible ones.
        keys = np.where(eligible, self.rng.random(ids.shape), np.inf)  # (B, T)
        n_eligible = eligible.sum(axis=1)  # (B,)
        k = np.where(n_eligible > 0, np.maximum(1, np.rint(self.mlm_probability * n_eligible)), 0)
        rank = np.argsort(np.argsort(keys, axis=1, kind="stable"), axis=1)  # (B, T)
        chosen = rank < k[:, None]  # (B, T)
        labels = np.where(chosen, ids, -100)
        u = self.rng.random(ids.shape)  # (B, T): < 0.8 [MASK], < 0.9 random, else unchanged
        random_ids = self.ordinary[self.rng.integers(0, len(self.ordinary), size=ids.shape)]
        out = np.where(chosen & (u < 0.8), self.mask_id, ids)
        out = np.where(chosen & (u >= 0.8) & (u < 0.9), random_ids, out)
        return out, labels

    def state_dict(self):
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state):
        self.rng.bit_generator.state = state["rng"]


def split_segments(document):
    """A document's paragraphs (blank-line separated), the units A and B are made of."""
    return [p.strip() for p in document.split("\n\n") if p.strip()]


def split_documents(text):
    """BERT's pretraining text format: one sentence (or paragraph) per line, a
    blank line between documents. Returns the documents as lists of lines."""
    docs = [[line.strip() for line in block.splitlines() if line.strip()]
            for block in text.replace("\r\n", "\n").split("\n\n")]
    return [d for d in docs if d]


class NextSentencePairs:
    """Sentence-pair examples from tokenized documents.

    documents: a list of documents, each a list of segments, each a list of
    token ids (no special tokens). A segment longer than half the room is cut
    into pieces, so A and B each start on whole text. Documents with fewer than
    two segments can still give random Bs but never an A.
    """

    def __init__(self, documents, max_length, cls_id, sep_id, pad_id):
        if max_length < 5:
            raise ValueError(f"NextSentencePairs: max_length {max_length} leaves no room for A and B")
        self.max_length, self.cls_id, self.sep_id, self.pad_id = max_length, cls_id, sep_id, pad_id
        self.room = max_length - 3  # [CLS] A [SEP] B [SEP]
        half = max(1, self.room // 2)
        self.documents = []
        for doc in documents:
            pieces = [list(seg[i:i + half]) for seg in doc for i in range(0, len(seg), half)]
            if pieces:
                self.documents.append(pieces)
        self.with_a = [i for i, d in enumerate(self.documents) if len(d) >= 2]
        if not self.with_a or len(self.documents) < 2:
            raise ValueError(f"NextSentencePairs: need at least two non-empty documents, one of them with "
                             f"two segments; got {len(self.documents)} documents, {len(self.with_a)} with two")

    @classmethod
    def from_segments(cls, documents, tokenizer, max_length):
        """From documents given as lists of text segments, tokenized by a WordPieceTokenizer."""
        docs = [[tokenizer.encode(seg, add_special_tokens=False).input_ids for seg in doc]
                for doc in documents]
        return cls(docs, max_length, tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id)

    def _run(self, doc, start, room):
        """Token ids of segments start, start+1, ... of doc until `room` is filled (at
        least one segment), and the index after the last one taken."""
        ids, end = list(doc[start]), start + 1
        while end < len(doc) and len(ids) < room:
            ids += doc[end]
            end += 1
        return ids, end

    def pair(self, rng):
        """(A ids, B ids, is_random), truncated to fit max_length with the specials."""
        d = self.with_a[rng.integers(len(self.with_a))]
        doc = self.documents[d]
        start = int(rng.integers(len(doc) - 1))
        # A fills a random share of the room, and leaves at least one segment to follow it
        a, end = self._run(doc[:-1], start, int(rng.integers(1, self.room)))
        is_random = bool(rng.random() < 0.5)
        if is_random:
            other = int(rng.integers(len(self.documents) - 1))
            other += other >= d  # any document but this one
            odoc = self.documents[other]
            b, _ = self._run(odoc, int(rng.integers(len(odoc))), self.room - len(a))
        else:
            b, _ = self._run(doc, end, self.room - len(a))
        # Cut the longer side until both fit: A loses its start and B its end, so
        # the seam between them, which the label is about, stays intact.
        na, nb = len(a), len(b)
        while na + nb > self.room:
            if na > nb:
                na -= 1
            else:
                nb -= 1
        return a[len(a) - na:], b[:nb], is_random

    def batch(self, batch_size, rng):
        """A PretrainingBatch of `batch_size` pairs, padded to max_length (labels unset)."""
        B, T = batch_size, self.max_length
        ids = np.full((B, T), self.pad_id, dtype=np.int64)
        types = np.zeros((B, T), dtype=np.int64)
        mask = np.zeros((B, T), dtype=np.int64)
        nsl = np.zeros(B, dtype=np.int64)
        for i in range(B):
            a, b, nsl[i] = self.pair(rng)
            row = [self.cls_id, *a, self.sep_id, *b, self.sep_id]
            ids[i, :len(row)] = row
            types[i, len(a) + 2:len(row)] = 1
            mask[i, :len(row)] = 1
        return PretrainingBatch(ids, types, mask, nsl)


class PretrainingData:
    """Masked next-sentence pairs for the Trainer: documents split into train and
    validation (every `val_every`-th document is held out, so validation pairs
    come from text never trained on), batches as keyword arguments of
    BertForPreTraining. Training batches come from a seeded generator that
    state_dict() saves; validation batches are the same on every call.
    """

    def __init__(self, documents, tokenizer, max_length=128, val_every=10, seed=0):
        """documents: lists of text segments (see split_segments, split_documents)."""
        if len(documents) < 2 * val_every:
            raise ValueError(f"PretrainingData: {len(documents)} documents are too few to hold out "
                             f"every {val_every}th and keep two for validation")
        val = [d for i, d in enumerate(documents) if i % val_every == val_every - 1]
        train = [d for i, d in enumerate(documents) if i % val_every != val_every - 1]
        self.splits = {"train": NextSentencePairs.from_segments(train, tokenizer, max_length),
                       "val": NextSentencePairs.from_segments(val, tokenizer, max_length)}
        self.masking = MaskingCollator.for_tokenizer(tokenizer, seed=seed)
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def _batch(self, split, batch_size, rng, masking):
        b = self.splits[split].batch(batch_size, rng)
        ids, labels = masking(b.input_ids, b.attention_mask)
        return dict(input_ids=ids, attention_mask=b.attention_mask, token_type_ids=b.token_type_ids,
                    labels=labels, next_sentence_label=b.next_sentence_label)

    def get_batch(self, batch_size, split="train"):
        return self._batch(split, batch_size, self.rng, self.masking)

    def eval_batches(self, batch_size, n_batches, split="val"):
        rng = np.random.default_rng([self.seed, 1])
        masking = MaskingCollator(len(self.masking.special), self.masking.mask_id,
                                  np.flatnonzero(self.masking.special), seed=self.seed + 1)
        return [self._batch(split, batch_size, rng, masking) for _ in range(n_batches)]

    def state_dict(self):
        return {"rng": self.rng.bit_generator.state, "masking": self.masking.state_dict()}

    def load_state_dict(self, state):
        self.rng.bit_generator.state = state["rng"]
        self.masking.load_state_dict(state["masking"])
