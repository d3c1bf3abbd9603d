"""The interface every minitx tokenizer shares, and the pieces they share.

All three tokenizers turn text into ids and back, report `vocab_size`, map
special tokens (such as `<|endoftext|>` or `[CLS]`) to ids, and save to / load
from one file. Special tokens found in the text are never split: `encode`
cuts the text around them first, then tokenizes the plain pieces between.
"""

import abc
import operator
import re


class VocabError(ValueError):
    """A malformed vocab. `at` is the merge index (int) or token (str) at fault,
    so that a loader can turn it into the file and line it came from."""

    def __init__(self, message, at=None):
        super().__init__(message)
        self.at = at


class Tokenizer(abc.ABC):
    """Text <-> ids. Subclasses fill `_special` (token -> id) and the abstract methods."""

    _special: dict

    @property
    @abc.abstractmethod
    def vocab_size(self) -> int:
        """One more than the largest id: the number of rows an embedding table needs."""

    @abc.abstractmethod
    def encode(self, text):
        """Ids of `text`; special tokens in it map to their own ids."""

    @abc.abstractmethod
    def decode(self, ids) -> str:
        """The text of a sequence of ids."""

    @abc.abstractmethod
    def token_to_id(self, token: str) -> int:
        """The id of one token (a special token, or a vocab entry); KeyError if unknown."""

    @abc.abstractmethod
    def save(self, path):
        """Write everything needed to rebuild this tokenizer to one file."""

    @classmethod
    @abc.abstractmethod
    def load(cls, path):
        """Rebuild a tokenizer from a file written by `save`."""

    def encode_batch(self, texts):
        """`encode` of each text."""
        return [self.encode(text) for text in texts]

    @property
    def special_tokens(self) -> dict:
        """Special token -> id, e.g. {'<|endoftext|>': 50256}."""
        return dict(self._special)


def special_regex(specials):
    """A regex whose one group matches any of `specials` (None if there are none).

    Longer specials are tried first, so where two start at the same place
    ('<|a|>x' and '<|a|>') the longer one wins, as in the tokenizers library.
    """
    if not specials:
        return None
    alternatives = sorted(specials, key=len, reverse=True)
    return re.compile("(" + "|".join(map(re.escape, alternatives)) + ")")


def split_special(text, regex):
    """[(piece, is_special)] covering `text` in order, specials cut out whole."""
    if regex is None:
        return [(text, False)] if text else []
    # re.split with one group alternates plain text (even places) and specials (odd)
    return [(piece, i % 2 == 1) for i, piece in enumerate(regex.split(text)) if piece]


def added_tokens(special):
    """tokenizer.json's "added_tokens" for special tokens {text: id}, in id order."""
    return [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
            for s, i in sorted(special.items(), key=operator.itemgetter(1))]
