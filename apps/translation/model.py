"""Encoder-decoder models with attention over the project's LSTM/GRU cells. Logits out.

Dates (the course's model): characters -> Embedding(mask_zero) -> bidirectional RNN -> a
fixed number of decoder steps, each `BahdanauAttention` over the encoder states, then a
post-attention LSTM step and a softmax layer (logits here). Outputs are not fed back:
greedy decoding is the argmax of every step.

Text (`AttentionSeq2Seq`): teacher-forced decoder RNN over the previous target tokens,
started from the encoder's final states, then Luong's global attention on each decoder
output and the attentional layer tanh(W [context; h]) before the logits (Luong et al.,
2015, without input feeding). Decoding is then a loop of `decode_step`, which
`greedy_decode` runs as a tf.while_loop inside the graph. With `lexical=True`, Nguyen &
Chiang's (2018) lexical model adds its own logits: the attention-weighted sum of the source
embeddings, tanh, a residual feed-forward layer, a Dense to the vocabulary (a direct path
from a source word to its translation, which a small data set's encoder blurs).
"""

import keras
from keras import ops

from apps.translation.vocabulary import PAD_ID
from layers import BahdanauAttention, GRUCell, LSTMCell, LuongAttention

CELLS = {"lstm": LSTMCell, "gru": GRUCell}


def _cell(kind, units):
    if kind not in CELLS:
        raise ValueError(f"`cell` must be one of {sorted(CELLS)}, received: {kind!r}")
    return CELLS[kind](units)


def _bidirectional(kind, units, return_state=False):
    return keras.layers.Bidirectional(
        keras.layers.RNN(_cell(kind, units), return_sequences=True, return_state=return_state),
        name="encoder",
    )


