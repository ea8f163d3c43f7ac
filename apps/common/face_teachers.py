"""Face detection and landmark teachers: MediaPipe's BlazeFace and FaceMesh TFLite models.

Both come out of the pinned mediapipe wheel (Apache-2.0; only the two files, see
apps.common.packages) and run with `tf.lite.Interpreter`; the decoding around them is here:

- `FaceDetector` (BlazeFace short range, 128x128 in): the image letterboxed to a square and
  scaled to [-1, 1]; 896 SSD anchors (`ssd_anchors`: a 16x16 grid with 2 anchors a cell at
  stride 8, an 8x8 grid with 6 at stride 16); per anchor 16 regressed values (box centre,
  size, then 6 keypoints, in 128-pixel units around the anchor centre) and a score logit;
  sigmoid scores, then weighted non-maximum suppression (BlazeFace's blending) -> `Face`s in
  image pixels.
- `FaceMesh` (192x192 in, 468 x (x, y, z) out): a square crop around a face, 1.5x its box,
  turned so the eyes are level, scaled to [0, 1] -> 468 landmarks in image pixels and the
  model's face-presence probability.

`label_faces` keeps the faces both accept: BlazeFace alone has false positives (a dahlia in
scikit-learn's flower photo scores 0.61) that FaceMesh's presence score rejects.

Images are uint8 (H, W), (H, W, 1) or (H, W, 3) RGB arrays. Teachers, not trained here: they
label real photos for the course's own detector and landmark models.
"""

import dataclasses
import warnings

import numpy as np

from apps.common.errors import ConfigError, DataError
from apps.common.packages import EMBEDDED, fetch_package_file

KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear", "left_ear")
# FaceMesh landmark indices (MediaPipe's canonical face mesh): eye corners, lips, nose tip.
MESH_RIGHT_EYE, MESH_LEFT_EYE = (33, 133), (362, 263)
MESH_UPPER_LIP, MESH_LOWER_LIP, MESH_NOSE_TIP = 13, 14, 1
MESH_MOUTH_RIGHT, MESH_MOUTH_LEFT = 61, 291  # the subject's right / left mouth corner
DETECTOR_SIZE, MESH_SIZE = 128, 192


@dataclasses.dataclass(frozen=True)
class Face:
    """A detected face in image pixels: box (x0, y0, x1, y1), score in [0, 1], keypoints
    (6, 2) x, y in `KEYPOINTS` order (the subject's right eye is on the image's left)."""

    box: np.ndarray
    score: float
    keypoints: np.ndarray


@dataclasses.dataclass(frozen=True)
class Mesh:
    """468 landmarks (x, y in image pixels, z in the same scale, smaller = nearer) and the
    model's probability that the crop holds a face."""

    landmarks: np.ndarray
    presence: float


