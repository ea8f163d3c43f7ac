"""The context reader (apps/sentiment/context.py): its training documents (compose: same-label
snippets, one plot passage of consecutive windows at a random place, at most MAX_WORDS tokens),
the average of readers and the loss of training on pairs."""

import numpy as np

from apps.sentiment import context


def test_compose_inserts_one_passage_of_consecutive_plot_windows():
    rng = np.random.default_rng(0)
    snippets = [(np.full(k % 3 + 1, float(i)), np.full(k % 3 + 1, 100.0 + i), np.full(k % 3 + 1, 12))
                for k, i in enumerate(range(40))]
    labels = np.arange(40) % 2
    plot = (np.arange(1000, 1500, dtype=float), -np.arange(500, dtype=float), rng.integers(5, 40, 500))
    documents, targets = context.compose(snippets, labels, plot, 300, seed=1)
    assert len(documents) == len(targets) == 300 and set(targets) == {0, 1}
    without = 0
    for (z, t, is_plot), label in zip(documents, targets):
        review = z[~is_plot]
        assert np.all(labels[review.astype(int)] == label) and np.all(t[~is_plot] == 100 + review)
        ids = np.unique(review)
        assert context.SNIPPETS[0] <= len(ids) <= context.SNIPPETS[1]
        where = np.flatnonzero(is_plot)
        if not len(where):
            without += 1
            continue
        assert np.all(np.diff(where) == 1)  # one passage
        start = int(z[where[0]] - 1000)
        np.testing.assert_array_equal(z[where], plot[0][start:start + len(where)])  # consecutive windows
        assert plot[2][start:start + len(where) - 1].sum() < context.MAX_WORDS
    assert 0.05 < without / 300 < 0.3  # NO_PLOT 0.15 (and passages of 0 words)


def test_average_of_readers_is_the_mean_of_their_logits_and_survives_save_load(tmp_path):
    import keras

    rng = np.random.default_rng(2)
    readers = [context.build(3, 2.0, 0.4) for _ in range(3)]
    for reader in readers:  # random weights: an untrained reader is the weighted mean whatever its seed
        reader.set_weights([rng.normal(0, 1, w.shape).astype(np.float32) for w in reader.get_weights()])
    features = np.zeros((4, 7, context.FEATURES), np.float32)
    features[..., :3] = rng.normal(0, 3, (4, 7, 3))
    features[:, :5, 3] = 1.0  # two padding windows
    features[0, 1:, 3] = 0.0  # a one-window text
    singles = np.stack([reader(features).numpy() for reader in readers])
    averaged = context.average(readers)
    np.testing.assert_allclose(averaged(features).numpy(), singles.mean(0), rtol=1e-5, atol=1e-5)
    assert np.ptp(singles[:, 1:], axis=0).max() > 0.1  # the readers differ
    averaged.save(tmp_path / "context.keras")
    loaded = keras.saving.load_model(tmp_path / "context.keras")
    np.testing.assert_allclose(loaded(features).numpy(), singles.mean(0), rtol=1e-5, atol=1e-5)
    assert context.average(readers[:1]) is readers[0]


def test_pair_loss_is_both_labels_plus_consistency_towards_the_document_without_plot():
    import tensorflow as tf

    rng = np.random.default_rng(3)
    logits = rng.normal(0, 3, (6, 2)).astype(np.float32)  # [with plot, without] per document
    labels = np.array([0, 1, 1, 0, 1, 0], np.float32)

    def bce(p, logit):  # NumPy, by the definition
        q = 1 / (1 + np.exp(-logit))
        return -(p * np.log(q) + (1 - p) * np.log(1 - q))

    with_plot, without = logits[:, 0], logits[:, 1]
    p_without = 1 / (1 + np.exp(-without))
    want = bce(labels, with_plot) + bce(labels, without) + 2.5 * bce(p_without, with_plot)
    variable = tf.Variable(logits)
    with tf.GradientTape() as tape:
        got = context.pair_loss(2.5)(labels[:, None], variable)
        total = tf.reduce_sum(got)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)
    grad = tape.gradient(total, variable).numpy()
    p_with = 1 / (1 + np.exp(-with_plot))
    np.testing.assert_allclose(grad[:, 0], (p_with - labels) + 2.5 * (p_with - p_without), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grad[:, 1], p_without - labels, rtol=1e-4, atol=1e-5)  # its target is held fixed
    np.testing.assert_allclose(context.pair_loss(0.0)(labels[:, None], logits).numpy(),
                               bce(labels, with_plot) + bce(labels, without), rtol=1e-5, atol=1e-5)


def test_closing_reads_review_like_islands_deep_in_plot_as_plot():
    rng = np.random.default_rng(4)
    s = rng.normal(0, 2, (5, 40)).astype(np.float32)
    s[0] = np.r_[np.full(4, 3.0), np.full(14, -2.0), [5.0, 4.0], np.full(14, -2.0), np.full(6, 3.0)]
    real = np.ones_like(s, bool)
    real[1, 31:] = False  # padding counts as nothing
    width = 10
    want = s.copy()
    for d in range(len(s)):  # by the definition, one window at a time
        for i in np.flatnonzero(real[d]):
            before = [j for j in range(max(i - width, 0), i) if real[d, j]]
            after = [j for j in range(i + 1, min(i + 1 + width, s.shape[1])) if real[d, j]]
            if s[d, i] >= 0 and min((s[d, before] < 0).sum(), (s[d, after] < 0).sum()) >= (width + 1) // 2:
                want[d, i] = -context.CLOSED
    got = np.asarray(context.closed(s, real, width))
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got[0, [18, 19]], -context.CLOSED)  # the island deep inside
    np.testing.assert_array_equal(got[0, :4], s[0, :4])  # the review at the ends stays
    np.testing.assert_array_equal(got[0, -6:], s[0, -6:])
    assert 0 < (got != s).sum() - 2  # random rows close some windows too


def test_reader_with_closing_survives_save_load(tmp_path):
    import keras

    reader = context.build(3, 2.0, 0.4, closing=6)
    rng = np.random.default_rng(5)
    reader.set_weights([rng.normal(0, 1, w.shape).astype(np.float32) for w in reader.get_weights()])
    features = np.zeros((3, 30, context.FEATURES), np.float32)
    features[..., :3] = rng.normal(0, 3, (3, 30, 3))
    features[..., 3] = 1.0
    reader.save(tmp_path / "reader.keras")
    loaded = keras.saving.load_model(tmp_path / "reader.keras")
    assert loaded.get_layer("reader").closing == 6
    np.testing.assert_allclose(loaded(features).numpy(), reader(features).numpy(), rtol=1e-5, atol=1e-5)
    plain = context.build(3, 2.0, 0.4)
    plain.set_weights(reader.get_weights())
    assert np.abs(plain(features).numpy() - reader(features).numpy()).max() > 1e-4  # closing changes the answer
