"""Word2Vec (skip-gram, negative sampling) as a Keras model with a sparse SGD train step.

The tables live in `layers.SkipGramNegativeSampling`; this model only adds the training
rule word2vec uses: plain SGD on the rows a batch touches (`scatter_sub` of the summed
per-pair gradients, never a dense V x D update), with the learning rate decayed linearly
from `alpha` to `min_alpha` over all the words of all epochs (a word clock kept as a
variable, so a resumed run continues the schedule). It goes through the shared `fit()`.
"""

import keras

from layers.skip_gram import SkipGramNegativeSampling, negative_sampling_loss


@keras.saving.register_keras_serializable(package="classics")
class Word2Vec(keras.Model):
    """Inputs `(centers, contexts)` int32 `(batch,)`; output the layer's logits `(batch, 1 + k)`.

    `fit` takes batches `(centers, contexts, words)` where `words` is how many corpus words
    the batch stands for (advances the learning-rate clock).
    """

    def __init__(self, vocab_size, vector_size, negative=5, ns_exponent=0.75, alpha=0.025,
                 min_alpha=0.0001, total_words=1.0, max_row_hits=64.0, seed=None,
                 unigram_counts=None, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = int(vocab_size)
        self.vector_size = int(vector_size)
        self.negative = int(negative)
        self.ns_exponent = float(ns_exponent)
        self.alpha = float(alpha)
        self.min_alpha = float(min_alpha)
        self.total_words = float(total_words)
        self.max_row_hits = float(max_row_hits)
        self.seed = seed
        self.sgns = SkipGramNegativeSampling(
            self.vocab_size, self.vector_size, num_negatives=self.negative,
            ns_exponent=self.ns_exponent, unigram_counts=unigram_counts, seed=seed, name="sgns",
        )
        self.sgns.build()
        self.words_done = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                          dtype="float64", name="words_done")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.built = True

    def call(self, inputs, training=None):
        return self.sgns(inputs, training=training)

    @property
    def metrics(self):
        return [self.loss_tracker]

    def learning_rate(self):
        import tensorflow as tf

        progress = tf.cast(self.words_done.value, tf.float32) / self.total_words
        return tf.maximum(self.min_alpha, self.alpha - (self.alpha - self.min_alpha) * progress)

    def train_step(self, data):
        import tensorflow as tf

        centers, contexts, words = data
        centers = tf.cast(tf.reshape(centers, [-1]), tf.int32)
        contexts = tf.cast(tf.reshape(contexts, [-1]), tf.int32)
        lr = self.learning_rate()
        table_t = self.sgns.target_embeddings.value
        table_c = self.sgns.context_embeddings.value
        negatives = self.sgns.sample_negatives(contexts)
        candidates = tf.concat([contexts[:, None], negatives], axis=1)  # (batch, 1 + k)
        t = tf.gather(table_t, centers)  # (batch, D)
        c = tf.gather(table_c, candidates)  # (batch, 1 + k, D)
        logits = tf.einsum("bd,bkd->bk", t, c)
        labels = tf.one_hot(tf.zeros_like(centers), 1 + self.negative, dtype=logits.dtype)
        # d loss / d logit of the logistic loss: sigmoid(s) - label.
        g = tf.sigmoid(logits) - labels
        grad_t = tf.einsum("bk,bkd->bd", g, c)  # both from the old rows, as word2vec does
        grad_c = g[:, :, None] * t[:, None, :]
        flat = tf.reshape(candidates, [-1])
        grad_c = tf.reshape(grad_c, [-1, self.vector_size])
        if self.max_row_hits > 0:
            grad_t = grad_t * self._row_scale(centers)[:, None]
            grad_c = grad_c * self._row_scale(flat)[:, None]
        table_t.scatter_sub(tf.IndexedSlices(lr * grad_t, centers))
        table_c.scatter_sub(tf.IndexedSlices(lr * grad_c, flat))
        self.words_done.assign_add(tf.cast(tf.reduce_sum(words), tf.float64))
        self.loss_tracker.update_state(tf.reduce_mean(negative_sampling_loss(logits)))
        return {"loss": self.loss_tracker.result(), "lr": lr}

    def _row_scale(self, ids):
        """Per entry: 1 / max(1, hits of its row in this batch / max_row_hits).

        A row hit n > max_row_hits times in one batch moves by its mean gradient times
        max_row_hits instead of the sum of n stale gradients (which diverges for a small
        vocabulary or a very frequent word); rows hit less often are plain SGD."""
        import tensorflow as tf

        hits = tf.math.unsorted_segment_sum(tf.ones_like(ids, tf.float32), ids, self.vocab_size)
        return 1.0 / tf.maximum(1.0, tf.gather(hits, ids) / self.max_row_hits)

    def test_step(self, data):
        import tensorflow as tf

        centers, contexts = data[0], data[1]
        logits = self.sgns((centers, contexts), training=False)
        self.loss_tracker.update_state(tf.reduce_mean(negative_sampling_loss(logits)))
        return {"loss": self.loss_tracker.result()}

    def vectors(self):
        """The word vectors (the target table), NumPy (V, D)."""
        return self.sgns.target_embeddings.numpy()

    def get_config(self):
        return {
            "name": self.name,
            "vocab_size": self.vocab_size, "vector_size": self.vector_size,
            "negative": self.negative, "ns_exponent": self.ns_exponent, "alpha": self.alpha,
            "min_alpha": self.min_alpha, "total_words": self.total_words,
            "max_row_hits": self.max_row_hits, "seed": self.seed,
        }


def build_model(config, vocab, total_words):
    """A Word2Vec model for `vocab` (a data.Vocabulary), compiled for the shared fit()."""
    model = Word2Vec(
        len(vocab), config.vector_size, negative=config.negative, ns_exponent=config.ns_exponent,
        alpha=config.alpha, min_alpha=config.min_alpha, total_words=max(1.0, float(total_words)),
        max_row_hits=config.max_row_hits, seed=config.seed,
        unigram_counts=vocab.counts, name="word2vec",
    )
    # The optimizer is never stepped (train_step updates the rows itself); fit() and
    # BackupAndRestore need a compiled model.
    # Several small steps per tf.function call: the Python loop of fit() stays off the
    # critical path at ~4k pairs a step.
    model.compile(optimizer=keras.optimizers.SGD(config.alpha), steps_per_execution=16)
    return model
