"""Face losses: triplet loss with online mining inside a P x K batch (FaceNet, Schroff et
al. 2015), and a margin softmax over the training people (CosFace / ArcFace, at the end).

    L(A, P, N) = max(||f(A) - f(P)||^2 - ||f(A) - f(N)||^2 + alpha, 0)

on L2-normalised embeddings (squared distances 0..4). Which triplets, per batch:

- "batch_hard" (Hermans et al. 2017): each anchor with its farthest positive and its
  closest negative; the loss is the mean over anchors that have a positive.
- "semi_hard" (FaceNet; as tensorflow-addons' TripletSemiHardLoss): every anchor-positive
  pair with the closest negative that is still farther than the positive
  (d_an > d_ap); when there is none, the farthest negative. Mean over the pairs.

The mining functions return indices, so tests can check that a positive is always the
same person and a negative never is.
"""

import keras


def pairwise_sq_distances(embeddings):
    """(B, D) -> (B, B) squared Euclidean distances, >= 0, exact 0 on the diagonal."""
    from keras import ops

    sq = ops.sum(ops.square(embeddings), axis=1)
    d = sq[:, None] - 2.0 * ops.matmul(embeddings, ops.transpose(embeddings)) + sq[None, :]
    d = ops.maximum(d, 0.0)
    return d * (1.0 - ops.eye(ops.shape(d)[0], dtype=d.dtype))


def _masks(labels):
    from keras import ops

    labels = ops.reshape(labels, (-1,))
    same = ops.equal(labels[:, None], labels[None, :])
    not_self = ops.logical_not(ops.cast(ops.eye(ops.shape(labels)[0]), "bool"))
    return ops.logical_and(same, not_self), ops.logical_not(same)


def batch_hard_indices(distances, labels):
    """-> (positive (B,), negative (B,), valid (B,)): per anchor the farthest same-person
    image and the closest other-person image; `valid` where the anchor has both."""
    from keras import ops

    positive, negative = _masks(labels)
    big = ops.max(distances) + 1.0
    pos = ops.argmax(ops.where(positive, distances, -1.0), axis=1)
    neg = ops.argmin(ops.where(negative, distances, big), axis=1)
    valid = ops.logical_and(ops.any(positive, axis=1), ops.any(negative, axis=1))
    return pos, neg, valid


def semi_hard_indices(distances, labels):
    """-> (negative (B, B), valid (B, B)): for each anchor a and positive p, the negative n
    with the smallest d_an > d_ap, else (none farther) the largest d_an; `valid` marks the
    (a, p) pairs that are same-person, a != p, and have a negative."""
    from keras import ops

    positive, negative = _masks(labels)
    big = ops.max(distances) + 1.0
    d_ap = distances[:, :, None]  # (a, p, 1)
    d_an = distances[:, None, :]  # (a, 1, n)
    neg = negative[:, None, :]
    outside = ops.logical_and(neg, d_an > d_ap)  # (a, p, n)
    closest_outside = ops.argmin(ops.where(outside, d_an, big), axis=2)
    farthest_inside = ops.argmax(ops.where(neg, d_an, -1.0), axis=2)
    chosen = ops.where(ops.any(outside, axis=2), closest_outside, farthest_inside)
    valid = ops.logical_and(positive, ops.any(negative, axis=1)[:, None])
    return chosen, valid


def triplet_loss(labels, embeddings, margin=0.2, mining="batch_hard"):
    """Scalar mean triplet loss of one batch (see the module docstring)."""
    from keras import ops

    d = pairwise_sq_distances(embeddings)
    if mining == "batch_hard":
        pos, neg, valid = batch_hard_indices(d, labels)
        d_ap = ops.take_along_axis(d, pos[:, None], axis=1)[:, 0]
        d_an = ops.take_along_axis(d, neg[:, None], axis=1)[:, 0]
        losses = ops.relu(d_ap - d_an + margin)
    elif mining == "semi_hard":
        neg, valid = semi_hard_indices(d, labels)
        d_an = ops.take_along_axis(d, neg, axis=1)  # rows are anchors: d[a, neg[a, p]]
        losses = ops.relu(d - d_an + margin)
    else:
        raise ValueError(f"mining: expected 'batch_hard' or 'semi_hard', got {mining!r}")
    weights = ops.cast(valid, losses.dtype)
    return ops.sum(losses * weights) / ops.maximum(ops.sum(weights), 1.0)


@keras.saving.register_keras_serializable(package="classics")
class TripletLoss(keras.losses.Loss):
    """`y_true`: person ids (B,); `y_pred`: L2-normalised embeddings (B, D)."""

    def __init__(self, margin=0.2, mining="batch_hard", name="triplet_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if mining not in ("batch_hard", "semi_hard"):
            raise ValueError(f"mining: expected 'batch_hard' or 'semi_hard', got {mining!r}")
        if not margin >= 0:
            raise ValueError(f"margin: expected >= 0, got {margin}")
        self.margin = float(margin)
        self.mining = mining

    def call(self, y_true, y_pred):
        return triplet_loss(y_true, y_pred, self.margin, self.mining)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin, "mining": self.mining}


