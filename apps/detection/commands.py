"""train / evaluate / predict / anchors / export for the grid detector."""

import dataclasses
import json
import math
import pathlib
import sys

import numpy as np

from apps.common import cli
from apps.common import export as export_lib
from apps.common import train as train_lib
from apps.common.errors import ConfigError, DataError
from apps.detection import anchors as anchors_lib
from apps.detection import metrics as metrics_lib
from apps.detection.config import PRESETS, Config
from apps.detection.data import anchor_array, encode_targets, load_data, make_dataset, scene_stream

NAME = "detection"


# ---------------------------------------------------------------- the one detection path
def detector_module(model, anchors, labels, config):
    """tf.Module whose `detect(pixels)` is model + decoding + per-class NMS in one graph.

    evaluate, predict and the export all call this, so their outputs agree exactly.
    Signatures: `serving_default` (encoded image bytes; boxes in each image's own
    pixels) and `predict_images` (uint8 (N, size, size, 3); boxes in those pixels).
    """
    import tensorflow as tf

    from apps.common import images as images_lib
    from apps.detection import postprocess

    size = int(config.image_size)
    options = postprocess.nms_options(config)
    anchors = anchor_array(anchors)

    class DetectorServing(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.labels = tf.constant(list(labels))

        @tf.function(input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)])
        def detect(self, pixels):
            out = postprocess.postprocess(self.model(pixels, training=False), anchors, size, **options)
            out["labels"] = tf.gather(self.labels, out["classes"])
            return out

    module = DetectorServing()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve_bytes(image_bytes):
        pixels = images_lib.decode_batch(image_bytes, 3, size)
        out = module.detect(pixels)
        # Boxes back into each image's own pixels: (width, height) / size per image.
        hw = tf.map_fn(
            lambda b: tf.shape(tf.io.decode_image(b, expand_animations=False))[:2],
            image_bytes, fn_output_signature=tf.TensorSpec([2], tf.int32))
        scale = tf.cast(tf.reverse(hw, [1]), tf.float32) / float(size)  # (N, 2) x, y
        out["boxes"] = out["boxes"] * tf.tile(scale, [1, 2])[:, None, :]
        return out

    @tf.function(input_signature=[tf.TensorSpec([None, size, size, 3], tf.uint8, name="images")])
    def serve_images(images):
        return module.detect(tf.cast(images, tf.float32))

    module.serve_bytes = serve_bytes
    module.serve_images = serve_images
    return module, {"serving_default": serve_bytes, "predict_images": serve_images}


def detect_arrays(module, images, batch_size=64):
    """uint8 (N, size, size, 3) -> list of ImageBoxes (model-input pixels)."""
    import tensorflow as tf

    out = []
    for start in range(0, len(images), batch_size):
        result = module.detect(tf.constant(images[start:start + batch_size], tf.float32))
        for i in range(int(result["boxes"].shape[0])):
            k = int(result["num_detections"][i])
            out.append(metrics_lib.ImageBoxes.make(result["boxes"][i, :k].numpy(),
                                                   result["classes"][i, :k].numpy(),
                                                   result["scores"][i, :k].numpy()))
    return out


# ---------------------------------------------------------------- runs
def load_run(run_dir):
    """(config, class names, model) of a finished run."""
    return (*train_lib.read_run(Config, run_dir), train_lib.load_best_model(run_dir))


def fit_anchors(splits, config):
    """Config with anchors: the given ones, or k-means (1 - IoU) on the training boxes."""
    if config.anchors:
        anchor_array(config.anchors)
        return config
    wh = np.concatenate([b[:, 2:] - b[:, :2] for b in splits.train.boxes] or [np.zeros((0, 2))])
    centroids, mean_iou = anchors_lib.kmeans(wh, config.num_anchors, seed=config.seed)
    print(f"anchors (k-means, k={config.num_anchors}, mean IoU {mean_iou:.3f}): "
          + " ".join(f"{w:.1f}x{h:.1f}" for w, h in centroids), file=sys.stderr)
    flat = tuple(round(float(v), 2) for v in centroids.reshape(-1))
    return dataclasses.replace(config, anchors=flat)


