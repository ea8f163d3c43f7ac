"""The model: masking by construction (pre = post padding), Keras-built-in parity, pooling by hand,
the vocabulary, truncation of long texts, initialisation from word vectors."""

import dataclasses
import re
import types

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import check_layer

from apps.common.errors import ConfigError
from apps.sentiment.config import PRESETS, Config
from apps.sentiment.model import MaskedPooling, build_classifier, build_model, build_vocabulary, classifier

TINY = dataclasses.replace(Config(), **PRESETS["tiny"].values)
VOCAB = 50


def _ids(rng, lengths, time):
    """Post-padded (batch, time) ids and the same tokens pre-padded."""
    post = np.zeros((len(lengths), time), np.int64)
    pre = np.zeros_like(post)
    for row, n in enumerate(lengths):
        tokens = rng.integers(1, VOCAB, n)
        post[row, :n] = tokens
        pre[row, time - n:] = tokens
    return post, pre


@pytest.mark.parametrize("overrides", [
    dict(cell="gru", bidirectional=True, pooling="max_mean"),
    dict(cell="lstm", bidirectional=True, pooling="last"),
    dict(cell="gru", bidirectional=False, pooling="last", rnn_layers=2),
    dict(cell="lstm", bidirectional=True, pooling="max_mean", rnn_layers=2),
    dict(model="average"),
])
def test_post_and_pre_padding_give_the_same_predictions(overrides):
    keras.utils.set_random_seed(0)
    config = dataclasses.replace(TINY, **overrides)
    model = build_classifier(config, 2, VOCAB)
    # Move the biases off zero so that a padded step that leaked into the state would show.
    model.set_weights([w + 0.1 for w in model.get_weights()])
    post, pre = _ids(np.random.default_rng(1), [3, 9, 1, 12, 6], time=16)
    a, b = model(post).numpy(), model(pre).numpy()
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    assert np.ptp(a) > 1e-3  # the texts are told apart: not a constant output
    # And more padding changes nothing either.
    longer = np.concatenate([post, np.zeros((5, 20), np.int64)], axis=1)
    np.testing.assert_allclose(model(longer).numpy(), a, rtol=0, atol=1e-5)


def test_bidirectional_gru_matches_keras_builtin_gru_under_a_mask():
    """Our RNN(GRUCell) under Bidirectional + mask = keras.layers.GRU(reset_after=False) at equal weights."""
    keras.utils.set_random_seed(0)
    config = dataclasses.replace(TINY, cell="gru", pooling="max_mean", embedding_dropout=0.0, dropout=0.0)
    ours = build_classifier(config, 3, VOCAB)
    ids = keras.Input((None,), dtype="int64")
    x = keras.layers.Embedding(VOCAB, config.embedding_dim, mask_zero=True)(ids)
    gru = keras.layers.GRU(config.units, reset_after=False, return_sequences=True)
    x = keras.layers.Bidirectional(gru)(x)
    x = MaskedPooling("max_mean")(x)
    reference = keras.Model(ids, keras.layers.Dense(3)(x))
    rng = np.random.default_rng(2)
    reference.set_weights([w + rng.normal(0, 0.1, w.shape) for w in reference.get_weights()])
    ours.set_weights(reference.get_weights())
    post, _ = _ids(rng, [2, 7, 11], time=12)
    np.testing.assert_allclose(ours(post).numpy(), reference(post).numpy(), rtol=0, atol=1e-5)


def test_masked_pooling_by_hand():
    x = np.array([[[1.0, -2.0], [3.0, -4.0], [100.0, 100.0]],
                  [[-1.0, 5.0], [9.0, 9.0], [9.0, 9.0]],
                  [[7.0, 7.0], [7.0, 7.0], [7.0, 7.0]]], np.float32)
    mask = np.array([[True, True, False], [True, False, False], [False, False, False]])
    out = MaskedPooling("max_mean")(tf.constant(x), mask=tf.constant(mask)).numpy()
    np.testing.assert_allclose(out, [[3.0, -2.0, 2.0, -3.0], [-1.0, 5.0, -1.0, 5.0], [0, 0, 0, 0]])
    np.testing.assert_allclose(MaskedPooling("mean")(tf.constant(x)).numpy()[2], [7.0, 7.0])
    with pytest.raises(ValueError, match="`mode` must be one of"):
        MaskedPooling("median")


def test_masked_pooling_layer_contract(tmp_path):
    """check_layer needs trainable weights, so the pooling is checked behind a Dense."""
    check_layer(lambda: keras.Sequential([keras.layers.Dense(3), MaskedPooling("max_mean")]),
                input_shape=(None, 5, 3), expected_output_shape=(None, 6), tmp_path=tmp_path)
    layer = MaskedPooling.from_config(MaskedPooling("mean", name="p").get_config())
    assert (layer.mode, layer.name) == ("mean", "p")
    assert layer.compute_output_shape((None, 7, 4)) == (None, 4)


def test_average_model_is_the_mean_of_embeddings_then_a_linear_layer():
    config = dataclasses.replace(TINY, model="average")
    model = build_classifier(config, 4, VOCAB)
    model.set_weights([np.random.default_rng(3).normal(size=w.shape) for w in model.get_weights()])
    table = model.get_layer("embedding").get_weights()[0]
    kernel, bias = model.get_layer("logits").get_weights()
    ids = np.array([[4, 9, 9, 0, 0], [7, 0, 0, 0, 0]])
    want = np.stack([table[[4, 9, 9]].mean(0), table[[7]].mean(0)]) @ kernel + bias
    np.testing.assert_allclose(model(ids).numpy(), want, rtol=1e-5, atol=1e-5)


