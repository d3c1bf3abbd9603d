"""Byte-level BPE, as GPT-2 does it.

Encoding a text, step by step:

1. Special tokens (`<|endoftext|>`) are cut out whole and map to their ids.
2. The GPT-2 regex splits the rest into words: contractions ('s 't 're 've 'm
   'll 'd), runs of letters, runs of numbers, runs of other symbols (each run
   may take one leading space), and whitespace.
3. Each word becomes its UTF-8 bytes, each byte a one-character string from
   GPT-2's byte-to-unicode table (so the space byte is 'Ġ'), because GPT-2's
   vocab files store tokens as text.
4. Merges are applied by rank: the adjacent pair learned first is merged
   first, until no adjacent pair is a merge. What is left are tokens.

Any byte sequence can be encoded (the 256 bytes are tokens), so no text is
unknown and decode(encode(s)) == s for every string of Unicode scalar values.
"""

import functools
import itertools
import json
import operator
import re
from collections import Counter

from . import _files
from ._train import learn_merges
from ._unicode import WHITESPACE, char_class
from .base import Tokenizer, VocabError, added_tokens, special_regex, split_special


def bytes_to_unicode():
    """GPT-2's table, byte value -> character.

    Printable Latin-1 bytes stand for themselves; the other 68 (control
    characters, space, 0x7f-0xa0, 0xad) are moved to chr(256 + n), so that a
    token of any bytes is still a readable string without spaces.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    table, moved = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + moved)
            moved += 1
    return table


BYTE_TO_CHAR = bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


@functools.cache
def gpt2_classes():
    r"""GPT-2's character classes \p{L}, \p{N}, [^\s\p{L}\p{N}] and \s, for the stdlib `re`.

    `re` has no \p{...}, but its \w is exactly letters, numbers and '_' (a test
    checks every code point), and \d is exactly the decimal digits Nd. So
    \p{L} is \w minus \d, '_' and the other numbers (Nl, No); \p{N} is \d plus
    those; 'other' is anything neither \w nor whitespace, or '_'.
    ASCII letters are tried first: `re` checks the other numbers one range at a time.
    """
    other_numbers = char_class("Nl", "No")
    return {
        "letters": rf"(?:[A-Za-z]|[^\W\d_{other_numbers}])",
        "numbers": rf"[\d{other_numbers}]",
        "others": rf"(?:[^\w{WHITESPACE}]|_)",
        "spaces": rf"[{WHITESPACE}]",
    }


@functools.cache
def gpt2_pattern():
    r"""GPT-2's pre-tokenizer regex:
    's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
    """
    c = gpt2_classes()
    return re.compile(
        rf"'(?:[sdmt]|ll|ve|re)| ?{c['letters']}+| ?{c['numbers']}+| ?{c['others']}+"
        rf"|{c['spaces']}+(?![^{WHITESPACE}])|{c['spaces']}+"
    )


class BPETokenizer(Tokenizer):
    """Byte-level BPE: GPT-2's pre-tokenizer, byte-to-unicode table and merges by rank."""

    # Words seen before are looked up, not merged again; the cache is emptied
    # when it reaches this many words, to bound memory on endless streams.
    CACHE_WORDS = 200_000

    def __init__(self, vocab, merges, special_tokens=None, add_prefix_space=False):
        """vocab: token -> id, tokens spelled in the byte-to-unicode alphabet ('Ġthe');
        merges: [(left, right)], earliest learned (lowest rank) first;
        special_tokens: text -> id, matched whole in `encode`, never split;
        add_prefix_space: put a space before text that does not start with one
        (RoBERTa-style, so the first word is tokenized like the others)."""
        vocab, special = dict(vocab), dict(special_tokens or {})
        merges = [tuple(pair) for pair in merges]
        _check(vocab, merges, special)
        self._encoder = {token: i for token, i in vocab.items() if token not in special}
        self._merges = merges
        self._ranks = {pair: rank for rank, pair in enumerate(merges)}
        self._special = special
        self._special_re = special_regex(special)
        self._id_bytes = {i: bytes(CHAR_TO_BYTE[c] for c in token) for token, i in self._encoder.items()}
        self._id_bytes.update({i: s.encode("utf-8") for s, i in special.items()})
        self._id_token = {i: token for token, i in self._encoder.items()} | {i: s for s, i in special.items()}
        self._vocab_size = max(self._id_token) + 1
        self.add_prefix_space = add_prefix_space
        self._pattern = gpt2_pattern()
        self._cache = {}

    # ---- the interface ------------------------------------------------------

    @property
    def vocab_size(self):
        return self._vocab_size

    @property
    def vocab(self):
        """Token (byte-to-unicode spelling) -> id, special tokens excluded."""
        return dict(self._encoder)

    @property
    def merges(self):
        """[(left, right)] by rank."""
        return list(self._merges)

    def token_to_id(self, token):
        if token in self._special:
            return self._special[token]
        if token in self._encoder:
            return self._encoder[token]
        raise KeyError(f"token {token!r} is neither a special token nor in the vocab")

    def id_to_token(self, i):
        """The token of id `i`, in the byte-to-unicode spelling (specials as themselves)."""
        if i not in self._id_token:
            raise KeyError(f"id {i} is not in the vocab (vocab_size {self.vocab_size})")
        return self._id_token[i]

    def encode(self, text, return_offsets_mapping=False):
        """Ids of `text`; special tokens in it map to their ids (as transformers' GPT2Tokenizer).

        return_offsets_mapping: (ids, [(start, end)]), each token's characters in
        `text`, as the tokenizers library gives them: a token's leading space is
        part of it, and the pieces of one multi-byte character each span that
        whole character.
        """
        if return_offsets_mapping:
            return self._encode_offsets(text)
        ids = []
        for piece, is_special in split_special(text, self._special_re):
            if is_special:
                ids.append(self._special[piece])
            else:
                ids.extend(self.encode_ordinary(piece))
        return ids

    def _encode_offsets(self, text):
        ids, offsets, at = [], [], 0
        for piece, is_special in split_special(text, self._special_re):
            if is_special:
                ids.append(self._special[piece])
                offsets.append((at, at + len(piece)))
                at += len(piece)
                continue
            shift = 0
            if self.add_prefix_space and not piece.startswith(" "):
                piece, shift = " " + piece, 1  # the added space belongs to the first character
            for m in self._pattern.finditer(piece):
                # the character each byte of the word comes from
                char_of_byte = [k for k, ch in enumerate(m.group()) for _ in ch.encode("utf-8", "surrogatepass")]
                b = 0
                for i in self._bpe_cached(m.group()):
                    n = len(self._id_bytes[i])
                    start = max(m.start() + char_of_byte[b] - shift, 0)
                    end = max(m.start() + char_of_byte[b + n - 1] - shift, 0) + 1
                    ids.append(i)
                    offsets.append((at + start, at + end))
                    b += n
            at += len(piece) - shift
        return ids, offsets

    def encode_ordinary(self, text):
        """Ids of `text`, special tokens treated as plain text (as tiktoken's encode_ordinary).

        Lone surrogates, which UTF-8 cannot encode, become U+FFFD, as in tiktoken.
        """
        if self.add_prefix_space and text and not text.startswith(" "):
            text = " " + text
        try:
            return self._encode_words(text)
        except UnicodeEncodeError:
            return self._encode_words(text.encode("utf-16", "surrogatepass").decode("utf-16", "replace"))

    def decode(self, ids, errors="replace"):
        """The text of `ids`. A cut through a multi-byte character gives U+FFFD
        (errors='replace', as tiktoken and GPT-2); errors='strict' raises instead."""
        try:
            data = b"".join(self._id_bytes[i] for i in ids)
        except KeyError as e:
            raise ValueError(
                f"decode: id {e.args[0]} is not in the vocab (vocab_size {self.vocab_size})") from None
        return data.decode("utf-8", errors)

    # ---- BPE ----------------------------------------------------------------

    def _encode_words(self, text):
        ids = []
        for word in self._pattern.findall(text):
            ids.extend(self._bpe_cached(word))
        return ids

    def _bpe_cached(self, word):
        word_ids = self._cache.get(word)
        if word_ids is None:
            if len(self._cache) >= self.CACHE_WORDS:
                self._cache.clear()
            word_ids = self._cache[word] = self._bpe(word)
        return word_ids

    def _bpe(self, word):
        """Token ids of one pre-tokenized word: its bytes, merged by rank."""
        parts = [BYTE_TO_CHAR[b] for b in word.encode("utf-8")]
        ranks, no_merge = self._ranks, len(self._ranks)
        while len(parts) > 1:
            rank = min(ranks.get(pair, no_merge) for pair in zip(parts, parts[1:]))
            if rank == no_merge:
                break
            left, right = self._merges[rank]
            # merge every occurrence, left to right, as GPT-2's encoder.py does
            merged, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and parts[i] == left and parts[i + 1] == right:
                    merged.append(left + right)
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        return [self._encoder[part] for part in parts]

    # ---- training -----------------------------------------------------------

    @classmethod
    def train(cls, text_or_files, vocab_size, special_tokens=("<|endoftext|>",), min_frequency=2,
              errors="strict"):
        """Learn a vocab of `vocab_size` ids (256 bytes, merges, then `special_tokens`).

        text_or_files: a str of text, a pathlib.Path of a UTF-8 file, or a list of
        either; errors: how to read invalid UTF-8 in files ('strict' raises,
        'replace' substitutes U+FFFD). Special tokens in the text are cut out and
        never learned from. Stops early if no pair occurs `min_frequency` times.
        """
        special = _check_special_list(special_tokens)
        if vocab_size < 256 + len(special):
            raise ValueError(f"vocab_size {vocab_size} is below 256 bytes + {len(special)} special tokens")
        pattern, special_re = gpt2_pattern(), special_regex(special)
        words = Counter()
        for text in _files.iter_texts(text_or_files, errors):
            for piece, is_special in split_special(text, special_re):
                if not is_special:
                    words.update(pattern.findall(piece))
        byte_words = Counter()
        for word, n in words.items():
            byte_words[tuple(word.encode("utf-8", "replace"))] += n
        tokens = [BYTE_TO_CHAR[b] for b in range(256)]  # id of a byte = its value
        merges = learn_merges(byte_words, tokens, vocab_size - len(special), operator.add, min_frequency)
        return cls(
            {token: i for i, token in enumerate(tokens)},
            [(tokens[a], tokens[b]) for a, b in merges],
            {s: len(tokens) + k for k, s in enumerate(special)},
        )

    # ---- files --------------------------------------------------------------

    @classmethod
    def from_gpt2_files(cls, encoder_json, vocab_bpe, special_tokens=("<|endoftext|>",)):
        """Load GPT-2's encoder.json (token -> id) and vocab.bpe (one merge per line,
        after a '#version' line). `special_tokens` name the entries of encoder.json
        that are special; every other entry must be a byte or made by a merge."""
        encoder, text = _files.read_json(encoder_json)
        if not isinstance(encoder, dict):
            raise VocabError(
                f"{encoder_json}: expected a JSON object of token -> id, got {type(encoder).__name__}")
        merges, merge_lines = [], []
        for n, line in _files.read_lines(vocab_bpe):
            if n == 1 and line.startswith("#version"):
                continue
            pair = line.split(" ")
            if len(pair) != 2 or not all(pair):
                raise VocabError(f"{vocab_bpe}:{n}: expected two tokens separated by one space, got {line!r}")
            merges.append(tuple(pair))
            merge_lines.append(n)
        special = {}
        for s in _check_special_list(special_tokens):
            if s not in encoder:
                raise VocabError(f"{encoder_json}: has no special token {s!r}")
            special[s] = encoder[s]
        try:
            return cls(encoder, merges, special)
        except VocabError as e:
            if isinstance(e.at, int):
                where = f"{vocab_bpe}:{merge_lines[e.at]}"
            else:
                where = _files.json_where(encoder_json, text, e.at, key=True)
            raise VocabError(f"{where}: {e}", at=e.at) from None

    def save_gpt2_files(self, encoder_json, vocab_bpe):
        """Write encoder.json and vocab.bpe as GPT-2's are written (specials in encoder.json)."""
        encoder = self._encoder | self._special
        with open(encoder_json, "w", encoding="utf-8") as f:
            json.dump(dict(sorted(encoder.items(), key=operator.itemgetter(1))), f)
        with open(vocab_bpe, "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n")
            f.writelines(f"{left} {right}\n" for left, right in self._merges)

    def save(self, path):
        """Write a Hugging Face tokenizer.json (the tokenizers library loads it)."""
        byte_level = {"type": "ByteLevel", "add_prefix_space": self.add_prefix_space, "trim_offsets": True,
                      "use_regex": True}
        data = {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added_tokens(self._special),
            "normalizer": None,
            "pre_tokenizer": byte_level,
            "post_processor": byte_level | {"trim_offsets": False},
            "decoder": byte_level,
            "model": {
                "type": "BPE",
                "dropout": None,
                "unk_token": None,
                "continuing_subword_prefix": None,
                "end_of_word_suffix": None,
                "fuse_unk": False,
                "byte_fallback": False,
                "ignore_merges": False,
                "vocab": dict(sorted((self._encoder | self._special).items(), key=operator.itemgetter(1))),
                "merges": [list(pair) for pair in self._merges],
            },
        }
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=2)

    @classmethod
    def load(cls, path):
        """Load a Hugging Face tokenizer.json of a byte-level BPE model (GPT-2's, RoBERTa's,
        or one written by `save`). `added_tokens` become special tokens. The
        post-processor (e.g. RoBERTa's <s> ... </s>) is not applied: encode adds nothing."""
        data, text = _files.read_json(path)

        def expect(ok, where, what):
            if not ok:
                raise VocabError(f"{path}: {where}: {what}")

        expect(isinstance(data, dict) and isinstance(data.get("model"), dict), "model",
               "expected a JSON object with a 'model' object")
        model = data["model"]
        expect(model.get("type", "BPE") == "BPE", "model.type", f"{model.get('type')!r} is not 'BPE'")
        for key, plain in (("dropout", None), ("continuing_subword_prefix", ""), ("end_of_word_suffix", ""),
                           ("byte_fallback", False), ("ignore_merges", False)):
            expect(model.get(key) in (None, plain), f"model.{key}", f"{model.get(key)!r} is not supported")
        expect(data.get("normalizer") is None, "normalizer",
               f"{data.get('normalizer')!r} is not supported (byte-level BPE has none)")
        pre = data.get("pre_tokenizer") or {}
        expect(pre.get("type") == "ByteLevel" and pre.get("use_regex", True), "pre_tokenizer",
               f"{pre!r} is not supported (only ByteLevel with use_regex)")
        expect(isinstance(model.get("vocab"), dict), "model.vocab", "expected an object of token -> id")
        merges = model.get("merges")
        expect(isinstance(merges, list), "model.merges", "expected a list")
        pairs = []
        for i, merge in enumerate(merges):
            pair = merge.split(" ") if isinstance(merge, str) else merge
            expect(isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) and p for p in pair),
                   f"model.merges[{i}]", f"expected 'left right' or [left, right], got {merge!r}")
            pairs.append(tuple(pair))
        special = {}
        for i, added in enumerate(data.get("added_tokens") or []):
            ok = isinstance(added, dict) and isinstance(added.get("content"), str) and isinstance(added.get("id"), int)
            expect(ok, f"added_tokens[{i}]", f"expected {{'id': int, 'content': str, ...}}, got {added!r}")
            special[added["content"]] = added["id"]
        try:
            return cls(model["vocab"], pairs, special, add_prefix_space=bool(pre.get("add_prefix_space")))
        except VocabError as e:
            if isinstance(e.at, int):
                where = f"{path}: model.merges[{e.at}]"
            else:
                where = _files.json_where(path, text, e.at, key=True)
            raise VocabError(f"{where}: {e}", at=e.at) from None


