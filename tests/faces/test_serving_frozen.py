"""The faces export embeds through one frozen graph (weights as constants, BatchNormalization
folded by Grappler): its answers are the Keras encoder's, on a flip-TTA EfficientNet-Lite0
trunk whose BN statistics are far from the identity."""

import dataclasses

import numpy as np
import tensorflow as tf

from apps.common import config as config_lib
from apps.faces.config import PRESETS, Config
from apps.faces.model import build_model
from apps.faces.serving import export_module


def test_frozen_flip_tta_export_answers_as_the_keras_encoder(tmp_path):
    config = config_lib.preset_config(Config, PRESETS, "att-effnet-wccn")
    config = dataclasses.replace(config, image_size=32, embedding_dim=8, lite_tap="block3b")
    assert config.flip_tta and config.backbone == "efficientnet-lite0"
    encoder = build_model(config, (32, 32, 3), weights_path="")
    rng = np.random.default_rng(0)
    for weight in encoder.weights:  # gamma, beta, moving mean and variance too: BN folding matters
        shape = tuple(weight.shape)
        weight.assign(rng.uniform(0.5, 1.5, shape) if "variance" in weight.path else rng.normal(0, 0.3, shape))
    calibration = {"threshold": 0.9, "logistic": {"w": rng.normal(size=8).tolist(), "b": 0.1}}
    module, signatures = export_module(encoder, calibration, photos=False)
    tf.saved_model.save(module, str(tmp_path / "m"), signatures=signatures)
    served = tf.saved_model.load(str(tmp_path / "m")).signatures
    x = rng.uniform(0, 255, (3, 32, 32, 3)).astype(np.uint8)
    want = np.asarray(encoder(x.astype(np.float32)))
    got = served["embed_images"](images=tf.constant(x))["embeddings"].numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)
    pair = served["verify_images"](images_1=tf.constant(x), images_2=tf.constant(x[::-1]))
    distance = ((want - want[::-1]) ** 2).sum(1)
    np.testing.assert_allclose(pair["distance"].numpy(), distance, atol=1e-5)
    assert pair["same"].numpy().tolist() == (distance <= 0.9).tolist()
    # The encoder's weights live in the graph: the export's variables are the calibration's.
    assert sorted(v.name.split(":")[0] for v in module.variables) == ["b", "threshold", "w"]
