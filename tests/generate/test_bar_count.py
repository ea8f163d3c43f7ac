"""Bar positions (config.bar_positions): the count by hand, the layer against NumPy, and the
sampler's step-by-step count against the whole-sequence model it trains as."""

import dataclasses
import math

import keras
import numpy as np
import pytest

from apps.common.errors import ConfigError
from apps.generate.bar_count import BarCount, bar_counts
from apps.generate.config import PRESETS, Config
from apps.generate.data import EOS, Vocabulary
from apps.generate.metrics import nll_bits
from apps.generate.model import build_model, compile_model
from apps.generate.sampling import greedy_reference, make_sampler

TUNES = Vocabulary.from_items(["ab|ba|]", "a||b:|", "|:a|b:|"])


def test_bar_counts_by_hand():
    text = "a|b||c|]:|"
    ids = [EOS] + TUNES.encode(text)
    #         EOS a  |  b  |  |  c  |  ]  :  |   ("||" is one bar line)
    expected = [0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 4]
    assert bar_counts([ids], TUNES.bar_id, 10)[0].tolist() == [1 + c for c in expected]
    assert bar_counts([ids], TUNES.bar_id, 2)[0].tolist() == [1 + min(c, 2) for c in expected]
    assert bar_counts([ids + [0, 0]], TUNES.bar_id, 10)[0].tolist()[-3:] == [5, 0, 0]  # padding: 0
    assert Vocabulary.from_items(["abc"]).bar_id == -1


def test_layer_equals_numpy_and_round_trips():
    rng = np.random.default_rng(0)
    ids = rng.integers(2, TUNES.size, size=(4, 30)).astype("int32")
    ids[:, -5:] = 0  # padding adds no bar lines
    layer = BarCount(TUNES.bar_id, 3)
    got = np.array(layer(ids))
    np.testing.assert_array_equal(got, bar_counts(ids, TUNES.bar_id, 3))
    assert got.max() == 4 and got.dtype == np.int32
    assert (got[:, -5:] == 0).all() and (got[:, :-5] >= 1).all()
    clone = BarCount.from_config(layer.get_config())
    np.testing.assert_array_equal(np.array(clone(ids)), got)
    with pytest.raises(ValueError, match="limit=0"):
        BarCount(TUNES.bar_id, 0)


def _model(bar_positions=4, seed=0):
    keras.utils.set_random_seed(seed)
    config = dataclasses.replace(Config(), **{**PRESETS["tiny"].values, "units": 8,
                                              "bar_positions": bar_positions})
    model = build_model(config, TUNES.size, TUNES.bar_id)
    emb = model.get_layer("bar_embedding")
    emb.set_weights([emb.get_weights()[0] * 50])  # the bar count moves the logits visibly
    dense = model.get_layer("logits")
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel * 4, bias])
    return model


def test_model_needs_a_bar_symbol_and_reads_the_count():
    config = dataclasses.replace(Config(), **{**PRESETS["tiny"].values, "bar_positions": 4})
    with pytest.raises(ConfigError, match="bar_positions=4"):
        build_model(config, 10, bar_id=-1)
    model = _model()
    # the padding stays masked (the RNNs and the loss skip it): Keras's loss is the mean over
    # real targets, as bits_per_char counts them
    compile_model(model, dataclasses.replace(Config(), **PRESETS["tiny"].values), steps_per_epoch=1)
    inputs = np.array([[EOS] + TUNES.encode("a|b") + [0, 0], [EOS] + TUNES.encode("ab|ba")], "int32")
    targets = np.array([TUNES.encode("a|b") + [EOS, 0, 0], TUNES.encode("ab|ba") + [EOS]], "int32")
    weights = (targets != 0).astype("float32")
    bits, count = nll_bits(model(inputs), targets, weights)
    loss = model.evaluate(inputs, targets, sample_weight=weights, verbose=0)
    assert loss == pytest.approx(bits * math.log(2) / count, rel=1e-4)
    ids = np.array([[EOS] + TUNES.encode("a|b|a|b|a")], "int32")
    same_chars = np.array([[EOS] + TUNES.encode("a:b:a:b:a")], "int32")
    # the last symbol is "a" in both, after other counts: the count changes the next odds
    assert not np.allclose(np.array(model(ids))[0, -1], np.array(model(same_chars))[0, -1], atol=1e-3)


def test_sampler_steps_compute_the_count_the_model_trains_with(tmp_path):
    model = _model(seed=1)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    ids = np.array([[EOS] + TUNES.encode("ab|ba|]a||b")], "int32")
    np.testing.assert_allclose(np.array(loaded(ids)), np.array(model(ids)), atol=1e-6)
    sampler = make_sampler(loaded, TUNES)
    for prefix in ("", "a|b", "|:a||b:|a"):
        expected = greedy_reference(loaded, TUNES, prefix, max_length=25)
        got = sampler.sample(prefix, 0.0, 0, 25, 0)["text"].numpy().decode()
        assert got == expected
        # teacher forcing the whole text: the model's argmax after each symbol is the next one
        ids = [EOS] + TUNES.encode(got)
        logits = np.array(loaded(np.array([ids], "int32")))[0]
        logits[:, :2] = -np.inf  # PAD, UNK are never sampled
        start = len(TUNES.encode(prefix))
        assert np.argmax(logits, axis=-1)[start:len(ids) - 1].tolist() == ids[start + 1:]
