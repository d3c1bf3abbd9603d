"""Single-label classification scores, as scikit-learn defines them."""
import numpy as np


def _pair(name, y_true, y_pred):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim != 1 or y_true.shape != y_pred.shape:
        raise ValueError(f"{name}: y_true and y_pred must be 1-D and of one length, got shapes "
                         f"{y_true.shape} and {y_pred.shape}")
    if not len(y_true):
        raise ValueError(f"{name}: no labels to score (y_true and y_pred are empty)")
    return y_true, y_pred


def accuracy(y_true, y_pred):
    """The share of predictions equal to the true label (sklearn.metrics.accuracy_score)."""
    y_true, y_pred = _pair("accuracy", y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def macro_f1(y_true, y_pred, labels=None):
    """The unweighted mean over labels of each label's F1 = 2 TP / (2 TP + FP + FN)
    (sklearn.metrics.f1_score(average="macro")).

    labels: the labels to average over; by default every label that occurs in y_true
    or y_pred, so a class never predicted counts with F1 0. A label with no true and
    no predicted example scores 0, as scikit-learn's default zero_division does."""
    y_true, y_pred = _pair("macro_f1", y_true, y_pred)
    labels = np.unique(np.concatenate([y_true, y_pred])) if labels is None else np.asarray(labels)
    if not len(labels):
        raise ValueError("macro_f1: labels is empty")
    f1 = []
    for label in labels:
        tp = np.sum((y_pred == label) & (y_true == label))
        given = np.sum(y_true == label) + np.sum(y_pred == label)   # 2 TP + FP + FN
        f1.append(2.0 * tp / given if given else 0.0)
    return float(np.mean(f1))
