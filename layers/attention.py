"""Attention for encoder-decoder models: the course's concat score and Luong's dot score.

One attention step, for the decoder state s<t-1> (the query) over the encoder states
a<1..Tx> (the values):

    e<t,t'>     = score(s<t-1>, a<t'>)                 one scalar per source position t'
    alpha<t,t'> = exp(e<t,t'>) / sum_t'' exp(e<t,t''>)  softmax over the Tx positions
    context<t>  = sum_t' alpha<t,t'> a<t'>

Padded source positions (mask False) get alpha exactly 0, the others share the mass; a
row with no real position at all gets all-zero weights and a zero context.

Both layers take the query as `(batch, query_dim)` (one decoder step, as in the course's
loop) or `(batch, Ty, query_dim)` (all steps of a teacher-forced decoder at once), the
values as `(batch, Tx, value_dim)`, and return `(context, alphas)`:

    query (batch, q)      -> context (batch, value_dim),     alphas (batch, Tx)
    query (batch, Ty, q)  -> context (batch, Ty, value_dim), alphas (batch, Ty, Tx)

The mask comes from Keras masking (values produced by `Embedding(mask_zero=True)` /
`Masking` / a masked RNN carry it) or explicitly as `values_mask`, `(batch, Tx)`.
"""

import keras
from keras import ops

from layers.gru_cell import check_input_dim
from layers.residual_block import _check_choice, _check_positive_int, _get


def masked_softmax(scores, values_mask=None):
    """Softmax over the last axis of `scores` (batch, Ty, Tx) with masked positions at 0.

    values_mask: None or (batch, Tx), True/nonzero for real positions.
    """
    if values_mask is None:
        return ops.softmax(scores, axis=-1)
    keep = ops.expand_dims(ops.cast(values_mask, "bool"), 1)  # (batch, 1, Tx)
    # A large finite negative, as keras.layers.Attention: -inf would give NaN gradients
    # (and NaN weights for a fully masked row); -1e9 overflows float16.
    very_negative = -65504.0 if keras.backend.standardize_dtype(scores.dtype) == "float16" else -1e9
    alphas = ops.softmax(ops.where(keep, scores, very_negative), axis=-1)
    # exp(-1e9 - max) is already exactly 0; the product also zeroes fully masked rows.
    return alphas * ops.cast(keep, alphas.dtype)


def _as_steps(query):
    """(batch, q) -> (batch, 1, q); (batch, Ty, q) unchanged."""
    return ops.expand_dims(query, 1) if len(query.shape) == 2 else query


def _attend(query, values, scores, values_mask):
    """alphas from scores (batch, Ty, Tx), context = alphas @ values; a 2-D query drops Ty."""
    alphas = masked_softmax(scores, values_mask)
    context = ops.matmul(alphas, values)  # (batch, Ty, value_dim)
    if len(query.shape) == 2:
        return context[:, 0], alphas[:, 0]
    return context, alphas


def _output_shape(query_shape, values_shape):
    steps = tuple(query_shape[1:-1])  # () or (Ty,)
    batch = query_shape[0]
    return (batch, *steps, values_shape[-1]), (batch, *steps, values_shape[1])


def _output_mask(query, query_mask):
    """All decoder steps: each output step keeps its query step's mask. One step: none."""
    if query_mask is None or len(query.shape) == 2:
        return None
    return query_mask, query_mask


def _check_ranks(layer, query_shape, values_shape):
    if len(query_shape) not in (2, 3) or len(values_shape) != 3:
        raise ValueError(
            f"{type(layer).__name__} needs a query (batch, q) or (batch, Ty, q) and values "
            f"(batch, Tx, d), received shapes {tuple(query_shape)} and {tuple(values_shape)}"
        )


