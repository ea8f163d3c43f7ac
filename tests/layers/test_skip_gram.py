import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import check_layer
from scipy import stats

from layers import SkipGramNegativeSampling
from layers.skip_gram import negative_sampling_loss

# A Zipf-like vocabulary of 40 words, one with count 0 (it must never be drawn).
COUNTS = np.array([1000.0 / (i + 1) for i in range(40)])
COUNTS[17] = 0.0


def _layer(**kwargs):
    return SkipGramNegativeSampling(40, 8, num_negatives=5, unigram_counts=COUNTS, seed=3, **kwargs)


def _as_ids(xs):
    # check_layer feeds float normals: map them onto word ids.
    return [keras.ops.cast(keras.ops.abs(x) * 10, "int32") % 40 for x in xs]


def test_shared_layer_checks(tmp_path):
    result = check_layer(
        _layer, [(None,), (None,)], (None, 6), tmp_path=tmp_path, batch_size=16,
        call_fn=lambda layer, xs, training: layer(_as_ids(xs), training=training),
    )
    # The counts are a non-trainable weight: they survive the round trips with the tables.
    names = [w.name for w in result["layer"].non_trainable_weights]
    assert "unigram_counts" in names


def test_logits_are_dot_products_with_the_positive_first():
    layer = _layer()
    targets, contexts = np.array([0, 5, 9]), np.array([1, 2, 3])
    logits = layer((targets, contexts), training=False).numpy()
    t = layer.target_embeddings.numpy()
    layer.context_embeddings.assign(np.random.default_rng(0).normal(size=(40, 8)))
    logits = layer((targets, contexts), training=False).numpy()
    c = layer.context_embeddings.numpy()
    np.testing.assert_allclose(logits[:, 0], np.sum(t[targets] * c[contexts], 1), rtol=1e-5, atol=1e-6)
    negatives = layer.sample_negatives(contexts, seed=[3, 0]).numpy()
    expected = np.einsum("bd,bkd->bk", t[targets], c[negatives])
    np.testing.assert_allclose(logits[:, 1:], expected, rtol=1e-5, atol=1e-6)
    # Inference negatives are reproducible; training ones are fresh each call.
    np.testing.assert_array_equal(logits, layer((targets, contexts), training=False).numpy())
    a = layer.sample_negatives(np.zeros(64, "int32")).numpy()
    b = layer.sample_negatives(np.zeros(64, "int32")).numpy()
    assert not np.array_equal(a, b)


def test_loss_matches_hand_computed_logistic_loss():
    logits = np.array([[2.0, -1.0, 0.5], [-0.3, 3.0, 0.0]], "float32")
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    expected = -np.log(sig(logits[:, 0])) - np.log(sig(-logits[:, 1])) - np.log(sig(-logits[:, 2]))
    np.testing.assert_allclose(negative_sampling_loss(tf.constant(logits)).numpy(), expected, rtol=1e-6)


def _chi_square_p(draws, probabilities):
    observed = np.bincount(draws.ravel(), minlength=len(probabilities))
    support = probabilities > 0
    assert observed[~support].sum() == 0, "drew a word whose probability is 0"
    expected = probabilities[support] * draws.size
    return stats.chisquare(observed[support], expected).pvalue


def test_one_million_negatives_follow_unigram_to_the_075_and_never_equal_the_positive():
    layer = _layer()
    layer.build()
    noise = COUNTS ** 0.75 / np.sum(COUNTS ** 0.75)
    np.testing.assert_allclose(layer.noise_distribution(), noise, rtol=1e-12)
    # Random positives drawn from the noise distribution itself, 200,000 x 5 = 1e6 draws.
    rng = np.random.default_rng(0)
    positives = rng.choice(40, size=200_000, p=noise).astype("int32")
    negatives = layer.sample_negatives(positives).numpy()
    assert negatives.shape == (200_000, 5)
    assert not np.any(negatives == positives[:, None])
    # Rejection makes each negative P(w | w != positive) = P(w) / (1 - P(positive)); the
    # marginal over these positives is sum_p P(p) P(w) / (1 - P(p)) for p != w.
    share = noise / (1 - noise)
    marginal = noise * (share.sum() - share)
    assert marginal.sum() == pytest.approx(1.0)
    assert _chi_square_p(negatives, marginal) > 1e-3
    # The distribution itself is distinguishable from plain unigram and from uniform:
    # the test has power.
    plain = COUNTS / COUNTS.sum()
    assert _chi_square_p(negatives, plain) < 1e-10


def test_conditional_distribution_for_the_most_frequent_positive():
    layer = _layer()
    positives = np.zeros(200_000, "int32")  # word 0 carries ~15 % of the noise mass
    negatives = layer.sample_negatives(positives).numpy()
    assert not np.any(negatives == 0)
    noise = layer.noise_distribution()
    conditional = noise.copy()
    conditional[0] = 0
    conditional /= conditional.sum()
    assert _chi_square_p(negatives, conditional) > 1e-3


def test_serialized_counts_restore_the_noise_distribution(tmp_path):
    layer = _layer()
    model = keras.Sequential([keras.Input((2,), dtype="int32"), layer])
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.layers[0].noise_distribution(), layer.noise_distribution())
    ids = np.array([[1, 2], [3, 4]], "int32")
    np.testing.assert_allclose(loaded(ids), model(ids), atol=1e-7)


@pytest.mark.parametrize("kwargs, message", [
    (dict(vocab_size=1, embedding_dim=4), "vocab_size"),
    (dict(vocab_size=4, embedding_dim=0), "embedding_dim"),
    (dict(vocab_size=4, embedding_dim=4, num_negatives=0), "num_negatives"),
    (dict(vocab_size=4, embedding_dim=4, unigram_counts=[1, 2]), r"shape \(4,\)"),
    (dict(vocab_size=4, embedding_dim=4, unigram_counts=[1, 0, 0, 0]), "at least two"),
    (dict(vocab_size=4, embedding_dim=4, unigram_counts=[1, -1, 2, 2]), "non-negative"),
    (dict(vocab_size=4, embedding_dim=4, ns_exponent="x"), "ns_exponent"),
])
def test_bad_arguments_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SkipGramNegativeSampling(**kwargs)