def train(config, run_dir=None, fresh=False, verbose=None, splits=None):
    """Train a detector; returns the run directory (resumes an unfinished one)."""
    from apps.detection.losses import YoloLoss
    from apps.detection.model import build_model, grid_size

    train_lib.seed_everything(config.seed)
    splits = splits or load_data(config)
    config = fit_anchors(splits, config)
    grid = grid_size(config)
    run_dir, resumed = train_lib.prepare_run(NAME, config, run_dir, fresh)
    num_classes = len(splits.class_names)
    print(f"{'resuming' if resumed else 'run'} {run_dir}: {len(splits.train)} train, "
          f"{len(splits.val)} validation, {len(splits.test)} test images, {num_classes} classes, "
          f"grid {grid}x{grid}x{len(config.anchors) // 2}", file=sys.stderr)
    (run_dir / "labels.txt").write_text("".join(f"{c}\n" for c in splits.class_names))
    anchors = anchor_array(config.anchors)
    y_train, lost = encode_targets(splits.train, anchors, config.image_size, grid, num_classes)
    if lost:
        print(f"warning: {lost} training object(s) share a cell and anchor with another and are "
              "left out of the targets", file=sys.stderr)
    y_val, _ = encode_targets(splits.val, anchors, config.image_size, grid, num_classes)
    model = build_model(config, num_classes, len(anchors))
    steps = math.ceil(len(splits.train) / config.batch_size)
    model.compile(optimizer=train_lib.make_optimizer(config, steps),
                  loss=YoloLoss(config.lambda_coord, config.lambda_noobj, config.lambda_class))
    if config.fresh_scenes and splits.compose_train is not None:
        train_data = scene_stream(splits, config, anchors, grid)
    else:
        train_data = make_dataset(splits.train, y_train, config.batch_size, training=True,
                                  seed=config.seed)
    train_lib.fit(model, train_data,
                  make_dataset(splits.val, y_val, config.batch_size, training=False),
                  config, run_dir, monitor="val_loss", mode="min", verbose=verbose)
    return run_dir


# ---------------------------------------------------------------- evaluate
def evaluate(run_dir, out_dir=None, splits=None):
    """mAP@0.5, COCO mAP@[.5:.95] and the per-class table on the test split."""
    config, labels, model = load_run(run_dir)
    splits = splits or load_data(config)
    module, _ = detector_module(model, config.anchors, labels, config)
    detections = detect_arrays(module, splits.test.images)
    truth = [metrics_lib.ImageBoxes.make(b, c) for b, c in zip(splits.test.boxes, splits.test.classes)]
    result = metrics_lib.evaluate(truth, detections, len(labels), class_names=labels,
                                  score_threshold=config.report_threshold)
    result["data"] = config.data
    out_dir = pathlib.Path(out_dir or pathlib.Path(run_dir) / "eval")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    picked = list(range(min(16, len(detections))))
    result["detections_png"] = str(draw_grid(
        splits.test.images[picked], [detections[i] for i in picked], labels,
        config.report_threshold, out_dir / "detections.png"))
    return result


def draw(image, dets, labels, threshold, scale=1.0):
    """uint8 image with the boxes scoring >= threshold drawn and labelled (PIL)."""
    from PIL import Image, ImageDraw

    pil = Image.fromarray(np.asarray(image, np.uint8))
    if scale != 1.0:
        pil = pil.resize((round(pil.width * scale), round(pil.height * scale)))
    pen = ImageDraw.Draw(pil)
    palette = [(255, 64, 64), (64, 200, 64), (64, 128, 255), (255, 200, 0), (255, 0, 255),
               (0, 220, 220)]
    for box, cls, score in zip(dets.boxes, dets.classes, dets.scores):
        if score < threshold:
            continue
        colour = palette[int(cls) % len(palette)]
        x0, y0, x1, y1 = (float(v) * scale for v in box)
        pen.rectangle([x0, y0, x1, y1], outline=colour, width=2)
        pen.text((x0 + 2, max(0.0, y0 - 11)), f"{labels[int(cls)]} {score:.2f}", fill=colour)
    return np.asarray(pil)


