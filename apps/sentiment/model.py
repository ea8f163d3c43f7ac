"""Raw strings -> logits: TextVectorization, then a many-to-one RNN (or the average of embeddings).

    text (batch,) string
      -> "vectorize": TextVectorization (vocabulary inside the model, post-padded with id 0)
      -> "classifier" sub-model on ids (batch, time):
           Embedding(mask_zero=True) -> SpatialDropout1D [-> concatenated with the fixed
           lexicon features of each word (Embedding, not trainable; apps/sentiment/lexicon.py)]
           -> [Bidirectional](RNN(layers.GRUCell | layers.LSTMCell)) x rnn_layers
           -> pooling over the unmasked steps ("last" state, or max and mean)
           -> Dropout -> Dense: 1 logit (two classes) or one per class

Masking is correct by construction: the embedding's mask (id 0 = padding) reaches every
recurrent layer, which carries its state unchanged through padded steps (forwards and, for
the backward direction, reversed), and the pooling ignores them. So post-padding, which an
LSTM without a mask has to remember through (keras-io#2044), cannot change a prediction.
"""

import collections

import keras

import layers
from apps.common.errors import ConfigError
from apps.sentiment import lexicon

MODELS = ("rnn", "average")
CELLS = {"gru": layers.GRUCell, "lstm": layers.LSTMCell}
POOLINGS = ("last", "max_mean")
STANDARDIZE = ("letters", "lower")


@keras.saving.register_keras_serializable(package="classics_sentiment")
def letters_standardize(texts):
    """Lowercase and keep runs of letters (digits and punctuation become spaces): the tokens of
    our word2vec (apps/embeddings), so pretrained vectors line up with the vocabulary.
    Invalid UTF-8 is replaced (U+FFFD, not a letter) rather than failing in the graph."""
    import tensorflow as tf

    texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace")
    texts = tf.strings.lower(texts, encoding="utf-8")
    return tf.strings.regex_replace(texts, r"[^\pL]+", " ")


@keras.saving.register_keras_serializable(package="classics_sentiment")
def lower_standardize(texts):
    """Lowercase only; tokens are the whitespace-separated words with their punctuation."""
    import tensorflow as tf

    texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace")
    return tf.strings.lower(texts, encoding="utf-8")


def standardizer(name):
    if name == "letters":
        return letters_standardize
    if name == "lower":
        return lower_standardize
    raise ConfigError(f"standardize: expected one of {', '.join(STANDARDIZE)}, got {name!r}")


