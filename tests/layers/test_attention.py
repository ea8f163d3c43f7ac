import keras
import numpy as np
import pytest
from helpers import check_layer

from layers import BahdanauAttention, GRUCell, LuongAttention, gradient_check

BATCH, TX, TY, QUERY_DIM, VALUE_DIM, UNITS = 3, 5, 2, 6, 4, 7
# Post-padded sources of lengths 5, 3 and 1.
LENGTHS = np.array([5, 3, 1])
MASK = np.arange(TX)[None, :] < LENGTHS[:, None]


def _inputs(query_steps=None, query_dim=QUERY_DIM, seed=0):
    rng = np.random.default_rng(seed)
    query_shape = (BATCH, query_dim) if query_steps is None else (BATCH, query_steps, query_dim)
    return rng.standard_normal(query_shape).astype("float32"), rng.standard_normal(
        (BATCH, TX, VALUE_DIM)
    ).astype("float32")


def _two_inputs(layer, xs, training):
    return layer(xs[0], xs[1], training=training)


def _set_random_weights(layer, seed=1):
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.uniform(-0.9, 0.9, size=w.shape).astype(w.dtype) for w in layer.get_weights()])


def _softmax(e, mask):
    e = np.where(mask, e, -np.inf)
    p = np.exp(e - e.max())
    return p / p.sum()


def _course_attention(query, values, mask, kernel, bias, score_kernel, score_bias=None, relu=False):
    """The course's step, literally: repeat s<t-1> Tx times, concatenate, two Dense, softmax."""
    contexts, alphas = [], []
    for b in range(values.shape[0]):
        repeated = np.repeat(query[b][None, :], values.shape[1], axis=0)  # (Tx, q)
        concat = np.concatenate([repeated, values[b]], axis=-1)  # (Tx, q + d)
        energies = np.tanh(concat @ kernel + bias) @ score_kernel[:, 0]  # (Tx,)
        if score_bias is not None:
            energies = energies + score_bias[0]
        if relu:
            energies = np.maximum(energies, 0.0)
        alpha = _softmax(energies, mask[b])
        alphas.append(alpha)
        contexts.append(alpha @ values[b])  # sum_t' alpha<t'> a<t'>
    return np.stack(contexts), np.stack(alphas)


def _luong_reference(query, values, mask, kernel=None):
    contexts, alphas = [], []
    for b in range(values.shape[0]):
        keys = values[b] if kernel is None else values[b] @ kernel.T  # (Tx, q): W a<t'>
        alpha = _softmax(keys @ query[b], mask[b])
        alphas.append(alpha)
        contexts.append(alpha @ values[b])
    return np.stack(contexts), np.stack(alphas)


def _max_abs_diff(a, b):
    return float(np.max(np.abs(np.asarray(a, "float64") - np.asarray(b, "float64"))))


# --- the shared checks -------------------------------------------------------------------


def test_bahdanau_one_step_passes_layer_checks(tmp_path):
    built = check_layer(
        lambda: BahdanauAttention(UNITS),
        input_shape=[(None, QUERY_DIM), (None, TX, VALUE_DIM)],
        expected_output_shape=((None, VALUE_DIM), (None, TX)),
        tmp_path=tmp_path,
        call_fn=_two_inputs,
        check_compute_output_shape=False,
    )
    layer = built["layer"]
    assert [(w.name, tuple(w.shape)) for w in layer.weights] == [
        ("kernel", (QUERY_DIM + VALUE_DIM, UNITS)),
        ("bias", (UNITS,)),
        ("score_kernel", (UNITS, 1)),
    ]
    np.testing.assert_allclose(np.sum(built["outputs"][1], axis=-1), 1.0, atol=1e-6)


def test_bahdanau_all_steps_with_relu_score_passes_layer_checks(tmp_path):
    built = check_layer(
        lambda: BahdanauAttention(UNITS, score_activation="relu"),
        input_shape=[(None, TY, QUERY_DIM), (None, TX, VALUE_DIM)],
        expected_output_shape=((None, TY, VALUE_DIM), (None, TY, TX)),
        tmp_path=tmp_path,
        call_fn=_two_inputs,
        check_compute_output_shape=False,
    )
    assert built["layer"].score_bias is not None  # relu is not shift-invariant: the bias counts
    assert built["layer"].get_config()["score_activation"] == "relu"


