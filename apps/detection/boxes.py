"""Box formats, conversions and IoU (NumPy; the in-graph versions live in postprocess).

Formats, all (..., 4) float arrays:

    xyxy         (x_min, y_min, x_max, y_max)  pixels; the format of every internal array
    xywh         (x_min, y_min, width, height) pixels; COCO's annotation format
    center_xywh  (x_center, y_center, width, height) pixels
    yolo         (x_center, y_center, width, height) relative to the image size (0..1);
                 the format of YOLO `.txt` label files (one `class cx cy w h` per line)

Every conversion has its inverse; `convert(boxes, source, target)` goes through xyxy.
"""

import numpy as np

FORMATS = ("xyxy", "xywh", "center_xywh", "yolo")


def _split(boxes):
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.shape[-1:] != (4,):
        raise ValueError(f"boxes must have shape (..., 4), got {boxes.shape}")
    return boxes[..., 0], boxes[..., 1], boxes[..., 2], boxes[..., 3]


def xyxy_to_xywh(boxes):
    x0, y0, x1, y1 = _split(boxes)
    return np.stack([x0, y0, x1 - x0, y1 - y0], axis=-1)


def xywh_to_xyxy(boxes):
    x, y, w, h = _split(boxes)
    return np.stack([x, y, x + w, y + h], axis=-1)


def xyxy_to_center_xywh(boxes):
    x0, y0, x1, y1 = _split(boxes)
    return np.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], axis=-1)


def center_xywh_to_xyxy(boxes):
    cx, cy, w, h = _split(boxes)
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)


def xyxy_to_yolo(boxes, width, height):
    """Pixels -> YOLO relative centre boxes of an image `width` x `height`."""
    c = xyxy_to_center_xywh(boxes)
    return c / np.array([width, height, width, height], dtype=np.float64)


def yolo_to_xyxy(boxes, width, height):
    c = np.asarray(boxes, dtype=np.float64) * np.array([width, height, width, height], np.float64)
    return center_xywh_to_xyxy(c)


def convert(boxes, source: str, target: str, width=None, height=None):
    """Any format to any other (`width`/`height` needed when either side is "yolo")."""
    for name in (source, target):
        if name not in FORMATS:
            raise ValueError(f"box format must be one of {', '.join(FORMATS)}, got {name!r}")
    if "yolo" in (source, target) and (width is None or height is None):
        raise ValueError("converting to or from 'yolo' needs the image width and height")
    to_xyxy = {
        "xyxy": lambda b: np.asarray(b, np.float64),
        "xywh": xywh_to_xyxy,
        "center_xywh": center_xywh_to_xyxy,
        "yolo": lambda b: yolo_to_xyxy(b, width, height),
    }
    from_xyxy = {
        "xyxy": lambda b: b,
        "xywh": xyxy_to_xywh,
        "center_xywh": xyxy_to_center_xywh,
        "yolo": lambda b: xyxy_to_yolo(b, width, height),
    }
    return from_xyxy[target](to_xyxy[source](boxes))


def area(boxes):
    x0, y0, x1, y1 = _split(boxes)
    return np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)


def iou(a, b):
    """Pairwise IoU of xyxy boxes: a (N, 4), b (M, 4) -> (N, M). Empty boxes give 0."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def wh_iou(wh_a, wh_b):
    """IoU of boxes given only (w, h), aligned at one corner (YOLOv2 anchor distance):
    (N, 2), (K, 2) -> (N, K)."""
    wh_a = np.asarray(wh_a, np.float64).reshape(-1, 2)
    wh_b = np.asarray(wh_b, np.float64).reshape(-1, 2)
    inter = np.minimum(wh_a[:, None, 0], wh_b[None, :, 0]) * np.minimum(wh_a[:, None, 1], wh_b[None, :, 1])
    union = wh_a[:, None].prod(-1) + wh_b[None, :].prod(-1) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def clip(boxes, width, height):
    """xyxy boxes clipped to the image; returns (clipped, mask of boxes that changed)."""
    boxes = np.asarray(boxes, np.float64)
    out = boxes.copy()
    out[..., [0, 2]] = np.clip(out[..., [0, 2]], 0, width)
    out[..., [1, 3]] = np.clip(out[..., [1, 3]], 0, height)
    changed = np.any(np.abs(out - boxes) > 1e-9, axis=-1)
    return out, changed
