"""The context reader's training documents (apps/sentiment/context.py compose): same-label
snippets, one plot passage of consecutive windows at a random place, at most MAX_WORDS tokens."""

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
