"""`classics serve` end to end: TF Serving's REST API answered through kserve, same numbers as
the in-process SavedModel call, and each fault answered cleanly with the server still serving."""

import base64
import json
import shlex
import shutil
import socket
import subprocess

import numpy as np
import psutil
import pytest
from serve_helpers import MAX_BODY, Client, reference, running_server

PREDICT = "/v1/models/classification:predict"


@pytest.fixture(scope="module")
def server(served_root):
    # Thread pools other than the defaults (1 and the usable cores): the start line shows them.
    with running_server(served_root, "--intra-op-threads", "2", "--inter-op-threads", "3") as (port, process, log):
        yield port, process, log


@pytest.fixture
def client(server):
    return Client(server[0])


@pytest.fixture(scope="module")
def expected(served_root, digits):
    pixels, pngs = digits
    version = served_root / "classification" / "1"
    return {
        "images": reference(version, "predict_images", images=pixels),
        "bytes": reference(version, "serving_default", image_bytes=np.array(pngs, dtype=object)),
    }


def b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode("ascii")}


# A row's outputs: the answer, and "unsure" with its score and threshold (`error` is dropped).
OUTPUTS = ["class_ids", "classes", "ood_score", "ood_threshold", "probabilities", "scores", "unsure"]


def check_rows(predictions, want):
    assert len(predictions) == len(want["class_ids"])
    for i, row in enumerate(predictions):
        assert sorted(row) == OUTPUTS
        np.testing.assert_array_equal(np.float32(row["probabilities"]), want["probabilities"][i])
        assert np.float32(row["scores"]) == want["scores"][i]
        assert np.float32(row["ood_score"]) == want["ood_score"][i]
        assert np.float32(row["ood_threshold"]) == want["ood_threshold"][i]
        assert row["unsure"] == bool(want["unsure"][i]) == (row["ood_score"] > row["ood_threshold"])
        assert row["class_ids"] == want["class_ids"][i]
        assert row["classes"] == want["classes"][i].decode()


def check_columns(outputs, want):
    np.testing.assert_array_equal(np.float32(outputs["probabilities"]), want["probabilities"])
    np.testing.assert_array_equal(np.float32(outputs["scores"]), want["scores"])
    np.testing.assert_array_equal(outputs["class_ids"], want["class_ids"])
    assert outputs["classes"] == [c.decode() for c in want["classes"]]


def assert_serves(client, digits, expected):
    """A correct answer right now (used after every fault)."""
    pixels, _ = digits
    status, body, headers = client.post(PREDICT, {"signature_name": "predict_images",
                                                  "instances": pixels.tolist()})
    assert status == 200, body
    check_rows(body["predictions"], expected["images"])


# ---------------------------------------------------------------- same numbers as in-process
def test_listens_on_loopback_by_default(server):
    from apps.cli import build_parser

    assert build_parser().parse_args(["serve"]).host == "127.0.0.1"
    port, process, _ = server
    # psutil comes with kserve (and tensorflow-datasets); it reads the server's own sockets.
    listening = [c.laddr for c in psutil.Process(process.pid).connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN]
    assert [(address.ip, address.port) for address in listening] == [("127.0.0.1", port)]


def test_thread_options_reach_tensorflow(server, served_root, capsys):
    from apps.cli import main

    # What the server process's TensorFlow reports after applying --intra/--inter-op-threads.
    assert "TensorFlow threads: intra-op 2, inter-op 3)" in server[1].start_line
    for flag, value in (("--intra-op-threads", "-1"), ("--inter-op-threads", "257")):
        assert main(["serve", "--model-root", str(served_root), flag, value]) == 2
        assert capsys.readouterr().err.strip() == f"error: {flag}: expected 0 (TensorFlow's choice) to 256, got {value}"


def test_row_format_b64_images(client, digits, expected):
    _, pngs = digits
    status, body, headers = client.post(PREDICT, {"instances": [b64(p) for p in pngs]})
    assert status == 200, body
    assert headers["x-model-version"] == "1"
    check_rows(body["predictions"], expected["bytes"])
    # The same with the input named, and without any Content-Type (curl -d sends a form type).
    rows = [{"image_bytes": b64(p)} for p in pngs]
    status, body, _ = Client(client.port).request("POST", PREDICT, {"instances": rows})
    assert status == 200, body
    check_rows(body["predictions"], expected["bytes"])


