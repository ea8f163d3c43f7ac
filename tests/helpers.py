"""Checks every layer of the suite must pass: shapes, config, saving, one training step."""

import copy
import json

import keras
import numpy as np
import tensorflow as tf


def _is_shape(value):
    return isinstance(value, (tuple, list)) and all(d is None or isinstance(d, int) for d in value)


def _normalize_shapes(value):
    """Shape -> tuple; nested lists/tuples/dicts of shapes -> same nesting of tuples."""
    if _is_shape(value):
        return tuple(value)
    if isinstance(value, dict):
        return {k: _normalize_shapes(v) for k, v in value.items()}
    return type(value)(_normalize_shapes(v) for v in value)


def _flatten_shapes(value):
    value = _normalize_shapes(value)
    if isinstance(value, tuple) and _is_shape(value):
        return [value]
    # Same order as tf.nest.flatten, which sorts dict keys.
    items = [value[k] for k in sorted(value)] if isinstance(value, dict) else value
    return [shape for item in items for shape in _flatten_shapes(item)]


def _default_call(layer, inputs, training=None):
    return layer(inputs[0] if len(inputs) == 1 else inputs, training=training)


def _perturb_weights(layer, rng):
    """Move every weight off its initial value so that a weight lost in a round trip shows.

    Fresh BN weights (gamma 1, beta 0, mean 0, variance 1) and zero biases would make a
    layer that silently dropped them look identical. A positive shift keeps variances > 0.
    """
    layer.set_weights([w + rng.uniform(0.05, 0.15, size=w.shape) for w in layer.get_weights()])


def _assert_outputs_close(actual, expected, atol, what):
    actual = [np.asarray(a) for a in tf.nest.flatten(actual)]
    expected = [np.asarray(e) for e in tf.nest.flatten(expected)]
    assert len(actual) == len(expected), f"{what}: {len(actual)} outputs, expected {len(expected)}"
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_allclose(a, e, rtol=0, atol=atol, err_msg=what)


