"""TF Serving's JSON <-> tensors, and example requests from signatures, without a server."""

import base64
import io
import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from apps.common import export, request_examples
from apps.common.serving import codec, predict, versions


def test_parse_body_formats_and_errors():
    row = codec.parse_body(b'{"instances": [1, 2]}')
    assert (row.signature_name, row.columnar, row.data) == ("serving_default", False, [1, 2])
    col = codec.parse_body({"signature_name": "s", "inputs": {"x": [1]}})
    assert (col.signature_name, col.columnar, col.data) == ("s", True, {"x": [1]})
    assert codec.parse_body(b'{"instances": []}').data == []  # an empty batch is well-formed
    for body, message in [(b"{", "malformed JSON"), (b"[]", "expected a JSON object"),
                          (b'{"instances": {}}', "expected a list of rows, got dict"),
                          (b'{"signature_name": 3, "inputs": 1}', "signature_name: expected a string"),
                          (b"{}", "exactly one of")]:
        with pytest.raises(codec.BadRequest) as info:
            codec.parse_body(body)
        assert message in str(info.value)


def test_to_array_converts_and_checks_dtype_and_shape():
    spec = tf.TensorSpec([None, 2], tf.uint8)
    out = codec.to_array("x", [[0, 255], [7, 8]], spec)
    assert out.dtype == np.uint8 and out.tolist() == [[0, 255], [7, 8]]
    floats = codec.to_array("x", [[1, 2]], tf.TensorSpec([None, 2], tf.float32))
    assert floats.dtype == np.float32 and floats.tolist() == [[1.0, 2.0]]
    strings = codec.to_array("s", ["a", {"b64": base64.b64encode(b"\x00\xff").decode()}],
                             tf.TensorSpec([None], tf.string))
    assert strings.tolist() == [b"a", b"\x00\xff"]
    for value, want, message in [
        ([[256, 0]], spec, "outside the uint8 range [0, 255]"),
        ([[-1, 0]], spec, "outside the uint8 range"),
        ([[0.5, 0]], spec, "got non-integer numbers"),
        ([["a", "b"]], spec, "got strings"),
        ([[0, 1, 2]], spec, "expected shape [-1, 2], got [1, 3]"),
        ([[0, 1], [2]], spec, "ragged"),
        ([True], tf.TensorSpec([None], tf.float32), "got booleans"),
        ([["a"], ["b", "c"]], tf.TensorSpec([None, None], tf.string), "ragged"),
        ([1], tf.TensorSpec([None], tf.string), "expected strings"),
    ]:
        with pytest.raises(codec.BadRequest) as info:
            codec.to_array("x", value, want)
        assert message in str(info.value), (value, str(info.value))


def test_response_body_row_and_columnar_like_tf_serving():
    outputs = {"p": np.float32([[0.25, 0.75], [1.0, 0.0]]), "label": np.array([b"a", b"b"], dtype=object),
               "png_bytes": np.array([b"\x89P", b"\x00"], dtype=object)}
    row = codec.response_body(outputs, columnar=False)
    assert row == {"predictions": [
        {"label": "a", "p": [0.25, 0.75], "png_bytes": {"b64": base64.b64encode(b"\x89P").decode()}},
        {"label": "b", "p": [1.0, 0.0], "png_bytes": {"b64": "AA=="}}]}
    col = codec.response_body(outputs, columnar=True)
    assert col["outputs"]["p"] == [[0.25, 0.75], [1.0, 0.0]] and col["outputs"]["label"] == ["a", "b"]
    assert codec.response_body({"y": np.int64([3, 4])}, columnar=False) == {"predictions": [3, 4]}
    assert codec.response_body({"y": np.int64([3, 4])}, columnar=True) == {"outputs": [3, 4]}
    with pytest.raises(codec.BadRequest, match="batch dimension"):
        codec.response_body({"y": np.int64([3, 4]), "total": np.int64(7)}, columnar=False)



