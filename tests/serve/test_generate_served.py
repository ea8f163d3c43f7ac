"""The generate export served by `classics serve`: rows sample what the in-process sampler
samples for the same seed, and an odd instance answers its own error beside good ones."""

import dataclasses

import pytest


@pytest.fixture(scope="module")
def served(tmp_path_factory, shared_server):
    import keras

    from apps.common import export as export_lib
    from apps.generate.config import PRESETS, Config
    from apps.generate.data import Vocabulary
    from apps.generate.model import build_model
    from apps.generate.serving import export_module

    root = tmp_path_factory.mktemp("saved_models")
    keras.utils.set_random_seed(0)
    config = dataclasses.replace(Config(), **PRESETS["tiny"].values)
    vocabulary = Vocabulary.from_items(["Ada", "Bob", "Cyd"])
    module, signatures = export_module(build_model(config, vocabulary.size), config, vocabulary)
    export_lib.write_saved_model("generate", module, signatures, root=root, config=config)
    return shared_server.serve(root, "generate"), module


@pytest.mark.slow  # a server subprocess
def test_served_samples_equal_the_in_process_sampler(served):
    import tensorflow as tf

    client, module = served
    rows = [{"prefix": "A", "temperature": 1.0, "top_k": 0, "max_length": 12, "seed": 3},
            {"prefix": "", "temperature": 0.0, "top_k": 0, "max_length": 12, "seed": 0},
            {"prefix": "By", "temperature": 2.0, "top_k": 2, "max_length": 12, "seed": 9},
            {"prefix": "Zed", "temperature": 1.0, "top_k": 0, "max_length": 12, "seed": 1},
            {"prefix": "A", "temperature": -0.5, "top_k": 0, "max_length": 12, "seed": 1}]
    status, body, _ = client.post("/v1/models/generate:predict", {"instances": rows})
    assert status == 200, body
    answers = body["predictions"]
    for row, answer in zip(rows[:3], answers[:3]):
        want = module.sample(tf.constant(row["prefix"]), tf.constant(row["temperature"]),
                             tf.constant(row["top_k"]), tf.constant(row["max_length"]),
                             tf.constant(row["seed"], tf.int64))
        assert answer == {"text": want["text"].numpy().decode(), "ended": bool(want["ended"])}
    assert answers[3] == {"error": "prefix: characters the model never saw in training: Z e"}
    assert answers[4] == {"error": "temperature=-0.5: expected a number >= 0 (0: argmax decoding)"}
