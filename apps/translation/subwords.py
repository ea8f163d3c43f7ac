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


def score_table(vocabulary):
    """A TensorFlow table piece -> SentencePiece score (higher merges first); -inf for the rest."""
    import tensorflow as tf

    first = vocabulary.first_character_id
    return tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(list(vocabulary.tokens[first:])),
                                            tf.constant(vocabulary.scores[first:], tf.float32)),
        default_value=float("-inf"))


def segment_words_graph(words, scores):
    """In-graph BPE: words (M,) string -> ragged (M, None) pieces, WORD_START leading each word.

    SentencePiece's BPE encoding, vectorised over words: start from the characters and merge,
    while some adjacent pair joins into a known piece, the pair of the highest score (the
    leftmost on ties), one merge per word and round. `scores`: `score_table(vocabulary)`."""
    import tensorflow as tf

    chars = tf.strings.unicode_split(tf.strings.join([WORD_START, words]), "UTF-8")
    count = tf.shape(words)[0]
    # (M, L + 2) left-packed symbols, "" past the end: at least one pair per row, even for M = 0.
    symbols = tf.concat([chars.to_tensor(default_value=""), tf.fill([count, 2], "")], axis=1)
    columns = tf.range(tf.shape(symbols)[1])[None, :]

    def merge(symbols, _):
        left, right = symbols[:, :-1], symbols[:, 1:]
        pairs = tf.strings.join([left, right])
        score = tf.where(tf.not_equal(right, ""), scores.lookup(pairs), float("-inf"))
        best = tf.argmax(score, axis=1, output_type=tf.int32)[:, None]  # the first maximum
        merged = tf.reduce_max(score, axis=1) > float("-inf")
        padded = tf.concat([symbols, tf.fill([count, 1], "")], axis=1)
        shifted = tf.gather(padded, tf.where(columns > best, columns + 1, columns), batch_dims=1)
        shifted = tf.where(tf.equal(columns, best), tf.gather(pairs, best, batch_dims=1), shifted)
        return tf.where(merged[:, None], shifted, symbols), tf.reduce_any(merged)

    symbols, _ = tf.while_loop(lambda _, more: more, merge, (symbols, tf.constant(True)))
    return tf.ragged.boolean_mask(symbols, tf.not_equal(symbols, ""))


def split_pieces_graph(texts, scores):
    """In-graph: string (N,) -> ragged string (N, None) of source pieces (words, then BPE)."""
    words = split_words_graph(texts)
    return words.with_flat_values(segment_words_graph(words.flat_values, scores)).merge_dims(1, 2)


@dataclasses.dataclass(frozen=True, eq=False)
class SourcePieceVocabulary:
    """BPE pieces for the source side (`source_pieces` > 0): learned by SentencePiece (as
    PieceVocabulary) from the training sources split into words, and applied per word by
    `segment_words_graph`, the export's own ops, so that training and serving read alike.
    A word never seen (a name of a held-out book) is spelled out in known pieces."""

    tokens: tuple
    model: bytes
    scores: tuple  # SentencePiece's score of each piece
    first_character_id = PieceVocabulary.first_character_id
    unit = "pieces"

    @classmethod
    def from_texts(cls, texts, size=4000):
        pieces = PieceVocabulary.from_texts((" ".join(words) for words in split_words(texts)), size)
        processor = PieceVocabulary._processor(pieces.model)
        return cls(pieces.tokens, pieces.model, tuple(processor.get_score(i) for i in range(pieces.size)))

    @property
    def size(self):
        return len(self.tokens)

    def segment(self, words):
        """Distinct words -> {word: tuple of pieces}, through `segment_words_graph` (eagerly)."""
        import tensorflow as tf

        words = sorted(set(words))
        if not words:
            return {}
        ragged = segment_words_graph(tf.constant(words), score_table(self))
        flat = [p.decode("utf-8") for p in ragged.flat_values.numpy()]
        splits = ragged.row_splits.numpy()
        return {w: tuple(flat[a:b]) for w, a, b in zip(words, splits[:-1], splits[1:])}

    def encode(self, texts, length):
        """Texts -> `Encoded` piece ids (n, length); `unknown` counts pieces (characters) not known."""
        index = {p: i for i, p in enumerate(self.tokens) if i >= self.first_character_id}
        split = split_words(texts)
        pieces = self.segment(w for words in split for w in words)
        rows, unknown = [], collections.Counter()
        for words in split:
            row = [p for w in words for p in pieces[w]]
            rows.append([index.get(p, UNKNOWN_ID) for p in row])
            unknown.update(p for p in row if p not in index)
        return _encoded(rows, length, unknown)

    def decode(self, ids):
        """Ids -> text up to the first PAD_ID, words spaced as split (UNKNOWN_ID is '?')."""
        pieces = []
        for i in ids:
            if i == PAD_ID:
                break
            pieces.append("?" if i == UNKNOWN_ID else self.tokens[i] if i >= self.first_character_id else "")
        return join_pieces("".join(pieces))
