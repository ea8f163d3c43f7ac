"""The character LM: data encoding, masking, clipping, bits/char against NumPy, a training step."""

import dataclasses
import math

import keras
import numpy as np
import pytest

import layers
from apps.common.errors import ConfigError
from apps.generate.config import PRESETS, Config
from apps.generate.data import EOS, PAD, UNK, Vocabulary, make_dataset
from apps.generate.metrics import bits_per_char, nll_bits
from apps.generate.model import build_model, compile_model

ITEMS = ("Ada", "Bob", "Cyd", "Abba", "Bo")


def _config(**kw):
    return dataclasses.replace(Config(), **{**PRESETS["tiny"].values, **kw})


def test_vocabulary_and_batches():
    vocab = Vocabulary.from_items(ITEMS)
    assert vocab.chars == ("A", "B", "C", "a", "b", "d", "o", "y") and vocab.size == 11
    assert vocab.encode("Ada!") == [3, 8, 6, UNK] and vocab.decode([3, 8, 6, UNK, EOS]) == "Ada"
    notes = Vocabulary.from_items([("60:1", "rest:0.5"), ("62:2",)], separator=" ")
    assert notes.chars == ("60:1", "62:2", "rest:0.5")
    assert notes.encode("60:1 62:2  x") == notes.encode(("60:1", "62:2", "x")) == [3, 4, UNK]
    assert notes.decode([EOS, 5, 3]) == "rest:0.5 60:1"
    inputs, targets, weights = next(iter(make_dataset(["Ada", "Bo"], vocab, batch_size=2)))
    assert inputs.numpy().tolist() == [[EOS, 3, 8, 6], [EOS, 4, 9, PAD]]
    assert targets.numpy().tolist() == [[3, 8, 6, EOS], [4, 9, EOS, PAD]]
    assert weights.numpy().tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]


@pytest.mark.parametrize("cell, cls", [("lstm", layers.LSTMCell), ("gru", layers.GRUCell)])
def test_model_uses_our_cells_and_padding_does_not_change_logits(cell, cls):
    model = build_model(_config(cell=cell, rnn_layers=2), vocabulary_size=11)
    assert [type(model.get_layer(f"rnn_{i}").cell) for i in range(2)] == [cls, cls]
    short = np.array([[EOS, 3, 8]], "int32")
    padded = np.array([[EOS, 3, 8, PAD, PAD]], "int32")
    out = np.array(model(short))
    assert out.shape == (1, 3, 11)
    np.testing.assert_allclose(np.array(model(padded))[:, :3], out, atol=1e-6)
    with pytest.raises(ConfigError, match="cell='rnn': expected one of 'lstm', 'gru'"):
        build_model(_config(cell="rnn"), 11)


