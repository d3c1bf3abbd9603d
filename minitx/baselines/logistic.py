"""Multinomial logistic regression: one nn.Linear and F.cross_entropy, trained by AdamW.

The objective is scikit-learn's LogisticRegression(C=C): the mean cross-entropy plus
||W||^2 / (2 C N) (the bias is not penalised), convex, so any optimizer that
converges finds the same probabilities. Training is full-batch: N rows of bag-of-words
features fit in one step's arrays, and the loss of the whole set is the quantity
minimised. The Trainer is for token streams with checkpoints; this is its loop
without them: AdamW, the warmup-cosine schedule, gradient clipping.
"""
import math

import numpy as np

from .. import nn
from ..autograd import no_grad
from ..nn import functional as F
from ..optim import AdamW, clip_grad_norm_
from ..optim.lr_scheduler import warmup_cosine_lr
from ..tensor import Tensor


class LogisticRegression:
    """fit(X, y) / predict / predict_proba / score, as scikit-learn's (multinomial).

    X: (N, F) features (any real array; float32 unless dtype says otherwise);
    y: (N,) labels of any type, classes_ their sorted unique values.
    """

    def __init__(self, C=1.0, max_iter=300, lr=0.1, grad_clip=1.0, dtype=np.float32):
        if not C > 0:
            raise ValueError(f"LogisticRegression: C={C}; expected > 0 (the inverse of the penalty)")
        if not (isinstance(max_iter, int) and max_iter >= 1):
            raise ValueError(f"LogisticRegression: max_iter={max_iter!r}; expected a positive int")
        self.C, self.max_iter, self.lr, self.grad_clip, self.dtype = C, max_iter, lr, grad_clip, dtype

    def _features(self, X, where):
        X = np.asarray(X)
        if X.ndim != 2 or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
            raise ValueError(f"LogisticRegression.{where}: X of shape {X.shape} and dtype {X.dtype}; "
                             f"expected a 2-D numeric array (N, F)")
        if hasattr(self, "linear_") and X.shape[1] != self.linear_.in_features:
            raise ValueError(f"LogisticRegression.{where}: X has {X.shape[1]} features; "
                             f"fit saw {self.linear_.in_features}")
        return X.astype(self.dtype)

    def fit(self, X, y):
        self.__dict__.pop("linear_", None)                              # a refit starts afresh
        X, y = self._features(X, "fit"), np.asarray(y)
        if y.shape != X.shape[:1]:
            raise ValueError(f"LogisticRegression.fit: X of shape {X.shape} and y of shape {y.shape}; "
                             f"expected (N, F) and (N,)")
        self.classes_, targets = np.unique(y, return_inverse=True)     # targets: (N,) ids into classes_
        N, K = X.shape[0], len(self.classes_)
        if K < 2:
            raise ValueError(f"LogisticRegression.fit: y holds one class ({self.classes_[0]!r}); need at least 2")
        # zeros: the optimum is unique (convex objective), so no random start is needed
        self.linear_ = nn.Linear(X.shape[1], K, dtype=self.dtype)
        self.linear_.weight.data[...] = 0
        self.linear_.bias.data[...] = 0
        params = list(self.linear_.parameters())
        optimizer = AdamW(params, lr=self.lr, weight_decay=0.0)        # the penalty is in the loss
        x, penalty = Tensor(X), 1.0 / (2 * self.C * N)
        warmup = min(10, self.max_iter // 10)
        self.loss_curve_ = []
        for step in range(self.max_iter):
            for group in optimizer.param_groups:
                group["lr"] = warmup_cosine_lr(step, self.lr, warmup, self.max_iter, self.lr * 1e-3)
            w = self.linear_.weight
            loss = F.cross_entropy(self.linear_(x), targets) + (w * w).sum() * penalty
            optimizer.zero_grad()
            loss.backward()
            if self.grad_clip:
                clip_grad_norm_(params, self.grad_clip)
            optimizer.step()
            self.loss_curve_.append(float(loss.item()))
        if not math.isfinite(self.loss_curve_[-1]):
            raise FloatingPointError(f"LogisticRegression.fit: the loss became {self.loss_curve_[-1]}; lower lr={self.lr}")
        return self

    def decision_function(self, X):
        """(N, F) -> (N, K) logits."""
        if not hasattr(self, "linear_"):
            raise RuntimeError("LogisticRegression: call fit before predicting")
        with no_grad():
            return self.linear_(Tensor(self._features(X, "predict"))).data

    def predict_proba(self, X):
        """(N, F) -> (N, K) class probabilities, columns in classes_ order."""
        z = self.decision_function(X).astype(np.float64)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X):
        logits = self.decision_function(X)
        return self.classes_[logits.argmax(axis=1)]

    def score(self, X, y):
        """Accuracy on (X, y)."""
        return float(np.mean(self.predict(X) == np.asarray(y)))
