"""The subjectivity table (apps/sentiment/subjective.py): naive Bayes counts against scikit-learn,
the in-graph table against NumPy, its training texts, and a trained run weighting its windows."""

import dataclasses
import types

import keras
import numpy as np
import tensorflow as tf
from sklearn.naive_bayes import MultinomialNB

from apps.sentiment import subjective
from apps.sentiment.config import PRESETS, Config
from apps.sentiment.serving import WholeText
from apps.sentiment.task import TASK, reading_options


def test_naive_bayes_scores_match_scikit_learn():
    rng = np.random.default_rng(0)
    vocabulary = 12
    rows = [rng.integers(0, vocabulary, rng.integers(1, 9)) for _ in range(40)]
    labels = np.array([1] * 25 + [0] * 15)
    scores, bias = subjective.naive_bayes([r for r, y in zip(rows, labels) if y],
                                          [r for r, y in zip(rows, labels) if not y], vocabulary)
    # Reference: padding (0) and [UNK] (1) are not features; words 2.. are counted per text.
    counts = np.stack([np.bincount(r[r > 1], minlength=vocabulary)[2:] for r in rows])
    nb = MultinomialNB(alpha=1.0).fit(counts, labels)
    assert list(nb.classes_) == [0, 1]
    np.testing.assert_allclose(scores[2:], nb.feature_log_prob_[1] - nb.feature_log_prob_[0], rtol=1e-5)
    assert scores[0] == scores[1] == 0.0
    np.testing.assert_allclose(bias, nb.class_log_prior_[1] - nb.class_log_prior_[0], rtol=1e-6)
    # The table's logit is naive Bayes's log posterior odds of each text.
    model = subjective.build(scores, bias)
    padded = keras.utils.pad_sequences(rows, padding="post")
    got = model(padded).numpy()[:, 0]
    log_posterior = nb.predict_joint_log_proba(counts)
    np.testing.assert_allclose(got, log_posterior[:, 1] - log_posterior[:, 0], rtol=1e-4, atol=1e-4)


def test_table_saves_and_loads(tmp_path):
    model = subjective.build(np.arange(6, dtype=np.float32) - 2.0, 0.5)
    ids = np.array([[2, 5, 0, 0], [1, 1, 3, 0]])
    np.testing.assert_allclose(model(ids).numpy()[:, 0], [0.5 + 0 + 3, 0.5 - 1 - 1 + 1])
    model.save(tmp_path / "t.keras")
    again = keras.models.load_model(tmp_path / "t.keras")
    np.testing.assert_allclose(again(ids).numpy(), model(ids).numpy())


def test_training_texts_are_review_text_against_the_counted_plot_rows():
    config = Config(**PRESETS["tiny"].values)
    splits = types.SimpleNamespace(x_train=np.array([f"review {i} was fine ." for i in range(40)], object),
                                   x_val=np.array(["val one .", "val two ."], object))
    plots = [f"plot{i} " + "word " * 30 for i in range(20)]
    (x, y), (xv, yv) = subjective.texts(config, splits, plots)
    assert y.dtype == np.int64 and yv.dtype == np.int64
    review, plot = [t for t, k in zip(x, y) if k], [t for t, k in zip(x, y) if not k]
    assert review[:40] == list(splits.x_train) and len(plot) <= len(review)
    held = subjective.validation_plots(config, plots)
    assert len(held) == 2 and not {w.split()[0] for w in held} & {p.split()[0] for p in plot}
    assert all(8 <= len(p.split()) <= config.sequence_length + 7 for p in plot)
    assert [t for t, k in zip(xv, yv) if k][:2] == ["val one .", "val two ."]
    assert {w for p in xv for w in p.split() if w.startswith("plot")} == {w.split()[0] for w in held}


