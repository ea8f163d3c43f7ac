"""Box formats, IoU, our mAP against pycocotools, our NMS against tf.image.non_max_suppression."""

import contextlib
import io

import numpy as np
import pytest
import tensorflow as tf

from apps.detection import boxes as B
from apps.detection import metrics, postprocess

# ------------------------------------------------------------------ box formats

XYXY = np.array([[10.0, 20.0, 50.0, 80.0], [0.0, 0.0, 1.0, 1.0], [5.5, 6.5, 7.5, 10.5]])


def test_conversions_hand_computed_both_directions():
    xywh = np.array([[10, 20, 40, 60], [0, 0, 1, 1], [5.5, 6.5, 2, 4]], float)
    center = np.array([[30, 50, 40, 60], [0.5, 0.5, 1, 1], [6.5, 8.5, 2, 4]], float)
    yolo = center / np.array([100, 200, 100, 200], float)
    np.testing.assert_allclose(B.xyxy_to_xywh(XYXY), xywh)
    np.testing.assert_allclose(B.xywh_to_xyxy(xywh), XYXY)
    np.testing.assert_allclose(B.xyxy_to_center_xywh(XYXY), center)
    np.testing.assert_allclose(B.center_xywh_to_xyxy(center), XYXY)
    np.testing.assert_allclose(B.xyxy_to_yolo(XYXY, 100, 200), yolo)
    np.testing.assert_allclose(B.yolo_to_xyxy(yolo, 100, 200), XYXY)


@pytest.mark.parametrize("source", B.FORMATS)
@pytest.mark.parametrize("target", B.FORMATS)
def test_convert_round_trips_every_pair(source, target):
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 50, (20, 2))
    xyxy = np.concatenate([xy, xy + rng.uniform(1, 40, (20, 2))], axis=1)
    src = B.convert(xyxy, "xyxy", source, width=90, height=70)
    there = B.convert(src, source, target, width=90, height=70)
    back = B.convert(there, target, source, width=90, height=70)
    np.testing.assert_allclose(back, src, atol=1e-9)
    np.testing.assert_allclose(B.convert(there, target, "xyxy", width=90, height=70), xyxy, atol=1e-9)


def test_iou_hand_computed_and_degenerate():
    a = np.array([[0, 0, 10, 10]], float)
    b = np.array([[5, 5, 15, 15], [20, 20, 30, 30], [0, 0, 10, 10], [3, 3, 3, 8]], float)
    np.testing.assert_allclose(B.iou(a, b), [[25 / 175, 0.0, 1.0, 0.0]])
    np.testing.assert_allclose(B.wh_iou([[10, 10]], [[5, 20], [10, 10]]), [[50 / 150, 1.0]])
    clipped, changed = B.clip([[-5, 2, 12, 30], [1, 1, 2, 2]], 10, 20)
    np.testing.assert_allclose(clipped, [[0, 2, 10, 20], [1, 1, 2, 2]])
    assert changed.tolist() == [True, False]
    with pytest.raises(ValueError, match="yolo"):
        B.convert(XYXY, "xyxy", "yolo")


# ------------------------------------------------------------------ mAP vs pycocotools

def _scene_set(seed=0, num_classes=5, images=40):
    """Ground truth and detections with crowded images (> 100 detections of a class),
    images without objects (with and without false positives), a class no image has
    (detections only) and class confusions."""
    rng = np.random.default_rng(seed)
    gts, dets = [], []
    for i in range(images):
        kind = i % 8
        n_gt = 0 if kind in (0, 1) else (30 if kind == 2 else int(rng.integers(1, 6)))
        xy = rng.uniform(0, 200, (n_gt, 2))
        g = np.concatenate([xy, xy + rng.uniform(4, 60, (n_gt, 2))], axis=1)
        gc = rng.integers(0, num_classes - 1, n_gt)  # the last class never appears
        db, dc = [], []
        for box, c in zip(g, gc):
            for _ in range(int(rng.integers(0, 4))):  # duplicates, jittered
                db.append(box + rng.normal(0, rng.choice([0.5, 3, 8]), 4))
                dc.append(c if rng.random() > 0.15 else rng.integers(0, num_classes))
        n_fp = 0 if kind == 0 else (130 if kind == 2 else int(rng.integers(0, 6)))
        for _ in range(n_fp):
            xy0 = rng.uniform(0, 200, 2)
            db.append(np.concatenate([xy0, xy0 + rng.uniform(2, 50, 2)]))
            dc.append(rng.integers(0, num_classes) if kind != 2 else 0)
        db = np.asarray(db, float).reshape(-1, 4)
        db[:, 2:] = np.maximum(db[:, 2:], db[:, :2] + 0.5)
        gts.append(metrics.ImageBoxes.make(g, gc))
        dets.append(metrics.ImageBoxes.make(db, dc, rng.random(len(db))))
    return gts, dets


