"""Face alignment: landmarks -> a similarity transform -> a canonical crop.

Four points of the FaceMesh teacher (apps/common/face_teachers.py) fix a face: the two eye
centres (the mean of each eye's two corners) and the two mouth corners. The similarity
(rotation, uniform scale, shift; no reflection) that maps them onto `CANONICAL` in the least-
squares sense (Umeyama 1991) resamples the photo into a `CROP_SIZE` crop, so a face turned
in the image plane, small or off-centre comes out upright and framed as the AT&T faces the
encoders are fitted on: `CANONICAL` is the mean of those four points over the 300 AT&T faces
of s1-s30 (92 x 112 pixels; BlazeFace + FaceMesh found one face in 299; the test people
s31-s40 not used), each pair's heights averaged (the mean eye line tilts 0.7 degrees).

NumPy and Pillow here; the teachers run on TensorFlow Lite. The export does not align yet
(its raw-bytes signatures take crops): alignment is a step of the CLI (`--align`).
"""

import dataclasses

import numpy as np

from apps.common import dlib_resnet
from apps.common.errors import DataError
from apps.common.face_teachers import (
    MESH_LEFT_EYE,
    MESH_MOUTH_LEFT,
    MESH_MOUTH_RIGHT,
    MESH_RIGHT_EYE,
    label_faces,
)

CROP_SIZE = (92, 112)  # width, height: the AT&T frame
# (x, y) in CROP_SIZE pixels: subject's right eye, left eye, right mouth corner, left mouth corner.
CANONICAL = np.array([[29.3, 53.3], [61.1, 53.3], [31.1, 85.1], [58.6, 85.1]])


@dataclasses.dataclass(frozen=True)
class Frame:
    """Where a face lands: crop `size` (width, height) and the `canonical` (K, 2) positions of
    K points, each the mean of a group of FaceMesh points (`groups`)."""

    size: tuple
    canonical: np.ndarray
    groups: tuple


FRAMES = {
    # The AT&T frame (the encoders fitted on AT&T crops).
    "att": Frame(CROP_SIZE, CANONICAL, (MESH_RIGHT_EYE, MESH_LEFT_EYE, (MESH_MOUTH_RIGHT,), (MESH_MOUTH_LEFT,))),
    # dlib's 150x150 face chip (padding 0.25) by its five points, eye corners and nose base,
    # what dlib's face ResNet was trained on.
    "dlib": Frame((dlib_resnet.CHIP_SIZE,) * 2, dlib_resnet.CHIP_POINTS,
                  tuple((i,) for i in dlib_resnet.MESH_POINTS)),
}


def frame_for(backbone: str) -> Frame:
    """The frame an encoder with this backbone reads faces in."""
    return FRAMES["dlib" if backbone == "dlib-resnet" else "att"]


def mesh_points(landmarks, frame=FRAMES["att"]) -> np.ndarray:
    """(468, 2 or 3) FaceMesh landmarks -> (K, 2) the frame's points (AT&T: eye centres and
    mouth corners, `CANONICAL` order)."""
    xy = np.asarray(landmarks, np.float64)[:, :2]
    return np.stack([xy[list(group)].mean(0) for group in frame.groups])


def similarity(source, target) -> np.ndarray:
    """The least-squares similarity taking points `source` (N, 2) onto `target` (N, 2), as a
    2x3 matrix M: target ~ M[:, :2] @ source + M[:, 2] (Umeyama's closed form, no reflection)."""
    src, dst = np.asarray(source, np.float64), np.asarray(target, np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"similarity: expected two (N >= 2, 2) point sets, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    u, sigma, vt = np.linalg.svd(d.T @ s / len(src))
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(sigma) @ sign) / (s ** 2).sum(1).mean()
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = mu_d - matrix[:, :2] @ mu_s
    return matrix


def warp(image, matrix, size=CROP_SIZE) -> np.ndarray:
    """Resample uint8 `image` (H, W[, C]) into a (size[1], size[0][, C]) crop whose pixel q shows
    the image at M^(-1) q (M: image -> crop, 2x3; continuous coordinates as Pillow samples)."""
    from PIL import Image

    image = np.asarray(image)
    squeeze = image.ndim == 3 and image.shape[-1] == 1
    a = np.asarray(matrix, np.float64)[:, :2]
    inverse = np.linalg.inv(a)
    shift = -inverse @ np.asarray(matrix, np.float64)[:, 2]
    data = tuple(np.concatenate([inverse, shift[:, None]], axis=1).ravel())
    out = Image.fromarray(image[..., 0] if squeeze else image).transform(
        tuple(size), Image.AFFINE, data, resample=Image.BILINEAR)
    out = np.asarray(out)
    return out[..., None] if squeeze else out


def align(image, landmarks, size=None, frame=FRAMES["att"]) -> np.ndarray:
    """The canonical crop of the face whose FaceMesh `landmarks` (468, 2|3) are given (in the
    frame, scaled to `size`, default the frame's own)."""
    size = tuple(size or frame.size)
    scale = np.array([size[0] / frame.size[0], size[1] / frame.size[1]])
    return warp(image, similarity(mesh_points(landmarks, frame), frame.canonical * scale), size)


def align_face(image, detector, mesh, name="image", size=None, frame=FRAMES["att"]) -> np.ndarray:
    """Detect, landmark and align the one face of a photo; DataError naming `name` when there
    is no face or more than one (never a silent guess)."""
    faces = label_faces(image, detector, mesh, name)
    if not faces:
        raise DataError(f"{name}: no face found (BlazeFace + FaceMesh); pass a photo with one face")
    if len(faces) > 1:
        raise DataError(f"{name}: {len(faces)} faces found; pass a photo of one face (or crop it)")
    return align(image, faces[0][1].landmarks, size, frame)
