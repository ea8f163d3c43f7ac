"""Skip-gram training of one corpus chunk in one compiled graph (no Python per batch).

`ChunkTrainer.train(ids, seed, clock)` takes a slice of the encoded corpus (int32 word ids,
SEPARATOR after each sentence) and, in one `tf.function`:
1. `pairs`: drops subsampled words (kept with probability keep[id], gensim's formula) before
   windowing, gives every kept word a reduced window b ~ U{1..window} and pairs it with the
   words at distance <= b in its sentence (word2vec.c's dynamic window), shuffles the pairs;
2. `sgd` (XLA-compiled, the tables updated in place): a `tf.while_loop` over mini-batches of
   `batch_pairs` pairs (about `batch_words` corpus words): `negative` noise words per pair from
   counts^ns_exponent (Walker alias tables; a draw equal to the positive is skipped, weight 0,
   as word2vec.c and gensim do), gather the touched rows, logistic-loss gradients from the old
   rows, each row's summed gradient scaled by 1 / max(1, hits / max_row_hits), scatter into
   only those rows. The learning rate decays linearly over all words of all epochs (`clock` =
   words trained before this chunk; a batch at pair p stands at p * words / pairs further).
XLA fuses the arithmetic of a batch into a few loops; plain TensorFlow kernels spent ~2x as
long, mostly in broadcasting and in per-row scatter overhead. The compiled loop runs on ONE
thread: XLA locks the tables for a whole call, so two Hogwild streams calling it from two
threads serialise (measured: ~10 % gain, from overlapping the pair making), and plain-TF
streams that do run concurrently were slower than one XLA stream. Two streams on copies of
the tables (each trains half a chunk from the same start, the changes added) do run in
parallel, but measured +5-10 % words/s and 2 points less analogy accuracy after one epoch
(4.3 vs 6.3 %: a stream sees the other's updates a whole chunk late). The loop is CPU-bound at
~6 CPU-seconds per million corpus words (gensim's C: ~4.7). `workers` (intra-op threads) lets
XLA run independent parts of the loop concurrently and helps the pair making: 2 threads
~1.5x 1 thread; benchmarks/word2vec.py reports 1 vs 2.
"""

import numpy as np

SEPARATOR = -1
PHILOX = "philox"  # one random algorithm in and out of XLA (auto_select may differ)


def _uniform(shape, seed):
    """Stateless floats in [0, 1) on a 2^-24 grid, from integer draws: XLA and TensorFlow's
    kernels give the same integers for a seed but not the same floats."""
    import tensorflow as tf

    bits = tf.random.stateless_uniform(shape, seed, maxval=1 << 24, dtype=tf.int32, alg=PHILOX)
    return tf.cast(bits, tf.float32) * (1.0 / (1 << 24))


def expected_pairs_per_word(counts, keep, window) -> float:
    """Pairs a corpus word yields on average: the kept share x (window + 1) (a kept word has
    a reduced window b ~ U{1..window} on each side, 2 E[b] = window + 1; sentence ends ignored)."""
    counts = np.asarray(counts, np.float64)
    return float((counts * keep).sum() / max(counts.sum(), 1.0) * (window + 1))


