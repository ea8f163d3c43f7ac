"""Decoding `AttentionSeq2Seq` in the graph: greedy (a tf.while_loop), strings in and out."""

import tensorflow as tf

from apps.translation.vocabulary import PAD_ID, UNKNOWN_ID


def greedy_decode(model, source_ids, max_length, start_id, end_id):
    """Token ids (batch, <= max_length), each row the argmax path up to and including
    `end_id`, then PAD_ID. Stops early once every row has ended. Runs inside a tf.function."""
    values, mask, states = model.encode(source_ids)
    batch = tf.shape(source_ids)[0]
    tokens = tf.fill([batch], tf.constant(start_id, tf.int32))
    finished = tf.zeros([batch], tf.bool)
    outputs = tf.TensorArray(tf.int32, size=0, dynamic_size=True)

    def step(t, tokens, states, finished, outputs):
        logits, states = model.decode_step(tokens, states, values, mask)
        tokens = tf.argmax(logits, axis=-1, output_type=tf.int32)
        tokens = tf.where(finished, PAD_ID, tokens)  # ended rows emit padding
        finished = finished | tf.equal(tokens, end_id)
        return t + 1, tokens, states, finished, outputs.write(t, tokens)

    def not_done(t, tokens, states, finished, outputs):
        return tf.logical_and(t < max_length, tf.logical_not(tf.reduce_all(finished)))

    _, _, _, _, outputs = tf.while_loop(
        not_done, step, (tf.constant(0), tokens, states, finished, outputs), maximum_iterations=max_length
    )
    return tf.transpose(outputs.stack())  # (batch, steps)


class StringTranslator(tf.Module):
    """Strings (batch,) -> translated strings (batch,), greedy, all in one graph.

    source_tokens / target_tokens: the character of each id (vocabulary.tokens); ids 0 and
    1 are PAD and UNKNOWN. Unknown source characters map to UNKNOWN_ID; longer inputs are
    cut to `source_length` characters; special tokens (ids <= 1, start, end) write nothing.
    A tf.Module, so that the model and the lookup table are tracked when saved.
    """

    def __init__(self, model, source_tokens, target_tokens, source_length, max_length, start_id, end_id):
        super().__init__()
        self.model = model
        self.source_length, self.max_length = source_length, max_length
        self.start_id, self.end_id = start_id, end_id
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(source_tokens[UNKNOWN_ID + 1 :])),
                tf.range(UNKNOWN_ID + 1, len(source_tokens), dtype=tf.int32),
            ),
            default_value=UNKNOWN_ID,
        )
        silent = {PAD_ID, UNKNOWN_ID, start_id, end_id}
        self.characters = tf.constant([("" if i in silent else t) for i, t in enumerate(target_tokens)])
        self.translate = tf.function(self._translate, input_signature=[tf.TensorSpec([None], tf.string)])

    def _translate(self, texts):
        chars = tf.strings.unicode_split(texts, "UTF-8")[:, : self.source_length]  # ragged (batch, <= Tx)
        ids = self.table.lookup(chars).to_tensor(default_value=PAD_ID, shape=[None, self.source_length])
        out = greedy_decode(self.model, ids, self.max_length, self.start_id, self.end_id)
        return tf.strings.reduce_join(tf.gather(self.characters, out), axis=-1)