def test_columnar_format_b64_images(client, digits, expected):
    _, pngs = digits
    status, body, _ = client.post(PREDICT, {"inputs": {"image_bytes": [b64(p) for p in pngs]}})
    assert status == 200, body
    check_columns(body["outputs"], expected["bytes"])
    status, bare, _ = client.post(PREDICT, {"inputs": [b64(p) for p in pngs]})  # single input: bare
    assert bare == body


def test_uint8_arrays_row_and_columnar(client, digits, expected):
    pixels, _ = digits
    status, body, _ = client.post(PREDICT, {"signature_name": "predict_images", "instances": pixels.tolist()})
    assert status == 200, body
    check_rows(body["predictions"], expected["images"])
    status, body, _ = client.post(PREDICT, {"signature_name": "predict_images",
                                            "inputs": {"images": pixels.tolist()}})
    assert status == 200, body
    check_columns(body["outputs"], expected["images"])
    # A 3-image batch decoded in-graph from PNGs is the same as the raw pixels.
    np.testing.assert_array_equal(expected["bytes"]["probabilities"], expected["images"]["probabilities"])


def test_versioned_path_equals_latest(client, digits, expected):
    pixels, _ = digits
    status, body, _ = client.post("/v1/models/classification/versions/1:predict",
                                  {"signature_name": "predict_images", "instances": pixels.tolist()})
    assert status == 200, body
    check_rows(body["predictions"], expected["images"])


def test_raw_strings_and_several_inputs_of_another_app(client, served_root):
    texts = ["abc", "héllo", ""]
    want = reference(served_root / "text" / "1", "serving_default", text=np.array(
        [t.encode() for t in texts], dtype=object))
    status, body, _ = client.post("/v1/models/text:predict", {"instances": texts})
    assert status == 200, body
    assert body["predictions"] == [{"length": int(n), "upper": u.decode()}
                                   for n, u in zip(want["length"], want["upper"])]
    assert body["predictions"][1] == {"length": 6, "upper": "HéLLO"}  # bytes, upper-cased ASCII only
    status, body, _ = client.post("/v1/models/text:predict", {"inputs": {"text": [b64(b"abc")]}})
    assert body == {"outputs": {"length": [3], "upper": ["ABC"]}}

    x = [[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]]
    want = reference(served_root / "text" / "1", "weigh", x=np.float32(x), k=np.int32([2, 3]))
    status, body, _ = client.post("/v1/models/text:predict", {
        "signature_name": "weigh", "instances": [{"x": x[0], "k": 2}, {"x": x[1], "k": 3}]})
    assert status == 200, body
    np.testing.assert_array_equal(np.float32(body["predictions"]), want["y"])
    status, body, _ = client.post("/v1/models/text:predict", {
        "signature_name": "weigh", "inputs": {"x": x, "k": [2, 3]}})
    np.testing.assert_array_equal(np.float32(body["outputs"]), want["y"])


def test_metadata_lists_signatures_with_names_dtypes_shapes(client):
    status, body, _ = client.get("/v1/models/classification/metadata")
    assert status == 200
    assert body["model_spec"] == {"name": "classification", "signature_name": "", "version": "1"}
    defs = body["metadata"]["signature_def"]["signature_def"]
    assert sorted(defs) == ["predict_images", "serving_default"]
    images = defs["predict_images"]["inputs"]["images"]
    assert images["dtype"] == "DT_UINT8"
    assert [d["size"] for d in images["tensorShape"]["dim"]] == ["-1", "28", "28", "1"]
    assert defs["serving_default"]["inputs"]["image_bytes"]["dtype"] == "DT_STRING"
    assert sorted(defs["serving_default"]["outputs"]) == sorted(["error", *OUTPUTS])
    assert sorted(defs["predict_images"]["outputs"]) == OUTPUTS
    assert defs["serving_default"]["outputs"]["probabilities"]["dtype"] == "DT_FLOAT"
    status, again, _ = client.get("/v1/models/classification/versions/1/metadata")
    assert again == body


def test_health_and_status(client):
    assert client.get("/v1/models/classification") == (200, {"name": "classification", "ready": True},
                                                      client.get("/v1/models/classification")[2])
    status, body, _ = client.get("/v1/models/classification/versions/1")
    assert body["model_version_status"][0]["state"] == "AVAILABLE"
    status, body, _ = client.get("/v1/models")
    assert sorted(body["models"]) == ["classification", "text"]
    assert client.get("/v2/health/ready")[0] == 200


