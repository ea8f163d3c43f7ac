"""The "unsure" score and its calibration (apps/common/ood.py) against NumPy and scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from apps.common import ood
from apps.common.errors import ConfigError


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_scores_against_numpy():
    z = np.array([[2.0, -1.0, 0.5], [0.0, 0.0, 0.0], [30.0, -5.0, 1.0]], np.float32)
    np.testing.assert_allclose(ood.scores(z, "msp"), 1 - softmax(z.astype(np.float64)).max(axis=1), atol=1e-6)
    np.testing.assert_allclose(ood.scores(z, "energy"), -np.log(np.exp(z.astype(np.float64)).sum(axis=1)),
                               rtol=1e-6)
    assert ood.scores(z, "msp")[1] == pytest.approx(2 / 3)
    # One binary logit z: msp = 1 - sigmoid(|z|); energy = -logsumexp(-z/2, z/2), the same for -z.
    b = np.array([[3.0], [-3.0], [0.0]], np.float32)
    np.testing.assert_allclose(ood.scores(b, "msp"), 1 - 1 / (1 + np.exp(-np.abs(b[:, 0]))), atol=1e-6)
    e = ood.scores(b, "energy")
    assert e[0] == pytest.approx(e[1]) and e[2] == pytest.approx(-np.log(2.0)) and e[0] < e[2]
    assert ood.scores(np.zeros((0, 3)), "msp").shape == (0,)
    with pytest.raises(ConfigError, match="ood_score='nope'"):
        ood.scores(z, "nope")


def test_threshold_passes_at_least_the_fraction_and_is_the_smallest_that_does():
    values = np.arange(1, 101, dtype=np.float32)[::-1]
    assert ood.threshold(values, 0.95) == 95.0  # 95 of 100 values are <= 95, only 94 are <= 94
    assert ood.threshold(values, 1.0) == 100.0 and ood.threshold([7.0], 0.95) == 7.0
    rng = np.random.default_rng(0)
    for n in (7, 40, 399):
        v = rng.normal(size=n).astype(np.float32)
        t = ood.threshold(v, 0.95)
        assert (v <= t).mean() >= 0.95 and (v < t).mean() < 0.95
    with pytest.raises(ConfigError):
        ood.threshold([], 0.95)


def test_auroc_equals_scikit_learn_with_ties():
    rng = np.random.default_rng(1)
    inside = rng.integers(0, 6, 50).astype(float)
    outside = rng.integers(2, 9, 30).astype(float)
    want = roc_auc_score(np.r_[np.zeros(50), np.ones(30)], np.r_[inside, outside])
    assert ood.auroc(inside, outside) == pytest.approx(want)
    assert ood.auroc([0, 1], [2, 3]) == 1.0 and ood.auroc([2, 3], [0, 1]) == 0.0


def test_calibrate_picks_the_better_score_and_keeps_95_percent():
    rng = np.random.default_rng(2)
    # Validation: confident on one class; outliers: flat logits of a large norm (energy says
    # "known" for them, msp "unsure").
    val = rng.normal(0, 1, (200, 4)) + np.eye(4)[rng.integers(0, 4, 200)] * 6
    proxy = rng.normal(0, 0.2, (100, 4)) + 9.0
    result = ood.calibrate(val, proxy, "auto", 0.95)
    assert result.score == "msp" and result.proxy_auroc["msp"] > result.proxy_auroc["energy"]
    assert (ood.scores(val, "msp") <= result.threshold).mean() >= 0.95 and result.validation_count == 200
    assert ood.calibrate(val, proxy, "energy").score == "energy"
    assert ood.calibrate(np.log(softmax(val)), np.log(softmax(proxy)), "auto", probabilities=True).score == "msp"
    with pytest.raises(ConfigError, match="no logits for energy"):
        ood.calibrate(val, proxy, "energy", probabilities=True)


def test_synthetic_outliers_keep_what_they_should():
    images = np.random.default_rng(3).integers(0, 256, (5, 6, 7, 1), dtype=np.uint8)
    shuffled = ood.shuffled_pixels(images, seed=0)
    assert shuffled.shape == images.shape and not np.array_equal(shuffled, images)
    for a, b in zip(images, shuffled):
        np.testing.assert_array_equal(np.sort(a.ravel()), np.sort(b.ravel()))  # same intensities
    texts = ["a good film", "dull", "the worst plot ever seen"]
    salad = ood.shuffled_words(texts, seed=0)
    assert [len(t.split()) for t in salad] == [3, 1, 5]
    assert sorted(" ".join(salad).split()) == sorted(" ".join(texts).split())


def test_mahalanobis_against_an_explicit_numpy_loop():
    rng = np.random.default_rng(4)
    labels = np.repeat(np.arange(3), 40)
    features = rng.normal(0, 1, (120, 5)) + np.eye(3, 5)[labels] * 4
    means, precision = ood.fit_gaussians(features, labels, 3, ridge=0.0)
    np.testing.assert_allclose(means[1], features[labels == 1].mean(axis=0))
    centred = features - means[labels]
    np.testing.assert_allclose(np.linalg.inv(precision), centred.T @ centred / 120, rtol=1e-10)
    queries = rng.normal(0, 3, (6, 5))
    want = [min((q - m) @ precision @ (q - m) for m in means) for q in queries]
    got = ood.scores(np.zeros((6, 3)), "mahalanobis", queries, (means, precision))
    np.testing.assert_allclose(got, want, rtol=1e-4)
    # Calibrated with the Gaussians, "auto" may pick it and keeps them for the export.
    far = rng.normal(0, 1, (50, 5)) * 0.1 + 20.0
    val_logits = rng.normal(0, 1, (120, 3))
    result = ood.calibrate(val_logits, val_logits[:50], "auto", 0.95, False, features, far, (means, precision))
    assert result.score == "mahalanobis" and result.proxy_auroc["mahalanobis"] == 1.0
    np.testing.assert_allclose(result.gaussian[1], precision, rtol=1e-6)
    with pytest.raises(ConfigError, match="no features of this model"):
        ood.calibrate(val_logits, val_logits, "mahalanobis")
