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
    subjectivity = _random_model(3, model="average").get_layer("classifier")  # ids -> 1 logit
    module, signatures = export_module(ensemble, ["rotten", "fresh"], 1000, None,
                                       WholeText(ensemble, 8, subjectivity, 2.0, sentences=True))
    tf.saved_model.save(module, str(tmp_path), signatures=signatures)
    loaded = tf.saved_model.load(str(tmp_path)).signatures["serving_default"]
    texts = ["a good film. " * 10, "?!", "bad"]
    got = loaded(text=tf.constant(texts))
    assert got["tokens_read"].numpy().tolist() == [30, 0, 1]
    assert [e.decode() for e in got["error"].numpy()] == ["", "no words: only punctuation or symbols", ""]
    whole = WholeText(ensemble, 8, subjectivity, 2.0, sentences=True)
    want = whole(tf.constant([texts[0], "", texts[2]]))[0].numpy()
    np.testing.assert_allclose(got["probabilities"].numpy()[:, 1], tf.sigmoid(want[:, 0]).numpy(), rtol=1e-5)
    assert {k: v.shape[0] for k, v in loaded(text=tf.constant([], tf.string)).items()} == dict.fromkeys(got, 0)


def test_weighted_mean_of_windows_matches_numpy():
    from apps.sentiment.subjective import weighted_mean

    rng = np.random.default_rng(1)
    for classes in (1, 3):
        logits = rng.normal(size=(7, classes)).astype(np.float32)
        log_weights = rng.normal(0, 2, 7).astype(np.float32)
        log_weights[5] = -200.0  # exp() underflows in float32: a window weighing nothing
        owner = np.array([0, 0, 1, 2, 2, 2, 3], np.int32)
        got = weighted_mean(tf.constant(logits), tf.constant(log_weights), tf.constant(owner), 4).numpy()
        w = np.exp(log_weights.astype(np.float64))
        want = np.stack([(w[owner == i, None] * logits[owner == i]).sum(0) / w[owner == i].sum() for i in range(4)])
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(got[[1, 3]], logits[[2, 6]])  # one window: its own logits
    far = weighted_mean(tf.constant([[1.0], [3.0]]), tf.constant([-500.0, -501.0]), tf.constant([0, 0]), 1)
    np.testing.assert_allclose(far.numpy(), [[(1 + 3 * np.exp(-1)) / (1 + np.exp(-1))]], rtol=1e-6)


def _random_model(seed, **overrides):
    """A tiny strings -> 1 logit model with N(0, 1) weights: outputs far apart."""
    keras.utils.set_random_seed(seed)
    config = dataclasses.replace(Config(**PRESETS["tiny"].values), sequence_length=8, **overrides)
    net = build_model(config, 2, build_vocabulary([" ".join(WORDS)], config))
    rng = np.random.default_rng(seed)
    net.set_weights([rng.normal(0, 1, w.shape).astype(np.float32) for w in net.get_weights()])
    return net


@pytest.fixture(scope="module")
def random_nets():
    """(ensemble of two random nets, a random subjectivity table: ids -> 1 logit), built once."""
    subjectivity = _random_model(3, model="average").get_layer("classifier")
    return build_ensemble([_random_model(1), _random_model(2)]), subjectivity


def test_windows_weighted_by_subjectivity_and_cut_at_sentences(random_nets):
    ensemble, subjectivity = random_nets
    rng = np.random.default_rng(3)
    long = " ".join(rng.choice(WORDS, 21))  # windows of 8, 8, 5
    sentences = ["A good film.", "Dull and long, dull and long!", " ".join(rng.choice(WORDS, 11)) + "?", "bad film"]
    texts = [long, "a good film", " ".join(sentences), "A good film.\nBad."]
    # NumPy reference: each piece in windows of 8 tokens, weighted by sigmoid(subjectivity) ** 3.
    pieces = {"long": [long], "joined": [" ".join(sentences)], "cut": sentences}
    windows = {k: [" ".join(p.split()[i:i + 8]) for p in v for i in range(0, len(p.split()), 8)]
               for k, v in pieces.items()}
    every = sum(windows.values(), [])  # one call each for the logits and the subjectivity
    z = ensemble(tf.constant(every)).numpy()[:, 0]
    w = 1 / (1 + np.exp(-subjectivity(ensemble.get_layer("vectorize")(tf.constant(every))).numpy()[:, 0]))
    w = w.astype(np.float64) ** 3
    want, start = {}, 0
    for k, v in windows.items():
        part = slice(start, start + len(v))
        want[k], start = (w[part] * z[part]).sum() / w[part].sum(), start + len(v)
    got, read = WholeText(ensemble, 8, subjectivity, 3.0)(tf.constant(texts))
    assert read.numpy().tolist() == [21, 3, 22, 4]
    np.testing.assert_allclose(got.numpy()[[0, 2], 0], [want["long"], want["joined"]], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got.numpy()[1], ensemble(tf.constant(texts[1:2])).numpy()[0], rtol=1e-5, atol=1e-6)
    assert abs(want["long"] - z[:3].mean()) > 0.05  # not the plain mean
    cut, read = WholeText(ensemble, 8, subjectivity, 3.0, sentences=True)(tf.constant(texts))
    assert read.numpy().tolist() == [21, 3, 22, 4]
    np.testing.assert_allclose(cut.numpy()[2, 0], want["cut"], rtol=1e-4, atol=1e-6)
    assert abs(want["cut"] - want["joined"]) > 0.01
    # No sentence end, or at most 8 tokens: as without `sentences`.
    np.testing.assert_allclose(cut.numpy()[[0, 1, 3]], got.numpy()[[0, 1, 3]], rtol=1e-5, atol=1e-6)


