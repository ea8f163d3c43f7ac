import keras
import numpy as np
import pytest

from apps.translation.losses import SmoothedSparseCrossentropy


def _batch():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, size=(3, 4, 7)).astype("float32")
    labels = rng.integers(0, 7, size=(3, 4)).astype("int32")
    weights = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], "float32")  # 0: padding
    return logits, labels, weights


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.5])
def test_smoothed_sparse_loss_equals_keras_and_numpy(smoothing):
    logits, labels, weights = _batch()
    ours = float(SmoothedSparseCrossentropy(smoothing)(labels, logits, sample_weight=weights))
    one_hot = np.eye(7, dtype="float32")[labels]
    keras_dense = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smoothing)
    np.testing.assert_allclose(ours, float(keras_dense(one_hot, logits, sample_weight=weights)), rtol=1e-5)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    target = (1 - smoothing) * one_hot + smoothing / 7
    per_position = -(target * log_p).sum(-1)
    # Keras's default reduction: the weighted sum over all positions, padding included in the count.
    np.testing.assert_allclose(ours, (per_position * weights).sum() / weights.size, rtol=1e-5)
    if smoothing == 0.0:
        sparse = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        np.testing.assert_allclose(ours, float(sparse(labels, logits, sample_weight=weights)), rtol=1e-5)


def test_padding_weighs_nothing_and_bad_smoothing_is_refused():
    logits, labels, weights = _batch()
    loss = SmoothedSparseCrossentropy(0.1)
    changed = logits.copy()
    changed[weights == 0] = 50.0  # whatever the model says at padded positions
    np.testing.assert_allclose(float(loss(labels, changed, sample_weight=weights)),
                               float(loss(labels, logits, sample_weight=weights)), rtol=1e-6)
    assert SmoothedSparseCrossentropy.from_config(loss.get_config()).label_smoothing == 0.1
    with pytest.raises(ValueError, match="label_smoothing"):
        SmoothedSparseCrossentropy(1.0)