def test_luong_general_passes_layer_checks(tmp_path):
    check_layer(
        lambda: LuongAttention("general"),
        input_shape=[(None, TY, QUERY_DIM), (None, TX, VALUE_DIM)],
        expected_output_shape=((None, TY, VALUE_DIM), (None, TY, TX)),
        tmp_path=tmp_path,
        call_fn=_two_inputs,
        check_compute_output_shape=False,
    )


def test_compute_output_shape():
    assert BahdanauAttention(3).compute_output_shape((None, 6), (None, 9, 4)) == ((None, 4), (None, 9))
    assert LuongAttention().compute_output_shape((2, 7, 4), (2, None, 4)) == ((2, 7, 4), (2, 7, None))


# --- numbers against NumPy references ------------------------------------------------------


@pytest.mark.parametrize("relu", [False, True])
def test_bahdanau_matches_the_course_step_in_numpy(relu):
    query, values = _inputs()
    layer = BahdanauAttention(UNITS, score_activation="relu" if relu else None)
    layer(query, values)
    _set_random_weights(layer)
    expected = _course_attention(query, values, MASK, *layer.get_weights(), relu=relu)
    context, alphas = layer(query, values, values_mask=MASK)
    assert _max_abs_diff(alphas, expected[1]) < 1e-6
    assert _max_abs_diff(context, expected[0]) < 1e-5
    # Without the mask the padded rows differ.
    assert _max_abs_diff(layer(query, values)[1], expected[1]) > 1e-2


def test_bahdanau_all_steps_equal_one_step_at_a_time():
    query, values = _inputs(query_steps=TY)
    layer = BahdanauAttention(UNITS)
    context, alphas = layer(query, values, values_mask=MASK)
    _set_random_weights(layer)
    context, alphas = layer(query, values, values_mask=MASK)
    projected = layer.project_values(values)
    for t in range(TY):
        expected = _course_attention(query[:, t], values, MASK, *layer.get_weights())
        assert _max_abs_diff(context[:, t], expected[0]) < 1e-5
        assert _max_abs_diff(alphas[:, t], expected[1]) < 1e-6
        # The decoding-loop form with the values projected once gives the same numbers.
        step = layer(query[:, t], values, values_mask=MASK, projected_values=projected)
        assert _max_abs_diff(step[0], context[:, t]) < 1e-6


@pytest.mark.parametrize("score", ["dot", "general"])
def test_luong_matches_numpy(score):
    query, values = _inputs(query_dim=VALUE_DIM if score == "dot" else QUERY_DIM)
    layer = LuongAttention(score)
    layer(query, values)
    if score == "general":
        _set_random_weights(layer)
    kernel = layer.kernel.numpy() if score == "general" else None
    expected = _luong_reference(query, values, MASK, kernel)
    context, alphas = layer(query, values, values_mask=MASK)
    assert _max_abs_diff(alphas, expected[1]) < 1e-6
    assert _max_abs_diff(context, expected[0]) < 1e-5


def test_luong_dot_equals_keras_attention():
    query, values = _inputs(query_steps=TY, query_dim=VALUE_DIM)
    context, alphas = LuongAttention()(query, values, values_mask=MASK)
    reference = keras.layers.Attention(score_mode="dot")
    expected, expected_alphas = reference([query, values], mask=[None, MASK], return_attention_scores=True)
    assert _max_abs_diff(context, expected) < 1e-6
    assert _max_abs_diff(alphas, expected_alphas) < 1e-6


# --- masking -------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: BahdanauAttention(UNITS), lambda: LuongAttention("general")])
def test_padded_positions_get_zero_weight_and_do_not_change_the_context(make):
    query, values = _inputs()
    layer = make()
    context, alphas = layer(query, values, values_mask=MASK)
    alphas = np.asarray(alphas)
    assert np.all(alphas[~MASK] == 0.0)
    np.testing.assert_allclose(alphas.sum(-1), 1.0, atol=1e-6)
    # Whatever the padded encoder states hold, the output is the same.
    garbage = values.copy()
    garbage[~MASK] = 100.0
    again = layer(query, garbage, values_mask=MASK)
    assert _max_abs_diff(again[0], context) < 1e-6
    # A row with no real position: zero weights, zero context (not NaN).
    empty = MASK.copy()
    empty[2] = False
    context, alphas = layer(query, values, values_mask=empty)
    assert np.all(np.asarray(alphas)[2] == 0.0) and np.all(np.asarray(context)[2] == 0.0)
    assert np.all(np.isfinite(context))


