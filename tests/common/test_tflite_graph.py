"""apps/common/tflite_graph.py: MediaPipe's BlazeFace and FaceMesh replayed as TensorFlow ops
equal TensorFlow Lite's own interpreter, on a batch, and survive a SavedModel round trip."""

import warnings

import numpy as np
import pytest
import tensorflow as tf

from apps.common.errors import ConfigError
from apps.common.packages import EMBEDDED, fetch_package_file
from apps.common.tflite_graph import TfliteGraph


def _interpreter_outputs(path, x):
    """The reference: tf.lite.Interpreter on one image at a time (no delegate), by output name."""
    with warnings.catch_warnings():  # its deprecation notice (the interpreter is the reference here)
        warnings.simplefilter("ignore", UserWarning)
        interpreter = tf.lite.Interpreter(model_path=path, experimental_op_resolver_type=(
            tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
    interpreter.allocate_tensors()
    out = []
    for image in x:
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image[None])
        interpreter.invoke()
        out.append({d["name"]: interpreter.get_tensor(d["index"])[0] for d in interpreter.get_output_details()})
    return out


@pytest.mark.parametrize("key", ["blazeface-short-range", "facemesh"])
def test_replayed_ops_equal_the_interpreter_on_a_batch(key):
    path = str(fetch_package_file(EMBEDDED[key]))
    graph = TfliteGraph(path)
    x = np.random.default_rng(0).uniform(-1, 1, (2, *graph.input_shape[1:])).astype(np.float32)
    ours = [o.numpy() for o in graph(x)]
    for b, reference in enumerate(_interpreter_outputs(path, x)):
        for name, out in zip(graph.output_names, ours):
            expected = reference[name]
            assert out[b].shape == expected.shape
            np.testing.assert_allclose(out[b], expected, atol=1e-5 * np.abs(expected).max() + 1e-6)


def test_saved_model_round_trip_keeps_the_outputs(tmp_path):
    graph = TfliteGraph(fetch_package_file(EMBEDDED["blazeface-short-range"]))
    module = tf.Module()
    module.weights = graph.module  # the weights, saved once however many functions use them
    module.run = tf.function(lambda x: graph(x), input_signature=[tf.TensorSpec([None, 128, 128, 3], tf.float32)])
    tf.saved_model.save(module, str(tmp_path / "m"))
    x = np.random.default_rng(1).uniform(-1, 1, (3, 128, 128, 3)).astype(np.float32)
    loaded = tf.saved_model.load(str(tmp_path / "m"))
    for a, b in zip(loaded.run(x), graph(x)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5 * np.abs(b.numpy()).max())


def test_frozen_graph_holds_no_variables_and_answers_the_same(tmp_path):
    path = fetch_package_file(EMBEDDED["facemesh"])
    graph, frozen = TfliteGraph(path), TfliteGraph(path, frozen=True)
    assert graph.module.weights and not frozen.module.variables
    module = tf.Module()
    module.run = tf.function(lambda x: frozen(x), input_signature=[tf.TensorSpec([None, 192, 192, 3], tf.float32)])
    tf.saved_model.save(module, str(tmp_path / "m"))
    x = np.random.default_rng(2).uniform(0, 1, (2, 192, 192, 3)).astype(np.float32)
    loaded = tf.saved_model.load(str(tmp_path / "m"))  # Grappler's folding: float32 rounding only
    for a, b in zip(loaded.run(x), tf.function(lambda x: graph(x))(x)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5 * np.abs(b.numpy()).max())


def test_unknown_operators_and_non_models_are_refused(tmp_path):
    dense = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(2, activation="softmax")])
    path = tmp_path / "dense.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(dense).convert())
    with pytest.raises(ConfigError, match="FULLY_CONNECTED is not supported"):
        TfliteGraph(path)
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a flatbuffer at all")
    with pytest.raises(ConfigError, match="not a TensorFlow Lite model"):
        TfliteGraph(junk)
