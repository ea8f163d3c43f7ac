"""Is this text like the language the model was trained on? A bigram familiarity score.

A text classifier answers word salad, another language or shuffled sentences with the same
confidence as a review: its softmax says nothing about them (apps/common/ood.py msp). What
does: adjacent words. Real English pairs its words as the reference text does ("of the", "a
good film"), a shuffled or foreign text mostly does not. Each adjacent pair (a, b) of a text's
token ids is worth

    log c(a, b) N / (c(a) c(b))   (the pointwise mutual information) when the pair occurs in
                                  the reference text and neither word is padding / [UNK],
    -unseen                        otherwise,

c() counting in the reference token ids (N tokens). The score (higher = less familiar) is minus
their mean, shrunk towards the `prior` (mean value) by `prior_pairs` pairs so that a two-word
text is not judged on one pair: -(sum + prior_pairs * prior) / (pairs + prior_pairs). A text of
one token (no pair) scores -prior: no evidence either way.
"""

import dataclasses

import numpy as np

UNSEEN = 2.0  # the value of a pair never seen (or with an unknown word): below most real pairs' PMI
PRIOR_PAIRS = 3.0


@dataclasses.dataclass(frozen=True, eq=False)
class Bigrams:
    """Counts of a reference text's token ids (0 padding, 1 [UNK], words from 2)."""

    keys: np.ndarray  # (P,) int64, sorted: a * vocabulary_size + b of each pair seen
    counts: np.ndarray  # (P,) int64: how often
    unigrams: np.ndarray  # (V,) int64: each id's count
    vocabulary_size: int

    def save(self, path):
        np.savez_compressed(path, keys=self.keys, counts=self.counts, unigrams=self.unigrams)

    @classmethod
    def load(cls, path):
        with np.load(path) as f:
            return cls(f["keys"], f["counts"], f["unigrams"], len(f["unigrams"]))


def fit_bigrams(rows, vocabulary_size: int) -> Bigrams:
    """`Bigrams` of token-id sequences (an iterable of 1-D int arrays); pairs with padding or
    [UNK] are not counted."""
    v = int(vocabulary_size)
    rows = [np.asarray(row, np.int64) for row in rows]
    flat = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    unigrams = np.bincount(flat, minlength=v).astype(np.int64)  # one pass: not V work per row
    pairs = [(row[:-1] * v + row[1:])[(row[:-1] >= 2) & (row[1:] >= 2)] for row in rows]
    keys, counts = np.unique(np.concatenate(pairs) if pairs else np.zeros(0, np.int64), return_counts=True)
    unigrams[:2] = 0
    return Bigrams(keys.astype(np.int64), counts.astype(np.int64), unigrams, v)


class FamiliarityScore:
    """The graph op: ragged token ids (N, None) int64 -> (N,) float32 scores (module doc).
    Its tables are tf.Variables, so a tf.Module that keeps this object saves them."""

    def __init__(self, bigrams: Bigrams, prior: float, unseen: float = UNSEEN, prior_pairs: float = PRIOR_PAIRS):
        import tensorflow as tf

        keys = bigrams.keys if len(bigrams.keys) else np.array([-1], np.int64)  # searchsorted needs one
        counts = bigrams.counts if len(bigrams.counts) else np.array([1], np.int64)
        self.keys = tf.Variable(keys, trainable=False, name="bigram_keys")
        self.log_counts = tf.Variable(np.log(np.maximum(counts, 1)).astype(np.float32), trainable=False,
                                      name="bigram_log_counts")
        self.log_unigrams = tf.Variable(np.log(np.maximum(bigrams.unigrams, 1)).astype(np.float32),
                                        trainable=False, name="unigram_log_counts")
        self.log_total = float(np.log(max(int(bigrams.unigrams.sum()), 1)))
        self.vocabulary_size = int(bigrams.vocabulary_size)
        self.prior, self.unseen, self.prior_pairs = float(prior), float(unseen), float(prior_pairs)

    def pair_values(self, ids):
        """(values (pairs,) float32, owner (pairs,) int32) of every adjacent pair of each row."""
        import tensorflow as tf

        flat = tf.cast(ids.flat_values, tf.int64)
        row = tf.cast(ids.value_rowids(), tf.int32)
        same = tf.equal(row[:-1], row[1:])
        a, b = tf.boolean_mask(flat[:-1], same), tf.boolean_mask(flat[1:], same)
        owner = tf.boolean_mask(row[:-1], same)
        known = (a >= 2) & (b >= 2) & (a < self.vocabulary_size) & (b < self.vocabulary_size)
        key = a * self.vocabulary_size + b
        pos = tf.searchsorted(self.keys[None], key[None], out_type=tf.int64)[0]
        pos = tf.minimum(pos, tf.shape(self.keys, out_type=tf.int64)[0] - 1)
        seen = known & tf.equal(tf.gather(self.keys, pos), key)
        a, b = tf.where(known, a, 0), tf.where(known, b, 0)
        pmi = (tf.gather(self.log_counts, pos) + self.log_total
               - tf.gather(self.log_unigrams, a) - tf.gather(self.log_unigrams, b))
        return tf.where(seen, pmi, -self.unseen), owner

    def __call__(self, ids):
        import tensorflow as tf

        values, owner = self.pair_values(ids)
        n = tf.cast(ids.nrows(), tf.int32)
        total = tf.math.unsorted_segment_sum(values, owner, n)
        pairs = tf.math.unsorted_segment_sum(tf.ones_like(values), owner, n)
        return -(total + self.prior_pairs * self.prior) / (pairs + self.prior_pairs)


def prior_of(bigrams: Bigrams, rows, unseen: float = UNSEEN) -> float:
    """The median over `rows` (ragged ids, e.g. the validation texts) of each row's mean pair
    value: the typical familiarity the shrinkage pulls short texts towards."""
    import tensorflow as tf

    values, owner = FamiliarityScore(bigrams, 0.0, unseen).pair_values(rows)
    n = int(rows.nrows())
    total = tf.math.unsorted_segment_sum(values, owner, n).numpy()
    pairs = tf.math.unsorted_segment_sum(tf.ones_like(values), owner, n).numpy()
    means = total[pairs > 0] / pairs[pairs > 0]
    return float(np.median(means)) if len(means) else 0.0
