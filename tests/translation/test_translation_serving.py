"""The export's per-instance answers to bad input, its attention signature, and its beam
signature against in-process decoding."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.common.serving import codec
from apps.translation.config import Config
from apps.translation.decode import beam_search, greedy_decode
from apps.translation.model import AttentionSeq2Seq, Seq2SeqEnsemble, build_model
from apps.translation.serving import NO_KNOWN_CHARACTER, export_module
from apps.translation.vocabulary import CharVocabulary

SOURCE = CharVocabulary.from_texts(["tuesday 9 october 1993 31/12/17"])
TARGET = CharVocabulary.from_texts(["0123456789-"], boundaries=True)


def _perturb(model, seed=1):
    rng = np.random.default_rng(seed)
    model.set_weights([w + rng.uniform(-0.3, 0.3, size=w.shape).astype(w.dtype) for w in model.get_weights()])


@pytest.fixture(scope="module")
def dates():
    keras.utils.set_random_seed(0)
    config = Config(source_length=12, export_max_chars=40, encoder_units=4, decoder_units=8,
                    embedding_dim=4, attention_units=3)
    model = build_model(config, SOURCE.size, TARGET.size)
    _perturb(model)
    module, signatures = export_module(model, config, SOURCE, TARGET)
    return config, model, signatures


def _strings(array):
    return [t.decode("utf-8") for t in np.asarray(array).reshape(-1)]


def _in_process(model, texts, length=12):
    """The course model's greedy translation of already-normalised texts, outside the export."""
    ids = SOURCE.encode(texts, length).ids
    return [TARGET.decode(row) for row in np.argmax(np.asarray(model(ids)), axis=-1)]


BAD = {
    "": "empty or whitespace only",
    "   \t": "empty or whitespace only",
    "!!! ...": "no words: only punctuation or symbols",
    "9" * 41: "text of 41 characters: over the maximum of 40",
    "日本語": NO_KNOWN_CHARACTER,
}


def test_bad_inputs_get_per_instance_answers(dates):
    config, model, signatures = dates
    texts = ["Tue, 9 Oct", *BAD, "9 october 1993 (tuesday)", "9 ж 93", "3 oct"]
    got = signatures["serving_default"](tf.constant(texts))
    errors, notices, translations = (_strings(got[k]) for k in ("error", "notice", "translation"))
    assert errors == ["", *BAD.values(), "", "", ""]
    assert notices == [
        "", "", "", "", "", "",
        "read the first 12 of 24 characters (the model's limit); the rest is not translated",
        "1 character(s) unknown to the model, read as <unk>: 'ж'",
        "",
    ]
    # Refused texts answer nothing; the others exactly what the model says of them alone (what
    # the export reads: lowercase, no commas, the first 12 characters, unknown as <unk>).
    assert translations[1:6] == [""] * 5
    good = ["tue 9 oct", "9 october 1993 (tuesday)", "9 ж 93", "3 oct"]
    assert [translations[i] for i in (0, 6, 7, 8)] == _in_process(model, good)
    # `classics serve` row answers: {"error": ...} in a refused instance's place.
    answers = codec.rows({name: tensor.numpy() for name, tensor in got.items()})
    assert [a.get("error") for a in answers] == [None, *BAD.values(), None, None, None]
    assert answers[7] == {"translation": translations[7], "notice": notices[7]}


def test_invalid_utf8_is_read_with_replacement_characters(dates):
    _, _, signatures = dates
    got = signatures["serving_default"](tf.constant([b"9 oct \xff"]))
    assert _strings(got["error"]) == [""]
    assert _strings(got["notice"]) == ["1 character(s) unknown to the model, read as <unk>: '\ufffd'"]


def test_long_unknown_lists_are_cut(dates):
    _, _, signatures = dates
    got = signatures["serving_default"](tf.constant(["9 жжжжжжжжжж"]))  # 10 unknown in the 12 read
    assert _strings(got["notice"]) == [
        "10 character(s) unknown to the model, read as <unk>: " + ", ".join(["'ж'"] * 8) + ", ..."]


