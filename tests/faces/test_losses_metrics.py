"""Triplet loss and mining against NumPy; verification metrics against scikit-learn."""

import numpy as np
import pytest

from apps.faces import losses, metrics


def _batch(seed=0, people=3, per_person=3, dim=4):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(people), per_person)
    rng.shuffle(labels)
    emb = rng.normal(size=(len(labels), dim)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return labels, emb


def _np_distances(emb):
    e = emb.astype(np.float64)
    return ((e[:, None] - e[None]) ** 2).sum(-1)


def _np_batch_hard(labels, emb, margin):
    d = _np_distances(emb)
    out = []
    for a in range(len(labels)):
        pos = [p for p in range(len(labels)) if p != a and labels[p] == labels[a]]
        neg = [n for n in range(len(labels)) if labels[n] != labels[a]]
        if pos and neg:
            out.append(max(max(d[a, pos]) - min(d[a, neg]) + margin, 0.0))
    return np.mean(out)


def _np_semi_hard(labels, emb, margin):
    d = _np_distances(emb)
    out = []
    for a in range(len(labels)):
        neg = [n for n in range(len(labels)) if labels[n] != labels[a]]
        for p in range(len(labels)):
            if p == a or labels[p] != labels[a] or not neg:
                continue
            farther = [d[a, n] for n in neg if d[a, n] > d[a, p]]
            d_an = min(farther) if farther else max(d[a, neg])
            out.append(max(d[a, p] - d_an + margin, 0.0))
    return np.mean(out)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("margin", [0.2, 1.0])
def test_triplet_loss_matches_numpy(seed, margin):
    labels, emb = _batch(seed)
    got_hard = float(losses.triplet_loss(labels, emb, margin, "batch_hard"))
    got_semi = float(losses.triplet_loss(labels, emb, margin, "semi_hard"))
    np.testing.assert_allclose(got_hard, _np_batch_hard(labels, emb, margin), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_semi, _np_semi_hard(labels, emb, margin), rtol=1e-5, atol=1e-6)
    assert got_hard >= got_semi - 1e-6  # the hardest triplets cost at least the semi-hard ones


def test_hand_computed_batch_hard():
    # Two people on a line: a0=0, a1=0.6 (person 0), b0=1 (person 1), b1=... in 1-D.
    emb = np.array([[0.0], [0.6], [1.0], [2.0]], np.float32)
    labels = np.array([0, 0, 1, 1])
    # anchors: 0 -> pos 0.36, neg min(1, 4)=1 -> 0; 1 -> 0.36 - 0.16 + 0.2 = 0.4;
    # 2 -> pos 1, neg min(1, 0.16)=0.16 -> 1.04; 3 -> 1 - 1.96 + 0.2 < 0 -> 0.
    assert float(losses.triplet_loss(labels, emb, 0.2, "batch_hard")) == pytest.approx(
        (0 + 0.4 + 1.04 + 0) / 4, abs=1e-6)


def test_keras_loss_class_is_the_function_and_round_trips():
    import keras

    labels, emb = _batch(3)
    loss = losses.TripletLoss(margin=0.5, mining="semi_hard")
    assert float(loss(labels, emb)) == pytest.approx(_np_semi_hard(labels, emb, 0.5), rel=1e-5)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert (again.margin, again.mining) == (0.5, "semi_hard")
    with pytest.raises(ValueError, match="mining"):
        losses.TripletLoss(mining="hardest")


@pytest.mark.parametrize("seed", range(5))
def test_mining_never_picks_a_wrong_positive_or_negative(seed):
    labels, emb = _batch(seed, people=4, per_person=3, dim=8)
    d = losses.pairwise_sq_distances(emb)
    pos, neg, valid = (np.asarray(v) for v in losses.batch_hard_indices(d, labels))
    assert valid.all()
    assert (labels[pos] == labels).all() and (pos != np.arange(len(labels))).all()
    assert (labels[neg] != labels).all()
    chosen, ok = (np.asarray(v) for v in losses.semi_hard_indices(d, labels))
    a, p = np.nonzero(ok)
    assert len(a) == 4 * 3 * 2  # every ordered same-person pair
    assert (labels[a] == labels[p]).all() and (a != p).all()
    assert (labels[chosen[a, p]] != labels[a]).all()
    dn = np.asarray(d)
    # semi-hard: farther than the positive whenever such a negative exists
    for i, j in zip(a, p):
        farther = [n for n in range(len(labels)) if labels[n] != labels[i] and dn[i, n] > dn[i, j]]
        if farther:
            assert dn[i, chosen[i, j]] == pytest.approx(min(dn[i, n] for n in farther))


def test_anchor_without_a_positive_is_left_out():
    emb = np.eye(3, dtype=np.float32)
    labels = np.array([0, 0, 1])  # person 1 has one image: no positive for anchor 2
    pos, neg, valid = losses.batch_hard_indices(losses.pairwise_sq_distances(emb), labels)
    assert list(np.asarray(valid)) == [True, True, False]
    # anchors 0 and 1: d_ap = 2, d_an = 2 -> margin
    assert float(losses.triplet_loss(labels, emb, 0.3)) == pytest.approx(0.3)


def test_verification_metrics_match_sklearn():
    from sklearn.metrics import roc_auc_score, roc_curve

    rng = np.random.default_rng(0)
    genuine = rng.random(500) < 0.2
    d = np.where(genuine, rng.normal(1.0, 0.4, 500), rng.normal(2.0, 0.4, 500)).round(2)  # ties
    assert metrics.auc(d, genuine) == pytest.approx(roc_auc_score(genuine, -d), abs=1e-12)
    fpr, tpr, _ = roc_curve(genuine, -d)
    far_grid = 0.01
    assert metrics.tar_at_far(d, genuine, far_grid) == pytest.approx(tpr[fpr <= far_grid].max())
    e = metrics.eer(d, genuine)
    k = np.argmin(np.abs(fpr - (1 - tpr)))
    assert abs(e - (fpr[k] + 1 - tpr[k]) / 2) < 0.02


def test_thresholds_by_hand():
    d = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    genuine = np.array([True, True, False, True, False, False])
    # accept <= t: t in (0.2, 0.3) gives 5/6 correct, t in (0.4, 0.5) gives 5/6 too; the first wins
    assert metrics.threshold_best_accuracy(d, genuine) == pytest.approx(0.25)
    assert metrics.accuracy_at(d, genuine, 0.25)["accuracy"] == pytest.approx(5 / 6)
    # FAR <= 0: the largest threshold accepting no impostor lies between 0.2 and 0.3
    assert metrics.threshold_at_far(d, genuine, 0.0) == pytest.approx(0.25)
    assert metrics.threshold_at_far(d, genuine, 1 / 3) == pytest.approx(0.45)
    assert metrics.eer(d, genuine) == pytest.approx(1 / 3)
    assert metrics.auc(d, genuine) == pytest.approx(8 / 9)


def test_logistic_verifier_matches_sklearn():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    genuine = rng.random(400) < 0.3
    x = np.abs(rng.normal(size=(400, 5))) * np.where(genuine, 0.5, 1.0)[:, None]
    l2 = 1e-2
    w, b = metrics.fit_logistic(x, genuine, l2=l2)
    ref = LogisticRegression(C=1.0 / (l2 * len(x)), class_weight="balanced", tol=1e-10,
                             max_iter=10_000).fit(x, genuine)
    np.testing.assert_allclose(w, ref.coef_[0], rtol=1e-3, atol=1e-4)
    assert b == pytest.approx(ref.intercept_[0], rel=1e-3, abs=1e-4)


# ---------------------------------------------------------------- margin softmax, pair AUC
def _np_margin_softmax(labels, cos, scale, margin, kind):
    out = []
    for row, y in zip(cos.astype(np.float64), labels):
        if not 0 <= y < cos.shape[1]:
            continue  # a person the classifier was not trained on
        logits = scale * row.copy()
        theta = np.arccos(np.clip(row[y], -1 + 1e-7, 1 - 1e-7))
        logits[y] = scale * (row[y] - margin if kind == "cosface" else np.cos(theta + margin))
        out.append(np.log(np.exp(logits - logits.max()).sum()) + logits.max() - logits[y])
    return np.mean(out)


@pytest.mark.parametrize("kind", ["cosface", "arcface"])
def test_margin_softmax_matches_numpy(kind):
    rng = np.random.default_rng(4)
    cos = rng.uniform(-1, 1, (6, 4)).astype(np.float32)
    labels = np.array([0, 3, 1, 7, 2, 1])  # 7: an unseen person, weighs 0
    got = float(losses.margin_softmax_loss(labels, cos, scale=16.0, margin=0.3, kind=kind))
    assert got == pytest.approx(_np_margin_softmax(labels, cos, 16.0, 0.3, kind), rel=1e-5)
    # A margin makes the true class harder: the loss grows with it.
    assert got > float(losses.margin_softmax_loss(labels, cos, 16.0, 0.0, kind))


def test_margin_softmax_by_hand_and_as_a_keras_loss():
    import keras

    cos = np.array([[0.5, 0.0]], np.float32)
    # cosface, s=2, m=0.5: logits (0, 0) -> log 2
    assert float(losses.margin_softmax_loss([0], cos, 2.0, 0.5)) == pytest.approx(np.log(2), abs=1e-6)
    loss = losses.MarginSoftmaxLoss(scale=2.0, margin=0.5)
    assert float(loss(np.array([0]), cos)) == pytest.approx(np.log(2), abs=1e-6)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert (again.scale, again.margin, again.kind) == (2.0, 0.5, "cosface")
    with pytest.raises(ValueError, match="kind"):
        losses.MarginSoftmaxLoss(kind="sphereface")


def test_verification_auc_metric_equals_the_numpy_auc():
    labels, emb = _batch(5, people=4, per_person=5, dim=3)
    from apps.faces.training import pair_distances

    d, genuine, _ = pair_distances(emb, labels)
    metric = losses.VerificationAUC()
    metric.update_state(labels, emb)
    assert float(metric.result()) == pytest.approx(metrics.auc(d, genuine), abs=1e-6)
    metric.update_state(labels[:2], emb[:2])  # one pair, genuine only: no AUC, not counted
    assert float(metric.result()) == pytest.approx(metrics.auc(d, genuine), abs=1e-6)