def _pycocotools(gts, dets, num_classes):
    coco_module = pytest.importorskip("pycocotools.coco")
    from pycocotools.cocoeval import COCOeval

    images = [{"id": i + 1, "width": 300, "height": 300} for i in range(len(gts))]
    anns, results = [], []
    for i, (g, d) in enumerate(zip(gts, dets)):
        for box, c in zip(B.xyxy_to_xywh(g.boxes), g.classes):
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(c) + 1,
                         "bbox": [float(v) for v in box], "area": float(box[2] * box[3]),
                         "iscrowd": 0})
        for box, c, s in zip(B.xyxy_to_xywh(d.boxes), d.classes, d.scores):
            results.append({"image_id": i + 1, "category_id": int(c) + 1,
                            "bbox": [float(v) for v in box], "score": float(s)})
    with contextlib.redirect_stdout(io.StringIO()):
        gt = coco_module.COCO()
        gt.dataset = {"images": images, "annotations": anns,
                      "categories": [{"id": c + 1, "name": str(c)} for c in range(num_classes)]}
        gt.createIndex()
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def test_map_equals_pycocotools_with_crowded_and_empty_images():
    num_classes = 5
    gts, dets = _scene_set(num_classes=num_classes)
    assert any(len(g.classes) == 0 for g in gts) and any(len(d.classes) > 100 for d in dets)
    ours = metrics.evaluate(gts, dets, num_classes)
    ref = _pycocotools(gts, dets, num_classes)
    assert abs(ours["map"] - ref.stats[0]) < 1e-3
    assert abs(ours["map50"] - ref.stats[1]) < 1e-3
    assert 0.05 < ours["map"] < 0.95  # a non-trivial case, not all-or-nothing
    # Per class too; the class without ground truth is excluded by both.
    precision = ref.eval["precision"][:, :, :, 0, 2]  # (T, R, K) at area all, maxDets 100
    for k in range(num_classes):
        row = ours["per_class"][str(k)]
        if (precision[:, :, k] > -1).any():
            assert abs(row["ap"] - precision[:, :, k].mean()) < 1e-9
            assert abs(row["ap50"] - precision[0, :, k].mean()) < 1e-9
        else:
            assert np.isnan(row["ap"]) and row["ground_truth"] == 0


def test_map_perfect_and_hand_computed_voc_ap():
    g = [metrics.ImageBoxes.make([[0, 0, 10, 10], [20, 20, 40, 40]], [0, 1])]
    d = [metrics.ImageBoxes.make([[0, 0, 10, 10], [20, 20, 40, 40]], [0, 1], [0.9, 0.8])]
    result = metrics.evaluate(g, d, 2)
    assert result["map"] == pytest.approx(1.0) and result["map50"] == pytest.approx(1.0)
    # Ranked TP, FP, TP over 2 objects: all-point AP = 0.5 * 1 + 0.5 * 2/3.
    assert metrics.voc_ap([0.5, 0.5, 1.0], [1.0, 0.5, 2 / 3]) == pytest.approx(0.5 + 1 / 3)
    empty = metrics.evaluate(g, [metrics.ImageBoxes.make(np.zeros((0, 4)), [], [])], 2)
    assert empty["map"] == 0.0 and empty["per_class"]["0"]["recall"] == 0.0


# ------------------------------------------------------------------ NMS vs the TF op

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_per_class_nms_keeps_the_boxes_tf_non_max_suppression_keeps(seed):
    rng = np.random.default_rng(seed)
    n, k, c = 2, 300, 4
    xy = rng.uniform(0, 80, (n, k, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 40, (n, k, 2))], axis=-1).astype("float32")
    scores = rng.random((n, k, c)).astype("float32")
    out = postprocess.nms(tf.constant(boxes), tf.constant(scores), iou_threshold=0.45,
                          score_threshold=0.3, max_per_class=k, max_detections=k * c)
    for i in range(n):
        count = int(out["num_detections"][i])
        got_boxes = out["boxes"][i, :count].numpy()
        got_classes = out["classes"][i, :count].numpy()
        for cls in range(c):
            keep = tf.image.non_max_suppression(
                boxes[i][:, [1, 0, 3, 2]], scores[i, :, cls], max_output_size=k,
                iou_threshold=0.45, score_threshold=0.3).numpy()
            assert len(keep) > 5
            np.testing.assert_allclose(got_boxes[got_classes == cls], boxes[i, keep], atol=1e-5)
    # Our greedy loop (the benchmark's slow baseline) agrees with the op as well.
    keep = tf.image.non_max_suppression(boxes[0][:, [1, 0, 3, 2]], scores[0, :, 0], k, 0.45).numpy()
    np.testing.assert_array_equal(postprocess.numpy_nms(boxes[0], scores[0, :, 0], 0.45), keep)


