"""The training loss of the translation models."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="classics")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy from logits against integer labels smoothed towards the uniform
    distribution: the target is (1 - e) one_hot(y) + e / V, so the loss per position is
    (1 - e) (-log p_y) + e mean_k(-log p_k), as `keras.losses.CategoricalCrossentropy(
    label_smoothing=e)` on one-hot labels (Keras 3's sparse loss has no label_smoothing).
    Sample weights (0 on padding) and the reduction are Keras's, as for its sparse loss.

    y_true (..., ) int, y_pred (..., V) logits -> (..., ) per position.
    """

    def __init__(self, label_smoothing=0.1, name="smoothed_sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"`label_smoothing` must be in [0, 1), received: {label_smoothing!r}")
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        log_probs = ops.log_softmax(y_pred, axis=-1)
        labels = ops.expand_dims(ops.cast(y_true, "int32"), -1)
        nll = -ops.squeeze(ops.take_along_axis(log_probs, labels, axis=-1), -1)
        return (1.0 - self.label_smoothing) * nll - self.label_smoothing * ops.mean(log_probs, axis=-1)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}
