"""minitx.metrics against the references people compare with: seqeval (entity F1),
scikit-learn (accuracy, macro F1), SQuAD v1.1's definition (written here from its
description), and PyTorch's cross-entropy (perplexity)."""
import math
import re
import string
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minitx.metrics import (
    accuracy,
    entity_f1,
    entity_precision,
    entity_recall,
    entity_report,
    get_entities,
    macro_f1,
    normalize_answer,
    perplexity,
    squad,
)

seqeval = pytest.importorskip("seqeval.metrics")
sklearn_metrics = pytest.importorskip("sklearn.metrics")

# IOB2, IOB1 (I- opening an entity), IOBES, bare prefixes, and tags seqeval only warns about
TAGS = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "B-MISC", "I-MISC",
        "B", "I", "E", "S", ".", "I-MISC-X", "X-PER", "BPER", "PER"]


@st.composite
def tagged_sentences(draw, tags=TAGS):
    """(true, predicted) lists of sentences of tags, of equal lengths; the predictions
    mostly copy the truth so that entities are found as well as missed."""
    lengths = draw(st.lists(st.integers(0, 8), min_size=1, max_size=5))
    true = [draw(st.lists(st.sampled_from(tags), min_size=n, max_size=n)) for n in lengths]
    pred = [[draw(st.sampled_from(tags)) if draw(st.integers(0, 3)) == 0 else t for t in s] for s in true]
    return true, pred


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # seqeval's "seems not to be NE tag", undefined-metric warnings
        return fn(*args, **kwargs)


# ---- entity F1: seqeval's default -------------------------------------------------------------
@settings(max_examples=300)
@given(tagged_sentences())
def test_entity_scores_equal_seqeval(pair):
    true, pred = pair
    assert entity_f1(true, pred) == _quiet(seqeval.f1_score, true, pred)
    assert entity_precision(true, pred) == _quiet(seqeval.precision_score, true, pred)
    assert entity_recall(true, pred) == _quiet(seqeval.recall_score, true, pred)


@settings(max_examples=300)
@given(st.lists(st.sampled_from(TAGS), max_size=12))
def test_get_entities_equals_seqeval(tags):
    from seqeval.metrics.sequence_labeling import get_entities as reference
    assert get_entities(tags) == _quiet(reference, tags)


@settings(max_examples=100)
@given(tagged_sentences(["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG"]))
def test_entity_report_equals_seqevals_report(pair):
    true, pred = pair
    if not any(get_entities(s) for s in true + pred):
        return   # seqeval's report needs an entity to list
    reference = _quiet(seqeval.classification_report, true, pred, output_dict=True)
    ours = entity_report(true, pred)
    assert set(ours) == set(reference) - {"macro avg", "weighted avg"}
    for kind, scores in ours.items():
        assert scores == {k: float(v) for k, v in reference[kind].items()}, kind


def test_entity_f1_by_hand():
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["I-ORG", "I-ORG", "O"]]   # PER 0-1, LOC 3, ORG 0-1 (IOB1)
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "I-ORG", "O"]]   # PER right, LOC typed ORG, ORG right
    assert entity_precision(true, pred) == entity_recall(true, pred) == entity_f1(true, pred) == 2 / 3
    # a span one token short is a miss, not partial credit as token F1 gives
    assert entity_f1([["B-PER", "I-PER"]], [["B-PER", "O"]]) == 0.0
    assert entity_f1(["B-PER", "I-PER"], ["B-PER", "I-PER"]) == 1.0   # one sentence, flat
    assert entity_report(true, pred)["LOC"] == {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 1}


