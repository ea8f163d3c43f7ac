import keras
import numpy as np
import pytest
from helpers import check_layer

from layers import GRUCell, gradient_check

UNITS, TIMESTEPS, INPUT_DIM = 4, 5, 3
# Post-padded sequences of lengths 5, 3 and 1.
LENGTHS = np.array([5, 3, 1])


def _sequences(batch=3, seed=0, padded=False):
    x = np.random.default_rng(seed).standard_normal((batch, TIMESTEPS, INPUT_DIM)).astype("float32")
    if padded:
        x[np.arange(TIMESTEPS)[None, :] >= LENGTHS[:, None]] = 0.0
    return x


def _random_weights(layer, seed=1):
    """Weights away from their initial values (a zero bias would hide a misplaced bias)."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(-0.8, 0.8, size=w.shape).astype("float32") for w in layer.get_weights()]


def _keras_gru(**kwargs):
    return keras.layers.GRU(UNITS, reset_after=False, **kwargs)


def _ours(**kwargs):
    cell_args = ("use_bias", "dropout", "recurrent_dropout", "seed")
    cell_kwargs = {k: kwargs.pop(k) for k in cell_args if k in kwargs}
    return keras.layers.RNN(GRUCell(UNITS, **cell_kwargs), **kwargs)


def _equal_weight_pair(x, **kwargs):
    """Our RNN(GRUCell) and keras GRU(reset_after=False), built on `x`, with equal random weights."""
    reference, ours = _keras_gru(**kwargs), _ours(**kwargs)
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


# --- the shared checks -------------------------------------------------------------------


def test_rnn_of_gru_cell_passes_layer_checks(tmp_path):
    built = check_layer(
        lambda: keras.layers.RNN(GRUCell(UNITS), return_sequences=True),
        input_shape=(None, TIMESTEPS, INPUT_DIM),
        expected_output_shape=(None, TIMESTEPS, UNITS),
        tmp_path=tmp_path,
    )
    cell = built["layer"].cell
    assert [(w.name, tuple(w.shape)) for w in cell.weights] == [
        ("kernel", (INPUT_DIM, 3 * UNITS)),
        ("recurrent_kernel", (UNITS, 3 * UNITS)),
        ("bias", (3 * UNITS,)),
    ]


def test_rnn_of_gru_cell_with_dropout_and_regularizers_passes_layer_checks(tmp_path):
    # The training step runs in a compiled graph with both dropout masks drawn per batch.
    built = check_layer(
        lambda: keras.layers.RNN(
            GRUCell(
                UNITS,
                use_bias=False,
                dropout=0.25,
                recurrent_dropout=0.25,
                seed=3,
                kernel_regularizer=keras.regularizers.L2(1e-3),
                recurrent_regularizer=keras.regularizers.L2(1e-3),
            ),
            return_state=True,
        ),
        input_shape=(None, TIMESTEPS, INPUT_DIM),
        expected_output_shape=((None, UNITS), (None, UNITS)),
        tmp_path=tmp_path,
    )
    cell = built["layer"].cell
    assert len(cell.weights) == 2 and cell.bias is None
    assert len(built["layer"].losses) == 2
    assert cell.get_config()["dropout"] == 0.25 and cell.get_config()["seed"] == 3


def test_gru_cell_called_directly_passes_layer_checks(tmp_path):
    built = check_layer(
        lambda: GRUCell(UNITS),
        input_shape=[(None, INPUT_DIM), (None, UNITS)],
        expected_output_shape=((None, UNITS), [(None, UNITS)]),
        tmp_path=tmp_path,
        call_fn=lambda cell, xs, training: cell(xs[0], [xs[1]], training=training),
        check_compute_output_shape=False,
    )
    output, (state,) = built["outputs"]
    np.testing.assert_array_equal(output, state)


# --- parity with keras.layers.GRU(reset_after=False) at equal weights ----------------------


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_matches_keras_gru(return_sequences, go_backwards):
    x = _sequences()
    flags = dict(return_sequences=return_sequences, go_backwards=go_backwards, return_state=True)
    ours, reference = _equal_weight_pair(x, **flags)
    expected = reference(x)
    assert _max_abs_diff(ours(x), expected) < 1e-5
    # The weights copied over verbatim: the same (perturbed) arrays, in Keras's layout.
    assert len(ours.get_weights()) == 3


def test_matches_keras_gru_without_bias():
    x = _sequences()
    ours, reference = _equal_weight_pair(x, use_bias=False, return_sequences=True)
    assert _max_abs_diff(ours(x), reference(x)) < 1e-5


@pytest.mark.parametrize("go_backwards", [False, True])
def test_matches_keras_gru_with_explicit_mask(go_backwards):
    x = _sequences(padded=True)
    mask = np.arange(TIMESTEPS)[None, :] < LENGTHS[:, None]
    flags = dict(return_sequences=True, return_state=True, go_backwards=go_backwards)
    ours, reference = _equal_weight_pair(x, **flags)
    expected = reference(x, mask=mask)
    assert _max_abs_diff(ours(x, mask=mask), expected) < 1e-5
    if not go_backwards:
        # The state stopped at each sequence's last real step.
        outputs, state = ours(x, mask=mask)
        np.testing.assert_allclose(state, np.asarray(outputs)[np.arange(3), LENGTHS - 1], atol=1e-6)
    # Masked steps matter: without the mask the final state differs.
    assert _max_abs_diff(ours(x)[1], expected[1]) > 1e-3


def test_matches_keras_gru_after_a_masking_layer():
    x = _sequences(padded=True)

    def model(recurrent):
        inputs = keras.Input((TIMESTEPS, INPUT_DIM))
        return keras.Model(inputs, recurrent(keras.layers.Masking(0.0)(inputs)))

    ours, reference = model(_ours()), model(_keras_gru())
    reference.set_weights(_random_weights(reference))
    ours.set_weights(reference.get_weights())
    assert _max_abs_diff(ours(x), reference(x)) < 1e-5


def test_matches_keras_gru_inside_bidirectional():
    x = _sequences(padded=True)
    mask = np.arange(TIMESTEPS)[None, :] < LENGTHS[:, None]
    ours = keras.layers.Bidirectional(_ours(return_sequences=True))
    reference = keras.layers.Bidirectional(_keras_gru(return_sequences=True))
    reference(x)
    ours(x)
    reference.set_weights(_random_weights(reference))
    ours.set_weights(reference.get_weights())
    assert ours.backward_layer.go_backwards and isinstance(ours.backward_layer.cell, GRUCell)
    assert _max_abs_diff(ours(x), reference(x)) < 1e-5
    assert _max_abs_diff(ours(x, mask=mask), reference(x, mask=mask)) < 1e-5


def test_unrolled_and_stacked_cells_match_keras_grus():
    x = _sequences()
    ours, reference = _equal_weight_pair(x, unroll=True, return_sequences=True)
    assert _max_abs_diff(ours(x), reference(x)) < 1e-5
    # Two cells stacked in one RNN = two GRU layers, the first returning sequences.
    stacked = keras.layers.RNN(keras.layers.StackedRNNCells([GRUCell(UNITS), GRUCell(UNITS)]))
    first, second = _keras_gru(return_sequences=True), _keras_gru()
    expected = second(first(x))
    stacked(x)
    first.set_weights(_random_weights(first, seed=2))
    second.set_weights(_random_weights(second, seed=3))
    stacked.set_weights(first.get_weights() + second.get_weights())
    assert _max_abs_diff(stacked(x), second(first(x))) < 1e-5
    assert _max_abs_diff(expected, second(first(x))) > 1e-3  # the weights were replaced


def test_training_dropout_matches_keras_gru_with_the_same_seed():
    # Input dropout only: Keras then draws one (batch, input_dim) mask per sequence, as we do.
    x = _sequences()
    ours, reference = _equal_weight_pair(x, dropout=0.4, seed=11, return_sequences=True)
    plain = _ours(return_sequences=True)
    plain(x)
    plain.set_weights(reference.get_weights())
    expected = reference(x, training=True)
    assert _max_abs_diff(ours(x, training=True), expected) < 1e-5
    assert _max_abs_diff(expected, plain(x)) > 1e-2  # dropout did act
    assert _max_abs_diff(ours(x, training=False), plain(x)) == 0.0  # and only in training


# --- the course's formulas, step by step in NumPy ----------------------------------------


def _course_gru(x, kernel, recurrent_kernel, bias, input_mask=None, state_mask=None):
    """The course's full GRU. Γu = 1 - Keras's z, so Wu = -Wz and bu = -bz."""
    u = UNITS
    w_x = {"u": -kernel[:, :u], "r": kernel[:, u : 2 * u], "c": kernel[:, 2 * u :]}  # x<t> part of W
    w_c = {  # c<t-1> part of W
        "u": -recurrent_kernel[:, :u],
        "r": recurrent_kernel[:, u : 2 * u],
        "c": recurrent_kernel[:, 2 * u :],
    }
    b = {"u": -bias[:u], "r": bias[u : 2 * u], "c": bias[2 * u :]}
    c = np.zeros((x.shape[0], u))
    outputs = []
    for t in range(x.shape[1]):
        x_t = x[:, t] if input_mask is None else x[:, t] * input_mask
        c_in = c if state_mask is None else c * state_mask
        gamma_u = _sigmoid(c_in @ w_c["u"] + x_t @ w_x["u"] + b["u"])
        gamma_r = _sigmoid(c_in @ w_c["r"] + x_t @ w_x["r"] + b["r"])
        c_tilde = np.tanh((gamma_r * c_in) @ w_c["c"] + x_t @ w_x["c"] + b["c"])
        c = gamma_u * c_tilde + (1.0 - gamma_u) * c
        outputs.append(c)
    return np.stack(outputs, axis=1)


def test_matches_the_course_formulas():
    x = _sequences()
    ours, _ = _equal_weight_pair(x, return_sequences=True)
    expected = _course_gru(x.astype("float64"), *[w.astype("float64") for w in ours.get_weights()])
    assert _max_abs_diff(ours(x), expected) < 1e-5


def test_variational_dropout_masks_are_drawn_once_per_sequence():
    # Both masks come from the cell's SeedGenerator, input mask first: replay the draws.
    x = _sequences()
    ours = _ours(dropout=0.3, recurrent_dropout=0.5, seed=5, return_sequences=True)
    ours.build(x.shape)  # not a call: every call draws masks, even in inference
    ours.set_weights(_random_weights(ours))
    generator = keras.random.SeedGenerator(seed=5)
    input_mask = keras.random.dropout(np.ones((3, INPUT_DIM), "float32"), 0.3, seed=generator)
    state_mask = keras.random.dropout(np.ones((3, UNITS), "float32"), 0.5, seed=generator)
    first = ours(x, training=True)
    expected = _course_gru(
        x, *ours.get_weights(), input_mask=np.asarray(input_mask), state_mask=np.asarray(state_mask)
    )
    assert _max_abs_diff(first, expected) < 1e-5
    # Masks are not reused across calls (the RNN layer resets them after each sequence).
    assert _max_abs_diff(ours(x, training=True), first) > 1e-3


# --- gradients ---------------------------------------------------------------------------


@pytest.mark.parametrize("go_backwards", [False, True])
def test_gradient_check_through_rnn_layer(go_backwards):
    keras.utils.set_random_seed(0)
    rnn = keras.layers.RNN(
        GRUCell(3, bias_initializer="random_normal", dtype="float64"),
        return_sequences=True,
        go_backwards=go_backwards,
        dtype="float64",
    )
    x = np.random.default_rng(0).standard_normal((2, 4, 3))
    result = gradient_check(rnn, x)
    assert result.relative_difference < 1e-6, result.per_variable
    assert set(result.num_checked.values()) == {27, 9, 24}  # all of kernel/recurrent, bias, inputs


# --- arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(units=0), "`units` must be a positive int, received: 0"),
        (dict(units=2.5), "`units` must be a positive int, received: 2.5"),
        (dict(units=True), "`units` must be a positive int, received: True"),
        (dict(units=4, activation="nope"), "`activation` could not be interpreted, received: 'nope'"),
        (dict(units=4, recurrent_activation="nope"), "`recurrent_activation` could not be interpreted"),
        (dict(units=4, use_bias="yes"), "`use_bias` must be a bool, received: 'yes'"),
        (dict(units=4, kernel_initializer="nope"), "`kernel_initializer` could not be interpreted"),
        (dict(units=4, recurrent_regularizer="nope"), "`recurrent_regularizer` could not be interpreted"),
        (dict(units=4, bias_constraint="nope"), "`bias_constraint` could not be interpreted"),
        (dict(units=4, dropout=1.0), r"`dropout` must be a float in \[0, 1\), received: 1.0"),
        (
            dict(units=4, recurrent_dropout=-0.1),
            r"`recurrent_dropout` must be a float in \[0, 1\), received: -0.1",
        ),
        (dict(units=4, dropout="0.1"), r"`dropout` must be a float in \[0, 1\), received: '0.1'"),
        (dict(units=4, seed="7"), "`seed` must be None or an int, received: '7'"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GRUCell(**kwargs)


def test_unknown_input_dimension_raises_value_error():
    with pytest.raises(ValueError, match=r"GRUCell needs a known last input dimension.*\(None, None\)"):
        GRUCell(UNITS).build((None, None))