class ChunkTrainer:
    """The compiled per-chunk step over `target` and `context` (tf.Variables (V, D)).

    keep: (V,) keep probabilities; alias_probability/alias_index: (V,) alias tables of
    the noise distribution; chunk_words: the most words a chunk holds (sets the padded size).
    """

    def __init__(self, target, context, keep, alias_probability, alias_index, *, window, negative,
                 batch_pairs, chunk_words, alpha, min_alpha, total_words, max_row_hits):
        import tensorflow as tf

        self.target, self.context = target, context
        # Arrays or variables (a model's weights: read where the graph runs).
        self._keep, self._alias = keep, (alias_probability, alias_index)
        self.vocab_size = int(target.shape[0])
        self.window, self.negative = int(window), int(negative)
        self.batch_pairs = int(max(1, batch_pairs))
        # Pairs are padded to a fixed length so XLA compiles the loop once.
        self.padded_pairs = 2 * self.window * int(chunk_words) + self.batch_pairs
        self.alpha, self.min_alpha = float(alpha), float(min_alpha)
        self.total_words = float(max(1.0, total_words))
        self.max_row_hits = float(max_row_hits)
        self.sgd = tf.function(self._sgd, jit_compile=True, autograph=False)

    # ------------------------------------------------------------ pairs
    def pairs(self, ids, seed):
        """(centers, contexts) int32 of a chunk, shuffled, and its number of words."""
        import tensorflow as tf

        is_word = ids >= 0
        sentence = tf.boolean_mask(tf.cumsum(tf.cast(~is_word, tf.int32)), is_word)
        words = tf.boolean_mask(ids, is_word)
        n_words = tf.size(words)
        keep = tf.cast(tf.convert_to_tensor(self._keep), tf.float32)
        kept = _uniform([n_words], seed) < tf.gather(keep, words)
        words, sentence = tf.boolean_mask(words, kept), tf.boolean_mask(sentence, kept)
        reach = tf.random.stateless_uniform([tf.size(words)], seed + [0, 1], minval=1,
                                            maxval=self.window + 1, dtype=tf.int32, alg=PHILOX)
        centers, contexts = [], []
        for offset in range(1, self.window + 1):  # a loop over the window, not over words
            same = tf.equal(sentence[offset:], sentence[:-offset])
            left = tf.where(same & (reach[:-offset] >= offset))[:, 0]  # center i, context i + offset
            right = tf.where(same & (reach[offset:] >= offset))[:, 0]  # center i + offset, context i
            centers += [tf.gather(words, left), tf.gather(words, right + offset)]
            contexts += [tf.gather(words, left + offset), tf.gather(words, right)]
        centers, contexts = tf.concat(centers, 0), tf.concat(contexts, 0)
        order = tf.random.experimental.stateless_shuffle(tf.range(tf.size(centers)), seed + [0, 2], alg=PHILOX)
        return tf.gather(centers, order), tf.gather(contexts, order), n_words

    def negatives(self, contexts, seed):
        """(batch, negative) int32 noise words and their weights (0 where a draw is the positive)."""
        import tensorflow as tf

        shape = [self.batch_pairs, self.negative]
        column = tf.random.stateless_uniform(shape, seed, maxval=self.vocab_size, dtype=tf.int32, alg=PHILOX)
        u = _uniform(shape, seed + [0, 1])
        probability = tf.cast(tf.convert_to_tensor(self._alias[0]), tf.float32)
        alias = tf.cast(tf.convert_to_tensor(self._alias[1]), tf.int32)
        drawn = tf.where(u < tf.gather(probability, column), column, tf.gather(alias, column))
        return drawn, tf.cast(tf.not_equal(drawn, contexts[:, None]), tf.float32)

    # ------------------------------------------------------------ the SGD loop
    def _row_scale(self, ids, weight):
        """1 / max(1, weighted hits of the row in this batch / max_row_hits), per entry."""
        import tensorflow as tf

        hits = tf.math.unsorted_segment_sum(weight, ids, self.vocab_size)
        return 1.0 / tf.maximum(1.0, tf.gather(hits, ids) / self.max_row_hits)

    def batch_update(self, centers, contexts, valid, lr, seed):
        """One SGD step on `batch_pairs` pairs (valid: 1 for a real pair, 0 for padding);
        returns the batch's summed loss."""
        import tensorflow as tf

        drawn, drawn_weight = self.negatives(contexts, seed)
        cols = tf.concat([contexts[:, None], drawn], 1)  # (b, 1 + k), positive first
        weight = tf.concat([tf.ones_like(drawn_weight[:, :1]), drawn_weight], 1) * valid[:, None]
        labels = tf.one_hot([0], 1 + self.negative)  # (1, 1 + k)
        t = tf.gather(self.target, centers)  # (b, D)
        c = tf.gather(self.context, cols)  # (b, 1 + k, D)
        logits = tf.reduce_sum(c * t[:, None, :], -1)  # (b, 1 + k)
        # d loss / d logit of the logistic loss: sigmoid(s) - label; skipped draws weigh 0.
        g = (tf.sigmoid(logits) - labels) * weight * lr
        loss = tf.reduce_sum(tf.math.softplus(logits - 2.0 * labels * logits) * weight)
        flat = tf.reshape(cols, [-1])
        g_t, g_c = g, g
        if self.max_row_hits > 0:
            g_t = g * self._row_scale(centers, valid)[:, None]
            g_c = g * tf.reshape(self._row_scale(flat, tf.reshape(weight, [-1])), tf.shape(g))
        grad_t = tf.reduce_sum(g_t[:, :, None] * c, 1)  # both from the old rows, as word2vec
        grad_c = tf.reshape(g_c[:, :, None] * t[:, None, :], [-1, tf.shape(t)[1]])
        self.target.scatter_sub(tf.IndexedSlices(grad_t, centers))
        self.context.scatter_sub(tf.IndexedSlices(grad_c, flat))
        return loss

    def _sgd(self, centers, contexts, n_pairs, words_per_pair, clock, seed):
        import tensorflow as tf

        size = self.batch_pairs

        def body(start, loss):
            batch = start // size
            valid = tf.cast(start + tf.range(size) < n_pairs, tf.float32)
            progress = (clock + tf.cast(start, tf.float64) * words_per_pair) / self.total_words
            lr = tf.maximum(tf.constant(self.min_alpha, tf.float64),
                            self.alpha - (self.alpha - self.min_alpha) * progress)
            loss += self.batch_update(tf.slice(centers, [start], [size]), tf.slice(contexts, [start], [size]),
                                      valid, tf.cast(lr, tf.float32),
                                      seed + tf.stack([tf.constant(0, tf.int64), 3 + 2 * tf.cast(batch, tf.int64)]))
            return start + size, loss

        _, loss = tf.while_loop(lambda start, loss: start < n_pairs, body,
                                (tf.constant(0), tf.constant(0.0)))
        return loss

    def train(self, ids, seed, clock):
        """Train on the chunk `ids` (int32 (n,)); seed: int64 (2,); clock: float64 words done.
        Returns (summed loss, pairs, words) of the chunk."""
        import tensorflow as tf

        centers, contexts, n_words = self.pairs(ids, seed)
        n_pairs = tf.size(centers)
        padding = [[0, self.padded_pairs - n_pairs]]
        words_per_pair = tf.cast(n_words, tf.float64) / tf.cast(tf.maximum(n_pairs, 1), tf.float64)
        loss = self.sgd(tf.pad(centers, padding), tf.pad(contexts, padding), n_pairs, words_per_pair,
                        clock, seed)
        return loss, n_pairs, n_words
