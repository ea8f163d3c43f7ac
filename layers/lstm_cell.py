"""Long short-term memory with optional peephole connections, as a Keras RNN cell."""

import keras

from layers.gru_cell import check_bool, check_input_dim, check_rate, check_seed, dropout_mixin
from layers.residual_block import _check_positive_int, _get

# Names of the peephole weights, as tf.keras's PeepholeLSTMCell had them.
PEEPHOLES = ("input_gate_peephole_weights", "forget_gate_peephole_weights", "output_gate_peephole_weights")


@keras.saving.register_keras_serializable(package="classics")
class LSTMCell(keras.layers.Layer, dropout_mixin()):
    """LSTM of Hochreiter & Schmidhuber (1997) with a forget gate, one time step.

    In the course's notation, with output a<t>, memory cell c<t> and `[., .]` the
    concatenation:

        Γu    = σ(Wu [a<t-1>, x<t>] + bu)        update (input) gate
        Γf    = σ(Wf [a<t-1>, x<t>] + bf)        forget gate
        c̃<t> = tanh(Wc [a<t-1>, x<t>] + bc)     candidate
        c<t>  = Γu * c̃<t> + Γf * c<t-1>
        Γo    = σ(Wo [a<t-1>, x<t>] + bo)        output gate
        a<t>  = Γo * tanh(c<t>)

    The weights have `keras.layers.LSTM`'s shapes and gate order (i = Γu, f = Γf, c, o = Γo),
    so `cell.set_weights(keras_lstm.get_weights())` copies a trained Keras LSTM over:

        kernel           (input_dim, 4 * units)   columns [i | f | c̃ | o], the x<t> part of W
        recurrent_kernel (units, 4 * units)       columns [i | f | c̃ | o], the a<t-1> part of W
        bias             (4 * units,)             [i | f | c̃ | o]

    With `use_peepholes=True` (Gers & Schmidhuber, 2000) the gates also see the memory cell
    through diagonal weights, three extra `(units,)` vectors (w_ci, w_cf, w_co; see
    `PEEPHOLES` for their names), in this order after the three weights above:

        Γu = σ(Wu [a<t-1>, x<t>] + w_ci * c<t-1> + bu)
        Γf = σ(Wf [a<t-1>, x<t>] + w_cf * c<t-1> + bf)
        Γo = σ(Wo [a<t-1>, x<t>] + w_co * c<t> + bo)     (the new cell, computed first)

    One step costs one matmul for x<t> and one for a<t-1>, all four gates at once (Keras's
    `implementation=2`).

    Args:
        units: Size of a<t> and c<t>.
        use_peepholes: Whether the gates see c (three extra weight vectors).
        unit_forget_bias: Start the forget gate's bias at 1 (Jozefowicz et al., 2015), the
            rest of the bias from `bias_initializer`. Only with `use_bias`.
        activation: Of the candidate and of c<t> on the way out (tanh).
        recurrent_activation: Of the gates (sigmoid).
        use_bias: Whether to add `bias`.
        kernel_initializer, recurrent_initializer, bias_initializer: Initializers of the
            three weights (Keras's defaults: glorot_uniform, orthogonal, zeros).
        peephole_initializer: Initializer of the peephole weights. Zeros (default) start
            the cell as the plain LSTM.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: Optional regularizers.
        kernel_constraint, recurrent_constraint, bias_constraint: Optional constraints.
        dropout: Rate of dropout on x<t>, in [0, 1). Training only.
        recurrent_dropout: Rate of dropout on a<t-1> where it enters the matmul (the carried
            state itself is not dropped), in [0, 1). Training only.
        seed: Seed of the dropout masks.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Dropout is the variational dropout of Gal & Ghahramani (2016) with tied masks: one mask
    on x<t> and one on a<t-1>, shared by all gates and drawn once per sequence by
    `keras.layers.RNN` (so use the cell inside an RNN layer when training with dropout).
    Keras's LSTM draws the same single input mask; with `recurrent_dropout` it draws one
    pair of masks per gate instead, which would cost four matmuls per step.

    Call arguments:
        inputs: x<t>, `(batch, input_dim)`.
        states: `[a<t-1>, c<t-1>]`, each `(batch, units)`.
        training: Whether dropout applies.

    Returns:
        `(a<t>, [a<t>, c<t>])`.

    Example:
        >>> rnn = keras.layers.RNN(LSTMCell(16), return_state=True)  # a<T>, a<T>, c<T>

    References:
        Hochreiter & Schmidhuber, "Long Short-Term Memory", Neural Computation 1997;
        Gers, Schmidhuber & Cummins, "Learning to Forget: Continual Prediction with LSTM",
        2000; Gers & Schmidhuber, "Recurrent Nets that Time and Count", IJCNN 2000;
        Gal & Ghahramani, NeurIPS 2016 (arXiv:1512.05287).
    """

    def __init__(
        self,
        units,
        use_peepholes=False,
        unit_forget_bias=True,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        peephole_initializer="zeros",
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
        self.use_peepholes = check_bool("use_peepholes", use_peepholes)
        self.unit_forget_bias = check_bool("unit_forget_bias", unit_forget_bias)
        self.activation = _get("activation", activation, keras.activations.get)
        self.recurrent_activation = _get("recurrent_activation", recurrent_activation, keras.activations.get)
        self.use_bias = check_bool("use_bias", use_bias)
        self.kernel_initializer = _get("kernel_initializer", kernel_initializer, keras.initializers.get)
        self.recurrent_initializer = _get(
            "recurrent_initializer", recurrent_initializer, keras.initializers.get
        )
        self.bias_initializer = _get("bias_initializer", bias_initializer, keras.initializers.get)
        self.peephole_initializer = _get("peephole_initializer", peephole_initializer, keras.initializers.get)
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
        self.state_size = [self.units, self.units]  # a, c
        self.output_size = self.units

    def build(self, input_shape):
        input_dim = check_input_dim(self, input_shape)
        units = self.units
        self.kernel = self.add_weight(
            shape=(input_dim, 4 * units),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(units, 4 * units),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        if self.use_bias:
            if self.unit_forget_bias:

                def bias_initializer(_, *args, **kwargs):
                    # [i | f | c̃ | o]: ones for f, the configured initializer elsewhere.
                    return keras.ops.concatenate(
                        [
                            self.bias_initializer((units,), *args, **kwargs),
                            keras.initializers.Ones()((units,), *args, **kwargs),
                            self.bias_initializer((2 * units,), *args, **kwargs),
                        ]
                    )
            else:
                bias_initializer = self.bias_initializer
            self.bias = self.add_weight(
                shape=(4 * units,),
                name="bias",
                initializer=bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None
        if self.use_peepholes:
            for name in PEEPHOLES:  # w_ci, w_cf, w_co
                weight = self.add_weight(shape=(units,), name=name, initializer=self.peephole_initializer)
                setattr(self, name, weight)

    def call(self, inputs, states, training=False):
        a_prev, c_prev = states[0], states[1]  # (batch, units) each
        if training and self.dropout:
            inputs = inputs * self.get_dropout_mask(inputs)
        a_in = a_prev
        if training and self.recurrent_dropout:
            a_in = a_prev * self.get_recurrent_dropout_mask(a_prev)

        # (batch, 4 * units): [i | f | c̃ | o]; additions in keras.layers.LSTM's order.
        z = keras.ops.matmul(inputs, self.kernel)
        z = z + keras.ops.matmul(a_in, self.recurrent_kernel)
        if self.use_bias:
            z = z + self.bias
        z_update, z_forget, z_candidate, z_output = keras.ops.split(z, 4, axis=-1)
        if self.use_peepholes:
            z_update = z_update + self.input_gate_peephole_weights * c_prev
            z_forget = z_forget + self.forget_gate_peephole_weights * c_prev
        update = self.recurrent_activation(z_update)
        forget = self.recurrent_activation(z_forget)
        c = forget * c_prev + update * self.activation(z_candidate)
        if self.use_peepholes:
            z_output = z_output + self.output_gate_peephole_weights * c
        a = self.recurrent_activation(z_output) * self.activation(c)
        return a, [a, c]

    def get_initial_state(self, batch_size=None):
        return [keras.ops.zeros((batch_size, d), dtype=self.compute_dtype) for d in self.state_size]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "use_peepholes": self.use_peepholes,
                "unit_forget_bias": self.unit_forget_bias,
                "activation": keras.activations.serialize(self.activation),
                "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "peephole_initializer": keras.initializers.serialize(self.peephole_initializer),
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
