"""Detection metrics: COCO mAP@[.5:.95], mAP@0.5, VOC all-point AP, per-class P/R.

Our own implementation of COCO's protocol, written to agree with pycocotools'
`COCOeval` (area range "all", maxDets 100) to floating-point precision:

* per image and class, detections sorted by score (stable) and cut to `max_detections`;
* greedy matching in score order: each detection takes the still-unmatched ground truth of
  highest IoU >= threshold (on equal IoU the later one, as COCOeval does);
* per class, all images' detections ranked by score (stable, image order), cumulative TP/FP,
  precision made monotone from the right and read at 101 recall points (0, 0.01, .., 1);
  a recall point beyond the reached recall reads 0;
* a class without ground truth has no AP (NaN) and is left out of the mean; a class with
  ground truth but no detection has AP 0; images with no objects still count their false
  positives.

`voc_ap` is the PASCAL VOC 2010+ all-point interpolated AP for the same curve.
"""

import dataclasses

import numpy as np

from apps.detection import boxes as box_lib

# Exactly COCOeval's grids (np.linspace with the same arguments), so thresholds agree bit for bit.
IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
RECALL_POINTS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)


@dataclasses.dataclass
class ImageBoxes:
    """Boxes of one image: xyxy pixels (n, 4), class ids (n,), scores (n,) for detections."""

    boxes: np.ndarray
    classes: np.ndarray
    scores: np.ndarray | None = None

    @classmethod
    def make(cls, boxes, classes, scores=None):
        b = np.asarray(boxes, np.float64).reshape(-1, 4)
        c = np.asarray(classes, np.int64).reshape(-1)
        s = None if scores is None else np.asarray(scores, np.float64).reshape(-1)
        if len(c) != len(b) or (s is not None and len(s) != len(b)):
            raise ValueError(f"{len(b)} boxes but {len(c)} classes / "
                             f"{None if s is None else len(s)} scores")
        return cls(b, c, s)


def _match(det_boxes, gt_boxes, thresholds):
    """(T, D) bool: detection d (in score order) is a true positive at threshold t."""
    tp = np.zeros((len(thresholds), len(det_boxes)), bool)
    if len(det_boxes) == 0 or len(gt_boxes) == 0:
        return tp
    ious = box_lib.iou(det_boxes, gt_boxes)
    for t, threshold in enumerate(thresholds):
        taken = np.zeros(len(gt_boxes), bool)
        limit = min(threshold, 1 - 1e-10)
        for d in range(len(det_boxes)):
            row = np.where(taken, -1.0, ious[d])
            best = row.max()
            if best < limit:
                continue
            g = len(row) - 1 - int(np.argmax(row[::-1] == best))  # the last of equal IoUs
            taken[g] = True
            tp[t, d] = True
    return tp


def _precision_at_recalls(tp, num_gt):
    """tp (D,) bool in rank order -> precision at RECALL_POINTS (COCOeval.accumulate)."""
    tps = np.cumsum(tp, dtype=np.float64)
    fps = np.cumsum(~tp, dtype=np.float64)
    recall = tps / num_gt
    precision = tps / (fps + tps + np.spacing(1))
    precision = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
    q = np.zeros(len(RECALL_POINTS))
    idx = np.searchsorted(recall, RECALL_POINTS, side="left")
    ok = idx < len(precision)
    q[ok] = precision[idx[ok]]
    return q, recall, precision


