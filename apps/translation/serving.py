"""The exported module: strings in, translations out, everything in the graph.

    serving_default  texts (N,) string -> translation (N,) string       greedy
    beam             texts (N,) string -> translations (N, k) string,   model=seq2seq only:
                                          scores (N, k) float32         best first

Dates are normalised as the training data was written (lowercase, commas dropped). Source
characters outside the vocabulary become <unk>; texts are cut to `source_length`
characters. Special tokens (<pad>, <unk>, <s>, </s>) write nothing.
"""

from apps.translation.decode import beam_search, greedy_decode
from apps.translation.vocabulary import END_ID, PAD_ID, START_ID, UNKNOWN_ID


def export_module(model, config, source_vocabulary, target_vocabulary):
    """(tf.Module, {signature name: concrete tf.function})."""
    import tensorflow as tf


    first_source_id = source_vocabulary.first_character_id

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
            first = target_vocabulary.first_character_id
            self.characters = tf.constant(
                [t if i >= first else "" for i, t in enumerate(target_vocabulary.tokens)]
            )

        def source_ids(self, texts):
            if config.data == "dates":
                texts = tf.strings.regex_replace(tf.strings.lower(texts, encoding="utf-8"), ",", "")
            chars = tf.strings.unicode_split(texts, "UTF-8")[:, : config.source_length]  # ragged
            return self.table.lookup(chars).to_tensor(
                default_value=PAD_ID, shape=[None, config.source_length]
            )

        def write(self, ids):
            """(..., steps) ids -> (...) strings, stopping at </s>."""
            ended = tf.cumsum(tf.cast(tf.equal(ids, END_ID), tf.int32), axis=-1, exclusive=True) > 0
            ids = tf.where(ended, PAD_ID, ids)
            return tf.strings.reduce_join(tf.gather(self.characters, ids), axis=-1)

    module = TranslationServing()
    texts_spec = tf.TensorSpec([None], tf.string, name="texts")

    @tf.function(input_signature=[texts_spec])
    def translate(texts):
        ids = module.source_ids(texts)
        if config.model == "course":
            out = tf.argmax(module.model(ids, training=False), axis=-1, output_type=tf.int32)
        else:
            out = greedy_decode(module.model, ids, config.target_length + 1, START_ID, END_ID)
        return {"translation": module.write(out)}

    module.translate = translate
    signatures = {"serving_default": translate}
    if config.model == "seq2seq":

        @tf.function(input_signature=[texts_spec])
        def beam(texts):
            tokens, scores = beam_search(
                module.model,
                module.source_ids(texts),
                config.target_length + 1,
                START_ID,
                END_ID,
                beam_width=config.beam_width,
                alpha=config.length_alpha,
            )
            return {"translations": module.write(tokens), "scores": scores}

        module.beam = beam
        signatures["beam"] = beam
    return module, signatures
