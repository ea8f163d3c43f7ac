import os

import pytest

# Quiet TensorFlow's C++ start-up chatter in the test log.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A 2-epoch tiny classifier on the embedded MNIST-5k (trained once per session): its Run."""
    from apps.classification.config import PRESETS, Config
    from apps.classification.task import TASK
    from apps.common import config as config_lib

    runs = tmp_path_factory.mktemp("runs")
    config = config_lib.resolve(Config, PRESETS, preset="tiny", sets=[f"runs_dir={runs}"])
    return TASK.train(config, verbose=0)


def _colour_folder(root, per_class: int, bright: int):
    """folder:<root> with 3 classes of RGB 16x16 images, told apart by their colour:
    random dark pixels with one channel raised to bright..255."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(["red", "green", "blue"]):
        (root / name).mkdir()
        for i in range(per_class):
            pixels = rng.integers(0, 60, (16, 16, 3), dtype=np.uint8)
            pixels[..., c] = rng.integers(bright, 255, (16, 16), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


@pytest.fixture(scope="session")
def rgb_folder(tmp_path_factory):
    """12 images per class, well apart: for the classification app's tests."""
    return _colour_folder(tmp_path_factory.mktemp("rgb"), 12, 180)


@pytest.fixture(scope="session")
def colour_folder(tmp_path_factory):
    """40 images per class, closer: trials of seconds whose scores differ, for tuning."""
    return _colour_folder(tmp_path_factory.mktemp("colours"), 40, 120)
