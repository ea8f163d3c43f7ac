"""Gated recurrent unit (the course's "full GRU"), as a Keras RNN cell."""

import keras

from layers.residual_block import _check_positive_int, _get

# `keras.layers.RNN` draws a cell's dropout masks once per sequence, before its time loop,
# and clears them afterwards, but only for cells that inherit Keras's `DropoutRNNCell`
# mixin (an isinstance check). The mixin is not exported and `keras.src` is off limits, so
# it is taken from the bases of the public `keras.layers.GRUCell`. Should a Keras release
# drop it, the cells still work, and refuse `dropout`/`recurrent_dropout` with a clear error.
DropoutRNNCell = next(
    (base for base in keras.layers.GRUCell.__mro__ if base.__name__ == "DropoutRNNCell"), None
)


class _NoDropoutMixin:
    pass


def dropout_mixin():
    return DropoutRNNCell or _NoDropoutMixin


def check_bool(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be a bool, received: {value!r}")
    return value


def check_rate(name, value):
    """A dropout rate in [0, 1): a rate of 1 would drop everything."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0.0 <= value < 1.0):
        raise ValueError(f"`{name}` must be a float in [0, 1), received: {value!r}")
    if value > 0.0 and DropoutRNNCell is None:
        raise ValueError(
            f"`{name}` > 0 needs Keras's DropoutRNNCell mixin, not found in keras {keras.__version__}; "
            f"received: {value!r}"
        )
    return float(value)


def check_seed(value):
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"`seed` must be None or an int, received: {value!r}")
    return value


def check_input_dim(layer, input_shape):
    input_dim = input_shape[-1]
    if input_dim is None:
        raise ValueError(
            f"{type(layer).__name__} needs a known last input dimension, received input shape {input_shape}"
        )
    return int(input_dim)


@keras.saving.register_keras_serializable(package="classics")
class GRUCell(keras.layers.Layer, dropout_mixin()):
    """Full GRU of Cho et al. (2014), one time step, in the course's notation.

    With memory cell c<t> (= the output a<t>), input x<t> and `[., .]` the concatenation:

        Γu    = σ(Wu [c<t-1>, x<t>] + bu)               update gate
        Γr    = σ(Wr [c<t-1>, x<t>] + br)               relevance (reset) gate
        c̃<t> = tanh(Wc [Γr * c<t-1>, x<t>] + bc)       candidate
        c<t>  = Γu * c̃<t> + (1 - Γu) * c<t-1>

    This is `keras.layers.GRU(reset_after=False)`: Γr multiplies c<t-1> *before* the
    recurrent matmul of the candidate. The weights have that layer's shapes and gate order,
    so `cell.set_weights(keras_gru.get_weights())` copies a trained Keras GRU over:

        kernel           (input_dim, 3 * units)   columns [z | r | c̃], the x<t> part of W
        recurrent_kernel (units, 3 * units)       columns [z | r | c̃], the c<t-1> part of W
        bias             (3 * units,)             [z | r | c̃]

    Keras's gate z keeps the old state (`c<t> = z * c<t-1> + (1 - z) * c̃<t>`), so the
    course's update gate is its complement: Γu = 1 - z = σ(-(Wz [c<t-1>, x<t>] + bz)), i.e.
    Wu = -Wz and bu = -bz. Γr is Keras's r, Wc its third block.

    One step costs one matmul for x<t> (all three gates) and two for c<t-1>: the gates' block
    [z | r], then the candidate's, which needs Γr first (the price of `reset_after=False`).

    Args:
        units: Size of c<t>, the state and the output.
        activation: Of the candidate (tanh).
        recurrent_activation: Of the gates (sigmoid).
        use_bias: Whether to add `bias`.
        kernel_initializer, recurrent_initializer, bias_initializer: Initializers of the
            three weights (Keras's defaults: glorot_uniform, orthogonal, zeros).
        kernel_regularizer, recurrent_regularizer, bias_regularizer: Optional regularizers.
        kernel_constraint, recurrent_constraint, bias_constraint: Optional constraints.
        dropout: Rate of dropout on x<t>, in [0, 1). Training only.
        recurrent_dropout: Rate of dropout on c<t-1> where it enters the matmuls (the carried
            state itself is not dropped), in [0, 1). Training only.
        seed: Seed of the dropout masks.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Dropout is the variational dropout of Gal & Ghahramani (2016) with tied masks: one mask
    on x<t> and one on c<t-1>, shared by all gates and drawn once per sequence by
    `keras.layers.RNN` (so use the cell inside an RNN layer when training with dropout).
    Keras's GRU draws the same single input mask; with `recurrent_dropout` it draws one pair
    of masks per gate instead, which would cost three matmuls per step.

    Call arguments:
        inputs: x<t>, `(batch, input_dim)`.
        states: `[c<t-1>]` (or the tensor), `(batch, units)`.
        training: Whether dropout applies.

    Returns:
        `(c<t>, [c<t>])`.

    Example:
        >>> rnn = keras.layers.RNN(GRUCell(16), return_sequences=True)  # (batch, time, 16)

    References:
        Cho et al., "On the Properties of Neural Machine Translation: Encoder-Decoder
        Approaches", 2014 (arXiv:1409.1259); Chung et al., "Empirical Evaluation of Gated
        Recurrent Neural Networks on Sequence Modeling", 2014 (arXiv:1412.3555); Gal &
        Ghahramani, "A Theoretically Grounded Application of Dropout in Recurrent Neural
        Networks", NeurIPS 2016 (arXiv:1512.05287).
    """

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = _check_positive_int("units", units)
        self.activation = _get("activation", activation, keras.activations.get)
        self.recurrent_activation = _get("recurrent_activation", recurrent_activation, keras.activations.get)
        self.use_bias = check_bool("use_bias", use_bias)
        self.kernel_initializer = _get("kernel_initializer", kernel_initializer, keras.initializers.get)
        self.recurrent_initializer = _get(
            "recurrent_initializer", recurrent_initializer, keras.initializers.get
        )
        self.bias_initializer = _get("bias_initializer", bias_initializer, keras.initializers.get)
        self.kernel_regularizer = _get("kernel_regularizer", kernel_regularizer, keras.regularizers.get)
        self.recurrent_regularizer = _get(
            "recurrent_regularizer", recurrent_regularizer, keras.regularizers.get
        )
        self.bias_regularizer = _get("bias_regularizer", bias_regularizer, keras.regularizers.get)
        self.kernel_constraint = _get("kernel_constraint", kernel_constraint, keras.constraints.get)
        self.recurrent_constraint = _get("recurrent_constraint", recurrent_constraint, keras.constraints.get)
        self.bias_constraint = _get("bias_constraint", bias_constraint, keras.constraints.get)
        self.dropout = check_rate("dropout", dropout)
        self.recurrent_dropout = check_rate("recurrent_dropout", recurrent_dropout)
        self.seed = check_seed(seed)
        # Read by the dropout mixin; a variable, so only made when there is dropout.
        if self.dropout or self.recurrent_dropout:
            self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self.state_size = self.units
        self.output_size = self.units

    def build(self, input_shape):
        input_dim = check_input_dim(self, input_shape)
        self.kernel = self.add_weight(
            shape=(input_dim, 3 * self.units),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, 3 * self.units),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(3 * self.units,),
                name="bias",
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None

    def call(self, inputs, states, training=False):
        c_prev = states[0] if isinstance(states, (list, tuple)) else states  # (batch, units)
        if training and self.dropout:
            inputs = inputs * self.get_dropout_mask(inputs)
        c_in = c_prev
        if training and self.recurrent_dropout:
            c_in = c_prev * self.get_recurrent_dropout_mask(c_prev)

        x = keras.ops.matmul(inputs, self.kernel)  # (batch, 3 * units): [z | r | c̃]
        if self.use_bias:
            x = x + self.bias
        x_gates, x_candidate = keras.ops.split(x, [2 * self.units], axis=-1)
        kernel_gates, kernel_candidate = keras.ops.split(self.recurrent_kernel, [2 * self.units], axis=-1)
        # Both gates through one activation: (batch, 2 * units).
        gates = self.recurrent_activation(x_gates + keras.ops.matmul(c_in, kernel_gates))
        z, relevance = keras.ops.split(gates, 2, axis=-1)  # z = 1 - Γu, relevance = Γr
        candidate = self.activation(x_candidate + keras.ops.matmul(relevance * c_in, kernel_candidate))
        c = z * c_prev + (1.0 - z) * candidate  # = Γu * c̃ + (1 - Γu) * c<t-1>
        return c, [c]

    def get_initial_state(self, batch_size=None):
        return [keras.ops.zeros((batch_size, self.units), dtype=self.compute_dtype)]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "recurrent_regularizer": keras.regularizers.serialize(self.recurrent_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "recurrent_constraint": keras.constraints.serialize(self.recurrent_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
                "dropout": self.dropout,
                "recurrent_dropout": self.recurrent_dropout,
                "seed": self.seed,
            }
        )
        return config
