"""Per-instance answers through the real server: an instance the model cannot answer gets
{"error": ...} in its place while the others get the in-process SavedModel's outputs; an empty
batch gets an empty answer. One tiny export (serve_helpers.export_checked_app), one server."""

import numpy as np
import pytest
from serve_helpers import export_checked_app, reference

PREDICT = "/v1/models/checked:predict"


@pytest.fixture(scope="module")
def served(tmp_path_factory, shared_server):
    root = tmp_path_factory.mktemp("saved_models")
    version = export_checked_app(root)
    return shared_server.serve(root, "per-instance"), version


def texts(values):
    return np.array([v.encode() for v in values], dtype=object)


def test_error_output_replaces_only_the_bad_rows(served):
    client, version = served
    batch = ["abc", "", "héllo", ""]
    want = reference(version, "serving_default", text=texts(batch))
    assert want["error"].tolist() == [b"", b"empty text", b"", b"empty text"]
    status, body, _ = client.post(PREDICT, {"instances": batch})
    assert status == 200, body
    assert body["predictions"] == [
        {"length": int(want["length"][0]), "upper": want["upper"][0].decode()},
        {"error": "empty text"},
        {"length": int(want["length"][2]), "upper": want["upper"][2].decode()},
        {"error": "empty text"}]
    assert body["predictions"][2] == {"length": 6, "upper": "HéLLO"}
    # One output besides `error`: good rows are bare values.
    status, body, _ = client.post(PREDICT, {"signature_name": "count", "instances": batch})
    assert status == 200, body
    assert body["predictions"] == [3, {"error": "empty text"}, 6, {"error": "empty text"}]
    # Columnar: the `error` column as is, every other column whole.
    status, body, _ = client.post(PREDICT, {"inputs": {"text": batch}})
    assert status == 200, body
    assert body["outputs"] == {"error": ["", "empty text", "", "empty text"],
                               "length": want["length"].tolist(),
                               "upper": [u.decode() for u in want["upper"]]}


def test_batch_the_graph_refuses_is_answered_instance_by_instance(served):
    client, version = served
    batch = ["2", "x1", "3.5", "1e400x"]
    status, body, _ = client.post(PREDICT, {"signature_name": "parse", "instances": batch})
    assert status == 200, body
    good = [reference(version, "parse", text=texts([t]))["double"][0] for t in ("2", "3.5")]
    assert good == [4.0, 7.0]
    assert [body["predictions"][0], body["predictions"][2]] == good
    for i, text in ((1, "x1"), (3, "1e400x")):
        error = body["predictions"][i]["error"]
        assert error.startswith("signature 'parse' rejected the input: ") and text in error, error
        assert "\n" not in error and "node" not in error
    # A batch of one bad instance: its error, still 200.
    status, body, _ = client.post(PREDICT, {"signature_name": "parse", "instances": ["nan?"]})
    assert status == 200, body
    assert list(body["predictions"][0]) == ["error"] and "nan?" in body["predictions"][0]["error"]
    # Columnar is one tensor per input: refused as a whole, with one line.
    status, body, _ = client.post(PREDICT, {"signature_name": "parse", "inputs": {"text": batch}})
    assert status == 400, body
    assert "rejected the input" in body["error"] and "\n" not in body["error"]
    # All good: one call, the in-process numbers.
    status, body, _ = client.post(PREDICT, {"signature_name": "parse", "instances": ["2", "3.5"]})
    assert (status, body) == (200, {"predictions": good})


@pytest.mark.parametrize("request_body, answer", [
    ({"instances": []}, {"predictions": []}),
    ({"signature_name": "parse", "instances": []}, {"predictions": []}),
    ({"inputs": {"text": []}}, {"outputs": {"error": [], "length": [], "upper": []}}),
    ({"inputs": []}, {"outputs": {"error": [], "length": [], "upper": []}}),
    ({"signature_name": "parse", "inputs": {"text": []}}, {"outputs": []}),
])
def test_empty_batch_gets_an_empty_answer(served, request_body, answer):
    client, _ = served
    status, body, headers = client.post(PREDICT, request_body)
    assert (status, body) == (200, answer)
    assert headers["x-model-version"] == "1"


@pytest.mark.parametrize("request_body, status, message", [
    ({"signature_name": "nope", "instances": []}, 400, "signature_name 'nope' not found"),
    ({"inputs": {"txt": []}}, 400, "unknown input(s) ['txt']"),
    ({"instances": [1]}, 400, "expected strings"),
])
def test_empty_or_not_a_malformed_request_is_400(served, request_body, status, message):
    client, _ = served
    got, body, _ = client.post(PREDICT, request_body)
    assert got == status and message in body["error"], body