def _encoder_decoder_model(attention):
    """Token ids -> Embedding(mask_zero) -> Bidirectional RNN(GRUCell) -> attention.

    keras#20318: a TF function applied to KerasTensors breaks functional models; the layers
    use keras.ops only, and the values' mask must travel through Keras's masking.
    """
    source = keras.Input((TX,), dtype="int32")
    state = keras.Input((QUERY_DIM,))
    embedded = keras.layers.Embedding(10, 3, mask_zero=True)(source)
    encoded = keras.layers.Bidirectional(keras.layers.RNN(GRUCell(VALUE_DIM // 2), return_sequences=True))(
        embedded
    )
    context, alphas = attention(state, encoded)
    return keras.Model([source, state], [context, alphas]), keras.Model(source, encoded)


@pytest.mark.parametrize("make", [lambda: BahdanauAttention(UNITS), lambda: LuongAttention("general")])
def test_keras_masking_inside_a_functional_model_survives_saving(make, tmp_path):
    keras.utils.set_random_seed(0)
    model, encoder = _encoder_decoder_model(make())
    ids = np.where(MASK, np.arange(1, TX + 1)[None, :], 0).astype("int32")
    state, _ = _inputs()
    context, alphas = model([ids, state])
    assert np.all(np.asarray(alphas)[~MASK] == 0.0)
    # The same as the explicit mask on the encoder's states.
    attention = model.layers[-1]
    expected = attention(state, encoder(ids), values_mask=MASK)
    assert _max_abs_diff(context, expected[0]) < 1e-6 and _max_abs_diff(alphas, expected[1]) < 1e-6
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert _max_abs_diff(loaded([ids, state])[1], alphas) < 1e-6


# --- gradients ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, query_steps",
    [
        (lambda: BahdanauAttention(3, bias_initializer="random_normal", dtype="float64"), None),
        (lambda: BahdanauAttention(3, score_activation="tanh", dtype="float64"), TY),
        (lambda: LuongAttention("general", dtype="float64"), TY),
    ],
)
def test_gradient_check_with_a_mask(make, query_steps):
    keras.utils.set_random_seed(0)
    query, values = _inputs(query_steps=query_steps)
    layer = make()
    layer(query, values)  # build, for its variables

    def attend(xs):
        return layer(xs[0], xs[1], values_mask=MASK)

    result = gradient_check(attend, [query, values], variables=layer.trainable_variables)
    assert result.relative_difference < 1e-6, result.per_variable
    # Every weight and both inputs were checked.
    assert len(result.per_variable) == len(layer.trainable_variables) + 2


# --- arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: BahdanauAttention(0), "`units` must be a positive int, received: 0"),
        (
            lambda: BahdanauAttention(4, score_activation="nope"),
            "`score_activation` could not be interpreted",
        ),
        (lambda: BahdanauAttention(4, kernel_initializer="nope"), "`kernel_initializer` could not be"),
        (lambda: LuongAttention("concat"), "`score` must be one of 'dot', 'general', received: 'concat'"),
    ],
)
def test_bad_arguments_raise_value_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_shapes_raise_value_error():
    query, values = _inputs()
    with pytest.raises(ValueError, match=r"needs query_dim == value_dim, received 6 and 4"):
        LuongAttention()(query, values)
    with pytest.raises(ValueError, match=r"needs a query \(batch, q\) or \(batch, Ty, q\)"):
        BahdanauAttention(3)(query, values[0])


@pytest.mark.parametrize("make", [lambda: BahdanauAttention(UNITS), lambda: LuongAttention("general")])
def test_the_query_mask_passes_to_all_step_outputs(make):
    # Teacher-forced decoder steps (batch, Ty, q) keep their padding mask; one step has none.
    steps = keras.layers.Embedding(10, QUERY_DIM, mask_zero=True)(np.array([[3, 4, 0], [5, 0, 0]]))
    _, values = _inputs()
    layer = make()
    context, alphas = layer(steps, values[:2])
    expected = np.array([[True, True, False], [True, False, False]])
    np.testing.assert_array_equal(getattr(context, "_keras_mask", None), expected)
    np.testing.assert_array_equal(getattr(alphas, "_keras_mask", None), expected)
    context, _ = layer(steps[:, 0], values[:2])
    assert getattr(context, "_keras_mask", None) is None
