"""Bag-of-words and TF-IDF features: scikit-learn's CountVectorizer and TfidfVectorizer,
same defaults, same vocabulary_, same numbers.

A document becomes a row of counts, one column per term (a word, or n words in a row
for ngram_range): what words occur and how often, never in which order. The output
is a dense NumPy array (int64 counts, float64 TF-IDF), (n_documents, n_features);
scikit-learn returns a scipy sparse matrix of the same values. Dense is fine for a
few thousand documents over a few thousand terms; pass max_features or min_df to
keep the columns few on a larger corpus.
"""
import numbers
import re
from collections import Counter

import numpy as np


def _documents(raw_documents):
    if isinstance(raw_documents, str):
        raise ValueError("CountVectorizer: expected an iterable of documents, got one string")
    docs = list(raw_documents)
    bad = next((d for d in docs if not isinstance(d, str)), None)
    if bad is not None:
        raise TypeError(f"CountVectorizer: a document of type {type(bad).__name__}; expected str")
    return docs


class CountVectorizer:
    """Term counts. vocabulary_ maps each term to its column, the terms sorted.

    min_df / max_df: keep the terms found in at least / at most that many documents
    (an int) or that fraction of them (a float); max_features: then keep the most
    frequent terms over the corpus, ties broken as scikit-learn breaks them.
    """

    def __init__(self, lowercase=True, token_pattern=r"(?u)\b\w\w+\b", ngram_range=(1, 1),
                 max_df=1.0, min_df=1, max_features=None, binary=False):
        self.lowercase, self.token_pattern, self.binary = lowercase, token_pattern, binary
        self.ngram_range, self.max_df, self.min_df, self.max_features = ngram_range, max_df, min_df, max_features

    # ---- analysis: a document -> its terms ----------------------------------
    def build_analyzer(self):
        """The function from a document to its list of terms, as scikit-learn's."""
        pattern = re.compile(self.token_pattern)
        if pattern.groups > 1:
            raise ValueError(f"CountVectorizer: token_pattern {self.token_pattern!r} has {pattern.groups} "
                             f"capturing groups; expected at most one")
        min_n, max_n = self.ngram_range

        def analyze(doc):
            words = pattern.findall(doc.lower() if self.lowercase else doc)
            terms = list(words) if min_n == 1 else []
            for n in range(max(min_n, 2), min(max_n, len(words)) + 1):
                terms += [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
            return terms
        return analyze

    def _check_params(self):
        r = self.ngram_range
        if not (len(r) == 2 and all(isinstance(n, numbers.Integral) for n in r) and 1 <= r[0] <= r[1]):
            raise ValueError(f"CountVectorizer: ngram_range {r}; expected (min_n, max_n) with 1 <= min_n <= max_n")
        for name in ("max_df", "min_df"):
            v = getattr(self, name)
            ok = 0 <= v <= 1 if isinstance(v, float) else isinstance(v, numbers.Integral) and v >= 0
            if not ok:
                raise ValueError(f"CountVectorizer: {name}={v!r}; expected a float in [0, 1] or an int >= 0")
        if self.max_features is not None and not (isinstance(self.max_features, numbers.Integral)
                                                  and self.max_features > 0):
            raise ValueError(f"CountVectorizer: max_features={self.max_features!r}; expected a positive int or None")

    def _analyze_all(self, raw_documents):
        analyze = self.build_analyzer()
        return [Counter(analyze(doc)) for doc in _documents(raw_documents)]

    @staticmethod
    def _counts(rows, vocabulary):
        """Each document's Counter of terms -> (N, len(vocabulary)) int64 counts of the terms in vocabulary."""
        X = np.zeros((len(rows), len(vocabulary)), dtype=np.int64)
        for i, terms in enumerate(rows):
            for term, n in terms.items():
                j = vocabulary.get(term)
                if j is not None:
                    X[i, j] = n
        return X

    # ---- fit ------------------------------------------------------------------
    def fit(self, raw_documents, y=None):
        self.fit_transform(raw_documents)
        return self

    def fit_transform(self, raw_documents, y=None):
        self._check_params()
        rows = self._analyze_all(raw_documents)
        if self.binary:
            rows = [Counter(dict.fromkeys(terms, 1)) for terms in rows]
        terms = sorted(set().union(*rows))
        if not terms:
            raise ValueError("CountVectorizer: empty vocabulary; the documents hold no token of "
                             f"token_pattern {self.token_pattern!r}")
        column = {t: j for j, t in enumerate(terms)}
        df = np.zeros(len(terms), dtype=np.int64)                      # (F,) documents per term
        tf = np.zeros(len(terms), dtype=np.int64)                      # (F,) occurrences per term
        for counts in rows:
            cols = np.fromiter((column[t] for t in counts), dtype=np.int64, count=len(counts))
            df[cols] += 1
            tf[cols] += np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
        kept = np.flatnonzero(self._kept_columns(len(rows), df, tf))
        self.vocabulary_ = {terms[j]: i for i, j in enumerate(kept)}
        return self._counts(rows, self.vocabulary_)

    def _kept_columns(self, n_doc, df, tf):
        """The columns min_df, max_df and max_features keep, as scikit-learn's _limit_features."""
        high = self.max_df if isinstance(self.max_df, numbers.Integral) else self.max_df * n_doc
        low = self.min_df if isinstance(self.min_df, numbers.Integral) else self.min_df * n_doc
        if high < low:
            raise ValueError(f"CountVectorizer: max_df={self.max_df!r} keeps fewer documents ({high}) "
                             f"than min_df={self.min_df!r} ({low})")
        keep = (df <= high) & (df >= low)
        if self.max_features is not None and keep.sum() > self.max_features:
            # the same argsort (not stable) over the same array as scikit-learn: ties go the same way
            best = np.flatnonzero(keep)[(-tf[keep]).argsort()[:self.max_features]]
            keep = np.zeros_like(keep)
            keep[best] = True
        if not keep.any():
            raise ValueError(f"CountVectorizer: no term is left after min_df={self.min_df!r}, "
                             f"max_df={self.max_df!r}; lower min_df or raise max_df")
        return keep

    # ---- transform ------------------------------------------------------------
    def transform(self, raw_documents):
        """Counts of the fitted terms; terms not in vocabulary_ are dropped."""
        if not hasattr(self, "vocabulary_"):
            raise RuntimeError(f"{type(self).__name__}: call fit before transform")
        X = self._counts(self._analyze_all(raw_documents), self.vocabulary_)
        return np.minimum(X, 1) if self.binary else X

    def get_feature_names_out(self):
        """The terms, in column order."""
        if not hasattr(self, "vocabulary_"):
            raise RuntimeError(f"{type(self).__name__}: call fit before get_feature_names_out")
        return np.array(sorted(self.vocabulary_, key=self.vocabulary_.get), dtype=object)


class TfidfVectorizer(CountVectorizer):
    """Counts weighted by inverse document frequency, each row scaled to unit norm.

    idf(t) = ln((1 + n) / (1 + df(t))) + 1 with smooth_idf (as if one more document held
    every term once), else ln(n / df(t)) + 1; tf is the count, or 1 + ln(count) with
    sublinear_tf. A term in every document keeps weight 1: it is down-weighted, not dropped.
    """

    def __init__(self, lowercase=True, token_pattern=r"(?u)\b\w\w+\b", ngram_range=(1, 1),
                 max_df=1.0, min_df=1, max_features=None, binary=False, norm="l2", use_idf=True,
                 smooth_idf=True, sublinear_tf=False):
        super().__init__(lowercase, token_pattern, ngram_range, max_df, min_df, max_features, binary)
        if norm not in ("l1", "l2", None):
            raise ValueError(f"TfidfVectorizer: norm={norm!r}; expected 'l1', 'l2' or None")
        self.norm, self.use_idf, self.smooth_idf, self.sublinear_tf = norm, use_idf, smooth_idf, sublinear_tf

    def fit_transform(self, raw_documents, y=None):
        counts = super().fit_transform(raw_documents)                   # (N, F) int64
        if self.use_idf:
            n, df = counts.shape[0], (counts > 0).sum(axis=0).astype(np.float64)   # df: (F,)
            if self.smooth_idf:
                n, df = n + 1, df + 1
            self.idf_ = np.log(n / df) + 1                              # (F,)
        return self._weigh(counts)

    def transform(self, raw_documents):
        return self._weigh(super().transform(raw_documents))

    def _weigh(self, counts):
        """(N, F) counts -> (N, F) float64 rows of tf * idf, normalised."""
        tf = counts.astype(np.float64)
        if self.sublinear_tf:
            tf[tf > 0] = np.log(tf[tf > 0]) + 1
        X = tf * self.idf_ if self.use_idf else tf
        if self.norm is None:
            return X
        norms = np.abs(X).sum(axis=1) if self.norm == "l1" else np.sqrt((X * X).sum(axis=1))   # (N,)
        norms[norms == 0] = 1                                           # an empty row stays zero
        return X / norms[:, None]