def test_vocabulary_inside_the_model_and_long_texts_truncated():
    texts = ["A good film, a GOOD film!", "Bad; bad bad. Don't", "café au lait 42"]
    vocab = build_vocabulary(texts, TINY)
    assert vocab[:3] == ["bad", "a", "good"]  # by count, ties by first appearance
    assert {"don", "t", "café", "film"} <= set(vocab) and "42" not in vocab
    model = build_model(TINY, 2, vocab)
    vectorize = model.get_layer("vectorize")
    assert vectorize.get_vocabulary() == ["", "[UNK]", *vocab]
    ids = vectorize(tf.constant(["good film", "unseen words here"])).numpy()
    assert ids.shape == (2, TINY.sequence_length)
    assert ids[0, :3].tolist() == [4, vocab.index("film") + 2, 0]  # post-padded with 0
    assert ids[1, :3].tolist() == [1, 1, 1]  # [UNK]
    # A 1 MB review: truncated to sequence_length tokens, the same prediction as its head.
    long_text = "good film " * 100_000
    head = " ".join(["good", "film"] * (TINY.sequence_length // 2))
    out = model(tf.constant([long_text, head])).numpy()
    np.testing.assert_allclose(out[0], out[1], rtol=0, atol=1e-6)
    # Invalid UTF-8 inside the graph is replaced, not an error.
    bad = model(tf.constant([b"good \xff\xfe film"])).numpy()
    np.testing.assert_allclose(bad, model(tf.constant(["good film"])).numpy(), rtol=0, atol=1e-6)


def test_keras_file_round_trip_keeps_vocabulary_and_outputs(tmp_path):
    import apps.sentiment.model  # noqa: F401

    vocab = build_vocabulary(["a good film", "a bad film", "awful"], TINY)
    model = build_model(dataclasses.replace(TINY, cell="lstm"), 3, vocab)
    texts = tf.constant(["a good film", "awful awful", ""])
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.get_layer("vectorize").get_vocabulary() == model.get_layer("vectorize").get_vocabulary()
    np.testing.assert_allclose(loaded(texts).numpy(), model(texts).numpy(), rtol=0, atol=1e-6)


def test_initialisation_from_word_vectors(tmp_path, capsys):
    from apps.sentiment.task import TASK

    def built(config):
        """The Task's model of `config` for the vocabulary good, film, unseen (read once by
        prepare, set by build_model) and the line it prints on what it found."""
        splits = types.SimpleNamespace(x_train=["good film unseen"], class_names=["rotten", "fresh"])
        _, prepared = TASK.prepare(config, splits)
        capsys.readouterr()
        return TASK.build_model(config, prepared), capsys.readouterr().err

    rng = np.random.default_rng(0)
    words = ["good", "film", "bad", "other"]
    vectors = rng.normal(size=(4, TINY.embedding_dim)).astype(np.float32)
    text_file = tmp_path / "vectors.txt"
    text_file.write_text(f"4 {TINY.embedding_dim}\n" + "".join(
        f"{w} {' '.join(repr(float(v)) for v in row)}\n" for w, row in zip(words, vectors)))
    binary_file = tmp_path / "vectors.bin"
    binary_file.write_bytes(f"4 {TINY.embedding_dim}\n".encode() + b"".join(
        w.encode() + b" " + row.astype("<f4").tobytes() + b"\n" for w, row in zip(words, vectors)))
    for path, frozen in ((text_file, True), (binary_file, False)):
        config = dataclasses.replace(TINY, embeddings=str(path), freeze_embeddings=frozen)
        model, printed = built(config)
        assert model.get_layer("vectorize").get_vocabulary()[2:] == ["good", "film", "unseen"]
        table = classifier(model).get_layer("embedding")
        assert table.trainable is not frozen
        weights = table.get_weights()[0]
        np.testing.assert_allclose(weights[2], vectors[0], atol=1e-6)  # "good"
        np.testing.assert_allclose(weights[3], vectors[1], atol=1e-6)  # "film"
        assert f"embeddings: 2 of 3 vocabulary words from {path} ({'frozen' if frozen else 'fine-tuned'})" in printed
    with pytest.raises(ConfigError, match="embedding_dim is 8 but the word vectors have 16"):
        wrong = dataclasses.replace(TINY, embeddings=str(text_file), embedding_dim=8)
        built(wrong)


@pytest.mark.parametrize("key, value, message", [
    ("cell", "rnn", "cell='rnn': expected one of 'gru', 'lstm'"),
    ("model", "cnn", "model='cnn': expected one of 'rnn', 'average'"),
    ("pooling", "attention", "pooling='attention': expected one of 'last', 'max_mean'"),
    ("standardize", "none", "standardize='none': expected one of 'letters', 'lower'"),
    ("units", 0, "units=0: expected >= 1"),
    ("dropout", 1.0, "dropout=1.0: expected in [0, 1)"),
    ("max_tokens", 2, "max_tokens=2: expected >= 3"),
])
def test_bad_model_config(key, value, message):
    # Refused when the config is made (declared on its fields), before any model is built.
    with pytest.raises(ConfigError, match=re.escape(message)):
        dataclasses.replace(TINY, **{key: value})


def test_weight_decay_regularises_the_recurrent_and_output_kernels():
    config = dataclasses.replace(TINY, weight_decay=1e-3, bidirectional=False)
    model = build_classifier(config, 2, VOCAB)
    model(np.array([[1, 2, 0]]))
    kernels = [model.get_layer("rnn1").cell.kernel, model.get_layer("logits").kernel]
    want = sum(1e-3 * float(np.sum(np.square(k.numpy()))) for k in kernels)
    assert float(sum(model.losses)) == pytest.approx(want, rel=1e-5)
    assert build_classifier(TINY, 2, VOCAB).losses == []
