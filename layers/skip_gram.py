"""Skip-gram with negative sampling (Mikolov et al. 2013), as a layer that owns both tables."""

import keras
import numpy as np


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive int, received: {value!r}")
    return int(value)


def negative_sampling_loss(logits):
    """Logistic loss of skip-gram negative sampling, per pair: (batch, 1 + k) logits -> (batch,).

    Column 0 is the positive (label 1), columns 1..k the negatives (label 0):
    `-log sigmoid(s_pos) - sum_j log sigmoid(-s_neg_j)`, computed stably as softplus terms.
    """
    positive = keras.ops.softplus(-logits[:, 0])
    negatives = keras.ops.sum(keras.ops.softplus(logits[:, 1:]), axis=-1)
    return positive + negatives


@keras.saving.register_keras_serializable(package="classics")
class SkipGramNegativeSampling(keras.layers.Layer):
    """Target and context embedding tables scored with negative sampling.

    For every (target, context) pair the layer draws `num_negatives` words from the
    unigram distribution raised to `ns_exponent` (`P(w) ~ count(w) ** ns_exponent`, 0.75 in
    the paper) and returns logits `(batch, 1 + num_negatives)`: column 0 is
    `target_vec . context_vec` (the positive), the others `target_vec . negative_vec`.
    Train with `negative_sampling_loss(logits)`, the logistic loss with label 1 for
    column 0 and 0 for the rest.

    A negative never equals its pair's positive (context) word: colliding draws are
    *resampled* (rejection) until none is left, so each negative follows the unigram
    distribution conditioned on "not the positive", `P(w) / (1 - P(positive))`. (gensim and
    word2vec.c instead skip a colliding draw, leaving that pair with fewer negatives.)

    Negatives are drawn with a stateless sampler: in training the seed advances on every
    call (a `SeedGenerator` seeded by `seed`), in inference it is fixed, so evaluation
    logits are reproducible. Drawing uses Walker's alias method (O(1) a draw, exact up to
    float64 rounding; no truncated unigram table as in word2vec.c).

    Args:
        vocab_size: Number of words V; inputs are word ids in `[0, V)`.
        embedding_dim: Size D of both embedding tables.
        num_negatives: Negatives k per pair.
        ns_exponent: Exponent of the unigram counts in the noise distribution (0 gives
            uniform noise, 1 the unigram distribution itself).
        unigram_counts: Length-V sequence of non-negative word counts. At least two words
            must have a positive count. None gives uniform counts (e.g. before weights are
            loaded). Stored as the non-trainable weight `unigram_counts` (V,) with the
            alias tables derived from it, so it travels with the weights, not the config;
            change it with `set_unigram_counts`.
        seed: Seed of the negative sampler (int or None).
        embeddings_initializer: Initializer of the target table; default is word2vec's
            `uniform(-0.5 / D, 0.5 / D)`.
        context_initializer: Initializer of the context table; default zeros as in
            word2vec.c and gensim.

    Call arguments:
        inputs: `(targets, contexts)`, two int tensors of shape `(batch,)`, or one int
            tensor `(batch, 2)`.
        training: Fresh negatives per call when True.

    Output: logits `(batch, 1 + num_negatives)`.
    """

    def __init__(
        self,
        vocab_size,
        embedding_dim,
        num_negatives=5,
        ns_exponent=0.75,
        unigram_counts=None,
        seed=None,
        embeddings_initializer=None,
        context_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size = _check_positive_int("vocab_size", vocab_size)
        if self.vocab_size < 2:
            raise ValueError(f"`vocab_size` must be at least 2 (a negative must differ from the "
                             f"positive), received: {vocab_size!r}")
        self.embedding_dim = _check_positive_int("embedding_dim", embedding_dim)
        self.num_negatives = _check_positive_int("num_negatives", num_negatives)
        if isinstance(ns_exponent, bool) or not isinstance(ns_exponent, (int, float)) \
                or not np.isfinite(ns_exponent):
            raise ValueError(f"`ns_exponent` must be a finite number, received: {ns_exponent!r}")
        self.ns_exponent = float(ns_exponent)
        if unigram_counts is not None:
            unigram_counts = self._check_counts(unigram_counts)
        self._initial_counts = unigram_counts
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"`seed` must be an int or None, received: {seed!r}")
        self.seed = None if seed is None else int(seed)
        if embeddings_initializer is None:
            limit = 0.5 / self.embedding_dim
            embeddings_initializer = keras.initializers.RandomUniform(-limit, limit, seed=self.seed)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.context_initializer = keras.initializers.get(context_initializer)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def _check_counts(self, counts):
        counts = np.asarray(counts, dtype=np.float64)
        if counts.shape != (self.vocab_size,):
            raise ValueError(f"`unigram_counts` must have shape ({self.vocab_size},) (one count per "
                             f"word), received shape {counts.shape}")
        if not np.all(np.isfinite(counts)) or np.any(counts < 0):
            raise ValueError("`unigram_counts` must be finite and non-negative, received min "
                             f"{counts.min()}")
        if np.count_nonzero(counts) < 2:
            raise ValueError("`unigram_counts` needs at least two words with a positive count "
                             f"(a negative must differ from the positive), received {counts.tolist()[:8]}")
        return counts

    def build(self, input_shape=None):
        self.target_embeddings = self.add_weight(
            shape=(self.vocab_size, self.embedding_dim), initializer=self.embeddings_initializer,
            name="target_embeddings",
        )
        self.context_embeddings = self.add_weight(
            shape=(self.vocab_size, self.embedding_dim), initializer=self.context_initializer,
            name="context_embeddings",
        )
        counts = self._initial_counts if self._initial_counts is not None else np.ones(self.vocab_size)
        self.unigram_counts = self.add_weight(
            shape=(self.vocab_size,), initializer=keras.initializers.Constant(counts),
            trainable=False, dtype="float64", name="unigram_counts",
        )
        # Derived from the counts; weights too, so a loaded layer needs no recomputation.
        self.alias_probability = self.add_weight(
            shape=(self.vocab_size,), initializer="ones", trainable=False, dtype="float64",
            name="alias_probability",
        )
        self.alias_index = self.add_weight(
            shape=(self.vocab_size,), initializer="zeros", trainable=False, dtype="int32",
            name="alias_index",
        )
        self._set_tables(counts)
        self.built = True

    def set_unigram_counts(self, counts):
        """Replace the noise distribution's counts (e.g. after the vocabulary is built)."""
        if not self.built:
            self.build()
        counts = self._check_counts(counts)
        self.unigram_counts.assign(counts)
        self._set_tables(counts)

    def noise_distribution(self):
        """The normalised noise distribution `count ** ns_exponent / sum`, NumPy (V,)."""
        if not self.built:
            self.build()
        weights = np.power(np.asarray(self.unigram_counts.numpy(), np.float64), self.ns_exponent)
        weights[np.asarray(self.unigram_counts.numpy()) == 0] = 0.0  # 0 ** 0 is 1
        return weights / weights.sum()

    def _alias_tables(self, counts):
        """Walker/Vose alias tables of `counts ** ns_exponent`: (probability, alias), NumPy.

        Word i is drawn as: pick a column j uniformly, keep j with probability
        `probability[j]`, else take `alias[j]`. Exact up to float64 rounding, O(1) a draw.
        """
        weights = np.zeros(len(counts))
        weights[counts > 0] = np.power(counts[counts > 0], self.ns_exponent)
        scaled = weights * (len(weights) / weights.sum())
        probability = np.ones(len(weights))
        alias = np.arange(len(weights), dtype=np.int32)
        small = [i for i in range(len(scaled)) if scaled[i] < 1.0]
        large = [i for i in range(len(scaled)) if scaled[i] >= 1.0]
        while small and large:
            s, g = small.pop(), large[-1]
            probability[s], alias[s] = scaled[s], g
            scaled[g] -= 1.0 - scaled[s]
            if scaled[g] < 1.0:
                small.append(large.pop())
        # Leftovers are 1 up to rounding; a zero-weight word never stays a leftover.
        for i in small + large:
            probability[i] = 1.0 if weights[i] > 0 else 0.0
        return probability, alias

    def _set_tables(self, counts):
        probability, alias = self._alias_tables(counts)
        self.alias_probability.assign(probability)
        self.alias_index.assign(alias)

    def sample_negatives(self, positives, seed=None):
        """Word ids `(batch, num_negatives)` from the noise distribution, none equal to its row's
        positive. `positives`: int `(batch,)`. `seed`: a `(2,)` int tensor for stateless draws
        (default: the layer's seed generator advances). Colliding draws are redrawn (only
        those) until none is left."""
        import tensorflow as tf

        if not self.built:
            self.build()
        positives = tf.cast(tf.convert_to_tensor(positives), tf.int32)
        if seed is None:
            seed = self.seed_generator.next()
        seed = tf.cast(seed, tf.int64)
        probability = tf.convert_to_tensor(self.alias_probability.value)
        alias = tf.convert_to_tensor(self.alias_index.value)
        expected = tf.reshape(tf.repeat(positives[:, None], self.num_negatives, axis=1), [-1])

        def draw(count, round_index):
            round_seed = seed + tf.stack([tf.constant(0, tf.int64), tf.cast(round_index, tf.int64)])
            column = tf.random.stateless_uniform(
                [count], round_seed, minval=0, maxval=self.vocab_size, dtype=tf.int32)
            u = tf.random.stateless_uniform([count], round_seed + 1, dtype=tf.float64)
            return tf.where(u < tf.gather(probability, column), column, tf.gather(alias, column))

        def unfinished(round_index, negatives):
            return tf.reduce_any(tf.equal(negatives, expected))

        def redraw(round_index, negatives):
            where = tf.where(tf.equal(negatives, expected))  # (collisions, 1)
            fresh = draw(tf.shape(where)[0], 2 * round_index)
            return round_index + 1, tf.tensor_scatter_nd_update(negatives, where, fresh)

        _, negatives = tf.while_loop(
            unfinished, redraw, (tf.constant(1, tf.int64), draw(tf.size(expected), 0)))
        return tf.reshape(negatives, [-1, self.num_negatives])

    def _split(self, inputs):
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != 2:
                raise ValueError(f"SkipGramNegativeSampling expects (targets, contexts), received "
                                 f"{len(inputs)} inputs")
            targets, contexts = inputs
        else:
            targets, contexts = inputs[..., 0], inputs[..., 1]
        return keras.ops.cast(targets, "int32"), keras.ops.cast(contexts, "int32")

    def call(self, inputs, training=None):
        targets, contexts = self._split(inputs)
        if training:
            negatives = self.sample_negatives(contexts)
        else:
            negatives = self.sample_negatives(contexts, seed=[0 if self.seed is None else self.seed, 0])
        candidates = keras.ops.concatenate([contexts[:, None], negatives], axis=1)  # (batch, 1 + k)
        target_vectors = keras.ops.take(self.target_embeddings, targets, axis=0)  # (batch, D)
        candidate_vectors = keras.ops.take(self.context_embeddings, candidates, axis=0)  # (batch, 1+k, D)
        return keras.ops.einsum("bd,bkd->bk", target_vectors, candidate_vectors)

    def compute_output_shape(self, input_shape):
        first = input_shape[0]
        batch = first[0] if isinstance(first, (list, tuple)) else first
        return (batch, 1 + self.num_negatives)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            embedding_dim=self.embedding_dim,
            num_negatives=self.num_negatives,
            ns_exponent=self.ns_exponent,
            seed=self.seed,
            embeddings_initializer=keras.initializers.serialize(self.embeddings_initializer),
            context_initializer=keras.initializers.serialize(self.context_initializer),
        )
        return config