def voc_ap(recall, precision):
    """PASCAL VOC (2010+) all-point interpolated AP of a ranked list's recall/precision."""
    r = np.concatenate([[0.0], np.asarray(recall, np.float64), [1.0]])
    p = np.concatenate([[0.0], np.asarray(precision, np.float64), [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.flatnonzero(r[1:] != r[:-1])
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def evaluate(ground_truth, detections, num_classes, *, class_names=None, max_detections=100,
             score_threshold=0.5):
    """mAP@[.5:.95] and mAP@0.5 (COCO, 101 points), VOC AP@0.5, and a per-class table.

    ground_truth, detections: one `ImageBoxes` per image (same order). Precision and recall
    in the table count detections with score >= `score_threshold` at IoU 0.5.
    """
    if len(ground_truth) != len(detections):
        raise ValueError(f"{len(ground_truth)} ground-truth images but {len(detections)} "
                         "detection images")
    names = list(class_names) if class_names is not None else [str(i) for i in range(num_classes)]
    t50 = int(np.flatnonzero(np.isclose(IOU_THRESHOLDS, 0.5))[0])
    per_class = {}
    ap_all, ap_50 = [], []
    for c in range(num_classes):
        scores, tps, num_gt = [], [], 0
        for gt, det in zip(ground_truth, detections):
            g = gt.boxes[gt.classes == c]
            keep = det.classes == c
            d, s = det.boxes[keep], det.scores[keep]
            order = np.argsort(-s, kind="mergesort")[:max_detections]
            d, s = d[order], s[order]
            num_gt += len(g)
            scores.append(s)
            tps.append(_match(d, g, IOU_THRESHOLDS))
        scores = np.concatenate(scores) if scores else np.zeros(0)
        tps = np.concatenate(tps, axis=1) if tps else np.zeros((len(IOU_THRESHOLDS), 0), bool)
        rank = np.argsort(-scores, kind="mergesort")
        tps, scores = tps[:, rank], scores[rank]
        row = {"ground_truth": num_gt, "detections": int(len(scores))}
        if num_gt == 0:
            row.update(ap=float("nan"), ap50=float("nan"), voc_ap50=float("nan"),
                       precision=float("nan"), recall=float("nan"))
        else:
            curves = [_precision_at_recalls(tps[t], num_gt) for t in range(len(IOU_THRESHOLDS))]
            aps = [float(q.mean()) for q, _, _ in curves]
            _, rec50, prec50 = curves[t50]
            confident = scores >= score_threshold
            n_conf = int(confident.sum())
            tp_conf = int(tps[t50][confident].sum())
            row.update(
                ap=float(np.mean(aps)), ap50=aps[t50],
                voc_ap50=voc_ap(rec50, prec50),
                precision=tp_conf / n_conf if n_conf else 0.0,
                recall=tp_conf / num_gt,
            )
            ap_all.append(row["ap"])
            ap_50.append(row["ap50"])
        per_class[names[c]] = row
    nan = float("nan")
    return {
        "map": float(np.mean(ap_all)) if ap_all else nan,
        "map50": float(np.mean(ap_50)) if ap_50 else nan,
        "voc_map50": float(np.nanmean([r["voc_ap50"] for r in per_class.values()]))
        if ap_all else nan,
        "images": len(ground_truth),
        "objects": int(sum(len(g.classes) for g in ground_truth)),
        "score_threshold": score_threshold,
        "per_class": per_class,
    }


def format_table(result) -> str:
    """The per-class AP / precision / recall table as text."""
    lines = [f"{'class':<14} {'AP@.5':>7} {'AP@[.5:.95]':>12} {'P':>6} {'R':>6} {'objects':>8}"]
    for name, row in result["per_class"].items():
        def f(v):
            return "   -  " if np.isnan(v) else f"{v:6.3f}"
        lines.append(f"{name[:14]:<14} {f(row['ap50']):>7} {f(row['ap']):>12} "
                     f"{f(row['precision'])} {f(row['recall'])} {row['ground_truth']:>8}")
    lines.append(f"mAP@0.5 {result['map50']:.4f}   COCO mAP@[.5:.95] {result['map']:.4f}   "
                 f"VOC mAP@0.5 {result['voc_map50']:.4f}   ({result['images']} images, "
                 f"{result['objects']} objects; P/R at score >= {result['score_threshold']})")
    return "\n".join(lines)
