"""Word2Vec (skip-gram, negative sampling) as a Keras model whose train step is one corpus chunk.

The tables live in `layers.SkipGramNegativeSampling`; this model adds the training rule
word2vec uses, compiled per chunk in `graph.ChunkTrainer`: `fit` feeds chunks of the encoded
corpus (int32 ids, SEPARATOR after each sentence) and one train step makes the pairs, draws
the negatives and runs plain SGD over the chunk's mini-batches, touching only the rows a batch
uses. The learning rate decays linearly from `alpha` to `min_alpha` over all the words of all
epochs (a word clock kept as a variable, like the chunk counter that seeds the random draws,
so a resumed run continues the schedule and the random stream). It goes through `Run.fit`.
"""

import keras
import numpy as np

from apps.common.word2vec.corpus import keep_probabilities
from apps.common.word2vec.graph import ChunkTrainer, expected_pairs_per_word
from layers.skip_gram import SkipGramNegativeSampling, negative_sampling_loss


@keras.saving.register_keras_serializable(package="classics")
class Word2Vec(keras.Model):
    """Inputs `(centers, contexts)` int32 `(batch,)`; output the layer's logits `(batch, 1 + k)`.

    `fit` takes corpus chunks: int32 word ids `(n,)` with SEPARATOR (-1) after each sentence,
    at most `chunk_words` long. `batch_words` corpus words make one SGD mini-batch.
    """

    def __init__(self, vocab_size, vector_size, negative=5, ns_exponent=0.75, alpha=0.025,
                 min_alpha=0.0001, total_words=1.0, max_row_hits=64.0, seed=None,
                 unigram_counts=None, window=5, sample=1e-3, batch_words=1000,
                 chunk_words=1_000_000, batch_pairs=None, **kwargs):
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
        self.window, self.sample = int(window), float(sample)
        self.batch_words, self.chunk_words = int(batch_words), int(chunk_words)
        counts = np.ones(self.vocab_size) if unigram_counts is None else np.asarray(unigram_counts, np.float64)
        keep = keep_probabilities(counts, self.sample)
        if batch_pairs is None:  # fixed once (XLA compiles one batch shape); saved in the config
            batch_pairs = round(self.batch_words * expected_pairs_per_word(counts, keep, self.window))
        self.batch_pairs = max(1, int(batch_pairs))
        self.sgns = SkipGramNegativeSampling(
            self.vocab_size, self.vector_size, num_negatives=self.negative,
            ns_exponent=self.ns_exponent, unigram_counts=unigram_counts, seed=seed, name="sgns",
        )
        self.sgns.build()
        self.keep_probability = self.add_weight(
            shape=(self.vocab_size,), initializer=keras.initializers.Constant(keep.astype(np.float32)),
            trainable=False, dtype="float32", name="keep_probability")
        self.words_done = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                          dtype="float64", name="words_done")
        self.chunks_done = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                           dtype="int64", name="chunks_done")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self._trainer = None
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

    @property
    def trainer(self) -> ChunkTrainer:
        if self._trainer is None:
            self._trainer = ChunkTrainer(
                self.sgns.target_embeddings.value, self.sgns.context_embeddings.value,
                self.keep_probability.value, self.sgns.alias_probability.value, self.sgns.alias_index.value,
                window=self.window, negative=self.negative, batch_pairs=self.batch_pairs,
                chunk_words=self.chunk_words, alpha=self.alpha, min_alpha=self.min_alpha,
                total_words=self.total_words, max_row_hits=self.max_row_hits)
        return self._trainer

    def train_step(self, data):
        import tensorflow as tf

        ids = data[0] if isinstance(data, (tuple, list)) else data
        ids = tf.reshape(tf.cast(ids, tf.int32), [-1])
        seed = tf.stack([tf.constant(self.seed or 0, tf.int64), tf.cast(self.chunks_done.value, tf.int64)])
        loss, n_pairs, n_words = self.trainer.train(ids, seed, tf.cast(self.words_done.value, tf.float64))
        self.words_done.assign_add(tf.cast(n_words, tf.float64))
        self.chunks_done.assign_add(tf.constant(1, tf.int64))
        pairs = tf.cast(tf.maximum(n_pairs, 1), tf.float32)
        self.loss_tracker.update_state(loss / pairs, sample_weight=pairs)
        return {"loss": self.loss_tracker.result(), "lr": self.learning_rate(),
                "words": self.words_done.value}

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
            "max_row_hits": self.max_row_hits, "seed": self.seed, "window": self.window,
            "sample": self.sample, "batch_words": self.batch_words, "chunk_words": self.chunk_words,
            "batch_pairs": self.batch_pairs,
        }


def build_model(config, vocab, total_words):
    """A Word2Vec model for `vocab` (a corpus.Vocabulary), compiled for the shared fit()."""
    model = Word2Vec(
        len(vocab), config.vector_size, negative=config.negative, ns_exponent=config.ns_exponent,
        alpha=config.alpha, min_alpha=config.min_alpha, total_words=max(1.0, float(total_words)),
        max_row_hits=config.max_row_hits, seed=config.seed, unigram_counts=vocab.counts,
        window=config.window, sample=config.sample, batch_words=config.batch_words,
        chunk_words=config.chunk_words, name="word2vec",
    )
    # The optimizer is never stepped (train_step updates the rows itself); fit() and
    # BackupAndRestore need a compiled model. A step is a whole chunk: no steps_per_execution.
    # Only the SGD loop is XLA-compiled (graph.ChunkTrainer), not the dynamic-shape pair making.
    model.compile(optimizer=keras.optimizers.SGD(config.alpha), jit_compile=False)
    return model
