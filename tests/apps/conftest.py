import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A 2-epoch tiny classifier on the embedded MNIST-5k (trained once per session)."""
    from apps.classification import PRESETS, Config, train
    from apps.common import config as config_lib

    runs = tmp_path_factory.mktemp("runs")
    config = config_lib.resolve(Config, PRESETS, preset="tiny", sets=[f"runs_dir={runs}"])
    return train(config, verbose=0)


@pytest.fixture(scope="session")
def rgb_folder(tmp_path_factory):
    """folder:<root> with 3 classes of 12 RGB 16x16 images, told apart by their colour."""
    root = tmp_path_factory.mktemp("rgb")
    rng = np.random.default_rng(0)
    for c, name in enumerate(["red", "green", "blue"]):
        (root / name).mkdir()
        for i in range(12):
            pixels = rng.integers(0, 60, (16, 16, 3), dtype=np.uint8)
            pixels[..., c] = rng.integers(180, 255, (16, 16), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root
