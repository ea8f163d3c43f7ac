"""dlib's own descriptors of three 150x150 chips, for tests/common/test_dlib_resnet.py.

The chips are made with NumPy alone (`chips`), so the test rebuilds them exactly; the
descriptors were computed once with dlib (the `dlib-bin` wheel, 20.0.1.post1, no compiler) in a
separate virtualenv, since dlib is not a dependency of the project:

    python3 -m venv /tmp/dlibenv && /tmp/dlibenv/bin/pip install dlib-bin==20.0.1.post1 numpy pillow
    /tmp/dlibenv/bin/python tests/common/dlib_reference.py ASTRONAUT.png CHELSEA.png MODEL.dat \
        > tests/common/data/dlib_descriptors.json

(ASTRONAUT/CHELSEA: skimage's photos, `classics fetch skimage-astronaut skimage-chelsea`;
MODEL: `classics fetch dlib-face-resnet`.)
"""

import json
import sys

import numpy as np


def _halve(image):
    """uint8 (2H, 2W, 3) -> (H, W, 3): the rounded mean of each 2x2 block (exact integers)."""
    blocks = image.astype(np.int32).reshape(image.shape[0] // 2, 2, image.shape[1] // 2, 2, 3)
    return ((blocks.sum((1, 3)) + 2) // 4).astype(np.uint8)


def chips(astronaut, chelsea):
    """(3, 150, 150, 3) uint8: the astronaut's face, the same mirrored, the cat's head."""
    face = _halve(np.asarray(astronaut)[20:320, 120:420])
    cat = _halve(np.asarray(chelsea)[0:300, 100:400])
    return np.stack([face, face[:, ::-1], cat])


def main(astronaut_path, chelsea_path, model_path):
    import dlib
    from PIL import Image

    made = chips(Image.open(astronaut_path).convert("RGB"), Image.open(chelsea_path).convert("RGB"))
    net = dlib.face_recognition_model_v1(model_path)
    descriptors = [list(map(float, net.compute_face_descriptor(np.ascontiguousarray(c)))) for c in made]
    json.dump({"dlib": dlib.__version__, "descriptors": descriptors}, sys.stdout)
    print()


if __name__ == "__main__":
    main(*sys.argv[1:])
