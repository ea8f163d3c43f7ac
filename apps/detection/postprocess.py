"""Decoding of the (S, S, B, 5 + C) head and per-class NMS, all in the TensorFlow graph.

The head's last axis holds, per anchor: tx, ty, tw, th, objectness logit, C class logits
(YOLOv2's parameterisation):

    centre  = ((column, row) + sigmoid(tx, ty)) * stride
    size    = anchor (w, h) * exp(tw, th)
    score_c = sigmoid(objectness) * softmax(class logits)_c

Non-max suppression is `tf.image.combined_non_max_suppression` with one box per anchor
shared by all classes (q = 1), i.e. an independent NMS per class, then the best
`max_detections` over all classes: one fused op, no Python loop, so it survives export.

`postprocess` decodes only the candidate anchors: score_c <= sigmoid(objectness), so an
anchor whose objectness is below the score threshold cannot give a detection, and a trained
grid holds a handful of candidates among its S*S*B anchors. The NMS op then gets the same
boxes, in the same order, minus ones it would have dropped by score: the same result.
"""

import numpy as np

from apps.detection.boxes import iou

# exp(tw) is clipped here: a diverging early-training logit must not give inf boxes.
MAX_LOG_SCALE = 8.0


def _anchor_table(grid, anchors, stride):
    """(S*S*B, 4) float32 per anchor slot: cell offset x, y in pixels, anchor w / 2, h / 2."""
    b = anchors.shape[0]
    cols, rows = np.meshgrid(np.arange(grid, dtype=np.float32), np.arange(grid, dtype=np.float32))
    offsets = np.broadcast_to(np.stack([cols, rows], -1)[:, :, None, :] * stride, (grid, grid, b, 2))
    halves = np.broadcast_to(anchors / 2, (grid, grid, b, 2))
    return np.concatenate([offsets, halves], -1).reshape(-1, 4).astype(np.float32)


def decode(logits, anchors, image_size, index=None):
    """(N, S, S, B, 5 + C) logits -> boxes (N, K, 4) xyxy pixels, scores (N, K, C): all
    K = S*S*B anchors, or with `index` (N, k) int32 anchor numbers (row-major S, S, B) only
    those k per image.

    Written with few ops (grid offsets and anchors are one constant table): every op is a
    kernel launch, and at a 6 x 6 x 3 grid they cost as much as the NMS op itself.
    """
    import tensorflow as tf

    logits = tf.convert_to_tensor(logits, tf.float32)
    grid, depth = int(logits.shape[1]), int(logits.shape[-1])
    anchors = np.asarray(anchors, np.float32).reshape(-1, 2)  # (B, 2) pixels
    stride = float(image_size) / grid
    rows = tf.reshape(logits, [-1, grid * grid * anchors.shape[0], depth])  # (N, K, 5 + C)
    table = tf.constant(_anchor_table(grid, anchors, stride))  # (K, 4)
    if index is not None:
        rows = tf.gather(rows, index, batch_dims=1)  # (N, k, 5 + C)
        table = tf.gather(table, index)  # (N, k, 4)
    txy, twh, objectness, classes = tf.split(rows, [2, 2, 1, depth - 5], axis=-1)
    offset, anchor_half = tf.split(table, 2, axis=-1)
    centre = tf.sigmoid(txy) * stride + offset
    half = anchor_half * tf.exp(tf.minimum(twh, MAX_LOG_SCALE))
    boxes = tf.concat([centre - half, centre + half], axis=-1)
    scores = tf.sigmoid(objectness) * tf.nn.softmax(classes, axis=-1)
    return boxes, scores


def candidate_anchors(logits, score_threshold):
    """(N, k) int32 anchor numbers: first, in ascending order, every anchor whose objectness
    probability reaches `score_threshold`; k is the most any image of the batch has (>= 1).

    Few ops, as `decode`: the objectness logit is compared with the threshold's logit (no
    sigmoid over the grid), and one sorted `top_k` over the key -index (candidates) / -K - 1
    (the rest) gives the candidates first, already in ascending anchor order, the order of the full
    grid, so ties in score break the same way in NMS. Rows past an image's own candidates are
    padding anchors whose scores stay below the threshold, dropped by the NMS op.
    """
    import tensorflow as tf

    logits = tf.convert_to_tensor(logits, tf.float32)
    count = int(np.prod(logits.shape[1:4]))
    # A hair below the threshold's logit: rounding never drops an anchor that sigmoid would keep.
    threshold = float(np.log(score_threshold) - np.log1p(-score_threshold)) - 1e-4 \
        if 0.0 < score_threshold < 1.0 else (-np.inf if score_threshold <= 0.0 else np.inf)
    candidate = tf.reshape(logits[..., 4], [-1, count]) >= threshold  # (N, K)
    k = tf.reduce_max(tf.reduce_sum(tf.cast(candidate, tf.int32), axis=1))
    key = tf.where(candidate, tf.constant(-np.arange(count, dtype=np.float32)), -float(count + 1))
    return tf.math.top_k(key, tf.maximum(k, 1), sorted=True).indices


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


def postprocess(logits, anchors, image_size, *, score_threshold=0.05, **nms_options):
    """Head logits -> NMS'ed detections in model-input pixels (see `nms`); decodes only
    the candidate anchors (equal to `nms(*decode(logits, ...))`, faster)."""
    index = candidate_anchors(logits, score_threshold)
    boxes, scores = decode(logits, anchors, image_size, index=index)
    return nms(boxes, scores, clip_size=image_size, score_threshold=score_threshold, **nms_options)


def nms_options(config) -> dict:
    return dict(
        iou_threshold=config.nms_iou_threshold, score_threshold=config.score_threshold,
        max_per_class=config.max_per_class, max_detections=config.max_detections,
    )


def numpy_nms(boxes, scores, iou_threshold):
    """Greedy single-class NMS as a Python loop (the benchmark's slow baseline only)."""

    order = np.argsort(-scores, kind="stable")
    keep = []
    while len(order):
        i = order[0]
        keep.append(i)
        rest = order[1:]
        order = rest[iou(boxes[i:i + 1], boxes[rest])[0] <= iou_threshold]
    return np.asarray(keep, np.int64)
