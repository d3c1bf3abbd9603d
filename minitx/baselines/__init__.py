"""What came before the transformer, on minitx's engine: bag-of-words and TF-IDF
features, logistic regression, and n-gram language models (see docs/before-transformers.md)."""
from .logistic import LogisticRegression
from .ngram import NGramLM
from .vectorizers import CountVectorizer, TfidfVectorizer

__all__ = ["CountVectorizer", "LogisticRegression", "NGramLM", "TfidfVectorizer"]
