"""The n-gram baseline against values computed by hand on a two-item corpus."""

import math

import pytest

from apps.generate.ngram import bits_per_char, choose_k, fit_ngram

TRAIN = ["ab", "b"]  # bigram events: (^,a) (a,b) (b,$) | (^,b) (b,$); V = {a, b, $, UNK}


def test_bigram_add_one_by_hand():
    model = fit_ngram(TRAIN, n=2, k=1.0)
    # "ba": P(b|^) = (1+1)/(2+4), P(a|b) = (0+1)/(2+4), P($|a) = (0+1)/(1+4)
    expected = -(math.log2(2 / 6) + math.log2(1 / 6) + math.log2(1 / 5)) / 3
    assert bits_per_char(model, ["ba"]) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(2.16395, abs=1e-5)


def test_unigram_and_unseen_character_by_hand():
    model = fit_ngram(TRAIN, n=1, k=0.5)
    # counts: a 1, b 2, $ 2 (of 5); "z" is UNK (0); |V| = 4, so the denominator is 5 + 2
    expected = -(math.log2(0.5 / 7) + math.log2(2.5 / 7)) / 2  # "z" then the end
    assert bits_per_char(model, ["z"]) == pytest.approx(expected, abs=1e-12)


def test_trigram_contexts_pad_with_begin_symbols():
    model = fit_ngram(["abc"], n=3, k=0.25)
    # "ab": P(a|^^) = (1+.25)/(1+5*.25), P(b|^a) likewise, P($|ab) = .25/2.25 (V: a b c $ UNK)
    expected = -(2 * math.log2(1.25 / 2.25) + math.log2(0.25 / 2.25)) / 3
    assert bits_per_char(model, ["ab"]) == pytest.approx(expected, abs=1e-12)


def test_choose_k_minimises_validation_bits_and_probabilities_sum_to_one():
    train, val = ["abab", "abba", "baab"], ["abab", "bb"]
    model, scores = choose_k(train, val, n=2, grid=(0.01, 0.1, 1.0))
    assert model.k == min(scores, key=scores.get)
    for k, value in scores.items():
        assert value == pytest.approx(bits_per_char(fit_ngram(train, 2, k), val))
    for context in ("\x02", "a", "b", "q"):
        total = sum(2 ** model.log2_prob(context, c) for c in model.vocabulary)
        assert total == pytest.approx(1.0, abs=1e-12)
    tokens = fit_ngram([("60:1", "62:1"), ("62:1",)], n=2, k=1.0)  # token sequences read alike
    assert bits_per_char(tokens, [("62:1", "60:1")]) == pytest.approx(
        bits_per_char(fit_ngram(TRAIN, n=2, k=1.0), ["ba"]))
    with pytest.raises(ValueError, match="`n` must be an int in 1..5"):
        fit_ngram(train, n=6, k=1.0)