@keras.saving.register_keras_serializable(package="classics")
class CourseDecoder(keras.layers.Layer):
    """The course's post-attention decoder: `steps` times attention + LSTM step + Dense.

    Call: values (batch, Tx, d) with their mask (Keras masking or `values_mask`) ->
    logits (batch, steps, vocabulary_size). `attention_weights` gives (batch, steps, Tx).
    """

    def __init__(self, steps, units, vocabulary_size, attention_units=10, score_activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.steps, self.units, self.vocabulary_size = steps, units, vocabulary_size
        self.attention_units, self.score_activation = attention_units, score_activation
        self.attention = BahdanauAttention(
            attention_units, score_activation=score_activation, name="attention"
        )
        self.cell = LSTMCell(units, name="post_attention_lstm")
        self.output_layer = keras.layers.Dense(vocabulary_size, name="logits")

    def build(self, values_shape):
        self.attention.build((values_shape[0], self.units), values_shape)
        self.cell.build((values_shape[0], values_shape[-1]))
        self.output_layer.build((values_shape[0], self.units))

    def _run(self, values, values_mask):
        batch = ops.shape(values)[0]
        state = [ops.zeros((batch, self.units), dtype=values.dtype) for _ in range(2)]  # s<0>, c<0>
        projected = self.attention.project_values(values)  # once, not per step
        logits, alphas = [], []
        for _ in range(self.steps):
            context, alpha = self.attention(
                state[0], values, values_mask=values_mask, projected_values=projected
            )
            output, state = self.cell(context, state)
            logits.append(self.output_layer(output))
            alphas.append(alpha)
        return ops.stack(logits, axis=1), ops.stack(alphas, axis=1)

    def call(self, values, values_mask=None):
        return self._run(values, values_mask)[0]

    def attention_weights(self, values, values_mask=None):
        return self._run(values, values_mask)[1]

    def compute_output_shape(self, values_shape):
        return (values_shape[0], self.steps, self.vocabulary_size)

    def compute_mask(self, values, previous_mask=None):
        return None  # the mask is consumed: the outputs are decoder steps, not source positions

    def get_config(self):
        return {
            **super().get_config(),
            "steps": self.steps,
            "units": self.units,
            "vocabulary_size": self.vocabulary_size,
            "attention_units": self.attention_units,
            "score_activation": self.score_activation,
        }


def build_date_model(
    source_vocabulary_size,
    target_vocabulary_size,
    source_length=30,
    target_length=10,
    embedding_dim=16,
    encoder_units=32,
    decoder_units=64,
    attention_units=10,
    cell="lstm",
):
    """The course's date translator (Tx=30, Ty=10, n_a=32, n_s=64): ids -> logits (batch, Ty, V)."""
    ids = keras.Input((source_length,), dtype="int32", name="source_ids")
    embedded = keras.layers.Embedding(
        source_vocabulary_size, embedding_dim, mask_zero=True, name="embedding"
    )(ids)
    encoded = _bidirectional(cell, encoder_units)(embedded)  # (batch, Tx, 2 n_a), mask kept
    logits = CourseDecoder(
        target_length, decoder_units, target_vocabulary_size, attention_units, name="decoder"
    )(encoded)
    return keras.Model(ids, logits, name="date_translator")


@keras.saving.register_keras_serializable(package="classics")
class AttentionSeq2Seq(keras.Model):
    """Bidirectional encoder, teacher-forced decoder with Luong attention. Logits out.

    Call: [source ids (batch, Tx), decoder input ids (batch, Ty)] (0 pads both; the decoder
    input is <s> + target) -> logits (batch, Ty, target_vocabulary_size).
    """

    def __init__(
        self,
        source_vocabulary_size,
        target_vocabulary_size,
        embedding_dim=64,
        units=128,
        cell="lstm",
        score="general",
        dropout=0.0,
        embedding_stddev=0.0,
        lexical=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 0 <= dropout < 1:
            raise ValueError(f"`dropout` must be in [0, 1), received: {dropout!r}")
        if not embedding_stddev >= 0:
            raise ValueError(f"`embedding_stddev` must be >= 0, received: {embedding_stddev!r}")
        self.source_vocabulary_size = source_vocabulary_size
        self.target_vocabulary_size = target_vocabulary_size
        self.embedding_dim, self.units, self.cell, self.score = embedding_dim, units, cell, score
        self.dropout, self.embedding_stddev, self.lexical = dropout, embedding_stddev, bool(lexical)
        # Keras's embeddings start at uniform(-0.05, 0.05): the LSTMs' inputs, and so their
        # outputs and the attentional vector, are then ~0.05 and Adam's steps of ~lr per weight
        # take hundreds of steps to grow them (the bible model sat at the unigram distribution,
        # "," everywhere, for 2 epochs). N(0, stddev) as PyTorch's nn.Embedding (stddev 1).
        initializer = (keras.initializers.RandomNormal(stddev=embedding_stddev) if embedding_stddev
                       else "uniform")
        # On both embeddings, the attentional vector and the lexical one before their logits (training only).
        self.dropouts = [keras.layers.Dropout(dropout, name=f"dropout_{w}")
                         for w in ("source", "target", "attentional", "lexical")]
        self.source_embedding = keras.layers.Embedding(
            source_vocabulary_size, embedding_dim, embeddings_initializer=initializer, name="source_embedding"
        )
        self.target_embedding = keras.layers.Embedding(
            target_vocabulary_size, embedding_dim, embeddings_initializer=initializer, name="target_embedding"
        )
        self.encoder = _bidirectional(cell, units // 2, return_state=True)
        self.decoder = keras.layers.RNN(_cell(cell, units), return_sequences=True, name="decoder")
        # One bridge per state tensor (h, and c for an LSTM): [forward; backward] -> decoder.
        self.bridges = [
            keras.layers.Dense(units, activation="tanh", name=f"bridge_{i}")
            for i in range(2 if cell == "lstm" else 1)
        ]
        self.attention = LuongAttention(score, name="attention")
        self.combine = keras.layers.Dense(units, activation="tanh", name="attentional")
        self.output_layer = keras.layers.Dense(target_vocabulary_size, name="logits")
        if self.lexical:  # h = tanh(sum_j alpha_tj f_j); h + tanh(W h) -> its own logits
            self.lexical_hidden = keras.layers.Dense(embedding_dim, activation="tanh", use_bias=False,
                                                     name="lexical_hidden")
            self.lexical_output = keras.layers.Dense(target_vocabulary_size, name="lexical_logits")

    def encode(self, source_ids, training=None):
        """-> memory (encoder states (batch, Tx, units), source embeddings (batch, Tx, E)),
        mask (batch, Tx), decoder initial states. The attention reads the encoder states, the
        lexical model (lexical=True) the embeddings."""
        mask = ops.not_equal(source_ids, PAD_ID)
        embedded = self.dropouts[0](self.source_embedding(source_ids), training=training)
        results = self.encoder(embedded, mask=mask)
        values, states = results[0], results[1:]
        half = len(states) // 2  # forward states, then backward states
        initial = [
            bridge(ops.concatenate([states[i], states[half + i]], axis=-1))
            for i, bridge in enumerate(self.bridges)
        ]
        return (values, embedded), mask, initial

    def _logits(self, decoder_outputs, memory, mask, training=None):
        """decoder outputs (batch, Ty, units) or one step's (batch, units) -> logits, attention."""
        values, embedded = memory
        context, weights = self.attention(decoder_outputs, values, values_mask=mask)
        attentional = self.combine(ops.concatenate([context, decoder_outputs], axis=-1))
        logits = self.output_layer(self.dropouts[2](attentional, training=training))
        if not self.lexical:
            return logits, weights
        step = len(weights.shape) == 2  # one decoder step: (batch, Tx)
        lexical = ops.tanh(ops.matmul(weights[:, None] if step else weights, embedded))  # (batch, Ty, E)
        lexical = lexical[:, 0] if step else lexical
        lexical = self.lexical_hidden(lexical) + lexical
        return logits + self.lexical_output(self.dropouts[3](lexical, training=training)), weights

    def call(self, inputs, training=None):
        source_ids, decoder_ids = inputs
        memory, mask, initial = self.encode(source_ids, training=training)
        embedded = self.dropouts[1](self.target_embedding(decoder_ids), training=training)
        outputs = self.decoder(embedded, initial_state=initial, mask=ops.not_equal(decoder_ids, PAD_ID))
        return self._logits(outputs, memory, mask, training=training)[0]

    def attention_weights(self, source_ids, decoder_ids):
        """The teacher-forced pass's attention (batch, Ty, Tx): row t is what step t attends
        to while reading decoder_ids[:, t] (the same weights step-by-step decoding uses)."""
        (values, _), mask, initial = self.encode(source_ids)
        outputs = self.decoder(
            self.target_embedding(decoder_ids), initial_state=initial, mask=ops.not_equal(decoder_ids, PAD_ID)
        )
        return self.attention(outputs, values, values_mask=mask)[1]

    def decode_step(self, tokens, states, memory, mask, return_attention=False):
        """One decoder step: tokens (batch,) -> logits (batch, V), new states (and the
        attention (batch, Tx)); `memory` and `mask` as `encode` returns them."""
        output, states = self.decoder.cell(self.target_embedding(tokens), states)
        logits, attention = self._logits(output, memory, mask)
        return (logits, states, attention) if return_attention else (logits, states)

    def get_config(self):
        return {
            **super().get_config(),
            "source_vocabulary_size": self.source_vocabulary_size,
            "target_vocabulary_size": self.target_vocabulary_size,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "cell": self.cell,
            "score": self.score,
            "dropout": self.dropout,
            "embedding_stddev": self.embedding_stddev,
            "lexical": self.lexical,
        }


@keras.saving.register_keras_serializable(package="classics")
class Seq2SeqEnsemble(keras.Model):
    """`AttentionSeq2Seq` members of the same vocabularies read as one model: at every step the
    log of the mean of their next-token probabilities (fairseq's ensemble), the mean of their
    attention. It has the members' interface (`encode`, `decode_step`, `attention_weights`),
    so greedy, beam and the export decode it unchanged; its "logits" are log-probabilities."""

    def __init__(self, members, **kwargs):
        super().__init__(**kwargs)
        members = [m if isinstance(m, keras.Model) else keras.saving.deserialize_keras_object(m)
                   for m in members]
        if len(members) < 2:
            raise ValueError(f"`members` must be 2 or more models, received: {len(members)}")
        sizes = {(m.source_vocabulary_size, m.target_vocabulary_size) for m in members}
        if len(sizes) != 1:
            raise ValueError(f"`members` must share their vocabulary sizes, received: {sorted(sizes)}")
        self.members = members
        self.source_vocabulary_size, self.target_vocabulary_size = sizes.pop()

    def _mean_log_probs(self, logits):
        stacked = ops.stack([ops.log_softmax(x, axis=-1) for x in logits])
        return ops.logsumexp(stacked, axis=0) - ops.log(float(len(logits)))

    def encode(self, source_ids, training=None):
        """-> (the members' memories), the mask, all members' decoder states in one list."""
        encoded = [m.encode(source_ids, training=training) for m in self.members]
        states = [s for _, _, member_states in encoded for s in member_states]
        return tuple(memory for memory, _, _ in encoded), encoded[0][1], states

    def _split(self, states):
        counts = [len(m.bridges) for m in self.members]  # 2 states per LSTM decoder, 1 per GRU
        starts = [sum(counts[:i]) for i in range(len(counts))]
        return [list(states[start:start + count]) for start, count in zip(starts, counts)]

    def decode_step(self, tokens, states, memory, mask, return_attention=False):
        steps = [m.decode_step(tokens, member_states, member_memory, mask, return_attention=True)
                 for m, member_states, member_memory in zip(self.members, self._split(states), memory)]
        log_probs = self._mean_log_probs([logits for logits, _, _ in steps])
        states = [s for _, member_states, _ in steps for s in member_states]
        if not return_attention:
            return log_probs, states
        return log_probs, states, ops.mean(ops.stack([a for _, _, a in steps]), axis=0)

    def attention_weights(self, source_ids, decoder_ids):
        return ops.mean(ops.stack([m.attention_weights(source_ids, decoder_ids) for m in self.members]), axis=0)

    def call(self, inputs, training=None):
        return self._mean_log_probs([m(inputs, training=training) for m in self.members])

    def get_config(self):
        return {**super().get_config(),
                "members": [keras.saving.serialize_keras_object(m) for m in self.members]}


def built(model, config):
    """A seq2seq model called once on a padded pair: fit's BackupAndRestore (resume) and saving
    need its weights to exist."""
    model([ops.zeros((1, config.source_length), "int32"), ops.zeros((1, config.target_length + 1), "int32")])
    return model


def build_model(config, source_vocabulary_size, target_vocabulary_size):
    """The model `config.model` names, sized by the config and the two vocabularies."""
    if config.model == "course":
        return build_date_model(
            source_vocabulary_size,
            target_vocabulary_size,
            source_length=config.source_length,
            target_length=config.target_length,
            embedding_dim=config.embedding_dim,
            encoder_units=config.encoder_units,
            decoder_units=config.decoder_units,
            attention_units=config.attention_units,
            cell=config.cell,
        )
    if config.model == "seq2seq":
        model = AttentionSeq2Seq(
            source_vocabulary_size,
            target_vocabulary_size,
            embedding_dim=config.embedding_dim,
            units=config.decoder_units,
            cell=config.cell,
            score=config.score,
            dropout=config.dropout,
            embedding_stddev=config.embedding_stddev,
            lexical=config.lexical,
        )
        return built(model, config)
    raise ValueError(f"`model` must be 'course' or 'seq2seq', received: {config.model!r}")