@keras.saving.register_keras_serializable(package="classics_sentiment")
class MaskedPooling(keras.layers.Layer):
    """Pool (batch, time, features) over the time steps the mask keeps.

    Args:
        mode: "mean" -> (batch, features); "max" -> (batch, features); "max_mean" -> the two
            concatenated, (batch, 2 * features). A sequence with no unmasked step pools to zeros.
    """

    MODES = ("mean", "max", "max_mean")

    def __init__(self, mode="max_mean", **kwargs):
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise ValueError(f"`mode` must be one of {self.MODES}, received: {mode!r}")
        self.mode = mode
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            mask = keras.ops.ones(keras.ops.shape(inputs)[:2], dtype="bool")
        keep = keras.ops.cast(mask, inputs.dtype)[:, :, None]  # (batch, time, 1)
        count = keras.ops.sum(keep, axis=1)  # (batch, 1)
        parts = []
        if self.mode in ("max", "max_mean"):
            lowest = keras.ops.cast(-3.0e38, inputs.dtype)
            peak = keras.ops.max(keras.ops.where(keep > 0, inputs, lowest), axis=1)
            parts.append(keras.ops.where(count > 0, peak, keras.ops.zeros_like(peak)))
        if self.mode in ("mean", "max_mean"):
            parts.append(keras.ops.sum(inputs * keep, axis=1) / keras.ops.maximum(count, 1.0))
        return parts[0] if len(parts) == 1 else keras.ops.concatenate(parts, axis=-1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        features = input_shape[-1]
        if self.mode == "max_mean" and features is not None:
            features = 2 * features
        return (input_shape[0], features)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def _regularizer(config):
    return keras.regularizers.L2(config.weight_decay) if config.weight_decay > 0 else None


def _recurrent(config, index, return_sequences):
    cell = CELLS[config.cell](
        config.units, dropout=config.rnn_dropout, recurrent_dropout=config.recurrent_dropout,
        kernel_regularizer=_regularizer(config), seed=config.seed + index,
        name=f"{config.cell}_cell{index + 1}",
    )
    rnn = keras.layers.RNN(cell, return_sequences=return_sequences, name=f"rnn{index + 1}")
    if config.bidirectional:
        return keras.layers.Bidirectional(rnn, name=f"bi_rnn{index + 1}")
    return rnn


def build_classifier(config, num_classes: int, vocabulary_size: int) -> keras.Model:
    """Token ids (batch, time), 0 = padding anywhere -> logits (batch, 1 | num_classes)."""
    ids = keras.Input((None,), dtype="int64", name="token_ids")
    x = keras.layers.Embedding(
        vocabulary_size, config.embedding_dim, mask_zero=True,
        trainable=not config.freeze_embeddings, name="embedding",
    )(ids)  # (batch, time, embedding_dim), mask (batch, time)
    if config.embedding_dropout > 0:
        x = keras.layers.SpatialDropout1D(
            config.embedding_dropout, seed=config.seed, name="embedding_dropout")(x)
    lexicon_width = lexicon.width(config)
    if lexicon_width:  # fixed per-word lexicon features beside the embedding (apps/sentiment/lexicon.py)
        features = keras.layers.Embedding(
            vocabulary_size, lexicon_width, embeddings_initializer="zeros", trainable=False,
            name="lexicon")(ids)
        x = keras.layers.Concatenate(name="with_lexicon")([x, features])
    if config.model == "average":
        x = MaskedPooling("mean", name="average")(x)  # the course's average-of-embeddings model
    else:
        for i in range(config.rnn_layers):
            last = i == config.rnn_layers - 1
            x = _recurrent(config, i, return_sequences=not last or config.pooling != "last")(x)
        if config.pooling == "max_mean":
            x = MaskedPooling("max_mean", name="pool")(x)  # (batch, 2 * directions * units)
    if config.dropout > 0:
        x = keras.layers.Dropout(config.dropout, seed=config.seed + 100, name="dropout")(x)
    logits = keras.layers.Dense(
        1 if num_classes == 2 else num_classes, kernel_regularizer=_regularizer(config), name="logits")(x)
    return keras.Model(ids, logits, name="classifier")


def build_model(config, num_classes: int, vocabulary, embedding_matrix=None) -> keras.Model:
    """Raw strings (batch,) -> logits. `vocabulary`: the words after padding and [UNK]."""
    if num_classes < 2:
        raise ConfigError(f"need at least 2 classes, got {num_classes}")
    vectorize = keras.layers.TextVectorization(
        standardize=standardizer(config.standardize),
        vocabulary=list(vocabulary),
        output_sequence_length=config.sequence_length,
        name="vectorize",
    )
    text = keras.Input((), dtype="string", name="text")
    classifier = build_classifier(config, num_classes, vectorize.vocabulary_size())
    model = keras.Model(text, classifier(vectorize(text)), name=f"sentiment_{config.model}")
    if embedding_matrix is not None:
        classifier.get_layer("embedding").set_weights([embedding_matrix])
    return model


def ragged_vectorizer(config, vocabulary):
    """Strings (N,) -> ragged token ids (N, None): the model's tokens and ids, not truncated."""
    return keras.layers.TextVectorization(standardize=standardizer(config.standardize), vocabulary=list(vocabulary),
                                          ragged=True)


def build_vocabulary(texts, config) -> list:
    """The `max_tokens - 2` most frequent tokens of `texts` seen at least `min_token_count`
    times (ties by first appearance), tokenised exactly as the model's TextVectorization."""

    import tensorflow as tf

    counts = collections.Counter()
    standardize = standardizer(config.standardize)
    for start in range(0, len(texts), 4096):
        batch = tf.constant([str(t) for t in texts[start:start + 4096]])
        for row in tf.strings.split(standardize(batch)).to_list():
            counts.update(row)
    words = [w.decode("utf-8") for w, c in counts.most_common() if c >= config.min_token_count]
    words = [w for w in words if w not in ("", "[UNK]")]
    return words[:config.max_tokens - 2]


def extend_vocabulary(vocabulary, candidates, max_tokens: int, log=None) -> list:
    """`vocabulary` followed by the `candidates` it lacks (in their order; "" and [UNK]
    skipped) up to `max_tokens - 2` words. Candidates: the word vectors' words, then the
    lexicons' (`commands.train`)."""
    known, extended = set(vocabulary), list(vocabulary)
    for word in candidates:
        if len(extended) >= max_tokens - 2:
            break
        if word not in known and word not in ("", "[UNK]"):
            known.add(word)
            extended.append(word)
    if log:
        print(f"vocabulary: {len(vocabulary)} training words + {len(extended) - len(vocabulary)} "
              f"from the word vectors and lexicons", file=log)
    return extended


def vectorizer(model):
    return model.get_layer("vectorize")


def classifier(model):
    return model.get_layer("classifier")


@keras.saving.register_keras_serializable(package="classics_sentiment")
class MeanProbabilityLogits(keras.layers.Layer):
    """Members' logits -> logits of the mean of their probabilities (an ensemble that still
    returns logits).

    Call on a list of N tensors (batch, 1) (binary: sigmoid) or (batch, K) (softmax). Binary:
    log(p / (1 - p)) of the mean p; K classes: log of the mean probabilities (softmax gives
    them back, as they sum to 1). Probabilities are clipped to [eps, 1 - eps] first.
    """

    def __init__(self, epsilon=1e-7, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, inputs):
        ops = keras.ops
        if inputs[0].shape[-1] == 1:
            p = ops.mean(ops.stack([ops.sigmoid(x) for x in inputs], axis=0), axis=0)
            p = ops.clip(p, self.epsilon, 1.0 - self.epsilon)
            return ops.log(p) - ops.log1p(-p)
        p = ops.mean(ops.stack([ops.softmax(x, axis=-1) for x in inputs], axis=0), axis=0)
        return ops.log(ops.clip(p, self.epsilon, 1.0))

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def build_ensemble(members) -> keras.Model:
    """One model of strings -> logits from trained members sharing one vocabulary: the first
    member's TextVectorization feeds every member's classifier; the output's probabilities
    are the mean of the members' probabilities."""
    vocabularies = [vectorizer(m).get_vocabulary() for m in members]
    if any(v != vocabularies[0] for v in vocabularies[1:]):
        raise ConfigError("ensemble: the members' vocabularies differ")
    text = keras.Input((), dtype="string", name="text")
    ids = vectorizer(members[0])(text)
    outputs = []
    for i, member in enumerate(members, start=1):
        net = classifier(member)
        net.name = f"classifier{i}"  # unique names inside one model
        outputs.append(net(ids))
    logits = MeanProbabilityLogits(name="mean_probability")(outputs)
    return keras.Model(text, logits, name=f"{members[0].name}_ensemble{len(members)}")


def member_classifiers(model) -> list:
    """The classifier sub-models of a single model ([classifier]) or of an ensemble."""
    if any(layer.name == "classifier" for layer in model.layers):
        return [classifier(model)]
    return [layer for layer in model.layers if layer.name.startswith("classifier")]
