"""Face cropping for photos that are not already crops: OpenCV's Haar cascade (Viola-Jones).

OpenCV is optional (`pip install keras-classics[faces]`, i.e. opencv-python-headless<5,
whose wheel ships the cascades; 5.x has none). Off by default: crop datasets need none.
"""

import numpy as np

from apps.common.errors import DataError

CASCADE = "haarcascade_frontalface_default.xml"
_cache = {}


def _cascade():
    if "cascade" not in _cache:
        try:
            import cv2
        except ImportError:
            raise DataError("face cropping needs OpenCV: pip install 'opencv-python-headless<5' "
                            "(or keras-classics[faces])") from None
        path = cv2.data.haarcascades + CASCADE
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():
            raise DataError(f"{path}: OpenCV could not load its Haar cascade (opencv-python-headless "
                            "5.x ships none; install <5)")
        _cache["cascade"] = (cv2, cascade)
    return _cache["cascade"]


def detect_faces(image, min_size=24):
    """uint8 (H, W, 1|3) -> [(x, y, w, h), ...] largest first."""
    cv2, cascade = _cascade()
    gray = image[..., 0] if image.shape[-1] == 1 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    boxes = cascade.detectMultiScale(np.ascontiguousarray(gray), scaleFactor=1.1, minNeighbors=5,
                                     minSize=(min_size, min_size))
    return sorted((tuple(int(v) for v in b) for b in boxes), key=lambda b: -b[2] * b[3])


def crop_face(image, name="image", margin=0.15):
    """The largest face of `image` with `margin` of its size around it (clipped to the image)."""
    faces = detect_faces(image)
    if not faces:
        raise DataError(f"{name}: no face found (Haar cascade); pass a face crop, or turn cropping off")
    x, y, w, h = faces[0]
    mx, my = int(round(w * margin)), int(round(h * margin))
    top, left = max(0, y - my), max(0, x - mx)
    bottom, right = min(image.shape[0], y + h + my), min(image.shape[1], x + w + mx)
    return np.ascontiguousarray(image[top:bottom, left:right])
