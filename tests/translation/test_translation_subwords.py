"""Subword tokens (tokens="subwords"): the word splitter, the word vocabulary, the BPE pieces
against SentencePiece itself, length-bucketed batches, and the export reading words and
writing pieces as in-process decoding does."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf
from sentencepiece_check import ENGLISH, assert_equals_sentencepiece

from apps.common.errors import ConfigError
from apps.translation.config import Config
from apps.translation.corpus import Pair
from apps.translation.data import TranslationData, encode, make_dataset
from apps.translation.decode import beam_search, greedy_decode
from apps.translation.model import AttentionSeq2Seq
from apps.translation.serving import NO_KNOWN_WORD, export_module
from apps.translation.subwords import WORD_START, PieceVocabulary, WordVocabulary, split_words
from apps.translation.vocabulary import END_ID, PAD_ID, START_ID, UNKNOWN_ID

SPANISH = [
    "Y dijo Dios: Sea la luz: y fué la luz.",
    "Y vió Dios que la luz era buena: y apartó Dios la luz de las tinieblas.",
    "Y llamó Dios á la luz Día, y á las tinieblas llamó Noche.",
    "En el principio crió Dios los cielos y la tierra.",
    "¿Quién te enseñó que estabas desnudo?",
    "Y fué la tarde y la mañana un día.",
]


def test_words_and_punctuation_are_split_apart():
    assert split_words(["And his brother\u2019s name was Jubal: he (was) 12,5!", "  ", "día¿sí?"]) == [
        ["And", "his", "brother", "\u2019", "s", "name", "was", "Jubal", ":", "he", "(", "was", ")",
         "12", ",", "5", "!"],
        [],
        ["día", "¿", "sí", "?"],
    ]


def test_word_vocabulary_keeps_words_seen_twice_by_count():
    vocabulary = WordVocabulary.from_texts(["the cat, the dog", "a cat"], min_count=2)
    assert vocabulary.tokens == ("<pad>", "<unk>", "cat", "the")  # 'the' and 'cat' twice: a tie, alphabetical
    encoded = vocabulary.encode(["the bird, the cat", "cat"], 3)
    np.testing.assert_array_equal(encoded.ids, [[3, UNKNOWN_ID, UNKNOWN_ID], [2, PAD_ID, PAD_ID]])
    assert encoded.truncated == 1 and list(encoded.lengths) == [3, 1]
    assert encoded.unknown == {"bird": 1, ",": 1}  # over the whole text, the cut part too
    assert vocabulary.decode(encoded.ids[0]) == "the ? ?"


@pytest.fixture(scope="module")
def pieces():
    return PieceVocabulary.from_texts(SPANISH, size=80)


def test_pieces_equal_sentencepiece_and_give_the_text_back(pieces):
    assert_equals_sentencepiece(pieces, [*SPANISH, "la luz de Dios"])
    assert pieces.size == 80
    assert PieceVocabulary.from_texts(SPANISH, size=80).tokens == pieces.tokens  # deterministic
    # The most frequent words of the corpus are single pieces, starting a word.
    assert pieces.encode(["Dios luz"], 4).ids[0].tolist()[:2] == [pieces.tokens.index(f"{WORD_START}Dios"),
                                                                  pieces.tokens.index(f"{WORD_START}luz")]
    unseen = pieces.encode(["Ωluz"], 10)
    assert unseen.unknown == {"Ω": 1} and UNKNOWN_ID in unseen.ids[0]
    assert pieces.decode([pieces.tokens.index(f"{WORD_START}la"), END_ID, 7]) == "la"


@pytest.fixture(scope="module")
def subword_data(pieces):
    pairs = tuple(Pair(s, t) for s, t in zip(ENGLISH, SPANISH))
    config = Config(data="tsv:x", model="seq2seq", tokens="subwords", source_length=9, target_length=30,
                    batch_size=2, beam_width=3, target_pieces=80)
    data = TranslationData(pairs, pairs[:2], pairs[:2], WordVocabulary.from_texts(ENGLISH, min_count=1),
                           pieces, "")
    return config, data


def test_batches_are_cut_to_their_longest_row(subword_data):
    config, data = subword_data
    arrays = encode(data.train, data, config)
    seen = []
    for (source, decoder_input), target, weights in make_dataset(data.train, data, config, shuffle=True):
        source, target = source.numpy(), target.numpy()
        assert source.shape[1] == max(1, (source != PAD_ID).sum(axis=1).max())
        assert target.shape[1] == (target != PAD_ID).sum(axis=1).max() == decoder_input.shape[1]
        np.testing.assert_array_equal(weights.numpy(), target != PAD_ID)
        np.testing.assert_array_equal(decoder_input.numpy()[:, 1:], target[:, :-1] * (target[:, :-1] != END_ID))
        seen += [tuple(row[row != PAD_ID]) for row in target]
    assert sorted(seen) == sorted(tuple(row[row != PAD_ID]) for row in arrays["target"])  # every pair once


@pytest.fixture(scope="module")
def exported(subword_data):
    config, data = subword_data
    keras.utils.set_random_seed(0)
    model = AttentionSeq2Seq(data.source_vocabulary.size, data.target_vocabulary.size, embedding_dim=6, units=8)
    model([np.ones((1, 9), "int32"), np.full((1, 3), START_ID, "int32")])
    rng = np.random.default_rng(1)
    model.set_weights([w + rng.uniform(-0.5, 0.5, size=w.shape).astype(w.dtype) for w in model.get_weights()])
    module, signatures = export_module(model, config, data.source_vocabulary, data.target_vocabulary)
    return model, module, signatures


def _strings(array):
    return [t.decode("utf-8") for t in np.asarray(array).reshape(-1)]


def test_export_joins_pieces_as_the_vocabulary_decodes(subword_data, exported):
    _, data = subword_data
    pieces = data.target_vocabulary
    ids = pieces.encode(SPANISH[2:5], 40).ids
    ids[np.arange(3), pieces.encode(SPANISH[2:5], 40).lengths] = END_ID
    ids[0, -1] = 9  # after </s>: not written
    written = _strings(exported[1].write(tf.constant(ids)))
    assert written == [pieces.decode(row) for row in ids] == SPANISH[2:5]


@pytest.mark.slow
def test_export_reads_words_and_writes_pieces_as_in_process(subword_data, exported):
    config, data = subword_data
    model, module, signatures = exported
    texts = ["And God saw the light.", "And God said, Let there be light: and there was light.", "zebra quagga"]
    got = signatures["serving_default"](tf.constant(texts))
    ids = data.source_vocabulary.encode(texts, 9).ids
    greedy = greedy_decode(model, tf.constant(ids), 31, START_ID, END_ID).numpy()
    assert _strings(got["translation"])[:2] == [data.target_vocabulary.decode(row) for row in greedy[:2]]
    assert _strings(got["notice"])[:2] == [
        "", "read the first 9 of 14 words (the model's limit); the rest is not translated"]
    assert _strings(got["error"]) == ["", "", NO_KNOWN_WORD]
    words = signatures["attention"](tf.constant(texts[:1]))["characters"].numpy()[0]
    assert _strings(words) == ["And", "God", "saw", "the", "light", ".", "", "", ""]


@pytest.mark.slow
def test_beam_signature_with_pieces_equals_in_process_beam_search(subword_data, exported):
    config, data = subword_data
    model, _, signatures = exported
    texts = ["And God saw the light.", "the evening and the morning", "Who told thee?"]
    got = signatures["beam"](tf.constant(texts))
    ids = tf.constant(data.source_vocabulary.encode(texts, 9).ids)
    tokens, _ = tf.function(lambda x: beam_search(model, x, 31, START_ID, END_ID, beam_width=3))(ids)
    expected = [[data.target_vocabulary.decode(beam) for beam in row] for row in tokens.numpy()]
    assert [_strings(row) for row in got["translations"].numpy()] == expected


def _copied_reference(pieces, tokens, attention, ids, words, names):
    """Python's copying of unknown source words into one translation (tokens (steps,), its
    attention (steps, Tx)): word by word, from each word's first piece."""
    written, previous = [], None  # previous: the source position the last word copied, or None
    copying = None
    for t, token in enumerate(tokens):
        if token in (END_ID, PAD_ID):
            break
        piece = pieces.tokens[token] if token >= pieces.first_character_id else ""
        letters = any(c.isalpha() for c in piece)
        if piece.startswith(WORD_START):
            source = int(np.argmax(attention[t]))
            unknown = ids[source] == UNKNOWN_ID and (not names or words[source][:1].isupper())
            copying = source if letters and unknown else None
            if copying is not None:
                piece = "" if copying == previous else WORD_START + words[source]
            previous = copying
        elif copying is not None and letters:
            piece = ""
        written.append(piece)
    return "".join(written).replace(WORD_START, " ").lstrip(" ")


