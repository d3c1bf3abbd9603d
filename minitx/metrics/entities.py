"""Entity-level scores of tag sequences, as seqeval computes them by default (the
chunking of CoNLL's conlleval script, micro-averaged).

A tag is a prefix letter and a type: "B-PER" is (B, PER), "O" is (O, _). A chunk
(an entity) is a run of tags of one type; it starts at a B or S, at an I or E that
follows O, E or S (so IOB1's "I-PER" after "O" starts one, and IOBES works as
well), or where the type changes. It ends before a B, S or O that follows B or I,
after an E or S, or where the type changes. An entity counts as found when its
type, first and last position are all predicted exactly.
"""


def _split(tag):
    """(prefix letter, type): "B-PER" -> ("B", "PER"), "O" -> ("O", "_")."""
    if not isinstance(tag, str) or not tag:
        raise ValueError(f"entity tags: expected a non-empty string such as 'B-PER' or 'O', got {tag!r}")
    return tag[0], tag[1:].split("-", 1)[-1] or "_"


def _ends(prev, prev_type, cur, cur_type):
    """Whether a chunk ends between the previous tag and this one."""
    return (prev in "ES"
            or (prev in "BI" and cur in "BSO")
            or (prev not in "O." and prev_type != cur_type))


def _starts(prev, prev_type, cur, cur_type):
    """Whether a chunk starts at this tag."""
    return (cur in "BS"
            or (prev in "OES" and cur in "IE")
            or (cur not in "O." and prev_type != cur_type))


def get_entities(tags):
    """[(type, first, last)] of one sequence of tags, positions inclusive;
    get_entities(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 1), ("LOC", 3, 3)]."""
    chunks, begin = [], 0
    prev, prev_type = "O", ""
    for i, tag in enumerate(list(tags) + ["O"]):   # a closing O ends the last chunk
        cur, cur_type = _split(tag)
        if _ends(prev, prev_type, cur, cur_type):
            chunks.append((prev_type, begin, i - 1))
        if _starts(prev, prev_type, cur, cur_type):
            begin = i
        prev, prev_type = cur, cur_type
    return chunks


def _sentences(name, true_tags, pred_tags):
    """Both arguments as lists of sentences (a flat list of tags is one sentence), checked."""
    true_tags, pred_tags = (([s] if all(isinstance(t, str) for t in s) and s else list(s))
                            for s in (list(true_tags), list(pred_tags)))
    if not true_tags:
        raise ValueError(f"{name}: no sentences to score")
    if len(true_tags) != len(pred_tags):
        raise ValueError(f"{name}: {len(true_tags)} true and {len(pred_tags)} predicted sentences")
    for i, (t, p) in enumerate(zip(true_tags, pred_tags)):
        if isinstance(t, str) or isinstance(p, str) or len(t) != len(p):
            raise ValueError(f"{name}: sentence {i} has {_count(t)} true and {_count(p)} predicted tags")
    return true_tags, pred_tags


def _count(sentence):
    return "a string, not a list of" if isinstance(sentence, str) else len(sentence)


def _entities(sentences):
    """{(type, first, last)} of the sentences joined with an "O" after each, as seqeval
    joins them (positions run on from one sentence to the next)."""
    return set(get_entities([tag for tags in sentences for tag in [*tags, "O"]]))


def _scores(true, pred):
    """(precision, recall, f1, support) of predicted against true entity sets; 0 where undefined."""
    tp = len(true & pred)
    precision = tp / len(pred) if pred else 0.0
    recall = tp / len(true) if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1, len(true)


def _micro(name, true_tags, pred_tags):
    true_tags, pred_tags = _sentences(name, true_tags, pred_tags)
    return _scores(_entities(true_tags), _entities(pred_tags))


def entity_f1(true_tags, pred_tags):
    """Micro F1 over entities (seqeval.metrics.f1_score); true_tags and pred_tags are
    lists of sentences, each a list of tags (or one sentence, a list of tags)."""
    return _micro("entity_f1", true_tags, pred_tags)[2]


def entity_precision(true_tags, pred_tags):
    """The share of predicted entities that are true (seqeval.metrics.precision_score)."""
    return _micro("entity_precision", true_tags, pred_tags)[0]


def entity_recall(true_tags, pred_tags):
    """The share of true entities that were predicted (seqeval.metrics.recall_score)."""
    return _micro("entity_recall", true_tags, pred_tags)[1]


def entity_report(true_tags, pred_tags):
    """{type: {"precision", "recall", "f1-score", "support"}} for each entity type, and
    "micro avg" over all: seqeval's classification_report(output_dict=True) entries."""
    true_tags, pred_tags = _sentences("entity_report", true_tags, pred_tags)
    true, pred = _entities(true_tags), _entities(pred_tags)
    report = {}
    for kind in sorted({e[0] for e in true | pred}):
        of = lambda entities: {e for e in entities if e[0] == kind}  # noqa: E731
        report[kind] = dict(zip(("precision", "recall", "f1-score", "support"), _scores(of(true), of(pred))))
    report["micro avg"] = dict(zip(("precision", "recall", "f1-score", "support"), _scores(true, pred)))
    return report
