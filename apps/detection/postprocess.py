"""Decoding of the (S, S, B, 5 + C) head and per-class NMS, all in the TensorFlow graph.

The head's last axis holds, per anchor: tx, ty, tw, th, objectness logit, C class logits
(YOLOv2's parameterisation):

    centre  = ((column, row) + sigmoid(tx, ty)) * stride
    size    = anchor (w, h) * exp(tw, th)
    score_c = sigmoid(objectness) * softmax(class logits)_c

Non-max suppression is `tf.image.combined_non_max_suppression` with one box per anchor
shared by all classes (q = 1), i.e. an independent NMS per class, then the best
`max_detections` over all classes: one fused op, no Python loop, so it survives export.
"""

import numpy as np

# exp(tw) is clipped here: a diverging early-training logit must not give inf boxes.
MAX_LOG_SCALE = 8.0


def decode(logits, anchors, image_size):
    """(N, S, S, B, 5 + C) logits -> boxes (N, S*S*B, 4) xyxy pixels, scores (N, S*S*B, C).

    Written with few ops (grid offsets and anchors are constants): at a 6 x 6 x 3 grid the
    decoding costs about as much as the NMS op itself, and every op is a kernel launch.
    """
    import tensorflow as tf

    logits = tf.convert_to_tensor(logits, tf.float32)
    grid = int(logits.shape[1])
    stride = float(image_size) / grid
    anchors = np.asarray(anchors, np.float32).reshape(-1, 2)  # (B, 2) pixels
    cols, rows = np.meshgrid(np.arange(grid, dtype=np.float32), np.arange(grid, dtype=np.float32))
    offsets = tf.constant(np.stack([cols, rows], -1)[:, :, None, :] * stride)  # (S, S, 1, 2) x, y
    centre = tf.sigmoid(logits[..., 0:2]) * stride + offsets
    half = tf.constant(anchors / 2) * tf.exp(tf.minimum(logits[..., 2:4], MAX_LOG_SCALE))
    boxes = tf.concat([centre - half, centre + half], axis=-1)
    scores = tf.sigmoid(logits[..., 4:5]) * tf.nn.softmax(logits[..., 5:], axis=-1)
    count = grid * grid * anchors.shape[0]
    return (tf.reshape(boxes, [-1, count, 4]),
            tf.reshape(scores, [-1, count, int(logits.shape[-1]) - 5]))


def nms(boxes, scores, *, iou_threshold=0.5, score_threshold=0.05, max_per_class=50,
        max_detections=100, clip_size=None):
    """Per-class NMS: boxes (N, K, 4) xyxy, scores (N, K, C) ->
    dict(boxes (N, D, 4) xyxy, scores (N, D), classes (N, D) int32, num_detections (N,) int32),
    best first, padded with zeros after num_detections. `clip_size` clips boxes to the image.

    The op documents (y1, x1, y2, x2); IoU is symmetric in the two axes and clip_boxes is
    off, so xyxy boxes go in and come out unchanged, without two transposing gathers.
    """
    import tensorflow as tf

    out = tf.image.combined_non_max_suppression(
        boxes[:, :, None, :], scores,
        max_output_size_per_class=max_per_class, max_total_size=max_detections,
        iou_threshold=iou_threshold, score_threshold=score_threshold,
        pad_per_class=False, clip_boxes=False,
    )
    kept = out.nmsed_boxes
    if clip_size is not None:
        kept = tf.clip_by_value(kept, 0.0, float(clip_size))
    return {
        "boxes": kept,
        "scores": out.nmsed_scores,
        "classes": tf.cast(out.nmsed_classes, tf.int32),
        "num_detections": out.valid_detections,
    }


def postprocess(logits, anchors, image_size, **nms_options):
    """Head logits -> NMS'ed detections in model-input pixels (see `nms`)."""
    boxes, scores = decode(logits, anchors, image_size)
    return nms(boxes, scores, clip_size=image_size, **nms_options)


def nms_options(config) -> dict:
    return dict(
        iou_threshold=config.nms_iou_threshold, score_threshold=config.score_threshold,
        max_per_class=config.max_per_class, max_detections=config.max_detections,
    )


def numpy_nms(boxes, scores, iou_threshold):
    """Greedy single-class NMS as a Python loop (the benchmark's slow baseline only)."""
    from apps.detection.boxes import iou

    order = np.argsort(-scores, kind="stable")
    keep = []
    while len(order):
        i = order[0]
        keep.append(i)
        rest = order[1:]
        order = rest[iou(boxes[i:i + 1], boxes[rest])[0] <= iou_threshold]
    return np.asarray(keep, np.int64)