@pytest.mark.slow
@pytest.mark.parametrize("copy_unknown", ["names", "all"])
def test_unknown_source_words_are_copied_where_the_output_attends(subword_data, exported, copy_unknown):
    config, data = subword_data
    model = AttentionSeq2Seq.from_config(exported[0].get_config())
    model([np.ones((1, 9), "int32"), np.full((1, 3), START_ID, "int32")])
    model.set_weights(exported[0].get_weights())
    starts = np.array([t.startswith(WORD_START) for t in data.target_vocabulary.tokens])
    model.output_layer.bias.assign(model.output_layer.bias.numpy() + 3.0 * starts)  # whole words, often
    config = dataclasses.replace(config, copy_unknown=copy_unknown)
    _, signatures = export_module(model, config, data.source_vocabulary, data.target_vocabulary)
    texts = ["And Paul said unto Barnabas, Let there be light.", "Silas saw the zebra, and Timotheus the quagga.",
             "And God saw the light."]
    ids = data.source_vocabulary.encode(texts, 9).ids
    words = [split_words([t])[0][:9] + [""] * 9 for t in texts]
    greedy = greedy_decode(model, tf.constant(ids), 31, START_ID, END_ID).numpy()
    beams, _ = tf.function(lambda x: beam_search(model, x, 31, START_ID, END_ID, beam_width=3))(tf.constant(ids))
    names = copy_unknown == "names"
    for tokens, got in ((greedy[:, None], signatures["serving_default"](tf.constant(texts))["translation"]),
                        (beams.numpy(), signatures["beam"](tf.constant(texts))["translations"])):
        expected = []
        for row in range(len(texts)):
            for beam in tokens[row]:
                decoder_ids = np.concatenate([[START_ID], beam[:-1]])[None].astype("int32")
                attention = model.attention_weights(ids[row:row + 1], decoder_ids).numpy()[0]
                expected.append(_copied_reference(data.target_vocabulary, beam, attention, ids[row], words[row], names))
        assert _strings(got) == expected
    copied = " ".join(expected)
    assert "Paul" in copied or "Barnabas" in copied or "Silas" in copied  # copying happened here
    assert ("zebra" in copied or "quagga" in copied) == (copy_unknown == "all")  # lowercase: "all" only
    with pytest.raises(ConfigError, match="copy_unknown='names': needs model=seq2seq reading source words"):
        export_module(model, dataclasses.replace(config, copy_unknown="names", source_pieces=90),
                      data.source_vocabulary, data.target_vocabulary)


def test_subwords_need_the_seq2seq_model():
    from apps.common.errors import ConfigError
    from apps.translation.data import vocabularies

    with pytest.raises(ConfigError, match="tokens: 'subwords' needs model=seq2seq"):
        vocabularies(dataclasses.replace(Config(), tokens="subwords"), [Pair("a", "b")])