def test_nll_bits_by_hand():
    logits = np.log(np.array([[[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]]))
    bits, count = nll_bits(logits, np.array([[1, 2]]), np.array([[1.0, 0.0]]))
    assert (bits, count) == (pytest.approx(2.0), 1.0)  # -log2 0.25; the padded 0.8 is ignored
    bits, count = nll_bits(logits + 3.0, np.array([[0, 2]]), np.ones((1, 2)))
    assert bits == pytest.approx(1.0 - math.log2(0.8)) and count == 2.0


def test_bits_per_char_matches_numpy_softmax_of_the_model():
    vocab = Vocabulary.from_items(ITEMS)
    model = build_model(_config(), vocab.size)
    ds = make_dataset(ITEMS, vocab, batch_size=2)
    total, count = 0.0, 0
    for item in ITEMS:  # one item at a time, no padding
        ids = [EOS] + vocab.encode(item)
        logits = np.array(model(np.array([ids], "int32")), np.float64)[0]
        probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
        targets = vocab.encode(item) + [EOS]
        total -= np.log2(probs[np.arange(len(targets)), targets]).sum()
        count += len(targets)
    assert bits_per_char(model, ds) == pytest.approx(total / count, rel=1e-5)


@pytest.mark.slow
def test_training_with_clipping_lowers_bits_per_char():
    vocab = Vocabulary.from_items(ITEMS)
    config = _config(clipnorm=0.5, clipvalue=0.0, learning_rate=0.05, units=16)
    keras.utils.set_random_seed(0)
    model = compile_model(build_model(config, vocab.size), config, steps_per_epoch=3)
    assert (model.optimizer.clipnorm, model.optimizer.clipvalue) == (0.5, None)
    by_value = compile_model(build_model(_config(), vocab.size), _config(), 3).optimizer
    assert (by_value.clipnorm, by_value.clipvalue) == (None, 5.0)  # the default, as the course
    ds = make_dataset(ITEMS, vocab, batch_size=2)
    before = bits_per_char(model, ds)
    model.fit(ds, epochs=15, verbose=0)
    assert bits_per_char(model, ds) < before - 0.5
    with pytest.raises(ConfigError, match="clipnorm=-1.0: expected >= 0"):
        compile_model(model, _config(clipnorm=-1.0), 3)
    with pytest.raises(ConfigError, match="set at most one"):
        compile_model(model, _config(clipnorm=1.0, clipvalue=5.0), 3)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_are_config_fields_and_build(preset):
    config = dataclasses.replace(Config(), **PRESETS[preset].values)
    model = build_model(config, vocabulary_size=11, bar_id=3 if config.bar_positions else -1)
    assert model.get_layer("logits").units == 11
    assert any(layer.name == "bar_count" for layer in model.layers) == bool(config.bar_positions)
    assert len([layer for layer in model.layers if layer.name.startswith("rnn_")]) == config.rnn_layers
    assert {"default", "tour", "tiny"} <= set(PRESETS)


def test_shared_substrings_against_brute_force():
    import random

    from apps.generate.metrics import SharedSubstrings

    def brute(text, texts):
        return max((j - i for i in range(len(text)) for j in range(i + 1, len(text) + 1)
                    if any(text[i:j] in t for t in texts)), default=0)

    rng = random.Random(0)
    texts = ["".join(rng.choice("abc") for _ in range(rng.randint(1, 12))) for _ in range(6)]
    index = SharedSubstrings(texts)
    for _ in range(200):
        text = "".join(rng.choice("abcd") for _ in range(rng.randint(0, 15)))
        assert index.longest(text) == brute(text, texts)
    joined = SharedSubstrings(["xab", "cdy"])
    assert joined.longest("abcd") == 2  # "abcd" spans two texts: not one match


def test_shuffled_batches_group_similar_lengths_and_cover_every_item_once():
    import numpy as np

    from apps.generate.data import batch_order

    lengths = np.random.default_rng(1).integers(1, 500, size=1000).tolist()
    rng = np.random.default_rng(0)
    first, second = batch_order(lengths, 10, rng), batch_order(lengths, 10, rng)
    for order in (first, second):
        assert sorted(i for batch in order for i in batch) == list(range(1000))
        assert all(len(batch) == 10 for batch in order)  # 1000 = 5 chunks of 20 batches of 10
    assert first != second  # a new order each epoch
    steps = sum(max(lengths[i] for i in batch) for batch in first)  # RNN steps of an epoch
    random_steps = sum(max(lengths[i] for i in batch) for batch in batch_order(
        [lengths[i] for i in np.random.default_rng(2).permutation(1000)], 10))
    assert steps < 0.7 * random_steps
    assert batch_order([3, 1, 2], 2) == [[0, 1], [2]]
    vocab = Vocabulary.from_items(ITEMS)
    seen = [row.tolist() for inputs, _, _ in make_dataset(ITEMS, vocab, 2, shuffle=True, seed=4)
            for row in inputs.numpy()]
    assert sorted(vocab.decode(r) for r in seen) == sorted(ITEMS)
