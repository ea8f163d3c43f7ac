import numpy as np
import pytest
from PIL import Image


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
