"""Regex character classes for Unicode categories, for the stdlib `re` module.

`re` has no \\p{L}-style classes, so both the GPT-2 pattern and BERT's
normalizer build theirs from Python's own Unicode database (unicodedata),
once, at first use (about 0.2 s).
"""

import functools
import itertools
import sys
import unicodedata

# Unicode's White_Space property, which \\s means in the regex engines that
# tiktoken and the tokenizers library use. Python's \\s differs: it also takes
# \\x1c-\\x1f (str.isspace counts them as separators).
WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


@functools.cache
def _category_runs():
    """[(first, last, category)]: maximal runs of code points sharing a general category."""
    runs, first = [], 0
    for category, group in itertools.groupby(map(unicodedata.category, map(chr, range(sys.maxunicode + 1)))):
        last = first + sum(1 for _ in group) - 1
        runs.append((first, last, category))
        first = last + 1
    return runs


@functools.cache
def char_class(*prefixes):
    """The inside of a [...] class matching code points whose general category
    starts with one of `prefixes`: char_class('L') is \\p{L}, char_class('Nl', 'No')."""
    parts = []
    for first, last, category in _category_runs():
        if category.startswith(prefixes):
            parts.append(_escape(first) if first == last else f"{_escape(first)}-{_escape(last)}")
    return "".join(parts)


def _escape(code_point):
    # \U escapes keep the class printable, and safe for ']', '\\', '^' and '-'
    return f"\\U{code_point:08x}"
