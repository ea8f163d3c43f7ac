"""A character-level language model: embedding -> stacked RNN over our cells -> logits.

    ids (batch, time) -> Embedding (batch, time, embedding_dim) -> RNN(cell) x rnn_layers
    (batch, time, units) -> Dropout -> Dense (batch, time, vocabulary) logits

With `bar_positions` > 0 (ABC tunes) the bar lines so far (apps/generate/bar_count.py) are
embedded too, "bar_embedding" (batch, time, embedding_dim), and added to the characters'.
Layer names are fixed ("embedding", "bar_count", "bar_embedding", "rnn_0", ..., "logits") because the sampler
(apps/generate/sampling.py) runs the same layers one character at a time.
"""

from __future__ import annotations

import layers
from apps.common.errors import ConfigError
from apps.common.optimizers import learning_rate_schedule
from apps.generate.bar_count import BarCount

CELLS = ("lstm", "gru")


def make_cell(config, seed_offset: int = 0):
    cls = {"lstm": layers.LSTMCell, "gru": layers.GRUCell}.get(config.cell)
    if cls is None:
        raise ConfigError(f"cell: expected one of {', '.join(CELLS)}, got {config.cell!r}")
    return cls(config.units, dropout=config.dropout, recurrent_dropout=config.recurrent_dropout,
               seed=config.seed + seed_offset)


def build_model(config, vocabulary_size: int, bar_id: int = -1):
    """The language model, logits out (softmax belongs to sampling and serving). `bar_id`: the
    id of "|", needed when config.bar_positions > 0."""
    import keras

    if config.rnn_layers < 1:
        raise ConfigError(f"rnn_layers: expected >= 1, got {config.rnn_layers}")
    if config.bar_positions and bar_id < 0:
        raise ConfigError(f"bar_positions={config.bar_positions}: the data has no bar line '|' to count "
                          f"(data {config.data!r}); use bar_positions=0")
    ids = keras.Input((None,), dtype="int32", name="ids")
    # mask_zero: padding (id 0) is masked through the RNNs, so a padded step keeps the state.
    x = keras.layers.Embedding(vocabulary_size, config.embedding_dim, mask_zero=True,
                               name="embedding")(ids)
    if config.bar_positions:
        bars = BarCount(bar_id, config.bar_positions, name="bar_count")(ids)  # (batch, time)
        # 0 is padding (masked, as the characters'; Add keeps a mask only when both carry it)
        where = keras.layers.Embedding(config.bar_positions + 2, config.embedding_dim, mask_zero=True,
                                       name="bar_embedding")(bars)
        x = keras.layers.Add(name="with_bars")([x, where])  # as transformers add position embeddings
    for i in range(config.rnn_layers):
        x = keras.layers.RNN(make_cell(config, i), return_sequences=True, name=f"rnn_{i}")(x)
    x = keras.layers.Dropout(config.dropout, seed=config.seed, name="dropout")(x)
    logits = keras.layers.Dense(vocabulary_size, name="logits")(x)
    return keras.Model(ids, logits, name="char_lm")


def compile_model(model, config, steps_per_epoch: int):
    """Adam with the course's gradient clipping (clipvalue or clipnorm, 0 = off); the loss is the
    mean cross-entropy over real characters (nats; the dataset's weights zero the padding)."""
    import keras

    optimizer = keras.optimizers.Adam(
        learning_rate_schedule(config, steps_per_epoch), beta_1=config.beta_1,
        clipnorm=config.clipnorm or None, clipvalue=config.clipvalue or None)
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  weighted_metrics=[])
    return model
