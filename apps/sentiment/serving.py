"""Sentiment's serving signatures (strings in) and the probabilities of raw texts."""

import numpy as np

from apps.common import ood as ood_lib
from apps.common import validation


def probabilities_from_logits(logits):
    """(N, 1) binary logit -> (N, 2) [P(class 0), P(class 1)]; (N, K) -> softmax. Tensor in, out."""
    import tensorflow as tf

    if logits.shape[-1] == 1:
        p = tf.sigmoid(logits)
        return tf.concat([1.0 - p, p], axis=-1)
    return tf.nn.softmax(logits)


def logits(model, texts, batch_size=256) -> np.ndarray:
    """(N, 1 | K) logits of raw strings, in compiled batches."""
    import tensorflow as tf

    if len(texts) == 0:
        return np.zeros((0, model.output_shape[-1]), np.float32)
    return model.predict(tf.constant([str(t) for t in texts]), batch_size=batch_size, verbose=0)


def probabilities(model, texts, batch_size=256) -> np.ndarray:
    """(N, K) class probabilities of raw strings, in compiled batches."""
    import tensorflow as tf

    k = max(2, model.output_shape[-1])
    if len(texts) == 0:
        return np.zeros((0, k), np.float32)
    logits = model.predict(tf.constant([str(t) for t in texts]), batch_size=batch_size, verbose=0)
    return probabilities_from_logits(tf.constant(logits)).numpy()


def export_module(model, labels, max_chars=100_000, calibration=None):
    """A tf.Module with the serving signatures: raw strings in; probabilities, class id,
    label and score out (`serving_default`), or the token ids the model reads (`tokenize`).
    The TextVectorization layer and its vocabulary table are inside the graph.

    `serving_default` checks each text (apps/common/validation.py: empty, whitespace or
    punctuation only, over `max_chars` characters) and returns `error` per instance ("" when
    fine; a refused text is answered as the empty text, which the server drops). With
    `calibration` (apps/common/ood.py) it also returns `unsure`, `ood_score` and
    `ood_threshold` per instance. An empty batch answers empty outputs."""
    import tensorflow as tf

    class SentimentServing(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.labels = tf.constant(list(labels))

    module = SentimentServing()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def classify(text):
        errors = validation.text_verdicts(text, max_chars)
        n = tf.shape(text)[0]
        # Refused texts are read as "" (an over-long one is not tokenised); a 0-row batch as [""].
        read = tf.where(tf.equal(errors, ""), text, "")
        read = tf.cond(n > 0, lambda: read, lambda: tf.constant([""]))
        logits = module.model(read, training=False)[:n]
        probs = probabilities_from_logits(logits)
        ids = tf.argmax(probs, axis=-1)
        out = {"probabilities": probs, "class_ids": ids, "classes": tf.gather(module.labels, ids),
               "scores": tf.reduce_max(probs, axis=-1), "error": errors}
        if calibration is not None:
            score = ood_lib.score_tensor(logits, calibration.score)
            out.update(unsure=score > calibration.threshold, ood_score=score,
                       ood_threshold=tf.fill([n], tf.constant(calibration.threshold, tf.float32)))
        return out

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def tokenize(text):
        return {"token_ids": module.model.get_layer("vectorize")(text)}

    module.classify = classify
    module.tokenize = tokenize
    return module, {"serving_default": classify, "tokenize": tokenize}
