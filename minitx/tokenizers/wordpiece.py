"""WordPiece, as BERT does it.

Tokenizing a text, step by step (the order of Hugging Face's BertNormalizer and
BertPreTokenizer, which transformers' BertTokenizer runs):

1. Special tokens ([CLS], [MASK], ...) written in the text are kept whole.
2. Clean: drop NUL, U+FFFD and control characters (general categories Cc, Cf,
   Co, Cs, but not tab, newline, carriage return, which are whitespace).
   Unassigned code points (Cn) are kept, as the tokenizers library keeps them;
   Google's original BERT code drops them too.
3. Put spaces around each CJK ideograph, so each is its own word.
4. Uncased models: strip accents (NFD, then drop nonspacing marks Mn), then
   lowercase.
5. Split on whitespace, and split each punctuation character off on its own
   (ASCII symbols count as punctuation, as in BERT).
6. Each word becomes the longest vocab entry that starts it, then the longest
   '##' entry that continues it, and so on (greedy longest match first). A word
   that cannot be covered so, or is over 100 characters, is one [UNK].
"""

import dataclasses
import functools
import json
import re
import unicodedata
from collections import Counter

import numpy as np

from . import _files
from ._train import learn_merges
from ._unicode import WHITESPACE, char_class
from .base import Tokenizer, VocabError, added_tokens, special_regex, split_special

# The CJK ideograph blocks, exactly as the tokenizers library lists them.
# (Google's original BERT code starts Extension E at 0x2B820, not 0x2B920.)
CJK = "\u4e00-\u9fff\u3400-\u4dbf\U00020000-\U0002a6df\U0002a700-\U0002b73f\U0002b740-\U0002b81f" \
      "\U0002b920-\U0002ceaf\uf900-\ufaff\U0002f800-\U0002fa1f"


@functools.cache
def _regexes():
    """(controls to drop, CJK ideographs, nonspacing marks, words and punctuation)."""
    # Cc is fixed by Unicode: 0x00-0x1f and 0x7f-0x9f; tab, newline and return are spared.
    controls = rf"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd{char_class('Cf', 'Co', 'Cs')}]"
    ascii_punctuation = r"!-/:-@\[-`{-~"  # BERT counts all ASCII symbols as punctuation
    punctuation = ascii_punctuation + char_class("P")
    # `re` tests a character against a class of many ranges one range at a time,
    # so cheap tests for ASCII go first: this makes English text 2-3x faster.
    return (
        re.compile(rf"(?=[^\t\n\r -~]){controls}"),
        re.compile(f"(?=[^\x00-\x7f])[{CJK}]"),
        re.compile(rf"(?=[^\x00-\x7f])[{char_class('Mn')}]"),
        re.compile(rf"[{ascii_punctuation}]|(?:[0-9A-Za-z]|[^{punctuation}{WHITESPACE}])+|[{punctuation}]"),
    )


@dataclasses.dataclass
class Encoding:
    """BERT's inputs: lists of length T for one text, int64 arrays (B, T) for a batch.

    input_ids: token ids, [CLS] A [SEP] (B [SEP]) then [PAD]s;
    token_type_ids: 0 for [CLS] A [SEP], 1 for B [SEP], 0 for padding;
    attention_mask: 1 for real tokens, 0 for padding.
    """

    input_ids: list
    token_type_ids: list
    attention_mask: list
    # with return_offsets_mapping: (start, end) character offsets of each token into
    # its own text (A's into text, B's into text_pair), (0, 0) for [CLS], [SEP], [PAD];
    # a list of T pairs for one text, an int64 array (B, T, 2) for a batch
    offset_mapping: list = None


