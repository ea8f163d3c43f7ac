"""Detection: held-out mAP of the default preset, and the cost of in-graph post-processing.

Trains `classics detection train` (default preset; `--quick`: the tiny preset) through the
detection Task's own `train` into a fresh run directory under /tmp, then evaluates it on
held-out composed scenes (digits never seen in training). CLASSICS_BENCH_DETECTION_RUN=<dir>
evaluates a finished run of the same config instead of training one (its training time is
read from its files).

Rows:
- mAP@0.5 on the standard held-out draw; same-run reference: pycocotools' COCOeval AP50 on
  the very same detections (the ratio shows the two agree); COCO mAP@[.5:.95] likewise.
- mAP@0.5 on more draws of held-out scenes (new compositions of the same test digits) and
  the minimum over the draws (target >= 0.90: the target must hold on every draw).
- post-processing (candidate selection, decoding + per-class NMS, one tf.function) on the
  trained model's logits for a batch of test scenes; same-run reference:
  `tf.image.combined_non_max_suppression` alone on the already decoded boxes and scores of
  every anchor (target: ours <= 1.2x the op alone).
- a NumPy greedy-NMS loop on the same boxes, per image and class (information: how much a
  Python NMS costs).
- training wall time (information).
The per-class AP / precision / recall table of every draw is printed with the details.
"""

import contextlib
import dataclasses
import io
import os
import pathlib
import tempfile
import time

from benchmarks.common import Row, at_least, at_most, log, median

TARGET_MAP50 = 0.90
TARGET_POSTPROCESS = 1.2
DRAWS = 3  # held-out draws: the standard test set and two more compositions of its digits
DRAW_SEED = 10_000  # draw d's scenes: seed DRAW_SEED * d + config seed (far from training's)


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
            note=f"ours decodes the candidate anchors only; reference: "
                 f"tf.image.combined_non_max_suppression alone on every decoded box "
                 f"({boxes.shape[1]} boxes x {scores.shape[2]} classes per image)"),
        Row(f"NumPy-loop NMS, {n} images", np_ms, "ms", ref_ms, "ms",
            note="greedy NMS in Python per image and class (information)"),
    ]


def _evaluate(module, run, test):
    """The Task's evaluation (mAP@0.5, COCO mAP, per-class table) of the run's exported graph
    on the scenes `test`: `TASK.evaluate` reads the run's own test split, a draw is another."""
    from apps.detection import metrics as metrics_lib
    from apps.detection.serving import detect_arrays

    detections = detect_arrays(module, test.images)
    truth = [metrics_lib.ImageBoxes.make(b, c) for b, c in zip(test.boxes, test.classes)]
    result = metrics_lib.evaluate(truth, detections, len(run.labels), class_names=run.labels,
                                  score_threshold=run.config.report_threshold)
    return result, truth, detections


def _more_draws(module, run, splits, draws, config_seed):
    """[(seed, result)] for `draws - 1` more draws of held-out scenes besides the standard test
    draw (the same never-seen test digits pasted on new photo crops)."""
    results = []
    for d in range(1, draws):
        seed = DRAW_SEED * d + config_seed
        results.append((seed, _evaluate(module, run, splits.compose_test(len(splits.test), seed))[0]))
    return results


def _reused_run(task, config):
    """(run, training seconds) of a finished run named by CLASSICS_BENCH_DETECTION_RUN,
    checked to be `config` (up to runs_dir and the fitted anchors), or None."""
    from apps.common.run import Run

    name = os.environ.get("CLASSICS_BENCH_DETECTION_RUN")
    if not name:
        return None
    run = Run.open(task.name, task.Config, pathlib.Path(name))
    same = dataclasses.replace(run.config, runs_dir=config.runs_dir, anchors=config.anchors)
    if same != config:
        raise RuntimeError(f"{run.path}: not a finished run of this preset's config")
    seconds = run.file("log.csv").stat().st_mtime - run.file("config.json").stat().st_mtime
    return run, seconds


def run(quick: bool) -> list:
    from apps import get_task
    from apps.common.config import preset_config
    from apps.detection import metrics as metrics_lib

    task = get_task("detection")
    runs = tempfile.mkdtemp(prefix="bench-detection-")
    preset = "tiny" if quick else "default"
    config = dataclasses.replace(preset_config(task.Config, task.presets, preset), runs_dir=runs)
    splits = task.load_data(config)
    reused = None if quick else _reused_run(task, config)
    if reused:
        run, train_s = reused
        log(f"detection: evaluating the finished run {run.path} (CLASSICS_BENCH_DETECTION_RUN)")
    else:
        log(f"detection: training the {preset!r} preset into {runs}")
        started = time.perf_counter()
        run = task.train(config, fresh=True, verbose=2)
        train_s = time.perf_counter() - started

    # The export's graph (model + decoding + NMS), as the Task's evaluate and export use it.
    module, _, _ = task.serving(run)
    standard, truth, detections = _evaluate(module, run, splits.test)
    draws = [(None, standard), *_more_draws(module, run, splits, 2 if quick else DRAWS, config.seed)]
    for seed, result in draws:
        print(f"-- held-out draw {'standard' if seed is None else f'seed {seed}'}", flush=True)
        print(metrics_lib.format_table(result), flush=True)
    worst_seed, worst = min(draws, key=lambda d: d[1]["map50"])

    cfg, labels, model = run.config, run.labels, task.load_model(run)
    ref_map, ref_map50 = _pycocotools(truth, detections, len(labels))
    result = standard
    rows = [
        Row(f"mAP@0.5, {result['images']} held-out scenes, standard draw", result["map50"], "",
            ref_map50, "", note=f"preset {preset!r}; reference: pycocotools AP50 on the same "
                                f"detections; run {run.path}"),
        Row("COCO mAP@[.5:.95], standard draw", result["map"], "", ref_map, "",
            note="reference: pycocotools AP on the same detections"),
    ]
    rows += [Row(f"mAP@0.5, draw seed {seed}", r["map50"], "", note="information; min below")
             for seed, r in draws[1:]]
    rows.append(Row(f"min mAP@0.5 over {len(draws)} held-out draws", worst["map50"], "",
                    target=f">= {TARGET_MAP50}", ok=at_least(worst["map50"], TARGET_MAP50),
                    note=f"worst: {'standard draw' if worst_seed is None else f'seed {worst_seed}'}; "
                         "each draw: new scenes of the never-seen test digits"))
    rows += _postprocess_rows(model, cfg, splits.test.images[:64], quick)
    rows.append(Row("detection training wall time", train_s, "s",
                    note=f"{len(splits.train)} scenes x {cfg.epochs} epochs, {cfg.image_size} px"
                         + (" (the reused run's files)" if reused else "")))
    return rows
