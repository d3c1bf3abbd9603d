"""Character-level tokenizer: one id per character, as in nanoGPT's Shakespeare.

The smallest possible tokenizer, for baby models: the vocab is the sorted set
of characters of the training text, then any special tokens.
"""

import json

from . import _files
from .base import Tokenizer, VocabError, added_tokens, special_regex, split_special


class CharTokenizer(Tokenizer):
    """One id per character; special tokens (e.g. '<|endoftext|>') after the characters."""

    def __init__(self, chars, special_tokens=()):
        """chars: the characters in id order (a str, or an iterable of 1-character strings);
        special_tokens: strings of any length that get the ids after them."""
        chars, special = list(chars), list(special_tokens)
        self._stoi = {}
        for i, c in enumerate(chars):
            if not isinstance(c, str) or len(c) != 1:
                raise VocabError(f"chars[{i}] = {c!r} is not a single character", at=c)
            if self._stoi.setdefault(c, i) != i:
                raise VocabError(f"chars[{i}] = {c!r} repeats chars[{self._stoi[c]}]", at=c)
        self._special = {}
        for k, s in enumerate(special):
            if not isinstance(s, str) or not s:
                raise VocabError(f"special_tokens[{k}] = {s!r} is not a non-empty string", at=s)
            if s in self._special or s in self._stoi:
                raise VocabError(f"special token {s!r} is given twice, or is also a character", at=s)
            self._special[s] = len(chars) + k
        self._itos = chars + special
        self._special_re = special_regex(self._special)

    @classmethod
    def train(cls, text_or_files, special_tokens=(), errors="strict"):
        """The sorted characters of a corpus (text, pathlib.Path files, or a list of
        them; `errors` as in bytes.decode for files); specials in it are not counted."""
        special_re = special_regex(list(special_tokens))
        chars = set()
        for text in _files.iter_texts(text_or_files, errors):
            for piece, is_special in split_special(text, special_re):
                if not is_special:
                    chars.update(piece)
        return cls(sorted(chars), special_tokens)

    @property
    def vocab_size(self):
        return len(self._itos)

    def token_to_id(self, token):
        if token in self._special:
            return self._special[token]
        if token in self._stoi:
            return self._stoi[token]
        raise KeyError(f"token {token!r} is neither a special token nor a character in the vocab")

    def encode(self, text):
        """Ids of `text`; a character outside the vocab is an error naming it and where it is."""
        ids, start = [], 0
        for piece, is_special in split_special(text, self._special_re):
            if is_special:
                ids.append(self._special[piece])
            else:
                try:
                    ids.extend(map(self._stoi.__getitem__, piece))
                except KeyError as e:
                    at = start + piece.index(e.args[0])
                    raise ValueError(
                        f"encode: character {e.args[0]!r} (U+{ord(e.args[0]):04X}) at position {at} "
                        f"is not in the vocab of {len(self._stoi)} characters"
                    ) from None
            start += len(piece)
        return ids

    def decode(self, ids):
        ids = list(ids)
        for i in ids:
            if not 0 <= i < len(self._itos):
                raise ValueError(f"decode: id {i} is outside the vocab (vocab_size {self.vocab_size})")
        return "".join(self._itos[i] for i in ids)

    def save(self, path):
        """Write JSON: {"type": "char", "chars": [...], "special_tokens": [...]}."""
        data = {"type": "char", "chars": self._itos[: len(self._stoi)], "special_tokens": list(self._special)}
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=0)

    def save_hf(self, path):
        """Write a Hugging Face tokenizer.json with the same ids: a word-level vocab of single
        characters, split one code point at a time, decoded by joining (the tokenizers
        library, and so transformers' AutoTokenizer, load it)."""
        data = {
            "version": "1.0", "truncation": None, "padding": None,
            "added_tokens": added_tokens(self._special),
            "normalizer": None,
            # one piece per code point, newlines included ([\s\S]: Oniguruma has no (?s))
            "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "[\\s\\S]"}, "behavior": "Isolated",
                              "invert": False},
            "post_processor": None,
            "decoder": {"type": "Fuse"},
            "model": {"type": "WordLevel", "vocab": {c: i for i, c in enumerate(self._itos)}, "unk_token": "<unk>"},
        }
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1)

    @classmethod
    def load_hf(cls, path):
        """The tokenizer save_hf wrote: its characters, then its special tokens, by id."""
        data, _ = _files.read_json(path)
        model = data.get("model") if isinstance(data, dict) else None
        if not (isinstance(model, dict) and model.get("type") == "WordLevel" and isinstance(model.get("vocab"), dict)):
            raise VocabError(f"{path}: not a character-level tokenizer.json (a WordLevel model of characters)")
        special = {t.get("content") for t in data.get("added_tokens") or [] if isinstance(t, dict)}
        tokens = [t for t, _ in sorted(model["vocab"].items(), key=lambda item: item[1])]
        if sorted(model["vocab"].values()) != list(range(len(tokens))):
            raise VocabError(f"{path}: the vocab's ids are not 0 .. {len(tokens) - 1}")
        return cls([t for t in tokens if t not in special], [t for t in tokens if t in special])

    @classmethod
    def load(cls, path):
        data, text = _files.read_json(path)
        if not (isinstance(data, dict) and data.get("type") == "char"
                and isinstance(data.get("chars"), list) and isinstance(data.get("special_tokens"), list)):
            raise VocabError(
                f"{path}: expected a JSON object {{'type': 'char', 'chars': [...], 'special_tokens': [...]}}")
        try:
            return cls(data["chars"], data["special_tokens"])
        except VocabError as e:
            # the last place the bad entry is written: for a repeat, the repeat
            raise VocabError(f"{_files.json_where(path, text, e.at, occurrence=-1)}: {e}", at=e.at) from None