@pytest.mark.parametrize("true, pred, message", [
    ([["O", "B-PER"]], [["O"]], "entity_f1: sentence 0 has 2 true and 1 predicted tags"),
    ([["O"], ["O"]], [["O"]], "entity_f1: 2 true and 1 predicted sentences"),
    ([], [], "entity_f1: no sentences to score"),
    ([["O", ""]], [["O", "O"]], "entity tags: expected a non-empty string such as 'B-PER' or 'O', got ''"),
    ([["O", 3]], [["O", "O"]], "entity tags: expected a non-empty string"),
])
def test_entity_f1_names_bad_input(true, pred, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        entity_f1(true, pred)


# ---- accuracy and macro F1: scikit-learn's --------------------------------------------------
labels = st.integers(0, 5)
label_pairs = st.integers(1, 30).flatmap(lambda n: st.tuples(st.lists(labels, min_size=n, max_size=n),
                                                             st.lists(labels, min_size=n, max_size=n)))


@settings(max_examples=300)
@given(label_pairs)
def test_accuracy_and_macro_f1_equal_sklearn(pair):
    y_true, y_pred = pair
    assert accuracy(y_true, y_pred) == sklearn_metrics.accuracy_score(y_true, y_pred)
    # the classes absent from the predictions (or from the truth) count, with F1 0
    assert macro_f1(y_true, y_pred) == _quiet(sklearn_metrics.f1_score, y_true, y_pred, average="macro")


@settings(max_examples=200)
@given(label_pairs, st.lists(labels, min_size=1, max_size=6, unique=True))
def test_macro_f1_over_given_labels_equals_sklearn(pair, chosen):
    y_true, y_pred = pair
    assert macro_f1(y_true, y_pred, labels=chosen) == _quiet(sklearn_metrics.f1_score, y_true, y_pred,
                                                             average="macro", labels=chosen)


def test_macro_f1_by_hand_and_with_strings():
    # a: P 1, R 1/2 -> 2/3; b: P 1/3, R 1 -> 1/2; c: never predicted -> 0
    assert macro_f1(["a", "a", "b", "c"], ["a", "b", "b", "b"]) == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    assert macro_f1([0, 1], [0, 1]) == 1.0 and accuracy(["x", "y"], ["x", "x"]) == 0.5


@pytest.mark.parametrize("fn, args, message", [
    (accuracy, ([1, 2], [1]), "accuracy: y_true and y_pred must be 1-D and of one length, got shapes (2,) and (1,)"),
    (macro_f1, ([], []), "macro_f1: no labels to score"),
    (macro_f1, ([1], [1], []), "macro_f1: labels is empty"),
])
def test_classification_scores_name_bad_input(fn, args, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        fn(*args)


# ---- SQuAD v1.1: an implementation written here from the description ----------------------------
def reference_normalize(text):
    """Lowercase; drop ASCII punctuation; drop the words a, an, the (as whole words);
    collapse white space."""
    text = text.lower().translate(str.maketrans("", "", string.punctuation))
    text = re.sub(r"(?<!\w)(?:the|an|a)(?!\w)", " ", text)
    return " ".join(text.split())


def reference_squad(prediction, answers):
    def f1(pred, gold):
        p, g = reference_normalize(pred).split(), reference_normalize(gold).split()
        left, shared = list(g), 0
        for word in p:   # the multiset overlap, one match per occurrence
            if word in left:
                left.remove(word)
                shared += 1
        if shared == 0:
            return 0.0
        precision, recall = shared / len(p), shared / len(g)
        return 2 * precision * recall / (precision + recall)
    exact = max(1.0 if reference_normalize(prediction) == reference_normalize(a) else 0.0 for a in answers)
    return exact, max(f1(prediction, a) for a in answers)


SQUAD_CASES = [
    ("the paris", ["paris"], (1.0, 1.0)),                        # an article
    ("Paris.", ["paris"], (1.0, 1.0)),                           # case and punctuation
    ("An apple a day", ["apple day"], (1.0, 1.0)),
    ("theatre", ["atre"], (0.0, 0.0)),                            # "the" only as a whole word
    ("Denver Broncos", ["Broncos", "the Denver Broncos", "Denver"], (1.0, 1.0)),   # several answers
    ("in Denver, Colorado", ["Denver", "Colorado"], (0.0, 0.5)),
    ("new new york", ["new york"], (0.0, 0.8)),                  # repeats count once per match
    ("new new", ["new new york"], (0.0, 0.8)),                    # ... and each match counts
    ("", ["paris"], (0.0, 0.0)),                                  # empty strings
    ("", [""], (1.0, 0.0)),                                        # equal, but no word shared: F1 0 in v1.1
    ("the", ["a"], (1.0, 0.0)),
    ("U.S.-based", ["US based"], (0.0, 0.0)),                     # punctuation deleted, not spaced
    ("rock 'n' roll", ["rock n roll"], (1.0, 1.0)),
    ("two  \t spaces\n", ["two spaces"], (1.0, 1.0)),
]


@pytest.mark.parametrize("prediction, answers, expected", SQUAD_CASES)
def test_squad_cases(prediction, answers, expected):
    assert squad(prediction, answers) == pytest.approx(expected)
    assert squad(prediction, answers) == reference_squad(prediction, answers)


words = st.sampled_from(["the", "The", "a", "An", "an", "paris", "Paris", "new", "york", "theatre", "a.",
                         "(the)", "don't", "x-ray", "é", "—", "the—end", "1,000", "!", "", "  ", "\t"])
texts = st.lists(words, max_size=6).map(" ".join)


@settings(max_examples=300)
@given(texts, st.lists(texts, min_size=1, max_size=3))
def test_squad_equals_its_definition(prediction, answers):
    assert squad(prediction, answers) == reference_squad(prediction, answers)
    assert normalize_answer(prediction) == reference_normalize(prediction)


def test_squad_takes_one_answer_as_a_string_and_names_bad_input():
    assert squad("The Eiffel Tower", "eiffel tower") == (1.0, 1.0)
    with pytest.raises(ValueError, match=re.escape("squad: expected a prediction string and one or more answer "
                                                   "strings, got 'x' and []")):
        squad("x", [])


# ---- perplexity: exp of PyTorch's cross-entropy --------------------------------------------
@settings(max_examples=50)
@given(st.integers(1, 3), st.integers(1, 5), st.integers(2, 7), st.integers(0, 2 ** 32 - 1))
def test_perplexity_equals_exp_of_torch_cross_entropy(B, T, V, seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, size=(B, T, V))                                    # (B, T, V)
    targets = rng.integers(0, V, size=(B, T))                                     # (B, T)
    targets[rng.random((B, T)) < 0.3] = -100
    targets[0, 0] = rng.integers(0, V)   # at least one token scored
    loss = torch.nn.functional.cross_entropy(torch.tensor(logits).reshape(-1, V), torch.tensor(targets).reshape(-1),
                                             ignore_index=-100)
    assert perplexity(logits, targets) == pytest.approx(math.exp(loss.item()), rel=1e-12)
    assert perplexity(loss.item()) == math.exp(loss.item())


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size():
    import minitx
    assert perplexity(np.zeros((4, 10)), np.arange(4)) == pytest.approx(10.0)
    assert perplexity(minitx.tensor(np.zeros((2, 3, 5))), np.zeros((2, 3), dtype=np.int64)) == pytest.approx(5.0)
    assert perplexity(800.0) == math.inf    # overflow is inf, not an error


@pytest.mark.parametrize("args, message", [
    ((np.zeros((2, 3)), np.array([-100, -100])), "perplexity: every target is ignore_index -100; no token to score"),
    ((np.zeros((2, 3)), np.array([0, 3])), "perplexity: target 3 is outside the vocabulary [0, 3)"),
    ((np.zeros((2, 3)), np.array([0, 1, 2])), "perplexity: logits (2, 3) must be targets' shape (3,)"),
    ((np.zeros((2, 3)), np.array([0.0, 1.0])), "perplexity: targets must be integers, got float64"),
    ((-1.0,), "perplexity: the loss must be one number >= 0, got -1.0"),
    ((float("nan"),), "perplexity: the loss must be one number >= 0, got nan"),
])
def test_perplexity_names_bad_input(args, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        perplexity(*args)
