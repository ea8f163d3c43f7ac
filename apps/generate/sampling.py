"""Sampling in the graph: prefix, temperature, top_k, max_length, seed -> text.

The trained model's own layers run one character at a time inside a `tf.while_loop` that
carries every RNN layer's state: the prefix is fed (after the EOS that starts every item), then
each sampled character is fed back until EOS or `max_length` characters. A draw is
`tf.random.stateless_categorical` seeded with (seed, step), so one seed gives one sample.
Padding and UNK are never emitted. A model that reads bar positions (config.bar_positions)
gets each step's bar-line count carried beside its states, as its BarCount layer computes it.
Temperature 0 is argmax decoding; top_k > 0 keeps the k largest logits (ties at the k-th may
keep a few more).
"""

from __future__ import annotations

import numpy as np

from apps.generate.bar_count import bar_counts
from apps.generate.data import EOS, FIRST_CHAR, PAD, UNK


def _rnn_cells(model):
    cells, i = [], 0
    while any(layer.name == f"rnn_{i}" for layer in model.layers):
        cells.append(model.get_layer(f"rnn_{i}").cell)
        i += 1
    return cells


def next_token(logits, temperature, top_k, seed, step):
    """Next ids (batch,) int32 from logits (batch, vocabulary): argmax when temperature <= 0,
    else a draw from softmax(logits / temperature) over the top_k largest logits (top_k <= 0:
    all), seeded by (seed, step) (`tf.random.stateless_categorical`), so one seed and step
    give one draw. Each row of a batch draws independently."""
    import tensorflow as tf

    logits = tf.convert_to_tensor(logits, tf.float32)
    temperature = tf.convert_to_tensor(temperature, tf.float32)
    k = tf.minimum(tf.convert_to_tensor(top_k, tf.int32), tf.shape(logits)[-1])
    kth = tf.math.top_k(logits, tf.maximum(k, 1)).values[:, -1:]  # (batch, 1)
    logits = tf.where((k > 0) & (logits < kth), tf.constant(-1e9), logits)
    greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)
    drawn = tf.random.stateless_categorical(
        logits / tf.maximum(temperature, 1e-6), 1,
        seed=tf.stack([tf.cast(seed, tf.int64), tf.cast(step, tf.int64)]), dtype=tf.int32)[:, 0]
    return tf.cond(temperature > 0.0, lambda: drawn, lambda: greedy)


def _bar_layers(model):
    """(BarCount layer, bar embedding layer) of a model that reads bar positions, else (None, None)."""
    names = {layer.name for layer in model.layers}
    if "bar_count" not in names:
        return None, None
    return model.get_layer("bar_count"), model.get_layer("bar_embedding")