def test_decode_hand_computed():
    # One 2x2 grid, one anchor (8 x 4 px), 2 classes, image 32 px: stride 16.
    logits = np.zeros((1, 2, 2, 1, 7), "float32")
    logits[0, 1, 0, 0] = [0, 0, np.log(2), 0, 10, 3, 0]  # row 1, column 0
    boxes, scores = postprocess.decode(logits, [[8, 4]], 32)
    # Centre ((0 + .5) * 16, (1 + .5) * 16) = (8, 24); size (16, 4).
    np.testing.assert_allclose(boxes[0, 2], [0, 22, 16, 26], atol=1e-5)
    p = 1 / (1 + np.exp(-10)) * np.exp([3, 0]) / np.exp([3, 0]).sum()
    np.testing.assert_allclose(scores[0, 2], p, rtol=1e-5)


@pytest.mark.parametrize("objectness_shift", [0.0, -3.0, -30.0])
def test_postprocess_on_candidates_equals_nms_of_the_full_decoding(objectness_shift):
    # Candidate-only decoding must give what the NMS op gives on every decoded anchor; -30
    # leaves no candidate at all (k clipped to 1, no detection).
    rng = np.random.default_rng(7)
    logits = rng.normal(0, 2, (5, 4, 4, 3, 9)).astype("float32")
    logits[..., 4] += objectness_shift
    logits[1, ..., 4] = -30.0  # an image with nothing above the threshold beside busy ones
    anchors = np.array([[10, 14], [20, 18], [30, 40]], np.float32)
    options = dict(iou_threshold=0.45, score_threshold=0.05, max_per_class=7, max_detections=12)
    got = postprocess.postprocess(tf.constant(logits), anchors, 64, **options)
    boxes, scores = postprocess.decode(logits, anchors, 64)
    want = postprocess.nms(boxes, scores, clip_size=64, **options)
    np.testing.assert_array_equal(got["num_detections"], want["num_detections"])
    assert int(got["num_detections"][1]) == 0
    if objectness_shift == 0.0:
        assert int(tf.reduce_min(got["num_detections"][2:])) > 3
    for key in ("boxes", "scores", "classes"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-6, atol=1e-5)
    # decode(index=...) is the full decoding's rows at those anchors.
    index = postprocess.candidate_anchors(logits, 0.05)
    part_boxes, part_scores = postprocess.decode(logits, anchors, 64, index=index)
    np.testing.assert_allclose(part_boxes, tf.gather(boxes, index, batch_dims=1), rtol=1e-6)
    np.testing.assert_allclose(part_scores, tf.gather(scores, index, batch_dims=1), rtol=1e-6)


@pytest.mark.parametrize("threshold", [0.05, 0.5, 0.0])
def test_candidate_anchors_ascending_and_complete(threshold):
    # Every anchor whose objectness probability reaches the threshold is a candidate (one sits
    # exactly on it), first in the row and in ascending anchor order (the full grid's order);
    # shorter rows are padded with other anchors after them.
    rng = np.random.default_rng(3)
    logits = rng.normal(-3, 3, (4, 3, 3, 2, 7)).astype("float32")
    if 0.0 < threshold < 1.0:
        logits[0, 1, 2, 1, 4] = np.log(threshold / (1 - threshold))
    index = postprocess.candidate_anchors(tf.constant(logits), threshold).numpy()
    probability = tf.sigmoid(logits[..., 4]).numpy().reshape(4, -1)
    for row, p in zip(index, probability):
        # The anchor on the threshold may round either way in float32: both are kept.
        wanted = np.flatnonzero(p >= threshold - 1e-6)
        np.testing.assert_array_equal(row[:len(wanted)], wanted)
        assert len(set(row)) == len(row)
    assert index.shape[1] == max(1, int(np.max(np.sum(probability >= threshold - 1e-6, axis=1))))
