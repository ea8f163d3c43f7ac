"""dlib's face ResNet read from its own file with NumPy: the Keras network's descriptors equal
dlib's (computed once with dlib itself: tests/common/dlib_reference.py)."""

import json
import pathlib

import numpy as np
import pytest
from PIL import Image

from apps.common import dlib_resnet
from apps.common.errors import DataError
from apps.common.packages import EMBEDDED, fetch_package_file

from .dlib_reference import chips

REFERENCE = pathlib.Path(__file__).parent / "data" / "dlib_descriptors.json"


@pytest.fixture(scope="module")
def network():
    return dlib_resnet.read_network(dlib_resnet.weights_path())


def test_the_file_holds_the_example_network(network):
    kinds = [layer.kind for layer in network["layers"]]
    assert kinds.count("con") == 29 and kinds.count("affine") == 29 and kinds.count("add_prev") == 14
    assert kinds[:4] == ["con", "affine", "relu", "max_pool"] and kinds[-2:] == ["avg_pool", "fc"]
    assert network["layers"][0].weights[0].shape == (32, 3, 7, 7)
    assert network["layers"][-1].weights[0].shape == (256, 128)
    np.testing.assert_allclose(network["channel_means"], [122.782, 117.001, 104.298], atol=1e-3)


def test_descriptors_equal_dlibs(network):
    photos = [Image.open(fetch_package_file(EMBEDDED[key])).convert("RGB")
              for key in ("skimage-astronaut", "skimage-chelsea")]
    x = chips(*photos)
    model = dlib_resnet.dlib_face_resnet(network)
    assert model.output_shape == (None, 128)
    ours = np.asarray(model(x.astype(np.float32)))
    theirs = np.array(json.loads(REFERENCE.read_text())["descriptors"])
    np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=0)
    # The face mirrored is nearer to the face than the cat is.
    assert np.linalg.norm(ours[0] - ours[1]) < np.linalg.norm(ours[0] - ours[2])


@pytest.mark.parametrize("damage", ["truncated", "not dlib"])
def test_other_files_are_a_clear_error(tmp_path, damage):
    data = pathlib.Path(dlib_resnet.weights_path()).read_bytes()
    bad = tmp_path / "model.dat"
    bad.write_bytes(data[:len(data) // 2] if damage == "truncated" else b"\x89PNG\r\n\x1a\n" + data[:200])
    with pytest.raises(DataError, match="model.dat: not dlib's face ResNet file"):
        dlib_resnet.read_network(bad)