def draw_grid(images, detections, labels, threshold, path, columns=4):
    from PIL import Image

    tiles = [draw(im, d, labels, threshold, scale=2.0) for im, d in zip(images, detections)]
    if not tiles:
        return None
    h, w = tiles[0].shape[:2]
    rows = math.ceil(len(tiles) / columns)
    sheet = np.full((rows * h, columns * w, 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        sheet[(i // columns) * h:(i // columns + 1) * h, (i % columns) * w:(i % columns + 1) * w] = tile
    Image.fromarray(sheet).save(path)
    return pathlib.Path(path)


# ---------------------------------------------------------------- predict
def predict(paths, run_dir, out_dir=None):
    """[{image, detections: [{label, class_id, score, box [x0, y0, x1, y1] pixels}]}] for
    image files, through the same graph as the export's `serving_default` (boxes in the
    file's own pixels); a PNG per image with the boxes drawn when `out_dir` is given."""
    import tensorflow as tf

    from apps.common import images as images_lib

    config, labels, model = load_run(run_dir)
    module, _ = detector_module(model, config.anchors, labels, config)
    size = config.image_size
    results = []
    for path in paths:
        pixels = images_lib.decode_for_model(path, 3, size, allow_gray_to_rgb=True)
        raw = tf.io.decode_image(tf.io.read_file(str(path)), expand_animations=False)
        height, width = int(raw.shape[0]), int(raw.shape[1])
        out = module.detect(tf.constant(pixels[None], tf.float32))
        k = int(out["num_detections"][0])
        scale = np.array([width, height, width, height], np.float32) / size
        boxes = out["boxes"][0, :k].numpy() * scale
        dets = metrics_lib.ImageBoxes.make(boxes, out["classes"][0, :k].numpy(),
                                           out["scores"][0, :k].numpy())
        entry = {"image": str(path), "width": width, "height": height, "detections": [
            {"label": labels[int(c)], "class_id": int(c), "score": float(s),
             "box": [float(v) for v in b]}
            for b, c, s in zip(boxes, dets.classes, dets.scores)]}
        if out_dir is not None:
            from PIL import Image

            out_dir = pathlib.Path(out_dir)
            out_dir.mkdir(parents=True, exist_ok=True)
            png = out_dir / (pathlib.Path(path).stem + ".detections.png")
            Image.fromarray(draw(raw.numpy()[..., :3] if raw.shape[-1] >= 3
                                 else np.repeat(raw.numpy()[..., :1], 3, -1),
                                 dets, labels, config.report_threshold)).save(png)
            entry["png"] = str(png)
        results.append(entry)
    return results


# ---------------------------------------------------------------- anchors
def anchors_table(config, k):
    """[(k, anchors, mean IoU)] for 1..k on the training boxes of `config.data`."""
    splits = load_data(config)
    wh = np.concatenate([b[:, 2:] - b[:, :2] for b in splits.train.boxes] or [np.zeros((0, 2))])
    if len(wh) == 0:
        raise DataError(f"{config.data}: no boxes in the training split to cluster")
    return anchors_lib.sweep(wh, range(1, k + 1), seed=config.seed)


# ---------------------------------------------------------------- export
def export(run_dir, root="saved_models"):
    """The run as the next SavedModel version (decoding and NMS inside); returns its dir."""
    config, labels, model = load_run(run_dir)
    module, signatures = detector_module(model, config.anchors, labels, config)
    metrics_path = pathlib.Path(run_dir) / "eval" / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else None
    return export_lib.write_saved_model(NAME, module, signatures, root=root, config=config,
                                        labels=labels, metrics=metrics)


# ---------------------------------------------------------------- CLI
def _cmd_train(args):
    from apps import detection as app

    config = cli.config_from_args(app, args)
    run_dir = train(config, run_dir=args.run_dir, fresh=args.fresh)
    result = evaluate(run_dir)
    print(metrics_lib.format_table(result))
    print(f"run: {run_dir}")


def _cmd_evaluate(args):
    result = evaluate(train_lib.resolve_run(NAME, args.run))
    print(metrics_lib.format_table(result))
    print(f"detections: {result['detections_png']}")


def _cmd_predict(args):
    for entry in predict(args.images, train_lib.resolve_run(NAME, args.run), out_dir=args.out_dir):
        print(json.dumps(entry))


def _cmd_anchors(args):
    from apps import detection as app

    if args.k < 1:
        raise ConfigError(f"--k: expected a positive number of anchors, got {args.k}")
    rows = anchors_table(cli.config_from_args(app, args), args.k)
    print(f"{'k':>3} {'mean IoU':>9}  anchors (w x h pixels)")
    for k, centroids, mean_iou in rows:
        print(f"{k:>3} {mean_iou:9.4f}  " + " ".join(f"{w:.1f}x{h:.1f}" for w, h in centroids))
    flat = ",".join(f"{v:.2f}" for v in rows[-1][1].reshape(-1))
    print(f"use: --set anchors={flat}")


def _cmd_export(args):
    print(f"exported {export(train_lib.resolve_run(NAME, args.run), root=args.model_root)}")


def add_commands(sub) -> None:
    cli.add_train_command(
        sub, PRESETS, _cmd_train, help="train a grid detector (resumes an interrupted run)",
        description="Train a YOLO-style grid detector. Datasets: scenes (embedded "
        "default: real digits on real photos), yolo:<dir>, tfds:voc/2007, tfds:coco/2017.")

    cli.add_run_command(sub, "evaluate", "mAP@0.5, COCO mAP@[.5:.95], per-class AP/P/R", _cmd_evaluate)

    p = sub.add_parser("predict", help="boxes as JSON lines and a PNG per image")
    p.add_argument("images", nargs="+", help="image files (PNG, JPEG, GIF, BMP, WebP)")
    cli.add_run_argument(p)
    p.add_argument("--out-dir", default="predictions", metavar="DIR",
                   help="where the PNGs with boxes go (default: predictions/)")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("anchors", help="k-means (1 - IoU) anchors; mean IoU for each k")
    cli.add_config_arguments(p, PRESETS)
    p.add_argument("--k", type=int, default=5, help="the largest number of anchors (default 5)")
    p.set_defaults(func=_cmd_anchors)

    cli.add_run_command(sub, "export", "write saved_models/detection/<version>/ (NMS inside)",
                        _cmd_export, model_root=True)
