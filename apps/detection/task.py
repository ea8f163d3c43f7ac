"""Object detection on the app contract: scenes, the grid detector, mAP, the NMS export, tour."""

import json
import math
import pathlib
import sys

import numpy as np

from apps.common import images as images_lib
from apps.common.files import write_json
from apps.common.optimizers import make_optimizer
from apps.common.task import Task
from apps.detection import commands, draw
from apps.detection import metrics as metrics_lib
from apps.detection.config import PRESETS, Config
from apps.detection.data import anchor_array, encode_targets, load_data, make_dataset, scene_stream
from apps.detection.losses import YoloLoss
from apps.detection.model import build_model, grid_size
from apps.detection.serving import detect_arrays, detector_module


class DetectionTask(Task):
    name = "detection"
    description = "object detection: YOLO-style grid with anchors and in-graph NMS"
    data_help = ("Datasets: scenes (embedded default: real digits on real photos), yolo:<dir>, "
                 "tfds:voc/2007, tfds:coco/2017.")
    Config, presets = Config, PRESETS
    monitor, mode = "val_loss", "min"
    predicts = "image files (PNG, JPEG, GIF, BMP, WebP)"
    tour_seconds = 90.0

    def load_data(self, config):
        return load_data(config)

    def prepare(self, config, data):
        return commands.fit_anchors(data, config), data

    def describe_data(self, data):
        return (f"{len(data.train)} train, {len(data.val)} validation, {len(data.test)} test images, "
                f"{len(data.class_names)} classes")

    def build_model(self, config, data):
        return build_model(config, len(data.class_names), len(anchor_array(config.anchors)))

    def compile(self, model, config, data, learning_rate=None):
        steps = math.ceil(len(data.train) / config.batch_size)
        model.compile(optimizer=make_optimizer(config, steps, learning_rate),
                      loss=YoloLoss(config.lambda_coord, config.lambda_noobj, config.lambda_class))

    def datasets(self, config, data):
        anchors, grid, k = anchor_array(config.anchors), grid_size(config), len(data.class_names)
        y_val, _ = encode_targets(data.val, anchors, config.image_size, grid, k)
        val = make_dataset(data.val, y_val, config.batch_size, training=False)
        if config.fresh_scenes and data.compose_train is not None:
            return scene_stream(data, config, anchors, grid), val
        y_train, lost = encode_targets(data.train, anchors, config.image_size, grid, k)
        if lost:
            print(f"warning: {lost} training object(s) share a cell and anchor with another and are "
                  "left out of the targets", file=sys.stderr)
        return make_dataset(data.train, y_train, config.batch_size, training=True, seed=config.seed), val

    # ------------------------------------------------------------ a finished run
    def module(self, run):
        return detector_module(run.load_model(), run.config.anchors, run.labels, run.config)

    def evaluate(self, run, options=None, out_dir=None):
        """mAP@0.5, COCO mAP@[.5:.95] and the per-class table on the test split."""
        config, labels = run.config, run.labels
        data = load_data(config)
        module, _ = self.module(run)
        detections = detect_arrays(module, data.test.images)
        truth = [metrics_lib.ImageBoxes.make(b, c) for b, c in zip(data.test.boxes, data.test.classes)]
        result = metrics_lib.evaluate(truth, detections, len(labels), class_names=labels,
                                      score_threshold=config.report_threshold)
        result["data"] = config.data
        out_dir = pathlib.Path(out_dir or run.path / "eval")
        write_json(out_dir / "metrics.json", result)
        picked = list(range(min(16, len(detections))))
        result["detections_png"] = str(draw.draw_grid(
            data.test.images[picked], [detections[i] for i in picked], labels, config.report_threshold,
            out_dir / "detections.png"))
        return result

    def format_evaluation(self, result):
        return metrics_lib.format_table(result)

    def add_arguments(self, command, parser):
        if command == "predict":
            parser.add_argument("--out-dir", default="predictions", metavar="DIR",
                                help="where the PNGs with boxes go (default: predictions/)")

    def predict(self, run, inputs, options=None):
        """{image, width, height, detections: [{label, class_id, score, box}], png} per image file,
        through the export's graph (boxes in the file's own pixels)."""
        import tensorflow as tf
        from PIL import Image

        config, labels = run.config, run.labels
        module, _ = self.module(run)
        size = config.image_size
        out_dir = pathlib.Path(getattr(options, "out_dir", None) or "predictions")
        results = []
        for path in inputs:
            pixels = images_lib.decode_for_model(path, 3, size, allow_gray_to_rgb=True)
            raw = tf.io.decode_image(tf.io.read_file(str(path)), expand_animations=False).numpy()
            height, width = raw.shape[:2]
            out = module.detect(tf.constant(pixels[None], tf.float32))
            k = int(out["num_detections"][0])
            boxes = out["boxes"][0, :k].numpy() * (np.array([width, height, width, height], np.float32) / size)
            dets = metrics_lib.ImageBoxes.make(boxes, out["classes"][0, :k].numpy(), out["scores"][0, :k].numpy())
            entry = {"image": str(path), "width": int(width), "height": int(height), "detections": [
                {"label": labels[int(c)], "class_id": int(c), "score": float(s), "box": [float(v) for v in b]}
                for b, c, s in zip(boxes, dets.classes, dets.scores)]}
            out_dir.mkdir(parents=True, exist_ok=True)
            png = out_dir / (pathlib.Path(path).stem + ".detections.png")
            rgb = raw[..., :3] if raw.shape[-1] >= 3 else np.repeat(raw[..., :1], 3, -1)
            Image.fromarray(draw.draw(rgb, dets, labels, config.report_threshold)).save(png)
            entry["png"] = str(png)
            results.append(entry)
        return results

    def format_prediction(self, entry):
        return json.dumps(entry)

    def serving(self, run, options=None):
        module, signatures = self.module(run)
        return module, signatures, {}

    def add_commands(self, sub):
        commands.add_commands(self, sub)

    # ------------------------------------------------------------ tour
    def tour(self, context):
        """A smaller problem than the default (64 px scenes of one or two digits, 4 x 4 grid, 30
        short epochs at a high learning rate): mAP@0.5 about 0.6 in the tour's minutes; the
        default preset needs ~40 minutes for >= 0.90."""
        config = self.tour_config(context)
        run = self.train(config, fresh=True)
        result = self.evaluate(run, out_dir=context.directory / self.name)
        version = self.export(run, root=context.model_root)
        per_class = ", ".join(f"{name} {row['ap50']:.2f}" for name, row in result["per_class"].items())
        context.report.add(
            "detection (digits pasted on real photos, YOLO-style grid)",
            {"mAP@0.5": result["map50"], "COCO mAP@[.5:.95]": result["map"], "test scenes": result["images"],
             "export": str(version)},
            [result["detections_png"]],
            notes=f"{config.epochs} epochs of the '{config.preset}' preset ({config.train_scenes} new "
                  f"{config.image_size} px scenes per epoch, 1-{config.max_objects} objects each): MNIST-5k "
                  "digits pasted at random sizes and places on real photos from scikit-image/scikit-learn; "
                  f"test scenes hold digits never seen in training. AP@0.5 per class: {per_class}. The "
                  "default preset (96 px, up to 4 objects, 45 epochs) reaches mAP@0.5 >= 0.90 "
                  "(benchmarks/results/detection.txt).")


TASK = DetectionTask()
