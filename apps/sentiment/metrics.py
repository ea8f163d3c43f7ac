"""ROC AUC and the most confidently wrong examples, as small pure NumPy functions."""

import numpy as np


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(len(values), np.float64)
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    for start, end in zip(starts, ends):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    return ranks


def binary_roc_auc(positive, scores) -> float:
    """P(score of a random positive > score of a random negative), ties counting one half
    (the Mann-Whitney U statistic). NaN when one of the classes is absent."""
    positive = np.asarray(positive, bool)
    scores = np.asarray(scores, np.float64)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _ranks(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_auc(labels, probabilities) -> float:
    """Two classes: the AUC of P(class 1). More: the macro average of one-vs-rest AUCs
    (scikit-learn's `roc_auc_score(multi_class="ovr", average="macro")`) over the classes present."""
    labels = np.asarray(labels, np.int64)
    probabilities = np.asarray(probabilities, np.float64)
    if probabilities.shape[1] == 2:
        return binary_roc_auc(labels == 1, probabilities[:, 1])
    aucs = [binary_roc_auc(labels == k, probabilities[:, k]) for k in range(probabilities.shape[1])]
    aucs = [a for a in aucs if not np.isnan(a)]
    return float(np.mean(aucs)) if aucs else float("nan")


def confident_mistakes(texts, labels, probabilities, class_names, count=10) -> list:
    """The `count` wrong predictions with the highest predicted probability, most confident first."""
    labels = np.asarray(labels, np.int64)
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    wrong = wrong[np.argsort(-confidence[wrong], kind="mergesort")][:count]
    return [
        {"text": str(texts[i]), "true": class_names[labels[i]], "predicted": class_names[predicted[i]],
         "probability": float(confidence[i])}
        for i in wrong
    ]