@pytest.mark.slow
def test_attention_signature_of_the_course_model(dates):
    config, model, signatures = dates
    texts = ["Tuesday 9 Oct 1993", "3 oct 17"]
    got = signatures["attention"](tf.constant(texts))
    assert _strings(got["translation"]) == _in_process(model, ["tuesday 9 oct 1993", "3 oct 17"])
    characters = np.vectorize(lambda b: b.decode(), otypes=[object])(got["characters"].numpy())
    assert "".join(characters[1]) == "3 oct 17" and list(characters[1, 8:]) == [""] * 4
    ids = SOURCE.encode(["tuesday 9 oct 1993", "3 oct 17"], 12).ids
    encoder = keras.Model(model.input, model.get_layer("encoder").output)
    expected = model.get_layer("decoder").attention_weights(encoder(ids), values_mask=ids != 0)
    np.testing.assert_allclose(got["attention"].numpy(), expected, atol=1e-6)
    assert got["attention"].shape == (2, 10, 12)
    np.testing.assert_array_equal(got["attention"].numpy()[1, :, 8:], 0.0)  # padding gets nothing


START, END = 2, 3


@pytest.fixture(scope="module")
def seq2seq():
    keras.utils.set_random_seed(0)
    source = CharVocabulary(("<pad>", "<unk>", *"abcdefghij"))
    target = CharVocabulary(("<pad>", "<unk>", "<s>", "</s>", *"vwxyz"))
    model = AttentionSeq2Seq(source.size, target.size, embedding_dim=6, units=8)
    model([np.ones((1, 7), "int32"), np.full((1, 3), START, "int32")])
    _perturb(model)
    module, signatures = export_module(model, SEQ2SEQ_CONFIG, source, target)
    return model, source, target, signatures


SEQ2SEQ_CONFIG = Config(data="tsv:x", model="seq2seq", source_length=7, target_length=5, beam_width=3)


@pytest.fixture(scope="module")
def ensemble(seq2seq):
    """The seq2seq model and a GRU one with the lexical model, served as one."""
    model, source, target, _ = seq2seq
    keras.utils.set_random_seed(1)
    other = AttentionSeq2Seq(source.size, target.size, embedding_dim=6, units=8, cell="gru", lexical=True)
    other([np.ones((1, 7), "int32"), np.full((1, 3), START, "int32")])
    _perturb(other, seed=2)
    both = Seq2SeqEnsemble([model, other])
    module, signatures = export_module(both, SEQ2SEQ_CONFIG, source, target)
    return both, source, target, signatures


@pytest.mark.slow
@pytest.mark.parametrize("served", ["seq2seq", "ensemble"])
def test_beam_signature_equals_in_process_beam_search(served, request):
    model, source, target, signatures = request.getfixturevalue(served)
    texts = ["abc", "jihgfedcba", "aé", "", "ddd"]
    got = signatures["beam"](tf.constant(texts))
    ids = tf.constant(source.encode(["abc", "jihgfedcb", "a\x00", "", "ddd"], 7).ids)
    tokens, scores = tf.function(lambda x: beam_search(model, x, 6, START, END, beam_width=3))(ids)
    expected = [[target.decode(beam) for beam in row] for row in tokens.numpy()]
    expected[3] = ["", "", ""]  # refused: the empty text
    assert [_strings(row) for row in got["translations"].numpy()] == expected
    np.testing.assert_allclose(got["scores"].numpy()[[0, 1, 2, 4]], scores.numpy()[[0, 1, 2, 4]], atol=1e-5)
    assert _strings(got["error"])[3] == "empty or whitespace only"
    assert _strings(got["notice"])[1].startswith("read the first 7 of 10 characters")
    # The greedy signature equals in-process greedy decoding on the same rows.
    greedy = greedy_decode(model, ids, 6, START, END).numpy()
    served = _strings(signatures["serving_default"](tf.constant(texts))["translation"])
    assert [served[i] for i in (0, 1, 2, 4)] == [target.decode(greedy[i]) for i in (0, 1, 2, 4)]


def test_attention_signature_of_seq2seq_equals_step_by_step_weights(seq2seq):
    model, source, target, signatures = seq2seq
    got = signatures["attention"](tf.constant(["abcde", "ja"]))
    ids = tf.constant(source.encode(["abcde", "ja"], 7).ids)
    out = greedy_decode(model, ids, 6, START, END).numpy()
    (values, _), mask, states = model.encode(ids)
    tokens = np.full(2, START, "int32")
    for t in range(out.shape[1]):  # the decoder's step t reads tokens, attends with its output
        output, states = model.decoder.cell(model.target_embedding(tokens), states)
        _, alpha = model.attention(output, values, values_mask=mask)
        np.testing.assert_allclose(got["attention"].numpy()[:, t], alpha, atol=1e-5)
        tokens = out[:, t]
