"""Fixtures of the tuning tests: a tiny real image folder (trials of seconds)."""

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def colour_folder(tmp_path_factory):
    """folder:<root> with 3 classes of 40 RGB 16x16 images told apart by their colour."""
    root = tmp_path_factory.mktemp("colours")
    rng = np.random.default_rng(0)
    for c, name in enumerate(["red", "green", "blue"]):
        (root / name).mkdir()
        for i in range(40):
            pixels = rng.integers(0, 60, (16, 16, 3), dtype=np.uint8)
            pixels[..., c] = rng.integers(120, 255, (16, 16), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


