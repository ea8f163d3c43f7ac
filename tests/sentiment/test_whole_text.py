"""Whole texts (apps/sentiment/serving.py WholeText): every token read in windows of the
trained length, the mean of the windows' logits; one window is the model's own answer."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.sentiment.config import PRESETS, Config
from apps.sentiment.model import build_ensemble, build_model, build_vocabulary
from apps.sentiment.serving import WholeText, export_module

WORDS = "a good film a bad film dull and long".split()


@pytest.fixture(scope="module")
def models():
    keras.utils.set_random_seed(0)
    config = dataclasses.replace(Config(**PRESETS["tiny"].values), sequence_length=8)
    vocabulary = build_vocabulary([" ".join(WORDS)], config)
    single = build_model(config, 2, vocabulary)
    single.set_weights([w + 0.05 for w in single.get_weights()])  # biases off zero: distinct outputs
    other = build_model(config, 2, vocabulary)
    return single, build_ensemble([single, other])


def test_windows_mean_of_logits_and_tokens_read(models):
    rng = np.random.default_rng(0)
    long = " ".join(rng.choice(WORDS + ["unknown"], 29))  # 29 tokens: windows of 8, 8, 8, 5
    texts = ["a good film", "", long, "Dull, and long!"]
    for model in models:
        got, read = WholeText(model, 8)(tf.constant(texts))
        assert read.numpy().tolist() == [3, 0, 29, 3]
        short = model(tf.constant(texts)).numpy()
        np.testing.assert_allclose(got.numpy()[[0, 1, 3]], short[[0, 1, 3]], rtol=1e-5, atol=1e-6)  # one window
        tokens = long.split()
        chunks = [" ".join(tokens[i:i + 8]) for i in range(0, 29, 8)]
        np.testing.assert_allclose(got.numpy()[2], model(tf.constant(chunks)).numpy().mean(axis=0),
                                   rtol=1e-5, atol=1e-6)
        assert not np.allclose(got.numpy()[2], short[2])  # truncation would have read 8 tokens only


def test_export_reads_whole_texts_and_says_how_many_tokens(models, tmp_path):
    _, ensemble = models
    module, signatures = export_module(ensemble, ["rotten", "fresh"], 1000, None, sequence_length=8)
    tf.saved_model.save(module, str(tmp_path), signatures=signatures)
    loaded = tf.saved_model.load(str(tmp_path)).signatures["serving_default"]
    texts = ["a good film " * 10, "?!", "bad"]
    got = loaded(text=tf.constant(texts))
    assert got["tokens_read"].numpy().tolist() == [30, 0, 1]
    assert [e.decode() for e in got["error"].numpy()] == ["", "no words: only punctuation or symbols", ""]
    want = WholeText(ensemble, 8)(tf.constant([texts[0], "", texts[2]]))[0].numpy()
    np.testing.assert_allclose(got["probabilities"].numpy()[:, 1], tf.sigmoid(want[:, 0]).numpy(), rtol=1e-5)
    assert {k: v.shape[0] for k, v in loaded(text=tf.constant([], tf.string)).items()} == dict.fromkeys(got, 0)
