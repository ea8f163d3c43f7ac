"""Detection: held-out mAP of the default preset, and the cost of in-graph post-processing.

Trains `classics detection train` (default preset; `--quick`: the tiny preset) through the
app's own `commands.train` into a fresh run directory under /tmp, then evaluates it on the
held-out composed scenes (digits never seen in training).

Rows:
- mAP@0.5 on the held-out scenes (target >= 0.90); same-run reference: pycocotools'
  COCOeval AP50 on the very same detections (the ratio shows the two agree).
- COCO mAP@[.5:.95]; reference pycocotools likewise (information).
- post-processing (decoding + per-class NMS, one tf.function) on the trained model's logits
  for a batch of test scenes; same-run reference: `tf.image.combined_non_max_suppression`
  alone on the already decoded boxes and scores (target: ours <= 1.2x the op alone).
- a NumPy greedy-NMS loop on the same boxes, per image and class (information: how much a
  Python NMS costs).
- training wall time (information).
The per-class AP / precision / recall table is printed with the details.
"""

import contextlib
import dataclasses
import io
import tempfile
import time

from benchmarks.common import Row, at_least, at_most, log, median

TARGET_MAP50 = 0.90
TARGET_POSTPROCESS = 1.2


def _pycocotools(truth, detections, num_classes):
    """(AP@[.5:.95], AP50) from pycocotools on the same detections, or (None, None)."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        return None, None
    from apps.detection.boxes import xyxy_to_xywh

    anns, results = [], []
    for i, (g, d) in enumerate(zip(truth, detections)):
        for box, c in zip(xyxy_to_xywh(g.boxes), g.classes):
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(c) + 1,
                         "bbox": [float(v) for v in box], "area": float(box[2] * box[3]), "iscrowd": 0})
        for box, c, s in zip(xyxy_to_xywh(d.boxes), d.classes, d.scores):
            results.append({"image_id": i + 1, "category_id": int(c) + 1,
                            "bbox": [float(v) for v in box], "score": float(s)})
    if not results:
        return 0.0, 0.0  # loadRes cannot take an empty list; no detection means AP 0
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": [{"id": i + 1} for i in range(len(truth))], "annotations": anns,
                      "categories": [{"id": c + 1} for c in range(num_classes)]}
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(results), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0]), float(ev.stats[1])


def _time(fn, reps, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _postprocess_rows(model, config, images, quick):
    import tensorflow as tf

    from apps.detection import postprocess
    from apps.detection.data import anchor_array

    anchors = anchor_array(config.anchors)
    options = postprocess.nms_options(config)
    logits = model(tf.constant(images, tf.float32), training=False)
    boxes, scores = postprocess.decode(logits, anchors, config.image_size)

    @tf.function
    def ours(logits):
        return postprocess.postprocess(logits, anchors, config.image_size, **options)["num_detections"]

    @tf.function
    def op_alone(boxes, scores):
        return tf.image.combined_non_max_suppression(
            boxes[:, :, None, :], scores, options["max_per_class"], options["max_detections"],
            options["iou_threshold"], options["score_threshold"], clip_boxes=False).valid_detections

    reps = 5 if quick else 30
    t_ours, t_ref = [], []
    for _ in range(3 if quick else 10):  # interleaved rounds: drift hits both alike
        t_ours += _time(lambda: ours(logits).numpy(), reps)
        t_ref += _time(lambda: op_alone(boxes, scores).numpy(), reps)
    b_np, s_np = boxes.numpy(), scores.numpy()

    def numpy_loop():
        for i in range(len(b_np)):
            for c in range(s_np.shape[-1]):
                keep = s_np[i, :, c] > options["score_threshold"]
                postprocess.numpy_nms(b_np[i][keep], s_np[i, keep, c], options["iou_threshold"])

    t_np = _time(numpy_loop, 3 if quick else 10, warmup=1)
    n = len(images)
    ours_ms, ref_ms, np_ms = (1e3 * median(t) for t in (t_ours, t_ref, t_np))
    return [
        Row(f"post-processing, {n} images (decode + NMS)", ours_ms, "ms", ref_ms, "ms",
            target=f"<= {TARGET_POSTPROCESS}x the NMS op",
            ok=at_most(ours_ms / ref_ms, TARGET_POSTPROCESS),
            note=f"reference: tf.image.combined_non_max_suppression alone on decoded boxes "
                 f"({boxes.shape[1]} boxes x {scores.shape[2]} classes per image)"),
        Row(f"NumPy-loop NMS, {n} images", np_ms, "ms", ref_ms, "ms",
            note="greedy NMS in Python per image and class (information)"),
    ]


def run(quick: bool) -> list:
    from apps import detection
    from apps.common import config as config_lib
    from apps.detection import commands
    from apps.detection import metrics as metrics_lib
    from apps.detection.data import load_data

    runs = tempfile.mkdtemp(prefix="bench-detection-")
    preset = "tiny" if quick else "default"
    config = config_lib.resolve(detection.Config, detection.PRESETS, preset=preset)
    config = dataclasses.replace(config, runs_dir=runs)
    log(f"detection: training the {preset!r} preset into {runs}")
    splits = load_data(config)
    started = time.perf_counter()
    run_dir = commands.train(config, fresh=True, verbose=2, splits=splits)
    train_s = time.perf_counter() - started
    result = commands.evaluate(run_dir, splits=splits)
    print(metrics_lib.format_table(result), flush=True)

    cfg, labels, model = commands.load_run(run_dir)
    module, _ = commands.detector_module(model, cfg.anchors, labels, cfg)
    detections = commands.detect_arrays(module, splits.test.images)
    truth = [metrics_lib.ImageBoxes.make(b, c) for b, c in zip(splits.test.boxes, splits.test.classes)]
    ref_map, ref_map50 = _pycocotools(truth, detections, len(labels))
    rows = [
        Row(f"mAP@0.5, {result['images']} held-out scenes", result["map50"], "", ref_map50, "",
            target=f">= {TARGET_MAP50}", ok=at_least(result["map50"], TARGET_MAP50),
            note=f"preset {preset!r}; reference: pycocotools AP50 on the same detections; "
                 f"run {run_dir}"),
        Row("COCO mAP@[.5:.95]", result["map"], "", ref_map, "",
            note="reference: pycocotools AP on the same detections"),
    ]
    rows += _postprocess_rows(model, cfg, splits.test.images[:64], quick)
    rows.append(Row("detection training wall time", train_s, "s",
                    note=f"{len(splits.train)} scenes x {cfg.epochs} epochs, {cfg.image_size} px"))
    return rows