class WordPieceTokenizer(Tokenizer):
    """BERT's basic tokenizer, then greedy longest-match-first WordPiece with '##' continuations."""

    PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
    PREFIX = "##"
    MAX_WORD_CHARS = 100
    # Words seen before are looked up, not split again; the cache is emptied
    # when it reaches this many words, to bound memory on endless streams.
    CACHE_WORDS = 200_000

    def __init__(self, vocab, lowercase=True, strip_accents=None):
        """vocab: the tokens in id order (a vocab.txt's lines); it must hold [PAD],
        [UNK], [CLS], [SEP] and [MASK]. lowercase: uncased model; strip_accents:
        None follows `lowercase` (as BERT's tokenizers do)."""
        self._itos = list(vocab)
        self._stoi = {}
        for i, token in enumerate(self._itos):
            if not isinstance(token, str) or not token:
                raise VocabError(f"token {token!r} (id {i}) is not a non-empty string", at=i)
            if self._stoi.setdefault(token, i) != i:
                raise VocabError(f"duplicate token {token!r} (id {i}; first as id {self._stoi[token]})", at=i)
        for s in (self.PAD, self.UNK, self.CLS, self.SEP, self.MASK):
            if s not in self._stoi:
                raise VocabError(f"no {s} token: BERT needs [PAD], [UNK], [CLS], [SEP] and [MASK]")
        self._special = {s: self._stoi[s] for s in (self.PAD, self.UNK, self.CLS, self.SEP, self.MASK)}
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = self._special.values()
        self.lowercase = lowercase
        self.strip_accents = lowercase if strip_accents is None else strip_accents
        # the longest token, in characters after its '##': no piece to try is longer
        self._longest = max(len(t.removeprefix(self.PREFIX)) for t in self._itos)
        self._special_re = special_regex(self._special)
        self._cache = {}

    # ---- tokenizing ---------------------------------------------------------

    def basic_tokenize(self, text):
        """BERT's basic tokenizer: the words and punctuation of `text`, normalized (steps 2-5)."""
        controls, cjk, marks, words = _regexes()
        text = controls.sub("", text)
        text = cjk.sub(r" \g<0> ", text)
        if self.strip_accents:
            text = marks.sub("", unicodedata.normalize("NFD", text))
        if self.lowercase:
            # tokenizers lowercases one character at a time; str.lower would
            # turn a word-final capital sigma into the final form 'ς' instead of 'σ'
            text = text.replace("Σ", "σ").lower()
        return words.findall(text)

    def tokenize(self, text):
        """The word pieces of `text`, e.g. 'unaffable' -> ['una', '##ff', '##able']."""
        return [self._itos[i] for i in self._ids(text)]

    def _ids(self, text):
        ids = []
        for piece, is_special in split_special(text, self._special_re):
            if is_special:
                ids.append(self._special[piece])
                continue
            for word in self.basic_tokenize(piece):
                word_ids = self._cache.get(word)
                if word_ids is None:
                    if len(self._cache) >= self.CACHE_WORDS:
                        self._cache.clear()
                    word_ids = self._cache[word] = self._wordpiece(word)
                ids.extend(word_ids)
        return ids

    def _ids_offsets(self, text):
        """(ids, [(start, end)]) of `text`: each token's character span in `text`.

        Normalizing maps each character to zero or more (stripped accents, dropped
        controls; 'İ' lowercases to two), so each normalized character remembers
        the original one it came from, as the tokenizers library aligns them.
        """
        ids, offsets, at = [], [], 0
        for piece, is_special in split_special(text, self._special_re):
            at = text.index(piece, at)
            if is_special:
                ids.append(self._special[piece])
                offsets.append((at, at + len(piece)))
            else:
                norm, origin = self._normalize_aligned(piece)
                for m in _regexes()[3].finditer(norm):
                    start = m.start()
                    word_ids = self._wordpiece(m.group())
                    if word_ids == [self.unk_id]:
                        lengths = [len(m.group())]
                    else:
                        lengths = [len(self._itos[i].removeprefix(self.PREFIX) if k else self._itos[i])
                                   for k, i in enumerate(word_ids)]
                    for i, n in zip(word_ids, lengths):
                        ids.append(i)
                        offsets.append((at + origin[start], at + origin[start + n - 1] + 1))
                        start += n
            at += len(piece)
        return ids, offsets

    def _normalize_aligned(self, text):
        """basic_tokenize's normalization (steps 2-4) one character at a time:
        (normalized text, the index in `text` of each of its characters)."""
        controls, cjk, marks, _ = _regexes()
        out, origin = [], []
        for i, ch in enumerate(text):
            if controls.match(ch):
                continue
            if cjk.match(ch):
                s = f" {ch} "
            else:
                s = marks.sub("", unicodedata.normalize("NFD", ch)) if self.strip_accents else ch
                if self.lowercase:
                    s = s.replace("Σ", "σ").lower()
            out.append(s)
            origin.extend([i] * len(s))
        return "".join(out), origin

    def _wordpiece(self, word):
        """Ids of one word by greedy longest match first; [UNK] if it cannot be covered."""
        if len(word) > self.MAX_WORD_CHARS:
            return [self.unk_id]
        ids, start = [], 0
        while start < len(word):
            for end in range(min(len(word), start + self._longest), start, -1):
                piece = word[start:end] if start == 0 else self.PREFIX + word[start:end]
                if piece in self._stoi:
                    break
            else:
                return [self.unk_id]
            ids.append(self._stoi[piece])
            start = end
        return ids

    # ---- the interface ------------------------------------------------------

    @property
    def vocab_size(self):
        return len(self._itos)

    def token_to_id(self, token):
        if token not in self._stoi:
            raise KeyError(f"token {token!r} is not in the vocab")
        return self._stoi[token]

    def id_to_token(self, i):
        if not 0 <= i < len(self._itos):
            raise KeyError(f"id {i} is outside the vocab (vocab_size {self.vocab_size})")
        return self._itos[i]

    def encode(self, text, text_pair=None, max_length=None, truncation=True, padding=False,
               add_special_tokens=True, return_offsets_mapping=False):
        """BERT's inputs for `text` (and `text_pair`): [CLS] A [SEP] B [SEP].

        With max_length and truncation, tokens are dropped from the end of the
        longer of A and B until the whole fits, as BERT does (see _truncate_longest_first).
        padding: False or 'longest' (no padding for one text), 'max_length' (pad to max_length).
        return_offsets_mapping: also each token's (start, end) characters in its text.
        """
        _check_padding(padding, max_length)
        if return_offsets_mapping:
            a, a_off = self._ids_offsets(text)
            b, b_off = (None, None) if text_pair is None else self._ids_offsets(text_pair)
        else:
            a, a_off = self._ids(text), None
            b, b_off = None if text_pair is None else self._ids(text_pair), None
        if max_length is not None and truncation:
            n_special = (2 if b is None else 3) if add_special_tokens else 0
            if max_length < n_special:
                raise ValueError(
                    f"max_length {max_length} leaves no room after the {n_special} special tokens")
            a, b = _truncate_longest_first(a, b, max_length - n_special)
        offsets = None
        if return_offsets_mapping:
            none = [(0, 0)] if add_special_tokens else []
            offsets = none + a_off[:len(a)] + none + ([] if b is None else b_off[:len(b)] + none)
        if add_special_tokens:
            a = [self.cls_id, *a, self.sep_id]
            b = None if b is None else [*b, self.sep_id]
        ids = a + (b or [])
        types = [0] * len(a) + [1] * len(b or [])
        mask = [1] * len(ids)
        if padding == "max_length" and len(ids) < max_length:
            n = max_length - len(ids)
            ids, types, mask = ids + [self.pad_id] * n, types + [0] * n, mask + [0] * n
            offsets = None if offsets is None else offsets + [(0, 0)] * n
        return Encoding(ids, types, mask, offsets)

    def encode_batch(self, texts, text_pairs=None, max_length=None, truncation=True, padding="longest",
                     add_special_tokens=True, return_offsets_mapping=False):
        """`encode` of each text (and pair), padded to a rectangle: int64 arrays of shape (B, T),
        T the longest row (padding='longest') or max_length (padding='max_length')."""
        if padding not in ("longest", True, "max_length"):
            raise ValueError(
                f"encode_batch: padding must be 'longest' or 'max_length' (a batch is a rectangle), got {padding!r}")
        _check_padding(padding, max_length)
        texts = list(texts)
        pairs = [None] * len(texts) if text_pairs is None else list(text_pairs)
        if len(pairs) != len(texts):
            raise ValueError(f"encode_batch: {len(texts)} texts but {len(pairs)} text_pairs")
        rows = [self.encode(t, p, max_length, truncation, False, add_special_tokens, return_offsets_mapping)
                for t, p in zip(texts, pairs)]
        longest = max((len(r.input_ids) for r in rows), default=0)
        T = max_length if padding == "max_length" else longest
        if longest > T:
            row = next(i for i, r in enumerate(rows) if len(r.input_ids) > T)
            raise ValueError(
                f"encode_batch: row {row} has {len(rows[row].input_ids)} tokens, over max_length {T}")
        ids = np.full((len(rows), T), self.pad_id, dtype=np.int64)  # (B, T)
        types = np.zeros((len(rows), T), dtype=np.int64)  # (B, T)
        mask = np.zeros((len(rows), T), dtype=np.int64)  # (B, T)
        offsets = np.zeros((len(rows), T, 2), dtype=np.int64) if return_offsets_mapping else None  # (B, T, 2)
        for i, r in enumerate(rows):
            n = len(r.input_ids)
            ids[i, :n], types[i, :n], mask[i, :n] = r.input_ids, r.token_type_ids, 1
            if offsets is not None and n:
                offsets[i, :n] = r.offset_mapping
        return Encoding(ids, types, mask, offsets)

    def decode(self, ids, skip_special_tokens=False):
        """Tokens joined by spaces, '##' continuations glued to what precedes them."""
        tokens = []
        for i in ids:
            if not 0 <= i < len(self._itos):
                raise ValueError(f"decode: id {i} is outside the vocab (vocab_size {self.vocab_size})")
            if not (skip_special_tokens and self._itos[i] in self._special):
                tokens.append(self._itos[i])
        return " ".join(tokens).replace(" " + self.PREFIX, "")

    # ---- training -----------------------------------------------------------

    @classmethod
    def train(cls, text_or_files, vocab_size, lowercase=True, strip_accents=None, min_frequency=2,
              errors="strict"):
        """Learn a vocab of `vocab_size` tokens: the five specials, every character of
        the corpus (alone and as '##' continuation), then merged pieces.

        Merges are learned as the tokenizers library's WordPieceTrainer does:
        byte-pair-style, the most frequent adjacent pair of pieces first, over the
        words of the basic tokenizer. text_or_files and errors as in BPETokenizer.train.
        """
        specials = [cls.PAD, cls.UNK, cls.CLS, cls.SEP, cls.MASK]
        basic = cls(specials, lowercase, strip_accents)
        words = Counter()
        for text in _files.iter_texts(text_or_files, errors):
            for piece, is_special in split_special(text, basic._special_re):
                if not is_special:
                    words.update(basic.basic_tokenize(piece))
        chars = sorted({c for word in words for c in word})
        vocab = specials + chars + [cls.PREFIX + c for c in chars]
        if vocab_size < len(vocab):
            raise ValueError(
                f"vocab_size {vocab_size} is below the {len(specials)} specials and {2 * len(chars)} "
                "characters (alone and as '##' continuations) of this corpus"
            )
        token_id = {token: i for i, token in enumerate(vocab)}
        pieces = Counter()
        for word, n in words.items():
            if len(word) <= cls.MAX_WORD_CHARS:
                pieces[(token_id[word[0]], *(token_id[cls.PREFIX + c] for c in word[1:]))] += n
        def join(left, right):  # the right piece always continues a word: drop its '##'
            return left + right[len(cls.PREFIX):]

        learn_merges(pieces, vocab, vocab_size, join, min_frequency)
        return cls(vocab, lowercase, strip_accents)

    # ---- files --------------------------------------------------------------

    @classmethod
    def from_vocab_file(cls, path, lowercase=True, strip_accents=None):
        """Load a BERT vocab.txt (one token per line, the id is the line number - 1)."""
        tokens = [line for _, line in _files.read_lines(path)]
        try:
            return cls(tokens, lowercase, strip_accents)
        except VocabError as e:
            where = f"{path}:{e.at + 1}" if isinstance(e.at, int) else str(path)
            raise VocabError(f"{where}: {e}", at=e.at) from None

    def save_vocab_file(self, path):
        """Write vocab.txt: one token per line, in id order."""
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(token + "\n" for token in self._itos)

    def save(self, path):
        """Write a Hugging Face tokenizer.json (the tokenizers library loads it)."""
        data = {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added_tokens(self._special),
            "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                           "strip_accents": self.strip_accents, "lowercase": self.lowercase},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "post_processor": {"type": "BertProcessing", "sep": [self.SEP, self.sep_id],
                               "cls": [self.CLS, self.cls_id]},
            "decoder": {"type": "WordPiece", "prefix": self.PREFIX, "cleanup": False},
            "model": {"type": "WordPiece", "unk_token": self.UNK, "continuing_subword_prefix": self.PREFIX,
                      "max_input_chars_per_word": self.MAX_WORD_CHARS,
                      "vocab": {t: i for i, t in enumerate(self._itos)}},
        }
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=2)

    @classmethod
    def load(cls, path):
        """Load a Hugging Face tokenizer.json of a BERT WordPiece model (or one `save` wrote)."""
        data, text = _files.read_json(path)

        def expect(ok, where, what):
            if not ok:
                raise VocabError(f"{path}: {where}: {what}")

        expect(isinstance(data, dict) and isinstance(data.get("model"), dict), "model",
               "expected a JSON object with a 'model' object")
        model, norm = data["model"], data.get("normalizer") or {}
        expect(model.get("type") == "WordPiece", "model.type", f"{model.get('type')!r} is not 'WordPiece'")
        for key, ours in (("unk_token", cls.UNK), ("continuing_subword_prefix", cls.PREFIX),
                          ("max_input_chars_per_word", cls.MAX_WORD_CHARS)):
            expect(model.get(key, ours) == ours, f"model.{key}", f"{model.get(key)!r} is not supported (only {ours!r})")
        bert_normalizer = (norm.get("type") == "BertNormalizer" and norm.get("clean_text", True)
                           and norm.get("handle_chinese_chars", True))
        expect(bert_normalizer, "normalizer",
               f"{norm!r} is not supported (only BertNormalizer with clean_text and handle_chinese_chars)")
        expect((data.get("pre_tokenizer") or {}).get("type") == "BertPreTokenizer", "pre_tokenizer",
               f"{data.get('pre_tokenizer')!r} is not supported (only BertPreTokenizer)")
        vocab = model.get("vocab")
        expect(isinstance(vocab, dict), "model.vocab", "expected an object of token -> id")
        by_id = {}
        for token, i in vocab.items():
            if by_id.setdefault(i, token) != token:
                where = _files.json_where(path, text, token, key=True)
                raise VocabError(f"{where}: tokens {by_id[i]!r} and {token!r} have the same id {i}")
        missing = next((i for i in range(len(by_id)) if i not in by_id), None)
        expect(missing is None, "model.vocab", f"ids must run 0..{len(by_id) - 1}, but {missing} is missing")
        try:
            return cls([by_id[i] for i in range(len(by_id))], norm.get("lowercase", True),
                       norm.get("strip_accents"))
        except VocabError as e:
            where = _files.json_where(path, text, by_id.get(e.at), key=True) if isinstance(e.at, int) else path
            raise VocabError(f"{where}: {e}", at=e.at) from None


def _check_padding(padding, max_length):
    if padding not in (False, True, "longest", "max_length"):
        raise ValueError(f"padding must be False, True, 'longest' or 'max_length', got {padding!r}")
    if padding == "max_length" and max_length is None:
        raise ValueError("padding='max_length' needs max_length")


def _truncate_longest_first(a, b, budget):
    """(a, b) cut from their ends to at most `budget` tokens together, longest first.

    The longer loses tokens until it is as short as the other; if both must
    then be cut, they share the budget evenly, the longer (B on a tie) keeping
    the odd token: the tokenizers library's rule. (Google's _truncate_seq_pair
    gives the odd token to A on a tie.)
    """
    if b is None:
        return a[:budget], None
    if len(a) + len(b) <= budget:
        return a, b
    keep_shorter = min(len(a), len(b), budget // 2)
    if len(a) > len(b):
        return a[: budget - keep_shorter], b[:keep_shorter]
    return a[:keep_shorter], b[: budget - keep_shorter]
