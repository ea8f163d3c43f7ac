"""ROC AUC against scikit-learn; the most confidently wrong examples by hand."""

import numpy as np
import pytest

from apps.sentiment.metrics import binary_roc_auc, confident_mistakes, roc_auc


def test_binary_auc_by_hand_and_against_sklearn_with_ties():
    # Positives 0.8, 0.4; negatives 0.4, 0.1: pairs (0.8>0.4, 0.8>0.1, 0.4=0.4 half, 0.4>0.1) = 3.5 / 4.
    assert binary_roc_auc([1, 1, 0, 0], [0.8, 0.4, 0.4, 0.1]) == pytest.approx(0.875)
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    scores = np.round(rng.random(500) + 0.3 * y, 2)  # rounded: many ties
    want = sklearn_metrics.roc_auc_score(y, scores)
    assert binary_roc_auc(y == 1, scores) == pytest.approx(want, abs=1e-12)
    assert np.isnan(binary_roc_auc([1, 1], [0.2, 0.3]))


def test_multiclass_auc_is_sklearn_macro_one_vs_rest():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 300)
    logits = rng.normal(size=(300, 4)) + np.eye(4)[y]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    want = sklearn_metrics.roc_auc_score(y, probs, multi_class="ovr", average="macro")
    assert roc_auc(y, probs) == pytest.approx(want, abs=1e-12)
    two = np.stack([1 - probs[:, 0], probs[:, 0]], axis=1)
    assert roc_auc(y == 0, two) == pytest.approx(sklearn_metrics.roc_auc_score(y == 0, probs[:, 0]))


def test_confident_mistakes_most_confident_first():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.05, 0.95], [0.7, 0.3]])
    labels = [1, 1, 0, 0, 0]
    got = confident_mistakes(["a", "b", "c", "d", "e"], labels, probs, ("neg", "pos"), count=2)
    assert [(m["text"], m["true"], m["predicted"]) for m in got] == [("d", "neg", "pos"), ("a", "pos", "neg")]
    assert [m["probability"] for m in got] == pytest.approx([0.95, 0.9])