# ---------------------------------------------------------------- pure decoding
def ssd_anchors(size=DETECTOR_SIZE, strides=(8, 16), per_cell=(2, 6)) -> np.ndarray:
    """(896, 2) anchor centres (x, y) in [0, 1], row-major per grid, the anchors of a cell
    adjacent (BlazeFace's four SSD layers at strides 8, 16, 16, 16 with fixed-size anchors: the
    three stride-16 layers share one grid, 2 anchors each)."""
    centres = []
    for stride, count in zip(strides, per_cell):
        cells = -(-size // stride)
        y, x = np.meshgrid((np.arange(cells) + 0.5) / cells, (np.arange(cells) + 0.5) / cells,
                           indexing="ij")
        centres.append(np.repeat(np.stack([x.ravel(), y.ravel()], 1), count, axis=0))
    return np.concatenate(centres).astype(np.float32)


def decode_boxes(raw, anchors, size=DETECTOR_SIZE):
    """raw (N, 16): x, y, w, h, then 6 (x, y) keypoints, in `size`-pixel units, centres
    relative to the anchor -> (boxes (N, 4) x0, y0, x1, y1 and keypoints (N, 6, 2)) in [0, 1]."""
    raw = np.asarray(raw, np.float64) / size
    centre = raw[:, :2] + anchors
    half = raw[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    keypoints = raw[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]
    return boxes, keypoints


def box_iou(box, boxes):
    """IoU of one (4,) box with (N, 4) boxes, all x0, y0, x1, y1."""
    lo, hi = np.maximum(box[:2], boxes[:, :2]), np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = lambda b: np.prod(np.clip(b[..., 2:] - b[..., :2], 0, None), axis=-1)  # noqa: E731
    union = area(box) + area(boxes) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(boxes, keypoints, scores, iou_threshold=0.3):
    """BlazeFace's blending NMS: take the best remaining box, and replace it by the
    score-weighted mean of every remaining box overlapping it by more than `iou_threshold`
    (keypoints likewise); those are removed. -> [(box, keypoints, best score)], best first."""
    order = np.argsort(-scores, kind="stable")
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    kept, remaining = [], np.arange(len(scores))
    while remaining.size:
        overlap = box_iou(boxes[remaining[0]], boxes[remaining]) > iou_threshold
        overlap[0] = True
        group = remaining[overlap]
        w = scores[group] / scores[group].sum()
        kept.append((w @ boxes[group], np.tensordot(w, keypoints[group], 1), float(scores[group[0]])))
        remaining = remaining[~overlap]
    return kept


# ---------------------------------------------------------------- images
def _rgb(image, name="image"):
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 2:
        raise DataError(f"{name}: expected a uint8 (H, W), (H, W, 1) or (H, W, 3) image, got "
                        f"{image.dtype} {image.shape}")
    return image


def _letterbox(image, size):
    """Scale the long side to `size`, pad the short one equally -> (uint8 (size, size, 3),
    scale, (pad_x, pad_y)): image pixel p lands at p * scale + pad."""
    from PIL import Image

    h, w = image.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = np.asarray(Image.fromarray(image).resize((nw, nh), Image.BILINEAR))
    pad_x, pad_y = (size - nw) // 2, (size - nh) // 2
    out = np.zeros((size, size, 3), np.uint8)
    out[pad_y:pad_y + nh, pad_x:pad_x + nw] = resized
    return out, (nw / w, nh / h), (pad_x, pad_y)


def _rotated_crop(image, centre, side, angle, size):
    """The square of `side` pixels around `centre`, its x axis at `angle` (radians, image
    y down), resampled to (size, size, 3) -> (crop, 2x3 matrix: crop pixel -> image pixel)."""
    from PIL import Image

    # image point = centre + R(angle) @ (q - size / 2) * side / size for crop point q, both in
    # continuous pixel coordinates (pixel i spans [i, i + 1)), as PIL's AFFINE samples them.
    c, s = np.cos(angle) * side / size, np.sin(angle) * side / size
    matrix = np.array([[c, -s, 0.0], [s, c, 0.0]])
    matrix[:, 2] = np.asarray(centre, np.float64) - matrix[:, :2] @ np.full(2, size / 2)
    crop = Image.fromarray(image).transform((size, size), Image.AFFINE, tuple(matrix.ravel()),
                                            resample=Image.BILINEAR)
    return np.asarray(crop), matrix


class _TFLite:
    def __init__(self, path):
        import tensorflow as tf

        with warnings.catch_warnings():  # tf.lite.Interpreter announces its move to LiteRT
            warnings.simplefilter("ignore")
            self.interpreter = tf.lite.Interpreter(model_path=str(path))
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.outputs = {d["name"]: d["index"] for d in self.interpreter.get_output_details()}

    def __call__(self, x):
        self.interpreter.set_tensor(self.input, x[None].astype(np.float32))
        self.interpreter.invoke()
        return {name: self.interpreter.get_tensor(i)[0] for name, i in self.outputs.items()}


def _model_path(key):

    return fetch_package_file(EMBEDDED[key])


# ---------------------------------------------------------------- the teachers
class FaceDetector:
    """BlazeFace (short range: faces that fill a good part of the frame). `detect(image)` ->
    [Face], best first; `score_threshold` on the sigmoid score, `iou_threshold` for NMS."""

    def __init__(self, model_path=None, score_threshold=0.5, iou_threshold=0.3):
        if not 0.0 < score_threshold < 1.0:
            raise ConfigError(f"score_threshold: expected 0 < t < 1, got {score_threshold}")
        if not 0.0 < iou_threshold <= 1.0:
            raise ConfigError(f"iou_threshold: expected 0 < t <= 1, got {iou_threshold}")
        self.model = _TFLite(model_path or _model_path("blazeface-short-range"))
        self.score_threshold, self.iou_threshold = score_threshold, iou_threshold
        self.anchors = ssd_anchors()

    def detect(self, image, name="image"):
        image = _rgb(image, name)
        square, scale, pad = _letterbox(image, DETECTOR_SIZE)
        out = self.model(square / 127.5 - 1.0)
        logits = np.clip(out["classificators"][:, 0].astype(np.float64), -100.0, 100.0)
        scores = 1.0 / (1.0 + np.exp(-logits))
        keep = scores >= self.score_threshold
        boxes, keypoints = decode_boxes(out["regressors"][keep], self.anchors[keep])
        scale, pad = np.asarray(scale), np.asarray(pad)

        def to_image(points):  # (..., 2) in [0, 1] of the letterboxed square -> image pixels
            return (points * DETECTOR_SIZE - pad) / scale

        return [Face(box=to_image(box.reshape(2, 2)).ravel(), score=score, keypoints=to_image(points))
                for box, points, score in weighted_nms(boxes, keypoints, scores[keep], self.iou_threshold)]


class FaceMesh:
    """FaceMesh: `landmarks(image, face)` -> Mesh for the face a FaceDetector found, or None
    when the model's face presence is below `presence_threshold`."""

    def __init__(self, model_path=None, presence_threshold=0.5, box_scale=1.5):
        if not 0.0 < presence_threshold < 1.0:
            raise ConfigError(f"presence_threshold: expected 0 < t < 1, got {presence_threshold}")
        self.model = _TFLite(model_path or _model_path("facemesh"))
        self.presence_threshold, self.box_scale = presence_threshold, box_scale

    def landmarks(self, image, face, name="image"):
        image = _rgb(image, name)
        x0, y0, x1, y1 = face.box
        eyes = face.keypoints[1] - face.keypoints[0]  # subject's right eye -> left eye
        angle = float(np.arctan2(eyes[1], eyes[0]))
        side = self.box_scale * max(x1 - x0, y1 - y0)
        crop, matrix = _rotated_crop(image, ((x0 + x1) / 2, (y0 + y1) / 2), side, angle, MESH_SIZE)
        # Two outputs, told apart by size: (1, 1, 1404) landmarks in crop pixels, (1, 1, 1) a logit.
        out = sorted(self.model(crop / 255.0).values(), key=np.size)
        points = out[1].reshape(468, 3)
        presence = float(1.0 / (1.0 + np.exp(-np.clip(float(out[0].ravel()[0]), -100, 100))))
        if presence < self.presence_threshold:
            return None
        xy = points[:, :2] @ matrix[:, :2].T + matrix[:, 2]
        z = points[:, 2:] * side / MESH_SIZE
        return Mesh(landmarks=np.concatenate([xy, z], axis=1), presence=presence)


def label_faces(image, detector, mesh, name="image"):
    """[(Face, Mesh)] for the faces `detector` finds and `mesh` accepts, best first."""
    pairs = [(face, mesh.landmarks(image, face, name)) for face in detector.detect(image, name)]
    return [(face, m) for face, m in pairs if m is not None]
