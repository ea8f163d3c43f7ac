"""The bigram familiarity score (apps/common/text_ood.py) against a plain Python loop."""

import math

import numpy as np
import pytest
import tensorflow as tf

from apps.common import text_ood

V = 7  # ids: 0 padding, 1 [UNK], words 2..6
REFERENCE = [[2, 3, 4, 2, 3], [3, 4, 5], [2, 3, 1, 6], [6]]


def loop_score(row, reference, prior, unseen=text_ood.UNSEEN, prior_pairs=text_ood.PRIOR_PAIRS):
    uni = {}
    pairs = {}
    for ref in reference:
        for w in ref:
            if w >= 2:
                uni[w] = uni.get(w, 0) + 1
        for a, b in zip(ref[:-1], ref[1:]):
            if a >= 2 and b >= 2:
                pairs[a, b] = pairs.get((a, b), 0) + 1
    total = sum(uni.values())
    values = []
    for a, b in zip(row[:-1], row[1:]):
        if (a, b) in pairs:
            values.append(math.log(pairs[a, b] * total / (uni[a] * uni[b])))
        else:
            values.append(-unseen)
    return -(sum(values) + prior_pairs * prior) / (len(values) + prior_pairs)


def test_fit_counts_pairs_of_known_words_only():
    bigrams = text_ood.fit_bigrams([np.array(r) for r in REFERENCE], V)
    assert bigrams.unigrams.tolist() == [0, 0, 3, 4, 2, 1, 2]  # padding and [UNK] not counted
    want = {(2, 3): 3, (3, 4): 2, (4, 2): 1, (4, 5): 1}  # (3, 1) and (1, 6) hold [UNK]
    assert dict(zip(bigrams.keys.tolist(), bigrams.counts.tolist())) == {a * V + b: c for (a, b), c in want.items()}


def test_scores_equal_the_loop_and_rank_shuffled_words_lower(tmp_path):
    bigrams = text_ood.fit_bigrams([np.array(r) for r in REFERENCE], V)
    bigrams.save(tmp_path / "b.npz")
    bigrams = text_ood.Bigrams.load(tmp_path / "b.npz")
    rows = [[2, 3, 4, 5], [5, 4, 3, 2], [2], [], [2, 1, 3], [6, 6, 2, 3, 4, 2, 3, 0]]
    ids = tf.ragged.constant(rows, dtype=tf.int64)
    prior = 0.75
    got = text_ood.FamiliarityScore(bigrams, prior)(ids).numpy()
    want = [loop_score(r, REFERENCE, prior) for r in rows]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert got[1] > got[0]  # the same words reversed are less familiar
    assert got[2] == got[3] == pytest.approx(-prior)  # no pair: the prior
    # The prior: the median of the rows' (with a pair) mean pair values.
    means = [-loop_score(r, REFERENCE, 0.0, prior_pairs=0.0) for r in rows if len(r) > 1]
    assert text_ood.prior_of(bigrams, ids) == pytest.approx(float(np.median(means)), rel=1e-5)


def test_in_a_tf_function_and_an_empty_batch():
    bigrams = text_ood.fit_bigrams([np.array(r) for r in REFERENCE], V)
    score = text_ood.FamiliarityScore(bigrams, 0.5)
    fn = tf.function(score, input_signature=[tf.RaggedTensorSpec([None, None], tf.int64)])
    got = fn(tf.ragged.constant([[2, 3]], dtype=tf.int64)).numpy()[0]
    assert got == pytest.approx(loop_score([2, 3], REFERENCE, 0.5))
    assert fn(tf.ragged.constant([], dtype=tf.int64, ragged_rank=1)).shape == (0,)
