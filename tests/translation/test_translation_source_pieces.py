"""Source BPE pieces (source_pieces > 0): the in-graph segmentation against SentencePiece
itself, the round trip, and the export reading the same ids as training does."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from sentencepiece_check import ENGLISH, assert_equals_sentencepiece

from apps.common.errors import ConfigError
from apps.translation.config import Config
from apps.translation.corpus import Pair
from apps.translation.data import TranslationData, vocabularies
from apps.translation.serving import _checked, export_module
from apps.translation.subwords import WORD_START, PieceVocabulary, SourcePieceVocabulary, split_words
from apps.translation.vocabulary import PAD_ID, UNKNOWN_ID

# Words never seen in ENGLISH (names of other books), repeated letters (ties of one pair).
UNSEEN = ["And Nimrod and Lamech went unto Gilead, and Ahiah the Ishmeelite.",
          "Let there be good lightlight: aaaa eee?"]


@pytest.fixture(scope="module")
def pieces():
    return SourcePieceVocabulary.from_texts(ENGLISH, size=90)


def test_source_pieces_equal_sentencepiece_on_seen_and_unseen_words(pieces):
    # SentencePiece learned from words split so; every character is known here.
    processor, encoded = assert_equals_sentencepiece(pieces, [*ENGLISH, *UNSEEN],
                                                     lambda text: " ".join(split_words([text])[0]))
    assert pieces.size == 90
    assert SourcePieceVocabulary.from_texts(ENGLISH, size=90).tokens == pieces.tokens  # deterministic
    assert pieces.scores == tuple(processor.get_score(i) for i in range(90))
    assert not encoded.unknown and encoded.truncated == 0
    # A frequent word is one piece; an unseen name is spelled out in several, the first starting it.
    segmented = pieces.segment(["God", "Ishmeelite"])
    assert segmented["God"] == (f"{WORD_START}God",)
    assert len(segmented["Ishmeelite"]) > 1 and segmented["Ishmeelite"][0].startswith(WORD_START)
    assert "".join(segmented["Ishmeelite"]) == f"{WORD_START}Ishmeelite"


def test_unknown_characters_are_unk_and_texts_are_cut(pieces):
    encoded = pieces.encode(["God Ωmega", ""], 3)
    assert encoded.unknown == {"Ω": 1} and encoded.truncated == 1
    assert encoded.ids[0, 0] == pieces.tokens.index(f"{WORD_START}God") and UNKNOWN_ID in encoded.ids[0]
    np.testing.assert_array_equal(encoded.ids[1], [PAD_ID] * 3)
    assert list(encoded.lengths) == [3, 0]


def test_source_pieces_are_chosen_by_the_config():
    pairs = [Pair(s, s.lower()) for s in ENGLISH]
    config = Config(data="tsv:x", model="seq2seq", tokens="subwords", source_pieces=70, target_pieces=60)
    source, target = vocabularies(config, pairs)
    assert isinstance(source, SourcePieceVocabulary) and source.size == 70
    assert isinstance(target, PieceVocabulary) and target.size == 60
    with pytest.raises(ConfigError, match="source_pieces=8: expected 0"):
        vocabularies(dataclasses.replace(config, source_pieces=8), pairs)
    with pytest.raises(ConfigError, match="source_pieces=70: needs tokens='subwords'"):
        vocabularies(dataclasses.replace(config, tokens="characters", model="seq2seq"), pairs)


def test_export_reads_the_pieces_training_reads(pieces):
    """The export's own source ids (in a traced graph, as served) equal `encode`'s, and its
    notices count pieces; decoding from those ids is shared with the word export (tested there)."""
    config = Config(data="tsv:x", model="seq2seq", tokens="subwords", source_length=12, source_pieces=90)
    pairs = tuple(Pair(s, s) for s in ENGLISH)
    data = TranslationData(pairs, pairs, pairs, pieces, PieceVocabulary.from_texts(ENGLISH, size=60), "")
    module, _ = export_module(None, config, data.source_vocabulary, data.target_vocabulary)
    texts = [*UNSEEN, ENGLISH[0], "God Ω", ""]
    checked = tf.function(lambda t: _checked(t, config, module.table, module.scores))  # the export's reading
    ids, errors, notice, read = (x.numpy() for x in checked(tf.constant(texts)))
    np.testing.assert_array_equal(ids[:4], pieces.encode(texts[:4], 12).ids)
    np.testing.assert_array_equal(ids[4], [PAD_ID] * 12)  # refused
    total = pieces.encode(texts[:1], 100).lengths[0]
    assert notice[0].decode() == f"read the first 12 of {total} pieces (the model's limit); the rest is not translated"
    assert notice[3].decode() == "1 piece(s) unknown to the model, read as <unk>: 'Ω'"
    assert [e.decode() for e in errors][3:] == ["", "empty or whitespace only"]
    assert [p.decode() for p in read[3][:3]] == [f"{WORD_START}God", f"{WORD_START}", "Ω"]
