"""The sampler's draw on fixed logits: many seeds, as the sampler draws (one row, the seed and
step varying), against the softmax computed in NumPy."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from apps.generate.sampling import next_token

LOGITS = np.array([2.0, 1.0, 0.5, 0.0, -1.0, -3.0], "float32")  # softmax: 0.51 ... 0.008


def _softmax(logits, temperature=1.0):
    z = np.asarray(logits, np.float64) / temperature
    p = np.exp(z - z.max())
    return p / p.sum()


def _draws(logits, temperature, top_k, seeds=5000, step=7):
    """One draw per seed 0..seeds-1 from the (1, vocabulary) logits, in one graph."""

    @tf.function
    def many():
        return tf.map_fn(lambda s: next_token(logits[None], temperature, top_k, s, step)[0],
                         tf.range(seeds, dtype=tf.int64), fn_output_signature=tf.int32)

    return many().numpy()


def _counts(draws, size):
    return np.bincount(draws, minlength=size)


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_draws_follow_softmax_of_logits_over_temperature(temperature):
    draws = _draws(LOGITS, temperature, 0)
    observed = _counts(draws, len(LOGITS))
    expected = _softmax(LOGITS, temperature) * len(draws)
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    # the test has power: the softmax at temperature 1 (or at 1.5 for T=1) is refused
    wrong = _softmax(LOGITS, 1.5 if temperature == 1.0 else 1.0) * len(draws)
    assert stats.chisquare(observed, wrong).pvalue < 1e-6


def test_the_step_and_the_seed_give_fresh_draws_and_repeat_exactly():
    a, b = _draws(LOGITS, 1.0, 0, seeds=300, step=1), _draws(LOGITS, 1.0, 0, seeds=300, step=2)
    assert (a != b).mean() > 0.3  # another step, other draws
    np.testing.assert_array_equal(a, _draws(LOGITS, 1.0, 0, seeds=300, step=1))


def test_temperature_to_zero_is_argmax():
    close = np.array([0.3, 1.0, 0.9, -2.0], "float32")  # the best two differ by 0.1
    for temperature in (0.0, 1e-3, 5e-3):
        assert set(_draws(close, temperature, 0, seeds=500).tolist()) == {1}
    assert set(_draws(close, 0.0, 2, seeds=50).tolist()) == {1}  # with top-k too
    # at 0.1 the second best is drawn (e^-1 relative odds): the limit is approached, not fixed
    warm = _counts(_draws(close, 0.1, 0), 4)
    assert stats.chisquare(warm, _softmax(close, 0.1) * warm.sum()).pvalue > 1e-3
    assert warm[2] > 0


@pytest.mark.parametrize("k", [1, 2, 4])
def test_top_k_draws_only_the_k_best_in_their_renormalised_proportions(k):
    draws = _draws(LOGITS, 1.0, k)
    best = np.argsort(-LOGITS)[:k]
    assert set(draws.tolist()) == set(best.tolist())  # every one of the k appears, nothing else
    if k > 1:
        kept = np.zeros_like(LOGITS, dtype=bool)
        kept[best] = True
        p = np.where(kept, _softmax(LOGITS), 0.0)
        observed = _counts(draws, len(LOGITS))[best]
        assert stats.chisquare(observed, (p / p.sum())[best] * len(draws)).pvalue > 1e-3


def test_top_k_zero_or_beyond_the_vocabulary_keeps_every_symbol():
    for k in (0, len(LOGITS), 100):
        assert set(_draws(LOGITS, 3.0, k, seeds=2000).tolist()) == set(range(len(LOGITS)))


def test_batched_rows_draw_independently_from_their_own_logits():
    rows = np.stack([LOGITS, LOGITS[::-1]])  # (2, 6)
    ids = next_token(np.repeat(rows, 3000, axis=0), 1.0, 0, 11, 0).numpy().reshape(2, 3000)
    for row, drawn in zip(rows, ids):
        observed = _counts(drawn, len(LOGITS))
        assert stats.chisquare(observed, _softmax(row) * len(drawn)).pvalue > 1e-3