def test_a_trained_run_weighs_its_windows_by_the_counted_table(tiny_run):
    tiny_model = tiny_run.load_model()
    table = TASK.subjectivity(tiny_run)
    assert table is not None and tiny_run.config.subjectivity == "plot"
    scores = table.get_layer("log_odds").get_weights()[0]
    vocabulary = tiny_model.get_layer("vectorize").get_vocabulary()
    # Review words against plot words, as counted on the real corpus.
    assert scores[vocabulary.index("bad")] > 0 and scores[vocabulary.index("he")] < 0
    text = "The film is bad. " * 10 + "He meets his wife and they move to Paris. " * 6
    got = TASK.predict(tiny_run, [text])[0]
    config = tiny_run.config
    assert config.sentences and config.subjectivity_power == 2.0
    want = WholeText(tiny_model, config.sequence_length, table, config.subjectivity_power, sentences=True,
                     switch=config.subjectivity_switch, scale=config.subjectivity_scale,
                     **reading_options(config))(tf.constant([text]))[0].numpy()
    assert got["tokens_read"] == 94
    np.testing.assert_allclose(got["predictions"][0]["probability"],
                               max(tf.sigmoid(want[0, 0]).numpy(), 1 - tf.sigmoid(want[0, 0]).numpy()), rtol=1e-5)


def _forward_backward(log_odds, switch):
    """NumPy reference: posterior log odds of state 1 in a two-state chain (uniform start)."""
    from scipy.special import logsumexp

    t = len(log_odds)
    emit = np.stack([np.zeros(t), log_odds], axis=1)
    move = np.log([[1 - switch, switch], [switch, 1 - switch]])
    alpha, beta = np.zeros((t, 2)), np.zeros((t, 2))
    alpha[0] = emit[0]
    for i in range(1, t):
        alpha[i] = emit[i] + logsumexp(alpha[i - 1][:, None] + move, axis=0)
    for i in range(t - 2, -1, -1):
        beta[i] = logsumexp(move + (emit[i + 1] + beta[i + 1])[None, :], axis=1)
    post = alpha + beta
    return post[:, 1] - post[:, 0]


def test_chain_log_odds_match_forward_backward():
    rng = np.random.default_rng(0)
    owner = np.array([0, 0, 0, 1, 2, 2, 2, 2, 2, 2, 3, 3], np.int32)
    log_odds = rng.normal(0, 3, len(owner)).astype(np.float32)
    log_odds[4] = 40.0  # far out: no overflow
    for switch in (0.3, 0.05, 1e-3):
        got = subjective.chain_log_odds(tf.constant(log_odds), tf.constant(owner), switch).numpy()
        want = np.concatenate([_forward_backward(log_odds[owner == k].astype(np.float64), switch) for k in range(4)])
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # One window: its own log odds; switch 0.5: every window on its own.
    np.testing.assert_allclose(got[3], log_odds[3], rtol=1e-6)
    np.testing.assert_allclose(subjective.chain_log_odds(log_odds, owner, 0.5).numpy(), log_odds, atol=1e-5)
    # A passage of objective windows outvotes one subjective-looking window inside it.
    passage = np.array([-3.0] * 6 + [2.0] + [-3.0] * 6, np.float32)
    assert subjective.chain_log_odds(passage, np.zeros(13, np.int32), 0.05).numpy()[6] < 0


def test_counted_and_validation_plots_split_the_neutral_rows():
    config = Config(**PRESETS["tiny"].values)
    plots = [f"plot{i} " + "word " * 30 for i in range(50)]
    trained, held = subjective.trained_plots(config, plots), subjective.validation_plots(config, plots)
    assert len(held) == 5 and sorted(trained + held) == sorted(plots) and not set(trained) & set(held)
    # Cross-fitting: two folds whose halves swap; a repeated row stays on one side.
    plots = plots + plots[:3]
    halves = [(subjective.trained_plots(c, plots), subjective.validation_plots(c, plots))
              for c in (dataclasses.replace(config, neutral_fold=f) for f in "01")]
    for trained, held in halves:
        assert sorted(trained + held) == sorted(plots) and not set(trained) & set(held)
        assert abs(len(set(trained)) - len(set(held))) <= 1
    assert halves[0][0] == halves[1][1] and halves[0][1] == halves[1][0]
    # The context reader's rows: the tenth, or a fifth of a fold's other half (the rest judges it).
    assert subjective.context_plots(config, plots) == subjective.judged_plots(config, plots)
    assert subjective.context_plots(config, plots) == subjective.validation_plots(config, plots)
    for c in (dataclasses.replace(config, neutral_fold=f) for f in "01"):
        read, judged = subjective.context_plots(c, plots), subjective.judged_plots(c, plots)
        assert sorted(read + judged) == sorted(subjective.validation_plots(c, plots)) and not set(read) & set(judged)
        assert len(set(read)) == round(0.2 * len(set(read + judged)))