def test_examples_written_by_export_work_against_the_server(client, served_root):
    for app in ("classification", "text"):
        examples = served_root / app / "1" / "assets.extra" / "examples"
        signatures = sorted(p.name for p in examples.iterdir())
        assert signatures == (["predict_images", "serving_default"] if app == "classification"
                              else ["serving_default", "weigh"])
        for name in signatures:
            request = json.loads((examples / name / "request.json").read_text())
            status, body, _ = client.post(f"/v1/models/{app}:predict", request)
            assert status == 200, (app, name, body)
            assert len(body["predictions"]) == 1
            # The curl line, run as written (only the port differs).
            line = (examples / name / "curl.txt").read_text().splitlines()[-1]
            argv = [a.replace("127.0.0.1:8080", f"127.0.0.1:{client.port}") for a in shlex.split(line)]
            if shutil.which("curl"):
                out = subprocess.run(argv, cwd=examples / name, capture_output=True, text=True, timeout=60)
                assert json.loads(out.stdout) == body, out.stderr


# ---------------------------------------------------------------- faults
@pytest.mark.parametrize("body, headers, message", [
    (b'{"instances": [', {"Content-Type": "application/json"}, "Unrecognized request format"),
    (b'{"instances": [', {}, "Unrecognized request format"),  # kserve decodes when no type is given
    (b'{"instances": [', {"Content-Type": "application/x-www-form-urlencoded"}, "malformed JSON"),
    (b"not json at all", {"Content-Type": "text/plain"}, "malformed JSON"),
    (b"[1, 2]", {}, "expected a JSON object"),
    (b'{"instance": []}', {}, "unknown key(s) ['instance']"),
    (b'{"instances": [], "inputs": []}', {}, "exactly one of"),
])
def test_malformed_bodies_are_400(client, digits, expected, body, headers, message):
    status, answer, _ = client.request("POST", PREDICT, body, headers)
    assert status == 400
    assert message in answer["error"] and "Traceback" not in answer["error"]
    assert "\n" not in answer["error"]
    assert_serves(client, digits, expected)


@pytest.mark.parametrize("request_body, message", [
    ({"instances": [{"image": {"b64": "AA=="}}]}, "unknown input(s) ['image']"),
    ({"inputs": {"imagebytes": []}}, "unknown input(s) ['imagebytes']"),
    ({"signature_name": "nope", "instances": [1]}, "signature_name 'nope' not found"),
    ({"signature_name": "predict_images", "instances": [[[1, 2, 3]]]}, "expected shape [-1, 28, 28, 1]"),
    ({"signature_name": "predict_images", "inputs": np.zeros((28, 28, 1), int).tolist()},
     "expected shape [-1, 28, 28, 1], got [28, 28, 1]"),
    ({"signature_name": "predict_images", "instances": np.full((1, 28, 28, 1), 0.5).tolist()},
     "expected uint8 values, got non-integer numbers"),
    ({"signature_name": "predict_images", "instances": np.full((1, 28, 28, 1), 256).tolist()},
     "values outside the uint8 range [0, 255]"),
    ({"signature_name": "predict_images", "instances": [[["a"] * 28] * 28]},
     "expected uint8 values, got strings"),
    ({"signature_name": "predict_images", "instances": [[[0]] * 28, [[0]] * 27]}, "ragged"),
    ({"instances": [123]}, "expected strings or {\"b64\""),
    ({"instances": [{"b64": "@@@"}]}, "not valid base64"),
])
def test_bad_inputs_are_400_with_one_clear_line(client, digits, expected, request_body, message):
    status, answer, _ = client.post(PREDICT, request_body)
    assert status == 400, answer
    assert message in answer["error"]
    assert "\n" not in answer["error"] and "Traceback" not in answer["error"]
    assert "node " not in answer["error"]
    assert_serves(client, digits, expected)