# ---------------------------------------------------------------- margin softmax
def margin_softmax_loss(labels, cosines, scale=24.0, margin=0.25, kind="cosface"):
    """Mean cross-entropy of margin-penalised cosine logits over the rows whose label is a
    class of `cosines` (B, N); rows with another label (people the classifier was not
    trained on, e.g. in validation batches) weigh 0.

    cosface (Wang et al. 2018): logit_y = s * (cos(theta_y) - m)
    arcface (Deng et al. 2019): logit_y = s * cos(theta_y + m)
    other classes: s * cos(theta_j)
    """
    from keras import ops

    n = ops.shape(cosines)[-1]
    labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
    known = ops.logical_and(labels >= 0, labels < n)
    onehot = ops.one_hot(ops.where(known, labels, 0), n, dtype=cosines.dtype)
    if kind == "cosface":
        target = cosines - margin
    elif kind == "arcface":
        c = ops.clip(cosines, -1.0 + 1e-7, 1.0 - 1e-7)
        target = ops.cos(ops.arccos(c) + margin)
    else:
        raise ValueError(f"kind: expected 'cosface' or 'arcface', got {kind!r}")
    logits = scale * ops.where(onehot > 0, target, cosines)
    per_row = -ops.sum(onehot * ops.log_softmax(logits, axis=-1), axis=-1)
    weights = ops.cast(known, per_row.dtype)
    return ops.sum(per_row * weights) / ops.maximum(ops.sum(weights), 1.0)


@keras.saving.register_keras_serializable(package="classics")
class MarginSoftmaxLoss(keras.losses.Loss):
    """`y_true`: person ids (B,); `y_pred`: cosines to each training person (B, N), e.g.
    from layers.CosineLogits. See `margin_softmax_loss`."""

    def __init__(self, scale=24.0, margin=0.25, kind="cosface", name="margin_softmax_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if kind not in ("cosface", "arcface"):
            raise ValueError(f"kind: expected 'cosface' or 'arcface', got {kind!r}")
        if not scale > 0:
            raise ValueError(f"scale: expected > 0, got {scale}")
        self.scale, self.margin, self.kind = float(scale), float(margin), kind

    def call(self, y_true, y_pred):
        return margin_softmax_loss(y_true, y_pred, self.scale, self.margin, self.kind)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "margin": self.margin, "kind": self.kind}


# ---------------------------------------------------------------- validation metric
def pair_auc(labels, embeddings):
    """ROC AUC of all pairs i < j of one batch: the probability that a genuine pair (same
    person) is closer than an impostor pair (Mann-Whitney, from ranks of the squared
    distances; exact ties are broken by order, not counted half). -> (auc, valid): valid is
    0 when the batch lacks genuine or impostor pairs."""
    import tensorflow as tf

    labels = tf.reshape(labels, [-1])
    d = pairwise_sq_distances(tf.cast(embeddings, tf.float32))
    b = tf.shape(d)[0]
    upper = tf.linalg.band_part(tf.ones([b, b], tf.bool), 0, -1) & ~tf.eye(b, dtype=tf.bool)
    same = tf.equal(labels[:, None], labels[None, :])
    distances = tf.boolean_mask(d, upper)  # (pairs,)
    genuine = tf.boolean_mask(same, upper)
    ranks = tf.cast(tf.argsort(tf.argsort(distances, stable=True), stable=True), tf.float64) + 1.0
    n_imp = tf.reduce_sum(tf.cast(~genuine, tf.float64))
    n_gen = tf.reduce_sum(tf.cast(genuine, tf.float64))
    # Impostors ranked above genuine pairs are the wins: sum of impostor ranks minus their
    # own triangle counts how many genuine distances each impostor exceeds.
    wins = tf.reduce_sum(tf.boolean_mask(ranks, ~genuine)) - n_imp * (n_imp + 1.0) / 2.0
    valid = tf.cast(n_gen * n_imp > 0, tf.float64)
    return tf.cast(wins / tf.maximum(n_gen * n_imp, 1.0), tf.float32), tf.cast(valid, tf.float32)


@keras.saving.register_keras_serializable(package="classics")
class VerificationAUC(keras.metrics.Metric):
    """`pair_auc` of each batch, averaged over batches. With the whole validation set in one
    batch it is the verification AUC of every validation pair: the number checkpoints are
    selected by. `y_true`: person ids (B,); `y_pred`: embeddings (B, D)."""

    def __init__(self, name="verification_auc", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        auc, valid = pair_auc(y_true, y_pred)
        self.total.assign_add(auc * valid)
        self.count.assign_add(valid)

    def result(self):
        from keras import ops

        return self.total / ops.maximum(self.count, 1.0)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)
