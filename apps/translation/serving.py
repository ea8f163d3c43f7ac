"""The exported module: strings in, translations out, everything in the graph.

    serving_default  texts (N,) string -> translation (N,) string        greedy
                                          notice (N,) string, error (N,) string
    beam             texts (N,) string -> translations (N, k) string,    model=seq2seq only:
                                          scores (N, k) float32,         best first
                                          notice, error
    attention        texts (N,) string -> translation (N,), characters (N, Tx) string (the
                                          source characters read, "" past the end), outputs
                                          (N, Ty) string (one per decoder step, "" past the
                                          end), attention (N, Ty, Tx) float32, notice, error

Dates are normalised as the training data was written (lowercase, commas dropped). Special
tokens (<pad>, <unk>, <s>, </s>) write nothing. With `tokens="subwords"` the source is read as
words (subwords.split_words_graph), or with `source_pieces` > 0 as BPE pieces of those words
(subwords.split_pieces_graph); BPE pieces are joined into words on the target side. "characters"
below then reads "words" (or "pieces"), and `characters` of the attention signature holds them.

With `copy_unknown` "names" (or "all"), a source word the model does not know (read as <unk>;
"names": only those starting with a capital letter) is copied into the translation: an output
word whose first piece attends most to it is replaced by it (punctuation pieces kept; a copy
right after a copy of the same word writes nothing). The model otherwise invents a name
("Athán" for "Colosse"); copying reads the attention of the translation written, as the
`attention` signature does. The `attention` signature's `outputs` stay the model's pieces.

Per instance, never for the whole batch:
- `error` ("" when fine) refuses a text: empty or whitespace only, no letter or digit, over
  `config.export_max_chars` characters, or not one character the model knows. A refused text
  is read as the empty text and answered with an empty translation (`classics serve` answers
  {"error": ...} in its place).
- `notice` ("" when none) tells what the model did not read as written: a text over
  `source_length` characters is cut to it, characters outside the vocabulary are read as
  <unk> (listed, at most 8).
"""

from apps.common import validation
from apps.common.errors import ConfigError
from apps.translation.decode import beam_search, greedy_decode
from apps.translation.subwords import WORD_START, score_table, split_pieces_graph, split_words_graph
from apps.translation.vocabulary import END_ID, PAD_ID, START_ID, UNKNOWN_ID

NO_KNOWN_CHARACTER = "none of its characters is known to the model"
NO_KNOWN_WORD = "none of its words is known to the model"
LISTED_UNKNOWN = 8


def _checked(texts, config, table, scores=None):
    """texts (N,) -> (source ids (N, Tx) int32, error (N,), notice (N,), characters read (N, Tx));
    `scores`: the source pieces' score table when the source is read as BPE pieces."""
    import tensorflow as tf

    texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace")
    errors = validation.text_verdicts(texts, config.export_max_chars)
    texts = tf.where(tf.equal(errors, ""), texts, "")
    if config.data == "dates":
        texts = tf.strings.regex_replace(tf.strings.lower(texts, encoding="utf-8"), ",", "")
    words = config.tokens == "subwords" and scores is None
    unit = "word" if words else "piece" if scores is not None else "character"
    if scores is not None:
        chars = split_pieces_graph(texts, scores)  # ragged (N, None)
    else:
        chars = split_words_graph(texts) if words else tf.strings.unicode_split(texts, "UTF-8")
    total = chars.row_lengths()
    read = chars[:, : config.source_length]
    ids = table.lookup(read)
    unknown = tf.ragged.boolean_mask(read, tf.equal(ids, UNKNOWN_ID))
    count = unknown.row_lengths()
    errors = tf.where(tf.equal(errors, "") & (count > 0) & tf.equal(count, read.row_lengths()),
                      NO_KNOWN_WORD if words else NO_KNOWN_CHARACTER, errors)
    listed = tf.strings.reduce_join(tf.strings.join(["'", unknown[:, :LISTED_UNKNOWN], "'"]),
                                    axis=-1, separator=", ")
    cut = tf.strings.join([f"read the first {config.source_length} of ", tf.strings.as_string(total),
                           f" {unit}s (the model's limit); the rest is not translated"])
    strange = tf.strings.join([tf.strings.as_string(count), f" {unit}(s) unknown to the model, read as <unk>: ",
                               listed, tf.where(count > LISTED_UNKNOWN, ", ...", "")])
    was_cut, has_unknown = total > config.source_length, count > 0
    notice = tf.strings.join([tf.where(was_cut, cut, ""), tf.where(was_cut & has_unknown, "; ", ""),
                              tf.where(has_unknown, strange, "")])
    notice = tf.where(tf.equal(errors, ""), notice, "")
    shape = [None, config.source_length]
    return (ids.to_tensor(default_value=PAD_ID, shape=shape), errors, notice,
            read.to_tensor(default_value="", shape=shape))


