"""SQuAD v1.1's exact match and F1 of a predicted answer against the true ones.

Both texts are normalised first: lowercased, every ASCII punctuation character
(string.punctuation) deleted, the articles a, an and the removed as whole words,
and runs of white space made one space. Exact match: the normalised texts are
equal. F1: over the words of the normalised texts, counted with repeats, 2 P R /
(P + R), 0 when no word is shared (two empty answers included). With several
true answers each score is the best over them.
"""
import re
import string
from collections import Counter

_PUNCTUATION = set(string.punctuation)
_ARTICLE = re.compile(r"\b(?:a|an|the)\b")


def normalize_answer(text):
    """SQuAD's normalisation: normalize_answer("The  Eiffel-Tower!") == "eiffeltower"."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLE.sub(" ", text).split())


def _f1(prediction, answer):
    pred, true = normalize_answer(prediction).split(), normalize_answer(answer).split()
    shared = sum((Counter(pred) & Counter(true)).values())
    if not shared:
        return 0.0
    precision, recall = shared / len(pred), shared / len(true)
    return 2 * precision * recall / (precision + recall)


def squad(prediction, answers):
    """(exact_match, f1) of `prediction` against `answers` (a string, or a list of the
    accepted answers: the best of each score counts), each in [0, 1]."""
    answers = [answers] if isinstance(answers, str) else list(answers)
    if not answers or not all(isinstance(a, str) for a in answers + [prediction]):
        raise ValueError(f"squad: expected a prediction string and one or more answer strings, got "
                         f"{prediction!r} and {answers!r}")
    exact = max(float(normalize_answer(prediction) == normalize_answer(a)) for a in answers)
    return exact, max(_f1(prediction, a) for a in answers)
