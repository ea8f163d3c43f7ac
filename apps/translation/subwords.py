"""Word tokens for the source side, BPE pieces for the target side (`tokens="subwords"`).

Verses are ~28 words but ~125 characters: a character model pays 4-5x the decoder steps
and has to learn spelling before translating. The source side is split into words in the
graph (the export reads raw strings), so the same TensorFlow ops split the training data:
every run of letters/digits is a word, every other non-space character a token of its own.
Words seen fewer than `min_count` times in training read as <unk> (so the model learns it).

The target side is written, never read, by the export: it only has to join pieces, so the
pieces can come from SentencePiece's BPE (Sennrich et al., 2016), trained here on the
training targets (identity normalisation, every character covered: decoding gives back the
text exactly). A piece starting with WORD_START ("\u2581") starts a word.
"""

import collections
import dataclasses

import numpy as np

from apps.translation.vocabulary import END, END_ID, PAD, PAD_ID, START, UNKNOWN, UNKNOWN_ID, Encoded

WORD_START = "\u2581"
# RE2 (TensorFlow) pattern: a space on both sides of every character that is neither a
# letter, a digit nor a space, so that `tf.strings.split` gives words and punctuation.
_SYMBOL = r"([^\pL\pN\s])"


def split_words_graph(texts):
    """In-graph: string (N,) -> ragged string (N, None) of words and punctuation."""
    import tensorflow as tf

    return tf.strings.split(tf.strings.regex_replace(texts, _SYMBOL, r" \1 "))


def split_words(texts):
    """Python strings -> lists of word strings, by the export's own ops (eagerly)."""
    import tensorflow as tf

    texts = list(texts)
    if not texts:
        return []
    words = split_words_graph(tf.constant(texts))
    flat = [w.decode("utf-8") for w in words.flat_values.numpy()]
    splits = words.row_splits.numpy()
    return [flat[start:end] for start, end in zip(splits[:-1], splits[1:])]


def _encoded(rows, length, unknown):
    ids = np.full((len(rows), length), PAD_ID, dtype="int32")
    for row, tokens in enumerate(rows):
        ids[row, : min(len(tokens), length)] = tokens[:length]
    lengths = np.array([min(len(r), length) for r in rows], dtype="int32")
    return Encoded(ids, lengths, unknown, sum(len(r) > length for r in rows))


@dataclasses.dataclass(frozen=True)
class WordVocabulary:
    """tokens[i] is the word of id i; tokens[0] = PAD, tokens[1] = UNKNOWN; then the words
    by falling count (ties alphabetical)."""

    tokens: tuple
    first_character_id = 2  # the first id of a real token (the name CharVocabulary uses)
    unit = "words"

    @classmethod
    def from_texts(cls, texts, min_count=2):
        counts = collections.Counter(w for words in split_words(texts) for w in words)
        kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls((PAD, UNKNOWN, *kept))

    @property
    def size(self):
        return len(self.tokens)

    def encode(self, texts, length):
        """Texts -> `Encoded` word ids (n, length); `unknown` counts the words read as <unk>."""
        index = {w: i for i, w in enumerate(self.tokens) if i >= self.first_character_id}
        rows, unknown = [], collections.Counter()
        for words in split_words(texts):
            rows.append([index.get(w, UNKNOWN_ID) for w in words])
            unknown.update(w for w in words if w not in index)
        return _encoded(rows, length, unknown)

    def decode(self, ids):
        """Ids -> words joined by spaces, up to the first PAD_ID; UNKNOWN_ID is '?'."""
        words = []
        for i in ids:
            if i == PAD_ID:
                break
            words.append("?" if i == UNKNOWN_ID else self.tokens[i])
        return " ".join(words)


@dataclasses.dataclass(frozen=True, eq=False)
class PieceVocabulary:
    """SentencePiece BPE pieces with ids 0-3 = PAD, UNKNOWN, START, END (as CharVocabulary
    with boundaries); `model` is the serialized SentencePiece model that encodes targets."""

    tokens: tuple
    model: bytes
    first_character_id = 4
    unit = "pieces"

    @classmethod
    def from_texts(cls, texts, size=8000):
        """BPE with `size` pieces in all (specials included) learned from `texts`."""
        import io

        import sentencepiece

        texts = list(texts)
        proto = io.BytesIO()
        # One thread and no sampling of the input: the same texts give the same pieces.
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_writer=proto, model_type="bpe", vocab_size=size,
            character_coverage=1.0, normalization_rule_name="identity", num_threads=1,
            pad_id=PAD_ID, unk_id=UNKNOWN_ID, bos_id=2, eos_id=END_ID,
            pad_piece=PAD, unk_piece=UNKNOWN, bos_piece=START, eos_piece=END,
            max_sentence_length=1 << 16, minloglevel=2)
        model = proto.getvalue()
        processor = cls._processor(model)
        return cls(tuple(processor.id_to_piece(i) for i in range(processor.get_piece_size())), model)

    @staticmethod
    def _processor(model):
        import sentencepiece

        return sentencepiece.SentencePieceProcessor(model_proto=model)

    @property
    def size(self):
        return len(self.tokens)

    def encode(self, texts, length):
        """Texts -> `Encoded` piece ids (n, length); `unknown` counts the characters no piece has."""
        texts = list(texts)
        known = set("".join(self.tokens[self.first_character_id:]))
        unknown = collections.Counter(ch for text in texts for ch in text if ch not in known and not ch.isspace())
        return _encoded(self._processor(self.model).encode(texts), length, unknown)

    def decode(self, ids):
        """Ids -> text up to the first PAD_ID or END; specials write nothing (as the export)."""
        pieces = []
        for i in ids:
            if i in (PAD_ID, END_ID):
                break
            pieces.append(self.tokens[i] if i >= self.first_character_id else "")
        return join_pieces("".join(pieces))


def join_pieces(text):
    """Concatenated pieces -> text: WORD_START becomes a space, none leads."""
    return text.replace(WORD_START, " ").lstrip(" ")
