"""The detection, word-embeddings and fast-stylizer exports served by `classics serve`: a
request returns what the in-process SavedModel call returns, in row and columnar formats,
with b64 images and raw strings (classification and sentiment have their own files; faces:
tests/faces/test_faces_app.py and the contract test).

The models are small and untrained (seeded): serving must pass their numbers through
unchanged, whatever they are. Each export goes through its app's own export module and the
shared `write_saved_model`, as `classics <app> export` does."""

import base64
import dataclasses
import io

import numpy as np
import pytest
from PIL import Image
from serve_helpers import reference


def _png(pixels) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photos():
    rng = np.random.default_rng(0)
    return [_png(rng.integers(0, 256, (40 + 8 * i, 56, 3), dtype=np.uint8)) for i in range(2)]


@pytest.fixture(scope="module")
def served(tmp_path_factory, shared_server):
    import keras

    from apps.common import export as export_lib
    from apps.common.word2vec.vectors import WordVectors
    from apps.detection import config as detection
    from apps.detection.model import build_model as build_detector
    from apps.detection.serving import detector_module
    from apps.embeddings.serving import export_module as embeddings_module
    from apps.style import config as style
    from apps.style.fast import build_transform_net
    from apps.style.fast import export_module as style_module

    root = tmp_path_factory.mktemp("saved_models")
    keras.utils.set_random_seed(0)

    config = dataclasses.replace(detection.Config(), **detection.PRESETS["tiny"].values,
                                 anchors=(12.0, 16.0, 30.0, 24.0), score_threshold=0.0)
    labels = [str(i) for i in range(10)]
    model = build_detector(config, len(labels), 2)
    module, signatures = detector_module(model, config.anchors, labels, config)
    export_lib.write_saved_model("detection", module, signatures, root=root, config=config, labels=labels)

    words = ("king", "queen", "man", "woman", "café")
    wv = WordVectors(words, np.random.default_rng(1).normal(size=(len(words), 8)).astype(np.float32))
    module, signatures = embeddings_module(wv)
    export_lib.write_saved_model("embeddings", module, signatures, root=root, labels=list(words))

    config = dataclasses.replace(style.Config(), **style.PRESETS["tiny"].values)
    module, signatures = style_module(build_transform_net(config), config.export_image_size)
    export_lib.write_saved_model("style", module, signatures, root=root, config=config)

    return shared_server.serve(root, "others"), root


def _b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode()}


def test_detection_b64_images_row_and_columnar(served, photos):
    client, root = served
    want = reference(root / "detection" / "1", "serving_default", image_bytes=np.array(photos, dtype=object))
    assert want["num_detections"].min() > 0  # a score threshold of 0 keeps boxes to compare
    status, body, _ = client.post("/v1/models/detection:predict",
                                  {"instances": [_b64(p) for p in photos]})
    assert status == 200, body
    for i, row in enumerate(body["predictions"]):
        np.testing.assert_array_equal(np.float32(row["boxes"]), want["boxes"][i])
        np.testing.assert_array_equal(np.float32(row["scores"]), want["scores"][i])
        assert row["num_detections"] == want["num_detections"][i]
        assert row["labels"] == [v.decode() for v in want["labels"][i]]
    status, body, _ = client.post("/v1/models/detection:predict",
                                  {"inputs": {"image_bytes": [_b64(p) for p in photos]}})
    assert status == 200, body
    np.testing.assert_array_equal(np.float32(body["outputs"]["boxes"]), want["boxes"])
    np.testing.assert_array_equal(body["outputs"]["classes"], want["classes"])


def test_embeddings_raw_strings_row_and_columnar(served):
    client, root = served
    words = ["queen", "café", "not-a-word"]
    want = reference(root / "embeddings" / "1", "serving_default",
                     words=np.array([w.encode() for w in words], dtype=object))
    status, body, _ = client.post("/v1/models/embeddings:predict", {"instances": words})
    assert status == 200, body
    for name in want:
        np.testing.assert_array_equal(np.asarray([row[name] for row in body["predictions"]],
                                                 dtype=want[name].dtype), want[name])
    status, body, _ = client.post("/v1/models/embeddings:predict", {"inputs": {"words": words}})
    assert status == 200, body
    for name in want:
        np.testing.assert_array_equal(np.asarray(body["outputs"][name], dtype=want[name].dtype), want[name])


def test_fast_stylizer_b64_and_uint8(served, photos):
    client, root = served
    want = reference(root / "style" / "1", "serving_default", image_bytes=np.array(photos, dtype=object))
    status, body, _ = client.post("/v1/models/style:predict", {"instances": [_b64(p) for p in photos]})
    assert status == 200, body
    for i, row in enumerate(body["predictions"]):
        np.testing.assert_array_equal(np.uint8(row["images"]), want["images"][i])
        assert base64.b64decode(row["png"]["b64"]) == want["png"][i]  # bytes come back as b64
    size = want["images"].shape[1]
    pixels = np.random.default_rng(2).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
    want = reference(root / "style" / "1", "stylize_images", images=pixels)
    status, body, _ = client.post("/v1/models/style:predict",
                                  {"signature_name": "stylize_images", "inputs": {"images": pixels.tolist()}})
    assert status == 200, body
    np.testing.assert_array_equal(np.uint8(body["outputs"]["images"]), want["images"])