def test_images_the_graph_cannot_decode_get_their_own_error(client, served_root, digits, expected):
    """Row format: each undecodable image answers {"error": ...} (the export's `error` output),
    the real digits the in-process call's numbers on the same batch (and, to float32 rounding,
    on the 3 digits alone)."""
    _, pngs = digits
    broken = [b"GIF89a but not really an image", b"hello, not an image"]
    status, body, _ = client.post(PREDICT, {"instances": [b64(broken[0]), b64(pngs[0]), b64(pngs[1]),
                                                          b64(broken[1]), b64(pngs[2])]})
    assert status == 200, body
    rows = body["predictions"]
    batch = [broken[0], pngs[0], pngs[1], broken[1], pngs[2]]
    want = reference(served_root / "classification" / "1", "serving_default", image_bytes=np.array(batch, dtype=object))
    check_rows([rows[1], rows[2], rows[4]], {k: v[[1, 2, 4]] for k, v in want.items()})
    np.testing.assert_allclose(np.float32([rows[i]["probabilities"] for i in (1, 2, 4)]),
                               expected["bytes"]["probabilities"], rtol=1e-5, atol=1e-7)
    # The export's own per-instance checks, from the headers: "GIF89a" then " but" read as the
    # GIF's width, "ut" as its height; not an image at all.
    assert rows[0] == {"error": "image of 25120x29813 px: a side over the maximum of 4096 px"}, rows[0]
    assert rows[3] == {"error": "not an image in a format the model decodes (PNG, JPEG, GIF, BMP, WebP)"}
    status, body, _ = client.post(PREDICT, {"instances": [b64(broken[1])]})
    assert (status, body) == (200, {"predictions": [rows[3]]})
    # Columnar: the `error` column beside whole columns (placeholder answers for the bad rows).
    status, body, _ = client.post(PREDICT, {"inputs": {"image_bytes": [b64(pngs[0]), b64(broken[1])]}})
    assert status == 200, body
    assert body["outputs"]["error"] == ["", rows[3]["error"]]
    want = reference(served_root / "classification" / "1", "serving_default",
                     image_bytes=np.array([pngs[0], broken[1]], dtype=object))
    np.testing.assert_allclose(np.float32(body["outputs"]["probabilities"]), want["probabilities"],
                               rtol=1e-5, atol=1e-7)
    assert body["outputs"]["classes"] == [c.decode() for c in want["classes"]]
    assert want["error"][0] == b"" and want["unsure"].tolist() == body["outputs"]["unsure"]


@pytest.mark.parametrize("path", [
    "/v1/models/nope:predict", "/v1/models/classification/versions/2:predict",
    "/v1/models/classification/versions/x:predict", "/v1/models/nope/versions/1:predict",
])
def test_unknown_model_or_version_is_404(client, digits, expected, path):
    status, answer, _ = client.post(path, {"instances": [{"b64": "AA=="}]})
    assert status == 404, answer
    assert "error" in answer
    for get in ("/v1/models/nope/metadata", "/v1/models/classification/versions/7/metadata",
                "/v1/models/classification/versions/7"):
        assert client.get(get)[0] == 404
    assert_serves(client, digits, expected)


def raw_exchange(port, data: bytes, read=True) -> bytes:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        sock.sendall(data)
        chunks = []
        while read:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break  # the server closes with the unread body still in flight
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        sock.close()


def test_oversized_body_is_413_before_it_is_read(client, digits, expected):
    # Only the head is sent: the answer comes from Content-Length alone.
    head = (f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {10**9}\r\n\r\n").encode()
    answer = raw_exchange(client.port, head)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"--max-body-bytes" in answer
    # A chunked body has no Content-Length: refused once it passes the limit.
    chunk = b"x" * 16384
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(MAX_BODY // len(chunk) + 2))
    head = f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    answer = raw_exchange(client.port, head + body + b"0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # Through a normal client too, then a correct answer.
    status, answer, _ = Client(client.port).post(PREDICT, b"[" + b"0," * MAX_BODY + b"0]")
    assert status == 413
    assert_serves(client, digits, expected)


def test_clients_that_disconnect_mid_request(client, digits, expected):
    _, pngs = digits
    body = json.dumps({"instances": [b64(p) for p in pngs]}).encode()
    head = f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    raw_exchange(client.port, head[:20], read=False)  # gone in the middle of the head
    raw_exchange(client.port, head + body[:len(body) // 2], read=False)  # in the middle of the body
    for _ in range(5):  # before reading the answer
        raw_exchange(client.port, head + body, read=False)
    assert_serves(client, digits, expected)
    # The error log names no crash of the server itself.
    status, answer, _ = client.post(PREDICT, json.loads(body))
    assert status == 200
