"""Classification on EfficientNet-Lite0: the classifier's 0-1 pixels are scaled back to the 0-255
the trunk normalises itself (its features equal the shared Lite0 on raw pixels), init=imagenet
loads the offline weights, and the frozen phase leaves them untouched."""

import dataclasses
import functools

import numpy as np
import pytest
from PIL import Image
from processes import run_classics

from apps.common import config as config_lib
from apps.common import efficientnet_lite
from apps.common.errors import ConfigError


def _config(**sets):
    from apps.classification.config import PRESETS, Config

    return dataclasses.replace(config_lib.preset_config(Config, PRESETS, "tiny"), **sets)


@pytest.mark.slow  # reads the ImageNet weights twice
def test_lite0_classifier_sees_the_pixels_the_trunk_expects():
    from apps.classification.model import build_model

    config = _config(backbone="efficientnet_lite0", init="imagenet", dropout=0.0)
    model = build_model(config, 10, (48, 48, 3))
    reference = efficientnet_lite.efficientnet_lite0((48, 48, 3), include_top=False, pooling="avg")
    assert model.count_params() == reference.count_params() + 1280 * 10 + 10
    x = np.random.default_rng(0).uniform(0, 255, (2, 48, 48, 3)).astype(np.float32)
    features = model.get_layer("backbone")(x / 255.0)  # what the classifier's rescale passes on
    np.testing.assert_allclose(np.asarray(features), np.asarray(reference(x)), atol=1e-4)
    logits = model.get_layer("logits")
    kernel, bias = logits.get_weights()
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(reference(x)) @ kernel + bias, atol=1e-4)
    # init=random: another network (no weights read).
    scratch = build_model(dataclasses.replace(config, init="random"), 10, (48, 48, 3))
    assert np.abs(np.asarray(scratch.get_layer("backbone")(x / 255.0)) - np.asarray(reference(x))).max() > 0.1


def test_imagenet_init_is_refused_where_it_does_not_apply():
    with pytest.raises(ConfigError, match="init=imagenet: only backbone=efficientnet_lite0"):
        _config(init="imagenet")
    with pytest.raises(ConfigError, match="or init=imagenet"):
        _config(freeze_epochs=1)
    assert _config(backbone="efficientnet_lite0", init="imagenet", freeze_epochs=1).freeze_epochs == 1


def _colour_run(root):
    """`classics classification train` on Lite0 with init=imagenet, one frozen epoch then one of
    fine-tuning, on two colours (24 images each, 32 px): the run directory."""
    rng = np.random.default_rng(0)
    for label, colour in enumerate(((200, 40, 40), (40, 200, 40))):
        (root / "colours" / str(label)).mkdir(parents=True)
        for i in range(24):
            pixels = np.clip(np.array(colour) + rng.normal(0, 30, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / "colours" / str(label) / f"{i}.png")
    sets = ["backbone=efficientnet_lite0", "init=imagenet", "freeze_epochs=1", "epochs=1", "test_holdout=8",
            "val_fraction=0.25", "batch_size=8", f"runs_dir={root / 'runs'}"]
    code, _, err = run_classics("classification", "train", "--preset", "tiny", "--data", f"folder:{root / 'colours'}",
                                *sum((["--set", s] for s in sets), []))
    assert code == 0, err[-3000:]
    (run_dir,) = (root / "runs" / "classification").iterdir()
    return run_dir


def background_jobs(request, root):
    """The Lite0 run trains in a child process from the session's start (tests/conftest.py)."""
    return {"lite0 colours": functools.partial(_colour_run, root)}


@pytest.mark.slow
@pytest.mark.background
def test_frozen_phase_keeps_the_imagenet_trunk_then_fine_tuning_moves_it(jobs):
    import keras

    from apps.classification.config import Config
    from apps.classification.task import TASK
    from apps.common.run import Run

    run = Run.open("classification", Config, jobs.result("lite0 colours"))
    start = efficientnet_lite.efficientnet_lite0((32, 32, 3), include_top=False, pooling="avg")
    frozen = keras.models.load_model(run.path / "frozen" / "best.keras", compile=False)
    trunk = frozen.get_layer("backbone").get_layer("efficientnet_lite0")
    for a, b in zip(start.get_weights(), trunk.get_weights()):
        np.testing.assert_array_equal(a, b)  # the frozen phase: ImageNet weights untouched
    tuned = run.load_model().get_layer("backbone").get_layer("efficientnet_lite0")
    assert any(not np.array_equal(a, b) for a, b in zip(start.get_weights(), tuned.get_weights()))
    assert TASK.evaluate(run)["accuracy"] >= 0.75  # two colours: easy