def make_sampler(model, vocabulary, min_bars: int = 0):
    """A tf.Module whose `sample(prefix, temperature, top_k, max_length, seed)` returns
    {"text": prefix + continuation, "ended": whether EOS ended it}. With token vocabularies
    (a separator), the prefix is tokens joined by it and so is the text.

    min_bars > 0 (ABC tunes): the end (EOS) is withheld until the text holds that many bar
    lines (a "|" not right after another "|"; prefix included), so a tune is not cut short;
    the other symbols keep their model odds. A vocabulary without "|" ignores it."""
    import tensorflow as tf

    embedding, dense = model.get_layer("embedding"), model.get_layer("logits")
    counter, bar_embedding = _bar_layers(model)
    cells = _rnn_cells(model)
    size = vocabulary.size
    banned = tf.constant([i in (PAD, UNK) for i in range(size)])  # (vocabulary,)
    id_to_char = tf.constant(["", "", ""] + list(vocabulary.chars))
    bar = FIRST_CHAR + vocabulary.chars.index("|") if "|" in vocabulary.chars and min_bars > 0 else -1
    is_eos = tf.constant([i == EOS for i in range(size)])  # (vocabulary,)

    def bar_lines(ids, before):
        """Bar lines among ids (n,) given the id before them."""
        previous = tf.concat([[before], ids[:-1]], axis=0)
        return tf.reduce_sum(tf.cast(tf.equal(ids, bar) & tf.not_equal(previous, bar), tf.int32))

    def step(token, position, states):
        """One character: token (1,) int32, position (1,) int32 (1 + bar lines so far, this token
        included: BarCount; unused without bar positions), states a flat tuple -> logits (1, vocab), states."""
        x = tf.gather(embedding.embeddings, token)  # (1, embedding_dim); no mask to carry
        if counter is not None:
            x = x + tf.gather(bar_embedding.embeddings, position)
        new_states, at = [], 0
        for cell in cells:
            n = len(cell.state_size) if isinstance(cell.state_size, (list, tuple)) else 1
            x, cell_states = cell(x, list(states[at:at + n]), training=False)
            new_states += list(cell_states)
            at += n
        logits = tf.cast(dense(x), tf.float32)  # (1, vocabulary)
        return tf.where(banned[None, :], tf.constant(-1e9), logits), tuple(new_states)

    def initial_states():
        states = []
        for cell in cells:
            sizes = cell.state_size if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]
            states += [tf.zeros((1, s)) for s in sizes]
        return tuple(states)

    class Sampler(tf.Module):
        def __init__(self):
            super().__init__(name="sampler")
            self.model = model  # tracked: the weights travel with the module
            # Every state the traced steps touch, the dropout cells' seed-generator states
            # included (Keras does not hand those to tf.Module's tracking).
            self.states = [v.value for v in model.variables]
            self.table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(list(vocabulary.chars), tf.string),
                    tf.range(FIRST_CHAR, size, dtype=tf.int32)), default_value=UNK)

        @tf.function(input_signature=[
            tf.TensorSpec((), tf.string, name="prefix"),
            tf.TensorSpec((), tf.float32, name="temperature"),
            tf.TensorSpec((), tf.int32, name="top_k"),
            tf.TensorSpec((), tf.int32, name="max_length"),
            tf.TensorSpec((), tf.int64, name="seed"),
        ])
        def sample(self, prefix, temperature, top_k, max_length, seed):
            if vocabulary.separator:  # tokens: the prefix's pieces between separators
                pieces = tf.strings.split(prefix, sep=vocabulary.separator)
                pieces = tf.boolean_mask(pieces, tf.strings.length(pieces) > 0)
            else:
                pieces = tf.strings.unicode_split(prefix, "UTF-8")
            prefix_ids = self.table.lookup(pieces)
            inputs = tf.concat([[EOS], prefix_ids], axis=0)  # (1 + prefix length,)
            # (1 + prefix length,) 1 + the bar lines up to each input
            positions = counter(inputs[None])[0] if counter is not None else tf.zeros_like(inputs)

            def feed(i, logits, states):
                logits, states = step(inputs[i][None], positions[i][None], states)
                return i + 1, logits, states

            _, logits, states = tf.while_loop(
                lambda i, *_: i < tf.shape(inputs)[0], feed,
                (tf.constant(0), tf.zeros((1, size)), initial_states()))

            def generate(t, logits, states, out, ended, bars, last, position):
                early = bars < min_bars  # without a bar symbol, bars starts at min_bars: never early
                logits = tf.where(is_eos[None, :] & early, tf.constant(-1e9), logits)
                token = next_token(logits, temperature, top_k, seed, t)[0]
                ended = tf.equal(token, EOS)
                out = tf.cond(ended, lambda: out, lambda: out.write(out.size(), token))
                bars += tf.cast(tf.equal(token, bar) & tf.not_equal(last, bar), tf.int32)
                if counter is not None:  # as BarCount: 1 + the bar lines ("|" not after "|"), clipped
                    new_line = tf.equal(token, counter.bar_id) & tf.not_equal(last, counter.bar_id)
                    position = tf.minimum(position + tf.cast(new_line, tf.int32), counter.limit + 1)
                logits, states = step(token[None], position[None], states)
                return t + 1, logits, states, out, ended, bars, token, position

            start_bars = bar_lines(prefix_ids, EOS) if bar >= 0 else tf.constant(min_bars)
            _, _, _, out, ended, _, _, _ = tf.while_loop(
                lambda t, logits, states, out, ended, *_: (t < max_length) & ~ended, generate,
                (tf.constant(0), logits, states, tf.TensorArray(tf.int32, 0, dynamic_size=True),
                 tf.constant(False), start_bars, inputs[-1], positions[-1]))
            symbols = tf.concat([pieces, tf.gather(id_to_char, out.stack())], axis=0)
            text = tf.strings.reduce_join(symbols, separator=vocabulary.separator)
            return {"text": text, "ended": ended}

    return Sampler()


def greedy_reference(model, vocabulary, prefix: str, max_length: int) -> str:
    """Argmax decoding one eager step at a time in Python (the test oracle of `sample` at
    temperature 0): the same cells, states carried in a Python loop."""

    embedding, dense = model.get_layer("embedding"), model.get_layer("logits")
    counter, bar_embedding = _bar_layers(model)
    cells = _rnn_cells(model)
    states = [[np.zeros((1, s), "float32") for s in (
        c.state_size if isinstance(c.state_size, (list, tuple)) else [c.state_size])] for c in cells]
    seen = []  # the ids fed so far: their bar lines by the NumPy reference (bar_count.bar_counts)

    def logits_after(token):
        seen.append(token)
        x = np.array(embedding.embeddings)[[token]]  # (1, embedding_dim)
        if counter is not None:
            position = bar_counts(np.array([seen]), counter.bar_id, counter.limit)[0, -1]
            x = x + np.array(bar_embedding.embeddings)[[position]]
        for i, cell in enumerate(cells):
            x, new = cell(x, states[i], training=False)
            states[i] = list(new)
        logits = np.array(dense(x))[0]
        logits[[PAD, UNK]] = -np.inf
        return logits

    logits = None
    for token in [EOS] + vocabulary.encode(prefix):
        logits = logits_after(token)
    out = []
    while len(out) < max_length:
        token = int(np.argmax(logits))
        if token == EOS:
            break
        out.append(token)
        logits = logits_after(token)
    return vocabulary.separator.join(vocabulary.split(prefix) + vocabulary.symbols(out))