@keras.saving.register_keras_serializable(package="classics")
class BahdanauAttention(keras.layers.Layer):
    """The course's attention step (Bahdanau et al., 2015, "concat" score).

    The course repeats s<t-1> Tx times, concatenates it with each a<t'> and scores the pair
    with a small network, `Dense(units, tanh)` then `Dense(1, score_activation)`:

        e<t,t'> = g(v . tanh(W [s<t-1>, a<t'>] + b) + c)

    The weights are exactly those two Dense layers' (so the course's trained weights copy
    over), but W [s, a] is computed as W_s s + W_a a without building the repeated
    (batch, Ty, Tx, q + d) concatenation: the same numbers, a smaller graph.

        kernel        (query_dim + value_dim, units)  rows [W_s; W_a]
        bias          (units,)
        score_kernel  (units, 1)                       v
        score_bias    (1,)   only when `score_activation` is not linear: softmax ignores a
                             constant added to every score, so a linear score's bias would
                             never receive a gradient.

    Args:
        units: Width of the tanh layer (the course: 10).
        score_activation: Of the scalar score: None/"linear" (Bahdanau's v . tanh(...),
            default) or "relu" (the course's notebook).
        kernel_initializer, score_initializer, bias_initializer: Initializers.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        query: s<t-1>, `(batch, query_dim)` or `(batch, Ty, query_dim)`.
        values: a<1..Tx>, `(batch, Tx, value_dim)`.
        values_mask: Optional `(batch, Tx)`; filled from Keras masking when omitted.

    Returns:
        `(context, alphas)`, see the module docstring for shapes.
    """

    def __init__(
        self,
        units,
        score_activation=None,
        kernel_initializer="glorot_uniform",
        score_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = _check_positive_int("units", units)
        self.score_activation = _get("score_activation", score_activation, keras.activations.get)
        self.kernel_initializer = _get("kernel_initializer", kernel_initializer, keras.initializers.get)
        self.score_initializer = _get("score_initializer", score_initializer, keras.initializers.get)
        self.bias_initializer = _get("bias_initializer", bias_initializer, keras.initializers.get)
        self.use_score_bias = self.score_activation is not keras.activations.linear

    def build(self, query_shape, values_shape):
        _check_ranks(self, query_shape, values_shape)
        self.query_dim = check_input_dim(self, query_shape)
        value_dim = check_input_dim(self, values_shape)
        self.kernel = self.add_weight(
            name="kernel", shape=(self.query_dim + value_dim, self.units), initializer=self.kernel_initializer
        )
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer=self.bias_initializer)
        self.score_kernel = self.add_weight(
            name="score_kernel", shape=(self.units, 1), initializer=self.score_initializer
        )
        self.score_bias = None
        if self.use_score_bias:
            self.score_bias = self.add_weight(
                name="score_bias", shape=(1,), initializer=self.bias_initializer
            )

    def project_values(self, values):
        """W_a a<t'> + b, (batch, Tx, units): the query-independent part, once per sequence."""
        return ops.matmul(values, self.kernel[self.query_dim :]) + self.bias

    def call(self, query, values, values_mask=None, projected_values=None):
        """`projected_values` (from `project_values`) skips that matmul in a decoding loop."""
        if projected_values is None:
            projected_values = self.project_values(values)
        steps = _as_steps(query)  # (batch, Ty, q)
        projected_query = ops.matmul(steps, self.kernel[: self.query_dim])  # (batch, Ty, units)
        # (batch, Ty, 1, units) + (batch, 1, Tx, units): W [s, a] + b for every pair.
        hidden = ops.tanh(ops.expand_dims(projected_query, 2) + ops.expand_dims(projected_values, 1))
        scores = ops.squeeze(ops.matmul(hidden, self.score_kernel), -1)  # (batch, Ty, Tx)
        if self.score_bias is not None:
            scores = scores + self.score_bias
        return _attend(query, values, self.score_activation(scores), values_mask)

    def compute_output_shape(self, query_shape, values_shape):
        return _output_shape(query_shape, values_shape)

    def compute_mask(self, query, previous_mask=None):
        return _output_mask(query, previous_mask)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "score_activation": keras.activations.serialize(self.score_activation),
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "score_initializer": keras.initializers.serialize(self.score_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


@keras.saving.register_keras_serializable(package="classics")
class LuongAttention(keras.layers.Layer):
    """Luong et al. (2015) multiplicative attention: "dot" or "general" score.

        dot:      e<t,t'> = s<t> . a<t'>          (query_dim must equal value_dim)
        general:  e<t,t'> = s<t> . (W a<t'>)      W: kernel (query_dim, value_dim), no bias

    "dot" has no weights: it equals `keras.layers.Attention(score_mode="dot")` (tested).

    Args:
        score: "dot" (default) or "general".
        kernel_initializer: Of W ("general" only).
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments and returns: as `BahdanauAttention` (no `projected_values`).
    """

    def __init__(self, score="dot", kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.score = _check_choice("score", score, ("dot", "general"))
        self.kernel_initializer = _get("kernel_initializer", kernel_initializer, keras.initializers.get)

    def build(self, query_shape, values_shape):
        _check_ranks(self, query_shape, values_shape)
        query_dim = check_input_dim(self, query_shape)
        value_dim = check_input_dim(self, values_shape)
        self.kernel = None
        if self.score == "general":
            self.kernel = self.add_weight(
                name="kernel", shape=(query_dim, value_dim), initializer=self.kernel_initializer
            )
        elif query_dim != value_dim:
            raise ValueError(
                f"LuongAttention(score='dot') needs query_dim == value_dim, received {query_dim} and "
                f"{value_dim}; use score='general' for different sizes"
            )

    def call(self, query, values, values_mask=None):
        steps = _as_steps(query)  # (batch, Ty, q)
        if self.kernel is not None:
            steps = ops.matmul(steps, self.kernel)  # s W = (W^T s): (batch, Ty, value_dim)
        scores = ops.matmul(steps, ops.transpose(values, (0, 2, 1)))  # (batch, Ty, Tx)
        return _attend(query, values, scores, values_mask)

    def compute_output_shape(self, query_shape, values_shape):
        return _output_shape(query_shape, values_shape)

    def compute_mask(self, query, previous_mask=None):
        return _output_mask(query, previous_mask)

    def get_config(self):
        return {
            **super().get_config(),
            "score": self.score,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