def check_layer(
    layer_factory,
    input_shape,
    expected_output_shape,
    *,
    tmp_path,
    batch_size=2,
    call_fn=None,
    check_compute_output_shape=True,
    atol=1e-6,
    require_all_weights_trained=True,
    seed=0,
):
    """Run the shared layer checks and return what they built, for further assertions.

    Args:
        layer_factory: Zero-argument callable returning a new, unbuilt layer (called once;
            the clone under test comes from its config instead).
        input_shape: Full input shape with the batch dimension (None or an int), e.g.
            `(None, 8, 8, 3)`; or a list of such shapes for a layer with several inputs.
        expected_output_shape: Full output shape with the batch dimension, e.g.
            `(None, 4, 4, 16)`; or a nested list/tuple of shapes for several outputs.
        tmp_path: pytest's `tmp_path`, for the `.keras` file and the SavedModel.
        batch_size: Batch size of the random data (replaces a None batch dimension).
        call_fn: `call_fn(layer, inputs, training)` with `inputs` the list of input tensors;
            default `layer(inputs[0], training=...)` (or `layer(inputs, ...)` for several).
            For an RNN cell, e.g. `lambda cell, xs, training: cell(xs[0], [xs[1]], training=training)`.
        check_compute_output_shape: Compare `layer.compute_output_shape(input_shape)` too.
        atol: Tolerance of the round-trip comparisons (float32 outputs).
        require_all_weights_trained: Every trainable weight must change in the training
            step (else: at least one; the result lists the unchanged ones).
        seed: Seed of Keras's initializers and of the random data.

    Checks, in this order:
        1. Output shape of an eager call and of a symbolic call; `compute_output_shape`.
        2. Config round trip: `from_config(get_config())` gives the same config and, with
           the weights copied, the same outputs; the config is JSON-serializable.
        3. `.keras` round trip through `keras.models.load_model`: same outputs.
        4. SavedModel round trip (`model.export`, `tf.saved_model.load`, `serve`): same outputs.
        5. One `train_on_batch` step (SGD, MSE): finite loss, trainable weights changed.
        Outputs are compared in inference mode (`training=False`).

    Returns:
        dict with "layer", "model", "inputs" (numpy list), "outputs" (inference outputs
        before training), "loss", "unchanged_weights" (paths of trainable weights the
        training step left as they were).
    """
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    call_fn = call_fn or _default_call
    input_shapes = [tuple(input_shape)] if _is_shape(input_shape) else [tuple(s) for s in input_shape]
    expected = _normalize_shapes(expected_output_shape)
    expected_flat = _flatten_shapes(expected)
    inputs = [
        rng.standard_normal([batch_size if d is None else d for d in shape]).astype("float32")
        for shape in input_shapes
    ]

    # 1. Shapes.
    layer = layer_factory()
    outputs = call_fn(layer, [tf.constant(x) for x in inputs], training=False)
    assert layer.built
    actual = [tuple(y.shape) for y in tf.nest.flatten(outputs)]
    concrete = [tuple(batch_size if d is None else d for d in s) for s in expected_flat]
    assert actual == concrete, f"eager output shapes {actual}, expected {concrete}"
    for y in tf.nest.flatten(outputs):
        assert np.all(np.isfinite(np.asarray(y))), "non-finite output"
    if check_compute_output_shape:
        computed = layer.compute_output_shape(input_shapes[0] if len(input_shapes) == 1 else input_shapes)
        assert _normalize_shapes(computed) == expected, (
            f"compute_output_shape gave {computed}, expected {expected}"
        )
    symbolic_inputs = [keras.Input(batch_shape=s) for s in input_shapes]
    symbolic = call_fn(layer, symbolic_inputs, training=None)
    symbolic_flat = tf.nest.flatten(symbolic)
    assert [tuple(y.shape) for y in symbolic_flat] == expected_flat

    _perturb_weights(layer, rng)
    reference = call_fn(layer, [tf.constant(x) for x in inputs], training=False)

    # 2. Config round trip.
    config = layer.get_config()
    json.dumps(config)  # raises on anything that cannot go into a .keras file
    # A copy: some from_config methods consume their argument (keras.layers.RNN pops "cell").
    clone = type(layer).from_config(copy.deepcopy(config))
    assert clone.get_config() == config
    call_fn(clone, [tf.constant(x) for x in inputs], training=False)
    assert [w.shape for w in clone.weights] == [w.shape for w in layer.weights]
    clone.set_weights(layer.get_weights())
    _assert_outputs_close(
        call_fn(clone, [tf.constant(x) for x in inputs], training=False),
        reference,
        atol,
        "config round trip",
    )

    # 3. .keras round trip (the class must be registered: no custom_objects here).
    model = keras.Model(
        symbolic_inputs[0] if len(symbolic_inputs) == 1 else symbolic_inputs,
        symbolic_flat[0] if len(symbolic_flat) == 1 else symbolic_flat,
    )
    model_inputs = inputs[0] if len(inputs) == 1 else inputs
    _assert_outputs_close(model(model_inputs, training=False), reference, atol, "functional model")
    path = tmp_path / "layer.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert any(type(sub) is type(layer) for sub in loaded.layers)
    _assert_outputs_close(loaded(model_inputs, training=False), reference, atol, ".keras round trip")

    # 4. SavedModel round trip, through the serving endpoint TF Serving would call.
    export_dir = tmp_path / "saved_model"
    model.export(str(export_dir), verbose=False)
    restored = tf.saved_model.load(str(export_dir))
    # The endpoint's signature mirrors the model's inputs: one tensor, or one list.
    served = restored.serve(tf.nest.map_structure(tf.constant, model_inputs))
    _assert_outputs_close(served, reference, atol, "SavedModel round trip")

    # 5. One training step.
    targets = [rng.standard_normal(y.shape).astype("float32") for y in tf.nest.flatten(reference)]
    model.compile(optimizer="sgd", loss="mse")
    before = [np.array(w.numpy(), copy=True) for w in model.trainable_weights]
    assert before, "the layer has no trainable weights"
    loss = model.train_on_batch(model_inputs, targets[0] if len(targets) == 1 else targets)
    loss = float(np.sum(loss))
    assert np.isfinite(loss), f"training loss is {loss}"
    unchanged = [
        w.path for b, w in zip(before, model.trainable_weights, strict=True) if np.array_equal(b, w.numpy())
    ]
    if require_all_weights_trained:
        assert not unchanged, f"weights unchanged by a training step: {unchanged}"
    else:
        assert len(unchanged) < len(before), "no weight changed in a training step"

    return {
        "layer": layer,
        "model": model,
        "inputs": inputs,
        "outputs": reference,
        "loss": loss,
        "unchanged_weights": unchanged,
    }
