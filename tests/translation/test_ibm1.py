import collections

import numpy as np
import pytest

from apps.translation import ibm1

PAIRS = [("the house", "la casa"), ("the book", "el libro"), ("a book", "un libro"),
         ("the green house", "la casa verde"), ("a house", "una casa")]


def _textbook_em(pairs, iterations):
    """Koehn's (Statistical MT, fig. 4.3) EM for IBM Model 1 with a NULL word, dicts and loops."""
    pairs = [(["<null>", *e], f) for e, f in pairs]
    cooccur = collections.defaultdict(set)
    for e_words, f_words in pairs:
        for e in e_words:
            cooccur[e].update(f_words)
    t = {(e, f): 1.0 / len(fs) for e, fs in cooccur.items() for f in fs}
    for _ in range(iterations):
        count, total = collections.defaultdict(float), collections.defaultdict(float)
        for e_words, f_words in pairs:
            for f in f_words:
                z = sum(t[e, f] for e in e_words)
                for e in e_words:
                    count[e, f] += t[e, f] / z
                    total[e] += t[e, f] / z
        t = {(e, f): c / total[e] for (e, f), c in count.items()}
    return t


@pytest.mark.parametrize("iterations", [1, 3])
def test_em_equals_the_textbook_loops(iterations):
    tokenized = [(ibm1.tokenize(e), ibm1.tokenize(f)) for e, f in PAIRS]
    model = ibm1.train(tokenized, iterations)
    expected = _textbook_em(tokenized, iterations)
    assert len(model.t) == len(expected)
    for (e, f), value in expected.items():
        assert model.probability(e, f) == pytest.approx(value, abs=1e-12)
    assert model.probability("house", "libro") == 0.0  # never in one sentence pair
    assert model.probability("castle", "casa") == 0.0
    # Each source word's t(. | e) sums to 1; best is its argmax.
    sums = np.bincount(model.pair_e, weights=model.t)
    np.testing.assert_allclose(sums, 1.0)
    for e in ("house", "book", "green"):
        candidates = {f: v for (ee, f), v in expected.items() if ee == e}
        assert model.best[e] == max(candidates, key=candidates.get)


def test_likelihood_never_falls_and_the_lexicon_is_learned():
    tokenized = [(ibm1.tokenize(e), ibm1.tokenize(f)) for e, f in PAIRS]
    model = ibm1.train(tokenized, 30)
    assert np.all(np.diff(model.log_likelihoods) >= -1e-9)
    assert model.log_likelihoods[-1] > model.log_likelihoods[0] + 1.0
    assert model.best["book"] == "libro" and model.best["green"] == "verde" and model.best["house"] == "casa"
    assert model.probability("book", "libro") > 0.8 > model.probability("book", "el")


def test_word_by_word_translation_and_detokenization():
    model = ibm1.train([(ibm1.tokenize(e), ibm1.tokenize(f)) for e, f in PAIRS], 30)
    assert ibm1.tokenize("Let there be light: ¿and?") == ["let", "there", "be", "light", ":", "¿", "and", "?"]
    assert ibm1.translate(model, "Green book, Unseen (house)!") == "Verde libro, Unseen (casa)!"
    surface = ibm1.surface_forms(["Vi la Casa verde", "La Casa", "En casa de Pedro y Casa"])
    assert surface == {"la": "la", "casa": "Casa", "verde": "verde", "de": "de", "pedro": "Pedro", "y": "y"}
    assert ibm1.translate(model, "green house", surface) == "Verde Casa"
    assert ibm1.detokenize(["¿", "qué", "?", "«", "sí", "»", "."]) == "¿qué? «sí»."


def test_iterations_must_be_positive():
    with pytest.raises(ValueError, match="iterations=0"):
        ibm1.train([(["a"], ["b"])], 0)
