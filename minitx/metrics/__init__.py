"""The scores people compare against, each equal to its reference definition:

    accuracy, macro_f1                  scikit-learn's accuracy_score and f1_score(average="macro")
    entity_f1, entity_precision,        seqeval's default (conlleval's chunks, micro average)
    entity_recall, entity_report
    squad                               SQuAD v1.1's exact match and F1 (its answer normalisation)
    perplexity                          exp of the mean token cross-entropy

Plain Python and NumPy on labels, strings and arrays: nothing here needs a model.
"""
from .classification import accuracy, macro_f1
from .entities import entity_f1, entity_precision, entity_recall, entity_report, get_entities
from .perplexity import perplexity
from .squad import normalize_answer, squad

__all__ = ["accuracy", "entity_f1", "entity_precision", "entity_recall", "entity_report", "get_entities",
           "macro_f1", "normalize_answer", "perplexity", "squad"]
