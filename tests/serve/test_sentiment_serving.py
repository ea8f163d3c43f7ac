"""The sentiment export served by `classics serve`: raw strings in (row and columnar formats), the
same numbers as the in-process SavedModel call."""

import dataclasses

import numpy as np
import pytest
from serve_helpers import reference

PREDICT = "/v1/models/sentiment:predict"
TEXTS = ["A moving, beautifully acted film.", "Dull, lifeless and far too long.", "café? ¡no!"]


@pytest.fixture(scope="module")
def sentiment_root(tmp_path_factory):
    """saved_models/sentiment/1: a small untrained (seeded) model with a real vocabulary,
    written through the app's own export module and the shared export."""
    import keras

    from apps.common import export as export_lib
    from apps.sentiment.config import PRESETS, Config
    from apps.sentiment.model import build_model, build_vocabulary
    from apps.sentiment.serving import export_module

    keras.utils.set_random_seed(0)
    config = dataclasses.replace(Config(), **PRESETS["tiny"].values)
    vocabulary = build_vocabulary(TEXTS + ["a good film", "a bad film"], config)
    model = build_model(config, 2, vocabulary)
    model.set_weights([w + 0.05 for w in model.get_weights()])  # biases off zero: distinct outputs
    module, signatures = export_module(model, ["rotten", "fresh"])
    root = tmp_path_factory.mktemp("saved_models")
    export_lib.write_saved_model("sentiment", module, signatures, root=root, config=config,
                                 labels=["rotten", "fresh"])
    return root


@pytest.fixture(scope="module")
def served(sentiment_root, shared_server):
    want = reference(sentiment_root / "sentiment" / "1", "serving_default",
                     text=np.array([t.encode() for t in TEXTS], dtype=object))
    return shared_server.serve(sentiment_root, "sentiment-serving"), want


def test_row_format_raw_strings(served):
    client, want = served
    status, body, _ = client.post(PREDICT, {"instances": TEXTS})
    assert status == 200, body
    assert len(body["predictions"]) == len(TEXTS)
    for i, row in enumerate(body["predictions"]):
        np.testing.assert_array_equal(np.float32(row["probabilities"]), want["probabilities"][i])
        assert np.float32(row["scores"]) == want["scores"][i]
        assert row["classes"] == want["classes"][i].decode()
        assert row["class_ids"] == want["class_ids"][i]
    assert np.ptp(want["probabilities"][:, 1]) > 0  # the texts are told apart


def test_columnar_format_raw_strings(served):
    client, want = served
    status, body, _ = client.post(PREDICT, {"inputs": {"text": TEXTS}})
    assert status == 200, body
    np.testing.assert_array_equal(np.float32(body["outputs"]["probabilities"]), want["probabilities"])
    assert body["outputs"]["classes"] == [c.decode() for c in want["classes"]]
    status, tokens, _ = client.post(PREDICT, {"signature_name": "tokenize", "inputs": {"text": TEXTS}})
    assert status == 200, tokens
    assert np.array(tokens["outputs"]).shape == (3, 24)
