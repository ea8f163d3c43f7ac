"""Sentiment's serving signatures (strings in) and the probabilities of raw texts."""

import numpy as np


def probabilities_from_logits(logits):
    """(N, 1) binary logit -> (N, 2) [P(class 0), P(class 1)]; (N, K) -> softmax. Tensor in, out."""
    import tensorflow as tf

    if logits.shape[-1] == 1:
        p = tf.sigmoid(logits)
        return tf.concat([1.0 - p, p], axis=-1)
    return tf.nn.softmax(logits)


def probabilities(model, texts, batch_size=256) -> np.ndarray:
    """(N, K) class probabilities of raw strings, in compiled batches."""
    import tensorflow as tf

    k = max(2, model.output_shape[-1])
    if len(texts) == 0:
        return np.zeros((0, k), np.float32)
    logits = model.predict(tf.constant([str(t) for t in texts]), batch_size=batch_size, verbose=0)
    return probabilities_from_logits(tf.constant(logits)).numpy()


def export_module(model, labels):
    """A tf.Module with the serving signatures: raw strings in; probabilities, class id,
    label and score out (`serving_default`), or the token ids the model reads (`tokenize`).
    The TextVectorization layer and its vocabulary table are inside the graph."""
    import tensorflow as tf

    class SentimentServing(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.labels = tf.constant(list(labels))

    module = SentimentServing()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def classify(text):
        probs = probabilities_from_logits(module.model(text, training=False))
        ids = tf.argmax(probs, axis=-1)
        return {"probabilities": probs, "class_ids": ids, "classes": tf.gather(module.labels, ids),
                "scores": tf.reduce_max(probs, axis=-1)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def tokenize(text):
        return {"token_ids": module.model.get_layer("vectorize")(text)}

    module.classify = classify
    module.tokenize = tokenize
    return module, {"serving_default": classify, "tokenize": tokenize}