def export_module(model, config, source_vocabulary, target_vocabulary):
    """(tf.Module, {signature name: concrete tf.function})."""
    import keras
    import tensorflow as tf

    first_source_id = source_vocabulary.first_character_id
    copying = config.copy_unknown != "none"
    if copying and not (config.model == "seq2seq" and config.tokens == "subwords" and not config.source_pieces):
        raise ConfigError(f"copy_unknown={config.copy_unknown!r}: needs model=seq2seq reading source words "
                          "(tokens='subwords', source_pieces=0), which it copies into the translation")

    class TranslationServing(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(list(source_vocabulary.tokens[first_source_id:])),
                    tf.range(first_source_id, source_vocabulary.size, dtype=tf.int32),
                ),
                default_value=UNKNOWN_ID,
            )
            # Source BPE pieces (SourcePieceVocabulary): the scores that order the merges.
            self.scores = score_table(source_vocabulary) if hasattr(source_vocabulary, "scores") else None
            first = target_vocabulary.first_character_id
            self.characters = tf.constant(
                [t if i >= first else "" for i, t in enumerate(target_vocabulary.tokens)]
            )
            if config.model == "course":  # ids -> encoder states, for the attention weights
                self.encoder = keras.Model(model.input, model.get_layer("encoder").output)

        def source_ids(self, texts):
            return _checked(texts, config, self.table, self.scores)[0]

        def ended(self, ids):
            """(..., steps) bool: past the first </s>."""
            return tf.cumsum(tf.cast(tf.equal(ids, END_ID), tf.int32), axis=-1, exclusive=True) > 0

        def pieces(self, ids):
            """(..., steps) ids -> (..., steps) strings, "" from </s> on."""
            return tf.gather(self.characters, tf.where(self.ended(ids), PAD_ID, ids))

        def write(self, ids, source_ids=None, words=None):
            """(..., steps) ids -> (...) strings, stopping at </s>; pieces joined into words
            (subwords.join_pieces). With `copy_unknown` on, `source_ids` (N, Tx) and the source
            `words` (N, Tx) of the translations ids (N, steps) or (N, k, steps) give the copies."""
            pieces = self.pieces(ids)
            if copying:
                shape = tf.shape(ids)
                k = tf.reduce_prod(shape[1:-1])  # 1, or the beam's width
                flat = tf.reshape(ids, [-1, shape[-1]])
                pieces = tf.reshape(self.copied(flat, tf.repeat(source_ids, k, axis=0),
                                                tf.repeat(words, k, axis=0)), shape)
            text = tf.strings.reduce_join(pieces, axis=-1)
            if config.tokens == "subwords":
                text = tf.strings.regex_replace(tf.strings.regex_replace(text, WORD_START, " "), "^ +", "")
            return text

        def copied(self, out, ids, words):
            """out (M, steps) ids translating source ids (M, Tx) of `words` -> (M, steps) pieces,
            each output word whose first piece attends most to an unknown source word replaced
            by that word."""
            pieces = self.pieces(out)
            rows, steps = tf.shape(out)[0], tf.shape(out)[1]
            position = tf.argmax(self.weights(ids, out), axis=-1, output_type=tf.int32)  # (M, steps)
            unknown = tf.equal(ids, UNKNOWN_ID)
            if config.copy_unknown == "names":
                unknown &= tf.strings.regex_full_match(words, r"\p{Lu}.*")
            letters = tf.strings.regex_full_match(pieces, r".*\pL.*")
            starts = tf.strings.regex_full_match(pieces, WORD_START + ".*")
            copy_start = starts & letters & tf.gather(unknown, position, batch_dims=1)
            word = tf.cumsum(tf.cast(starts, tf.int32), axis=1)  # (M, steps): the word of each piece, 1..
            segments = tf.range(rows)[:, None] * (steps + 1) + word

            def per_word(x):  # (M, steps) -> (M, steps + 1): the value at each word's first piece
                return tf.reshape(tf.math.unsorted_segment_max(x, segments, rows * (steps + 1)), [rows, steps + 1])

            word_copy = per_word(tf.cast(copy_start, tf.int32)) > 0
            word_source = per_word(tf.where(copy_start, position, -1))
            again = word_copy[:, 1:] & word_copy[:, :-1] & tf.equal(word_source[:, 1:], word_source[:, :-1])
            again = tf.concat([tf.zeros([rows, 1], tf.bool), again], axis=1)  # (M, steps + 1)
            copy, repeated = tf.gather(word_copy, word, batch_dims=1), tf.gather(again, word, batch_dims=1)
            source_word = tf.strings.join([WORD_START, tf.gather(words, position, batch_dims=1)])
            replaced = tf.where(starts & ~repeated, source_word, "")
            return tf.where(copy & (letters | starts), replaced, pieces)

        def greedy(self, ids):
            """(N, Tx) -> (N, steps) ids of the greedy translation."""
            if config.model == "course":
                return tf.argmax(self.model(ids, training=False), axis=-1, output_type=tf.int32)
            return greedy_decode(self.model, ids, config.target_length + 1, START_ID, END_ID,
                                 no_repeat_ngram=config.no_repeat_ngram)

        def weights(self, ids, out):
            """(N, steps, Tx): the attention of each decoder step of the greedy translation `out`."""
            if config.model == "course":
                return self.model.get_layer("decoder").attention_weights(
                    self.encoder(ids, training=False), values_mask=tf.not_equal(ids, PAD_ID))
            starts = tf.fill([tf.shape(out)[0], 1], START_ID)
            decoder_ids = tf.concat([starts, out[:, :-1]], axis=1)  # what each step read
            return self.model.attention_weights(ids, decoder_ids)

    module = TranslationServing()
    texts_spec = tf.TensorSpec([None], tf.string, name="texts")

    def refused_blank(strings, errors):
        """Empty strings where the instance was refused; strings (N,) or (N, k)."""
        refused = tf.not_equal(errors, "")
        if strings.shape.rank == 2:
            refused = refused[:, None]
        return tf.where(refused, "", strings)

    @tf.function(input_signature=[texts_spec])
    def translate(texts):
        ids, errors, notice, words = _checked(texts, config, module.table, module.scores)
        translation = refused_blank(module.write(module.greedy(ids), ids, words), errors)
        return {"translation": translation, "notice": notice, "error": errors}

    @tf.function(input_signature=[texts_spec])
    def attention(texts):
        ids, errors, notice, characters = _checked(texts, config, module.table, module.scores)
        out = module.greedy(ids)
        shown = tf.where(module.ended(out) | tf.equal(out, PAD_ID), PAD_ID, out)
        return {"translation": refused_blank(module.write(out, ids, characters), errors),
                "characters": refused_blank(characters, errors),
                "outputs": refused_blank(tf.gather(module.characters, shown), errors),
                "attention": module.weights(ids, out), "notice": notice, "error": errors}

    module.translate, module.attention = translate, attention
    signatures = {"serving_default": translate, "attention": attention}
    if config.model == "seq2seq":

        @tf.function(input_signature=[texts_spec])
        def beam(texts):
            ids, errors, notice, words = _checked(texts, config, module.table, module.scores)
            tokens, scores = beam_search(
                module.model,
                ids,
                config.target_length + 1,
                START_ID,
                END_ID,
                beam_width=config.beam_width,
                alpha=config.length_alpha,
                no_repeat_ngram=config.no_repeat_ngram,
                coverage_beta=config.coverage_beta,
            )
            return {"translations": refused_blank(module.write(tokens, ids, words), errors), "scores": scores,
                    "notice": notice, "error": errors}

        module.beam = beam
        signatures["beam"] = beam
    return module, signatures
