"""Every faces preset builds (tiny shapes; the MobileNetV2 trunk with random weights: the real
ImageNet weights are optional and only the benchmark fetches them)."""

import dataclasses

import numpy as np
import pytest

from apps.common import config as config_lib
from apps.faces.config import PRESETS, Config


def _preset(name, **kw):
    config = config_lib.preset_config(Config, PRESETS, name)
    return dataclasses.replace(config, **kw)


def test_att_mobilenet_builds_frozen_trunk_head_and_margin_softmax_trainer():
    import keras

    from apps.faces.losses import MarginSoftmaxLoss, TripletLoss
    from apps.faces.model import build_model, encoder_of, training_model

    config = _preset("att-mobilenet", image_size=32)
    assert (config.backbone, config.loss, config.embedding_dim) == ("mobilenet-v2", "margin_softmax", 128)
    encoder = build_model(config, (32, 32, 3), weights_path="")
    assert encoder.output_shape == (None, 128)
    trunk = encoder.get_layer("backbone").get_layer("mobilenet_v2")
    frozen = {layer.name.split("_")[0] for layer in trunk.layers
              if layer.name.startswith("features") and not layer.trainable}
    assert frozen == {f"features{i}" for i in range(config.trainable_from_block)}
    tuned = _preset("att-mobilenet", image_size=32, trainable_from_block=17)
    trunk = build_model(tuned, (32, 32, 3), weights_path="").get_layer("backbone").get_layer("mobilenet_v2")
    assert {layer.name.split("_")[0] for layer in trunk.layers if layer.trainable and layer.weights} == {
        "features17", "features18"}  # fine-tuning the top blocks only
    assert encoder.get_layer("head_block1").trainable
    trainer = training_model(config, encoder, num_people=24)
    assert trainer.get_layer("cosines").output.shape == (None, 24)
    assert sorted(map(tuple, trainer.output_shape)) == [(None, 24), (None, 128)]
    trainer.compile(optimizer="adam", loss={"cosines": MarginSoftmaxLoss(), "embedding": TripletLoss()},
                    loss_weights={"cosines": 1.0, "embedding": config.triplet_weight})
    x = np.random.default_rng(0).uniform(0, 255, (8, 32, 32, 3)).astype(np.float32)
    y = np.repeat(np.arange(4), 2)
    loss = trainer.train_on_batch(x, {"embedding": y, "cosines": y})
    assert np.isfinite(loss).all()
    # The export keeps the encoder only, and it is the same function.
    again = encoder_of(trainer)
    np.testing.assert_allclose(again(x), encoder(x), atol=1e-6)
    assert keras.ops.convert_to_numpy(keras.ops.norm(encoder(x), axis=1)) == pytest.approx(1.0, abs=1e-5)


def test_pretrained_trunk_normalisation_is_torchvision_s():
    import keras

    from apps.common import pretrained

    for channels in (1, 3):
        inputs = keras.Input((2, 2, channels))
        model = keras.Model(inputs, pretrained.imagenet_normalize(inputs, channels))
        x = np.random.default_rng(channels).uniform(0, 255, (1, 2, 2, channels)).astype(np.float32)
        rgb = np.repeat(x, 3, axis=-1) if channels == 1 else x
        want = (rgb / 255.0 - pretrained.IMAGENET_MEAN) / pretrained.IMAGENET_STD
        np.testing.assert_allclose(model(x), want, atol=1e-5)


def test_att_dlib_is_the_unit_descriptor_of_both_views_and_refuses_other_shapes():
    from apps.common.errors import ConfigError
    from apps.faces import align
    from apps.faces.model import build_model, single_view

    config = _preset("att-dlib")
    assert align.frame_for(config.backbone) is align.FRAMES["dlib"] and config.align_faces
    encoder = build_model(config, (150, 150, 3))  # the trunk equals dlib's: tests/common/test_dlib_resnet.py
    assert encoder.output_shape == (None, 128)
    assert not encoder.trainable_weights  # nothing of it trains
    trunk = single_view(encoder).get_layer("backbone")
    x = np.random.default_rng(0).uniform(0, 255, (2, 150, 150, 3)).astype(np.float32)
    unit = lambda v: v / np.linalg.norm(v, axis=1, keepdims=True)  # noqa: E731
    both = unit(np.asarray(trunk(x))) + unit(np.asarray(trunk(x[:, :, ::-1])))
    np.testing.assert_allclose(np.asarray(encoder(x)), unit(both), atol=1e-5)
    with pytest.raises(ConfigError, match="reads 150x150 chips: set image_size=150"):
        build_model(_preset("att-dlib", image_size=112), (112, 112, 3))
    with pytest.raises(ConfigError, match="the trunk's 32 features; set embedding_dim=32"):
        build_model(_preset("tiny", head="none", epochs=0, embedding_dim=5, image_size=16), (16, 16, 1))
    with pytest.raises(ConfigError, match="head=none: nothing to train"):
        _preset("att-dlib", epochs=2).check()
