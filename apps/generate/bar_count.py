"""Where a tune is: the bar lines written so far, as a model input beside each character.

A character LSTM sampling ABC at temperature 1 ends some tunes after 3-7 bars (22 of 200 of
the oneills-notes model; O'Neill's own tunes: 1 of 1,468 training tunes under 8 bars) -- it has
to count bars in its state, and the end symbol's small odds at each bar line add up. With
`bar_positions` > 0 the model also reads, at each step, how many bar lines the text holds up to
and including the current symbol (clipped at `bar_positions`), embedded and added to the
character's embedding, as music models give bar positions (REMI's Bar tokens, bar position encodings).
The count is a function of the text alone, so training, scoring and sampling compute it alike
and sampling stays plain: every symbol, the end free.

A bar line is a "|" not right after another "|" (as `min_bars` counts them): "||", "|]", ":|",
"|:" are one each; the first input (EOS) counts none.
"""

from __future__ import annotations

import keras
import numpy as np


def bar_counts(ids, bar_id: int, limit: int) -> np.ndarray:
    """The NumPy reference: ids (batch, time) -> (batch, time) int32, 1 + the bar lines in
    ids[:, :t+1] clipped at `limit` (1..limit + 1), and 0 on padding (id 0), so the bar
    embedding masks padding as the characters' does (mask_zero)."""
    ids = np.asarray(ids)
    previous = np.concatenate([np.full_like(ids[:, :1], -1), ids[:, :-1]], axis=1)
    lines = (ids == bar_id) & (previous != bar_id)
    return np.where(ids != 0, 1 + np.minimum(np.cumsum(lines, axis=1), limit), 0).astype("int32")


@keras.saving.register_keras_serializable(package="classics")
class BarCount(keras.layers.Layer):
    """ids (batch, time) int -> (batch, time) int32: 1 + the bar lines up to and including each
    step, clipped at `limit`; 0 on padding (`bar_counts`)."""

    def __init__(self, bar_id: int, limit: int, **kwargs):
        super().__init__(**kwargs)
        if int(bar_id) < 0:
            raise ValueError(f"bar_id={bar_id}: expected the id of '|' (>= 0)")
        if int(limit) < 1:
            raise ValueError(f"limit={limit}: expected >= 1")
        self.bar_id, self.limit = int(bar_id), int(limit)

    def call(self, ids):
        from keras import ops

        ids = ops.cast(ids, "int32")
        previous = ops.pad(ids[:, :-1], [[0, 0], [1, 0]], constant_values=-1)
        lines = ops.cast(ops.logical_and(ops.equal(ids, self.bar_id), ops.not_equal(previous, self.bar_id)),
                         "int32")
        counts = 1 + ops.minimum(ops.cumsum(lines, axis=1), self.limit)
        return ops.where(ops.not_equal(ids, 0), counts, ops.zeros_like(counts))

    def compute_mask(self, ids, mask=None):
        return None  # the bar embedding (mask_zero) makes the padding mask again

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "bar_id": self.bar_id, "limit": self.limit}