def test_rows_put_an_instance_error_in_place_of_its_outputs():
    errors = np.array([b"", b"no face found", b""], dtype=object)
    outputs = {"error": errors, "y": np.int64([1, 2, 3]), "label": np.array([b"a", b"b", b"c"], dtype=object)}
    assert codec.rows(outputs) == [{"label": "a", "y": 1}, {"error": "no face found"}, {"label": "c", "y": 3}]
    # One output left besides `error`: a bare value, as TF Serving answers one-output signatures.
    assert codec.rows({"error": errors, "y": np.int64([1, 2, 3])}) == [1, {"error": "no face found"}, 3]
    assert codec.response_body(outputs, columnar=True) == {"outputs": {
        "error": ["", "no face found", ""], "label": ["a", "b", "c"], "y": [1, 2, 3]}}
    # An `error` output that is not one string per row is an ordinary output.
    assert codec.rows({"error": np.int64([0, 1]), "y": np.int64([5, 6])}) == [
        {"error": 0, "y": 5}, {"error": 1, "y": 6}]
    assert codec.rows({"error": np.array([b"", b""], dtype=object)}) == [{}, {}]


def test_empty_batch_is_recognised_in_both_formats():
    one = versions.Signature("s", None, {"x": tf.TensorSpec([None, 2], tf.float32)}, ("y",))
    two = versions.Signature("t", None, {"a": tf.TensorSpec([None], tf.string),
                                          "b": tf.TensorSpec([None], tf.int32)}, ("y",))
    for signature, body, empty in [(one, {"instances": []}, True), (one, {"instances": [[1, 2]]}, False),
                                   (one, {"inputs": []}, True), (one, {"inputs": {"x": []}}, True),
                                   (one, {"inputs": [[1, 2]]}, False),
                                   (two, {"inputs": {"a": [], "b": []}}, True),
                                   (two, {"inputs": {"a": [], "b": [1]}}, False)]:
        assert codec.is_empty_batch(signature, codec.parse_body(body)) == empty, body
    with pytest.raises(codec.BadRequest, match="unknown input"):  # still checked when empty
        codec.is_empty_batch(two, codec.parse_body({"inputs": {"a": [], "c": []}}))


def test_tf_error_message_keeps_the_one_line_that_matters():
    try:
        tf.function(lambda b: tf.io.decode_image(b[0]))(tf.constant([b"not an image"]))
    except tf.errors.InvalidArgumentError as e:
        message = predict.tf_error_message(e)
    assert message.startswith("Unknown image file format.") and "\n" not in message
    assert "node" not in message and "[Op:" not in message


class TwoInputs(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def decode(self, image_bytes):
        return {"shape": tf.map_fn(lambda b: tf.shape(tf.io.decode_png(b)), image_bytes,
                                   fn_output_signature=tf.int32)}

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name="tokens"),
                                  tf.TensorSpec([None, 2], tf.float32, name="weights")])
    def mix(self, tokens, weights):
        return {"sum": tf.reduce_sum(tokens, -1), "w": weights}


def test_examples_follow_the_signature_specs(tmp_path):
    module = TwoInputs()
    version = export.write_saved_model("demo", module, {"serving_default": module.decode, "mix": module.mix},
                                       root=tmp_path)
    examples = version / "assets.extra" / "examples"
    assert sorted(p.name for p in examples.iterdir()) == ["mix", "serving_default"]
    request = json.loads((examples / "serving_default" / "request.json").read_text())
    png = base64.b64decode(request["instances"][0]["b64"])
    assert Image.open(io.BytesIO(png)).size == (8, 8)  # a real image
    assert request == {"signature_name": "serving_default",
                       "instances": [{"b64": base64.b64encode(request_examples.tiny_png()).decode()}]}
    mix = json.loads((examples / "mix" / "request.json").read_text())
    assert mix == {"signature_name": "mix", "instances": [{"tokens": [0] * 8, "weights": [0.0, 0.0]}]}
    curl = (examples / "mix" / "curl.txt").read_text()
    assert "--data-binary @request.json http://127.0.0.1:8080/v1/models/demo:predict" in curl

    # Each example converts to the signature's tensors and runs in-process.
    loaded = versions.load_version(version)
    for name in ("serving_default", "mix"):
        request = codec.parse_body(json.loads((examples / name / "request.json").read_text()))
        body = predict.run_signature(loaded, request)
        assert len(body["predictions"]) == 1
    assert predict.run_signature(loaded, codec.parse_body(
        (examples / "serving_default" / "request.json").read_bytes()))["predictions"] == [[8, 8, 3]]