def _check_special_list(special_tokens):
    """`special_tokens` as a list, refusing empty, non-str and repeated ones."""
    special = list(special_tokens)
    for s in special:
        if not isinstance(s, str) or not s:
            raise ValueError(f"special tokens must be non-empty strings, got {s!r}")
    for s, n in Counter(special).items():
        if n > 1:
            raise ValueError(f"special token {s!r} is given {n} times")
    return special


def _check(vocab, merges, special):
    """Raise VocabError unless vocab, merges and specials make a consistent byte-level BPE."""
    owner = {}
    for token, i in itertools.chain(vocab.items(), special.items()):
        if not isinstance(i, int) or isinstance(i, bool) or i < 0:
            raise VocabError(f"token {token!r} has id {i!r}, not an integer >= 0", at=token)
        if owner.setdefault(i, token) != token:
            raise VocabError(f"tokens {owner[i]!r} and {token!r} have the same id {i}", at=token)
    for s, i in special.items():
        if not isinstance(s, str) or not s:
            raise VocabError(f"special token {s!r} (id {i}) must be a non-empty string", at=s)
        if vocab.get(s, i) != i:
            raise VocabError(f"special token {s!r} has id {i} but the vocab gives it {vocab[s]}", at=s)
    for b, c in BYTE_TO_CHAR.items():
        if c not in vocab:
            raise VocabError(f"no token for byte 0x{b:02x} ({c!r}): a byte-level vocab needs all 256", at=c)
    made, first_rank = set(BYTE_TO_CHAR.values()), {}
    for rank, (left, right) in enumerate(merges):
        for part in (left, right):
            if part not in made:
                raise VocabError(
                    f"merge {left!r} {right!r}: {part!r} is not a byte, and no earlier merge makes it "
                    "(a merge line is missing or out of order)",
                    at=rank,
                )
        if first_rank.setdefault((left, right), rank) != rank:
            raise VocabError(
                f"merge {left!r} {right!r} repeats merge number {first_rank[(left, right)]}", at=rank)
        if left + right not in vocab:
            raise VocabError(
                f"merge {left!r} {right!r} makes {left + right!r}, which is not in the vocab", at=rank)
        made.add(left + right)
    for token, i in vocab.items():
        if token not in made and token not in special:
            raise VocabError(
                f"token {token!r} (id {i}) is neither a byte nor made by any merge "
                "(a merge line is missing, or it should be a special token)",
                at=token,
            )
