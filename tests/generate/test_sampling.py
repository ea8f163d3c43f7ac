"""In-graph sampling against the model's own distribution and a step-by-step Python loop."""

import dataclasses

import keras
import numpy as np
import pytest
from scipy import stats

from apps.generate.config import PRESETS, Config
from apps.generate.data import EOS, FIRST_CHAR, Vocabulary
from apps.generate.model import build_model
from apps.generate.sampling import greedy_reference, make_sampler
from apps.generate.serving import export_module

VOCAB = Vocabulary.from_items(["Ada", "Bob", "Cyd"])  # 7 characters + EOS can be emitted


def _sampler(cell="lstm", rnn_layers=2, scale=4.0, seed=0):
    """A tiny random model whose logits are spread out (scaled output kernel)."""
    keras.utils.set_random_seed(seed)
    config = dataclasses.replace(Config(), **{**PRESETS["tiny"].values, "cell": cell,
                                              "rnn_layers": rnn_layers, "units": 8})
    model = build_model(config, VOCAB.size)
    dense = model.get_layer("logits")
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel * scale, bias + np.linspace(-2, 2, VOCAB.size)])
    return model, make_sampler(model, VOCAB)


def _first_char_probs(model, prefix, temperature=1.0):
    """The model's distribution of the character after `prefix`, PAD/UNK excluded."""
    ids = np.array([[EOS] + VOCAB.encode(prefix)], "int32")
    logits = np.array(model(ids), np.float64)[0, -1] / temperature
    allowed = np.r_[EOS, np.arange(FIRST_CHAR, VOCAB.size)]
    p = np.exp(logits[allowed] - logits[allowed].max())
    return allowed, p / p.sum()


def _batch_sampler(model):
    """The export's serving function of `model` (it samples each row as `sampler.sample`)."""
    return export_module(model, dataclasses.replace(Config(), **PRESETS["tiny"].values), VOCAB)[0].sample_batch


def _first_draws(sample_batch, prefix, n, temperature=1.0, top_k=0):
    """Ids of n one-character samples, seeds 0..n-1 (EOS when the sample ended at once), in one batch."""
    import tensorflow as tf

    result = sample_batch(tf.constant([prefix] * n), tf.fill([n], float(temperature)), tf.fill([n], top_k),
                          tf.ones([n], tf.int32), tf.range(n, dtype=tf.int64))
    assert not any(result["error"].numpy())
    texts = [t.decode()[len(prefix):] for t in result["text"].numpy()]
    return np.array([EOS if ended else VOCAB.encode(text)[0] for text, ended in zip(texts, result["ended"].numpy())])


@pytest.mark.slow
def test_temperature_one_draws_follow_the_model_distribution():
    model, _ = _sampler()
    allowed, probs = _first_char_probs(model, "A")
    assert probs.max() > 0.3 and probs.min() < 0.05  # far from uniform: the test has power
    sample_batch = _batch_sampler(model)
    draws = _first_draws(sample_batch, "A", 3000)
    observed = np.array([(draws == i).sum() for i in allowed])
    assert observed.sum() == 3000
    assert stats.chisquare(observed, probs * 3000).pvalue > 0.01
    assert stats.chisquare(observed, np.full(len(allowed), 3000 / len(allowed))).pvalue < 1e-6
    # temperature 2 flattens it: the draws follow softmax(logits / 2), not softmax(logits)
    _, flat = _first_char_probs(model, "A", temperature=2.0)
    hot = _first_draws(sample_batch, "A", 2000, temperature=2.0)
    observed = np.array([(hot == i).sum() for i in allowed])
    assert stats.chisquare(observed, flat * 2000).pvalue > 0.01
    assert stats.chisquare(observed, probs * 2000).pvalue < 1e-6


