import keras
import numpy as np
import pytest
from helpers import check_layer

from layers import LSTMCell, gradient_check
from layers.lstm_cell import PEEPHOLES

UNITS, TIMESTEPS, INPUT_DIM = 4, 5, 3
# Post-padded sequences of lengths 5, 3 and 1.
LENGTHS = np.array([5, 3, 1])
CELL_ARGS = (
    "use_bias",
    "use_peepholes",
    "unit_forget_bias",
    "peephole_initializer",
    "dropout",
    "recurrent_dropout",
    "seed",
)


def _sequences(batch=3, seed=0, padded=False):
    x = np.random.default_rng(seed).standard_normal((batch, TIMESTEPS, INPUT_DIM)).astype("float32")
    if padded:
        x[np.arange(TIMESTEPS)[None, :] >= LENGTHS[:, None]] = 0.0
    return x


def _random_weights(layer, seed=1):
    """Weights away from their initial values (a zero bias would hide a misplaced bias)."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(-0.8, 0.8, size=w.shape).astype("float32") for w in layer.get_weights()]


def _ours(**kwargs):
    cell_kwargs = {k: kwargs.pop(k) for k in CELL_ARGS if k in kwargs}
    return keras.layers.RNN(LSTMCell(UNITS, **cell_kwargs), **kwargs)


def _equal_weight_pair(x, **kwargs):
    """Our RNN(LSTMCell) and keras LSTM, built on `x`, with equal random weights."""
    reference, ours = keras.layers.LSTM(UNITS, **kwargs), _ours(**kwargs)
    reference(x)
    ours(x)
    reference.set_weights(_random_weights(reference))
    ours.set_weights(reference.get_weights())
    return ours, reference


def _max_abs_diff(a, b):
    a, b = keras.tree.flatten(a), keras.tree.flatten(b)
    assert len(a) == len(b)
    return max(float(np.max(np.abs(np.asarray(p) - np.asarray(q)))) for p, q in zip(a, b, strict=True))


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _reference_lstm(x, kernel, recurrent_kernel, bias, w_ci=None, w_cf=None, w_co=None, masks=(None, None)):
    """Hand-written LSTM (course notation), with Gers & Schmidhuber's peepholes if given.

    Returns the outputs a<1..T> (batch, T, units) and the final c<T>.
    """
    u = UNITS
    w = {  # [Wx; Wa] and b per gate, Keras's column order i, f, c, o
        gate: (
            kernel[:, k * u : (k + 1) * u],
            recurrent_kernel[:, k * u : (k + 1) * u],
            bias[k * u : (k + 1) * u],
        )
        for k, gate in enumerate("ufco")
    }
    a = c = np.zeros((x.shape[0], u))
    outputs = []
    for t in range(x.shape[1]):
        x_t = x[:, t] if masks[0] is None else x[:, t] * masks[0]
        a_in = a if masks[1] is None else a * masks[1]

        def linear(gate, x_t=x_t, a_in=a_in):
            w_x, w_a, b = w[gate]
            return a_in @ w_a + x_t @ w_x + b

        gamma_u = _sigmoid(linear("u") + (0 if w_ci is None else w_ci * c))
        gamma_f = _sigmoid(linear("f") + (0 if w_cf is None else w_cf * c))
        c_tilde = np.tanh(linear("c"))
        c = gamma_u * c_tilde + gamma_f * c
        gamma_o = _sigmoid(linear("o") + (0 if w_co is None else w_co * c))  # the new c<t>
        a = gamma_o * np.tanh(c)
        outputs.append(a)
    return np.stack(outputs, axis=1), c


# --- the shared checks -------------------------------------------------------------------


@pytest.mark.parametrize("use_peepholes", [False, True])
def test_rnn_of_lstm_cell_passes_layer_checks(tmp_path, use_peepholes):
    built = check_layer(
        lambda: keras.layers.RNN(LSTMCell(UNITS, use_peepholes=use_peepholes), return_sequences=True),
        input_shape=(None, TIMESTEPS, INPUT_DIM),
        expected_output_shape=(None, TIMESTEPS, UNITS),
        tmp_path=tmp_path,
    )
    cell = built["layer"].cell
    expected = [
        ("kernel", (INPUT_DIM, 4 * UNITS)),
        ("recurrent_kernel", (UNITS, 4 * UNITS)),
        ("bias", (4 * UNITS,)),
    ]
    if use_peepholes:
        expected += [(name, (UNITS,)) for name in PEEPHOLES]
    assert [(w.name, tuple(w.shape)) for w in cell.weights] == expected


def test_rnn_of_lstm_cell_with_dropout_passes_layer_checks(tmp_path):
    # return_state: the output and both states; the training step draws masks in a graph.
    built = check_layer(
        lambda: keras.layers.RNN(
            LSTMCell(
                UNITS,
                use_peepholes=True,
                dropout=0.25,
                recurrent_dropout=0.25,
                seed=3,
                bias_regularizer=keras.regularizers.L2(1e-3),
            ),
            return_state=True,
        ),
        input_shape=(None, TIMESTEPS, INPUT_DIM),
        expected_output_shape=((None, UNITS), (None, UNITS), (None, UNITS)),
        tmp_path=tmp_path,
    )
    output, a, _ = built["outputs"]
    np.testing.assert_array_equal(output, a)
    assert len(built["layer"].losses) == 1


def test_lstm_cell_called_directly_passes_layer_checks(tmp_path):
    check_layer(
        lambda: LSTMCell(UNITS, use_bias=False),
        input_shape=[(None, INPUT_DIM), (None, UNITS), (None, UNITS)],
        expected_output_shape=((None, UNITS), [(None, UNITS), (None, UNITS)]),
        tmp_path=tmp_path,
        call_fn=lambda cell, xs, training: cell(xs[0], [xs[1], xs[2]], training=training),
        check_compute_output_shape=False,
    )


# --- parity with keras.layers.LSTM at equal weights --------------------------------------


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_matches_keras_lstm(return_sequences, go_backwards):
    x = _sequences()
    flags = dict(return_sequences=return_sequences, go_backwards=go_backwards, return_state=True)
    ours, reference = _equal_weight_pair(x, **flags)
    outputs = ours(x)
    assert len(outputs) == 3  # output, a<T>, c<T>
    assert _max_abs_diff(outputs, reference(x)) < 1e-5


def test_matches_keras_lstm_without_bias():
    x = _sequences()
    ours, reference = _equal_weight_pair(x, use_bias=False, return_sequences=True)
    assert _max_abs_diff(ours(x), reference(x)) < 1e-5


@pytest.mark.parametrize("go_backwards", [False, True])
def test_matches_keras_lstm_with_explicit_mask(go_backwards):
    x = _sequences(padded=True)
    mask = np.arange(TIMESTEPS)[None, :] < LENGTHS[:, None]
    flags = dict(return_sequences=True, return_state=True, go_backwards=go_backwards)
    ours, reference = _equal_weight_pair(x, **flags)
    expected = reference(x, mask=mask)
    assert _max_abs_diff(ours(x, mask=mask), expected) < 1e-5
    # Masked steps matter: without the mask the final memory cell differs.
    assert _max_abs_diff(ours(x)[2], expected[2]) > 1e-3


def test_matches_keras_lstm_after_a_masking_layer_inside_bidirectional():
    x = _sequences(padded=True)

    def model(recurrent):
        inputs = keras.Input((TIMESTEPS, INPUT_DIM))
        return keras.Model(inputs, keras.layers.Bidirectional(recurrent)(keras.layers.Masking(0.0)(inputs)))

    ours = model(_ours(return_sequences=True))
    reference = model(keras.layers.LSTM(UNITS, return_sequences=True))
    reference.set_weights(_random_weights(reference))
    ours.set_weights(reference.get_weights())
    assert _max_abs_diff(ours(x), reference(x)) < 1e-5


def test_training_dropout_matches_keras_lstm_with_the_same_seed():
    # Input dropout only: Keras then draws one (batch, input_dim) mask per sequence, as we do.
    x = _sequences()
    ours, reference = _equal_weight_pair(x, dropout=0.4, seed=11, return_sequences=True)
    expected = reference(x, training=True)
    assert _max_abs_diff(ours(x, training=True), expected) < 1e-5
    assert _max_abs_diff(expected, reference(x)) > 1e-2  # dropout did act
    assert _max_abs_diff(ours(x, training=False), reference(x)) < 1e-5  # and only in training


def test_variational_dropout_masks_are_drawn_once_per_sequence():
    # Both masks come from the cell's SeedGenerator, input mask first: replay the draws.
    x = _sequences()
    ours = _ours(use_peepholes=True, dropout=0.3, recurrent_dropout=0.5, seed=5, return_sequences=True)
    ours.build(x.shape)  # not a call: every call draws masks, even in inference
    ours.set_weights(_random_weights(ours))
    generator = keras.random.SeedGenerator(seed=5)
    input_mask = keras.random.dropout(np.ones((3, INPUT_DIM), "float32"), 0.3, seed=generator)
    state_mask = keras.random.dropout(np.ones((3, UNITS), "float32"), 0.5, seed=generator)
    first = ours(x, training=True)
    expected, _ = _reference_lstm(
        x, *ours.get_weights(), masks=(np.asarray(input_mask), np.asarray(state_mask))
    )
    assert _max_abs_diff(first, expected) < 1e-5
    assert _max_abs_diff(ours(x, training=True), first) > 1e-3  # new masks for a new call


# --- the formulas by hand, peepholes ---------------------------------------------------------


def test_plain_lstm_matches_the_formulas():
    x = _sequences()
    ours, _ = _equal_weight_pair(x, return_sequences=True, return_state=True)
    outputs, a, c = ours(x)
    expected_outputs, expected_c = _reference_lstm(x.astype("float64"), *ours.get_weights())
    assert _max_abs_diff([outputs, a, c], [expected_outputs, expected_outputs[:, -1], expected_c]) < 1e-5


@pytest.mark.parametrize("go_backwards", [False, True])
def test_peephole_lstm_matches_the_formulas(go_backwards):
    x = _sequences()
    ours = _ours(use_peepholes=True, return_sequences=True, return_state=True, go_backwards=go_backwards)
    ours(x)
    weights = _random_weights(ours)  # kernel, recurrent_kernel, bias, w_ci, w_cf, w_co
    weights[3:] = [3.0 * w for w in weights[3:]]  # peepholes large enough to matter
    ours.set_weights(weights)
    outputs, a, c = ours(x)
    x_in = x[:, ::-1] if go_backwards else x
    expected_outputs, expected_c = _reference_lstm(x_in.astype("float64"), *weights)
    assert _max_abs_diff([outputs, a, c], [expected_outputs, expected_outputs[:, -1], expected_c]) < 1e-5
    plain, _ = _reference_lstm(x_in.astype("float64"), *weights[:3])
    assert _max_abs_diff(outputs, plain) > 1e-2


def test_peephole_lstm_with_zero_peepholes_equals_keras_lstm():
    x = _sequences()
    reference = keras.layers.LSTM(UNITS, return_sequences=True, return_state=True)
    ours = _ours(use_peepholes=True, peephole_initializer="ones", return_sequences=True, return_state=True)
    reference(x)
    ours(x)
    reference.set_weights(_random_weights(reference))
    ours.set_weights(reference.get_weights() + [np.zeros(UNITS, "float32")] * 3)
    assert _max_abs_diff(ours(x), reference(x)) < 1e-5


def test_default_initial_weights():
    ours = _ours(use_peepholes=True)
    ours.build((None, TIMESTEPS, INPUT_DIM))
    cell = ours.cell
    # unit_forget_bias: [i | f | c | o] = [0 | 1 | 0 | 0], as keras.layers.LSTM; zero peepholes.
    np.testing.assert_array_equal(cell.bias.numpy(), np.repeat([0.0, 1.0, 0.0, 0.0], UNITS))
    for name in PEEPHOLES:
        np.testing.assert_array_equal(getattr(cell, name).numpy(), np.zeros(UNITS))
    cell = LSTMCell(UNITS, unit_forget_bias=False, bias_initializer="ones")
    cell.build((None, INPUT_DIM))
    np.testing.assert_array_equal(cell.bias.numpy(), np.ones(4 * UNITS))


# --- gradients ---------------------------------------------------------------------------


@pytest.mark.parametrize("use_peepholes", [False, True])
def test_gradient_check_through_rnn_layer(use_peepholes):
    keras.utils.set_random_seed(0)
    cell = LSTMCell(
        3,
        use_peepholes=use_peepholes,
        bias_initializer="random_normal",
        peephole_initializer="random_normal",
        dtype="float64",
    )
    rnn = keras.layers.RNN(cell, return_sequences=True, return_state=True, dtype="float64")
    x = np.random.default_rng(0).standard_normal((2, 4, 3))
    result = gradient_check(rnn, x)
    assert result.relative_difference < 1e-6, result.per_variable
    checked = sorted(result.num_checked.values())
    # kernel and recurrent kernel 36 each, bias 12, inputs 24, peepholes 3 each.
    assert checked == sorted([36, 36, 12, 24] + ([3, 3, 3] if use_peepholes else []))


# --- arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(units=0), "`units` must be a positive int, received: 0"),
        (dict(units="4"), "`units` must be a positive int, received: '4'"),
        (dict(units=4, use_peepholes="yes"), "`use_peepholes` must be a bool, received: 'yes'"),
        (dict(units=4, unit_forget_bias=1), "`unit_forget_bias` must be a bool, received: 1"),
        (dict(units=4, use_bias=None), "`use_bias` must be a bool, received: None"),
        (dict(units=4, activation="nope"), "`activation` could not be interpreted, received: 'nope'"),
        (dict(units=4, peephole_initializer="nope"), "`peephole_initializer` could not be interpreted"),
        (dict(units=4, kernel_constraint="nope"), "`kernel_constraint` could not be interpreted"),
        (dict(units=4, dropout=1.5), r"`dropout` must be a float in \[0, 1\), received: 1.5"),
        (
            dict(units=4, recurrent_dropout=True),
            r"`recurrent_dropout` must be a float in \[0, 1\), received: True",
        ),
        (dict(units=4, seed=1.5), "`seed` must be None or an int, received: 1.5"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LSTMCell(**kwargs)


def test_unknown_input_dimension_raises_value_error():
    with pytest.raises(ValueError, match=r"LSTMCell needs a known last input dimension"):
        keras.layers.RNN(LSTMCell(UNITS)).build((None, TIMESTEPS, None))
