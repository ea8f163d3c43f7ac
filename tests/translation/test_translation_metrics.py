import math

import numpy as np
import pytest
import sacrebleu

from apps.translation.metrics import corpus_bleu, corpus_chrf, tokenize_13a

CORPORA = {
    "plain": (
        ["the cat sat on the mat", "there is a dog in the garden", "he reads a book"],
        ["the cat is on the mat", "a dog is in the garden", "he is reading a book"],
    ),
    "identical": (
        ["In the beginning God created the heaven and the earth."] * 2,
        ["In the beginning God created the heaven and the earth."] * 2,
    ),
    "empty hypothesis": (["", "the cat sat on the mat"], ["a reference here", "the cat sat on the mat"]),
    "all empty hypotheses": (["", ""], ["one reference", "two"]),
    "short sentences": (["yes", "no way", "ok !"], ["yes", "no", "ok"]),
    "no match": (["abc def ghi jkl"], ["mno pqr stu vwx"]),
    "unicode": (
        ["EN el principio crió Dios los cielos y la tierra.", "¿Dónde está? — ¡Aquí!", "naïve café 東京"],
        ["En el principio creó Dios los cielos y la tierra.", "¿Dónde está él? ¡Aquí!", "naive café 東京都"],
    ),
    "punctuation and numbers": (
        ['He said "hello," then left.', "It cost $1,000.50 in 1990-91 (approx.)", "a&amp;b &lt;tag&gt; x/y"],
        ["He said: 'hello', then left!", "It cost $1,000.50 in 1990-91, approximately.", "a&b <tag> x / y"],
    ),
    "dates": (["1979-05-03", "1993-10-09", "2017-12-31"], ["1979-05-03", "1993-10-06", "2018-12-31"]),
    "longer hypothesis": (["the the the the the the the cat"], ["the cat"]),
}


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_bleu_equals_sacrebleu(name):
    hypotheses, references = CORPORA[name]
    expected = sacrebleu.BLEU().corpus_score(hypotheses, [references])
    ours = corpus_bleu(hypotheses, references)
    assert abs(ours.score - expected.score) < 0.01, (ours, expected)
    np.testing.assert_allclose(ours.precisions, expected.precisions, atol=1e-9)
    assert (ours.hypothesis_length, ours.reference_length) == (expected.sys_len, expected.ref_len)
    assert ours.brevity_penalty == pytest.approx(expected.bp)


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_chrf_equals_sacrebleu(name):
    hypotheses, references = CORPORA[name]
    expected = sacrebleu.CHRF().corpus_score(hypotheses, [references]).score
    assert abs(corpus_chrf(hypotheses, references) - expected) < 0.01


def test_several_references_equal_sacrebleu():
    hypotheses = ["the cat sat on the mat", "a dog barks", ""]
    first = ["the cat is on the mat", "the dog is barking", "nothing"]
    second = ["there is a cat on the mat", "a dog barks loudly", "empty"]
    references = list(zip(first, second))
    bleu = sacrebleu.BLEU().corpus_score(hypotheses, [first, second]).score
    chrf = sacrebleu.CHRF().corpus_score(hypotheses, [first, second]).score
    assert abs(corpus_bleu(hypotheses, references).score - bleu) < 0.01
    assert abs(corpus_chrf(hypotheses, references) - chrf) < 0.01


def test_bleu_by_hand():
    # 6 hypothesis tokens, 7 reference tokens: BP = exp(1 - 7/6).
    # Matches: 5/6 unigrams (the x2, cat, on, mat), 2/5 bigrams ("the cat", "on the"), 0/4
    # trigrams and 0/3 4-grams, smoothed to 1/(2*4) and 1/(4*3) (each further zero halves).
    result = corpus_bleu(["the cat sat on the mat"], ["the cat is on the red mat"])
    precisions = [5 / 6, 2 / 5, 1 / 8, 1 / 12]
    expected = math.exp(1 - 7 / 6) * math.exp(sum(math.log(p) for p in precisions) / 4) * 100
    assert result.score == pytest.approx(expected, abs=1e-9)
    assert result.brevity_penalty == pytest.approx(math.exp(-1 / 6))


def test_chrf_by_hand():
    # "ab" vs "ac": unigrams a,b vs a,c -> P = R = 1/2; bigrams "ab" vs "ac" -> 0;
    # orders 3..6 absent on both sides and skipped. avg P = avg R = 1/4 -> F2 = 1/4.
    assert corpus_chrf(["ab"], ["ac"]) == pytest.approx(25.0)
    assert corpus_chrf(["a b c"], ["abc"]) == pytest.approx(100.0)  # whitespace is ignored


def test_13a_tokenization_equals_sacrebleu():
    tokenizer = sacrebleu.tokenizers.tokenizer_13a.Tokenizer13a()
    for line in [
        "It cost $1,000.50 in 1990-91 (approx.)",
        'He said "hello," then... left-handed.',
        "a&amp;b &lt;tag&gt; x/y <skipped> end-\nof line",
        "¿Dónde está? — ¡Aquí! 3.5, .5 and 5. ",
    ]:
        assert tokenize_13a(line) == tokenizer(line).split()


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        corpus_bleu(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="at least one reference"):
        corpus_chrf(["a"], [[]])