def test_long_texts_read_by_the_documents_model_through_the_chain(random_nets):
    from test_subjective import _forward_backward

    ensemble, subjectivity = random_nets
    documents = _random_model(4)
    rng = np.random.default_rng(5)
    sentences = ["A good film.", "Dull and long, dull and long!", " ".join(rng.choice(WORDS, 11)) + "?", "bad film"]
    texts = ["a good film", " ".join(sentences), "dull"]
    whole = WholeText(ensemble, 8, subjectivity, 2.0, sentences=True, documents=documents, switch=0.1, scale=0.5)
    got, read = whole(tf.constant(texts))
    assert read.numpy().tolist() == [3, 22, 1]
    # Texts of one window: the run's model's own answer (not the documents model's).
    np.testing.assert_allclose(got.numpy()[[0, 2]], ensemble(tf.constant(texts[::2])).numpy(), rtol=1e-5, atol=1e-6)
    # The long one: its sentences' windows by `documents`, weighted by sigmoid(chain posterior) ** 2.
    windows = [" ".join(s.split()[i:i + 8]) for s in sentences for i in range(0, len(s.split()), 8)]
    z = documents(tf.constant(windows)).numpy()[:, 0].astype(np.float64)
    s = 0.5 * subjectivity(ensemble.get_layer("vectorize")(tf.constant(windows))).numpy()[:, 0].astype(np.float64)
    w = (1 / (1 + np.exp(-_forward_backward(s, 0.1)))) ** 2
    np.testing.assert_allclose(got.numpy()[1, 0], (w * z).sum() / w.sum(), rtol=1e-4, atol=1e-6)
    plain = WholeText(ensemble, 8, subjectivity, 2.0, sentences=True)(tf.constant(texts))[0].numpy()
    assert abs(plain[1, 0] - got.numpy()[1, 0]) > 0.01
    # The members' margin as evidence (+ 0.7 (|z| - 1.2) before the chain) and their neutral
    # bias removed from a long text's windows (z - 0.4 p(objective)); one window: its own answer.
    both = WholeText(ensemble, 8, subjectivity, 2.0, sentences=True, documents=documents, switch=0.1, scale=0.5,
                     evidence=0.7, center=1.2, offset=0.4)(tf.constant(texts))[0].numpy()
    post = _forward_backward(s + 0.7 * (np.abs(z) - 1.2), 0.1)
    w = (1 / (1 + np.exp(-post))) ** 2
    np.testing.assert_allclose(both[1, 0], (w * (z - 0.4 / (1 + np.exp(post)))).sum() / w.sum(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(both[[0, 2]], got.numpy()[[0, 2]], rtol=1e-5, atol=1e-6)
    assert abs(both[1, 0] - got.numpy()[1, 0]) > 0.01
    # A batch of short texts only (no window for `documents`), and one of a long text only.
    np.testing.assert_allclose(whole(tf.constant(["dull"]))[0].numpy(), got.numpy()[2:], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(whole(tf.constant(texts[1:2]))[0].numpy(), got.numpy()[1:2], rtol=1e-5, atol=1e-6)



def test_context_reader_untrained_is_the_weighted_mean_and_exports(random_nets, tmp_path):
    from apps.sentiment import context

    ensemble, subjectivity = random_nets
    documents = _random_model(4)
    sentences = ["A good film.", "Dull and long, dull and long!", "a bad film, dull?", "bad film", "Good."]
    texts = ["a good film", " ".join(sentences), "", "dull", " ".join(sentences[::-1] * 2)]  # "": its window last
    options = dict(sentences=True, documents=documents, switch=0.1, scale=0.5, evidence=0.7, center=1.2, offset=0.4)
    plain = WholeText(ensemble, 8, subjectivity, 2.0, **options)(tf.constant(texts))[0].numpy()
    reader = context.build(3, 2.0, 0.4)  # zero-initialised attention and correction
    whole = WholeText(ensemble, 8, subjectivity, 2.0, **options, context=reader)
    got, read = whole(tf.constant(texts))
    assert read.numpy().tolist() == [3, 16, 0, 1, 32]
    np.testing.assert_allclose(got.numpy(), plain, rtol=1e-4, atol=1e-5)
    # Trained (here: random) weights move long texts only; the reader reads its text's windows
    # alone (the same answer in any batch) and survives save / load and the export.
    rng = np.random.default_rng(6)
    reader.set_weights([rng.normal(0, 1, w.shape).astype(np.float32) for w in reader.get_weights()])
    moved = whole(tf.constant(texts))[0].numpy()
    np.testing.assert_allclose(moved[[0, 2, 3]], plain[[0, 2, 3]], rtol=1e-5, atol=1e-6)
    assert np.all(np.abs(moved[[1, 4]] - plain[[1, 4]]) > 0.01)
    np.testing.assert_allclose(whole(tf.constant(texts[4:]))[0].numpy(), moved[4:], rtol=1e-4, atol=1e-5)
    reader.save(tmp_path / "context.keras")
    loaded_reader = keras.saving.load_model(tmp_path / "context.keras")
    module, signatures = export_module(ensemble, ["rotten", "fresh"], 1000, None,
                                       WholeText(ensemble, 8, subjectivity, 2.0, **options, context=loaded_reader))
    tf.saved_model.save(module, str(tmp_path / "export"), signatures=signatures)
    served = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"]
    out = served(text=tf.constant(texts))
    assert [e.decode() != "" for e in out["error"].numpy()] == [False, False, True, False, False]
    keep = [0, 1, 3, 4]
    np.testing.assert_allclose(out["probabilities"].numpy()[keep, 1], tf.sigmoid(moved[keep, 0]).numpy(), rtol=1e-4)
    with pytest.raises(ValueError, match="context reader needs"):
        WholeText(ensemble, 8, subjectivity, 2.0, context=reader)