def test_top_k_never_leaves_the_k_best():
    model, _ = _sampler(seed=1)
    allowed, probs = _first_char_probs(model, "B")
    best = set(allowed[np.argsort(probs)[-3:]].tolist())
    draws = _first_draws(_batch_sampler(model), "B", 300, temperature=3.0, top_k=3)
    assert set(draws.tolist()) == best  # all three appear, nothing else does


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_temperature_zero_equals_a_python_argmax_loop(cell):
    model, sampler = _sampler(cell=cell, scale=1.0)
    for prefix in ("", "A", "Cy", "Zed"):  # "Z", "e" are unknown characters (UNK)
        expected = greedy_reference(model, VOCAB, prefix, max_length=12)
        got = sampler.sample(prefix, 0.0, 0, 12, 5)["text"].numpy().decode()
        assert got == expected
        near_zero = sampler.sample(prefix, 1e-4, 0, 12, 6)["text"].numpy().decode()
        assert near_zero == expected


def test_same_seed_same_sample_and_the_end_symbol_stops():
    _, sampler = _sampler(scale=1.0)
    samples = [sampler.sample("A", 1.0, 0, 30, seed)["text"].numpy() for seed in range(8)]
    assert sampler.sample("A", 1.0, 0, 30, 3)["text"].numpy() == samples[3]
    assert len(set(samples)) > 4
    for seed in range(8):
        result = sampler.sample("", 1.0, 0, 30, seed)
        text = result["text"].numpy().decode()
        assert len(text) <= 30 and (bool(result["ended"]) or len(text) == 30)


def test_token_vocabulary_samples_tokens_joined_by_spaces():
    tokens = Vocabulary.from_items([("60:1", "62:1", "rest:0.5"), ("64:2",)], separator=" ")
    keras.utils.set_random_seed(2)
    config = dataclasses.replace(Config(), **{**PRESETS["tiny"].values, "units": 8})
    model = build_model(config, tokens.size)
    sampler = make_sampler(model, tokens)
    for prefix in ("", "60:1", "60:1  99:1 rest:0.5"):  # "99:1" is UNK; runs of spaces split once
        expected = greedy_reference(model, tokens, prefix, max_length=6)
        got = sampler.sample(prefix, 0.0, 0, 6, 0)["text"].numpy().decode()
        assert got == expected
        assert got.split()[:len(prefix.split())] == prefix.split()
    sampled = sampler.sample("60:1", 1.0, 0, 20, 4)["text"].numpy().decode().split()
    assert set(sampled) <= set(tokens.chars)


def test_min_bars_withholds_the_end_until_that_many_bar_lines():
    tunes = Vocabulary.from_items(["ab|ba|", "a||b|"])  # "|" is a symbol: ABC-like
    keras.utils.set_random_seed(3)
    config = dataclasses.replace(Config(), **{**PRESETS["tiny"].values, "units": 8})
    model = build_model(config, tunes.size)
    dense = model.get_layer("logits")
    kernel, bias = dense.get_weights()
    bias[EOS] = 6.0  # the end is by far the likeliest next symbol
    dense.set_weights([kernel, bias])

    def bars(text):  # bar lines: a "|" not right after another
        return sum(c == "|" and (i == 0 or text[i - 1] != "|") for i, c in enumerate(text))

    free = make_sampler(model, tunes)
    held = make_sampler(model, tunes, min_bars=3)
    for seed in range(20):
        assert bool(free.sample("", 1.0, 0, 200, seed)["ended"])
        out = held.sample("", 1.0, 0, 200, seed)
        text = out["text"].numpy().decode()
        assert bool(out["ended"]) and bars(text) >= 3
        assert bars(text[:-1]) < 3 or text[-1] != "|" or bars(text) == 3  # it ends once allowed
        primed = held.sample("a|b||", 1.0, 0, 200, seed)
        text = primed["text"].numpy().decode()
        assert bool(primed["ended"]) and bars(text) >= 3 and text.startswith("a|b||")  # the prefix's 2 count
    # argmax once the end is withheld may never write a bar line: max_length still ends it
    greedy = held.sample("a", 0.0, 0, 30, 0)
    assert bool(greedy["ended"]) or len(greedy["text"].numpy().decode()) == 31
    names = make_sampler(model, Vocabulary.from_items(["ab", "c"]), min_bars=3)  # same size, no "|"
    assert bool(names.sample("", 1.0, 0, 50, 0)["ended"])  # no "|" in the vocabulary: no effect
