"""train / evaluate / predict / export for image classification."""

import dataclasses
import json
import math
import pathlib
import sys

import numpy as np

from apps.classification.config import PRESETS, Config
from apps.classification.data import load_data, make_dataset
from apps.common import cli, metrics, report
from apps.common import export as export_lib
from apps.common import train as train_lib
from apps.common.errors import ConfigError

NAME = "classification"


# ---------------------------------------------------------------- models of a run
def load_run_model(run_dir):
    return train_lib.load_best_model(run_dir)


def load_run(run_dir):
    """(config, class names, model) of a finished run."""
    return (*train_lib.read_run(Config, run_dir), load_run_model(run_dir))


def _source_model(path):
    return train_lib.load_best_model(path, "init_from")


# ---------------------------------------------------------------- train
def _compile(model, config, steps_per_epoch, learning_rate=None):
    import keras

    if learning_rate is not None:
        config = dataclasses.replace(config, learning_rate=learning_rate)
    model.compile(
        optimizer=train_lib.make_optimizer(config, steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=config.label_smoothing
        ),
        metrics=["accuracy"],
    )


def train(config, run_dir=None, fresh=False, verbose=None):
    """Train a classifier; returns the run directory (resumes an unfinished one)."""
    from apps.classification.model import build_model, init_backbone_from

    train_lib.seed_everything(config.seed)
    splits = load_data(config)
    run_dir, resumed = train_lib.prepare_run(NAME, config, run_dir, fresh)
    print(f"{'resuming' if resumed else 'run'} {run_dir}: {len(splits.y_train)} train, "
          f"{len(splits.y_val)} validation, {len(splits.y_test)} test images, "
          f"{len(splits.class_names)} classes", file=sys.stderr)
    (run_dir / "labels.txt").write_text("".join(f"{c}\n" for c in splits.class_names))
    num_classes = len(splits.class_names)
    model = build_model(config, num_classes, splits.input_shape)
    train_ds = make_dataset(splits.x_train, splits.y_train, config, num_classes, training=True)
    val_ds = make_dataset(splits.x_val, splits.y_val, config, num_classes, training=False)
    steps = math.ceil(len(splits.y_train) / config.batch_size)

    if config.init_from:
        init_backbone_from(model, _source_model(config.init_from))
        if config.freeze_epochs > 0:
            # Head only first, so random head gradients do not wreck the backbone.
            phase = run_dir / "frozen"
            phase.mkdir(exist_ok=True)
            backbone = model.get_layer("backbone")
            if not (phase / train_lib.DONE_MARKER).exists():
                backbone.trainable = False
                frozen = dataclasses.replace(config, epochs=config.freeze_epochs)
                _compile(model, frozen, steps)
                train_lib.fit(model, train_ds, val_ds, frozen, phase, verbose=verbose)
            # Also after a resume that finds the frozen phase already done.
            model.set_weights(_source_model(phase).get_weights())
            backbone.trainable = True
            _compile(model, config, steps, config.learning_rate * config.fine_tune_lr_factor)
        else:
            _compile(model, config, steps)
    else:
        _compile(model, config, steps)
    train_lib.fit(model, train_ds, val_ds, config, run_dir, verbose=verbose)
    return run_dir


# ---------------------------------------------------------------- evaluate
def combined_model(run_dirs, tta=False):
    """One model for a run, or the average of several (ensemble) and/or TTA views.

    Returns (config, labels, model, outputs_probabilities).
    """
    from apps.classification.model import Averaged, tta_shifts

    config, labels, model = load_run(run_dirs[0])
    if len(run_dirs) == 1 and not tta:
        return config, labels, model, False
    members = [model]
    for other in run_dirs[1:]:
        other_config, other_labels, other_model = load_run(other)
        if other_labels != labels or other_model.input_shape != model.input_shape:
            raise ConfigError(
                f"ensemble: {other} has labels/input {other_labels[:3]}.../{other_model.input_shape}, "
                f"expected {labels[:3]}.../{model.input_shape} as {run_dirs[0]}"
            )
        members.append(other_model)
    shifts = tta_shifts(config.crop_padding) if tta else ((0, 0),)
    flip = tta and "flip" in config.augment
    import keras

    inputs = keras.Input(model.input_shape[1:], name="image")
    averaged = Averaged(members, shifts=shifts, flip=flip, name="averaged")
    return config, labels, keras.Model(inputs, averaged(inputs), name="combined"), True


def probabilities(model, images, outputs_probabilities, batch_size=256):
    """Class probabilities for uint8/float images (N, H, W, C), in compiled batches."""
    import tensorflow as tf

    if len(images) == 0:
        return np.zeros((0, model.output_shape[-1]), np.float32)
    y = model.predict(np.asarray(images, np.float32), batch_size=batch_size, verbose=0)
    return y if outputs_probabilities else tf.nn.softmax(y).numpy()


def evaluate(run_dirs, tta=False, out_dir=None):
    """Metrics on the test split; writes metrics.json and PNGs; returns the report."""
    config, labels, model, probs_out = combined_model(run_dirs, tta)
    splits = load_data(config)
    probs = probabilities(model, splits.x_test, probs_out)
    pred = probs.argmax(axis=1)
    cm = metrics.confusion_matrix(splits.y_test, pred, len(labels))
    result = metrics.per_class_report(cm, labels)
    result.update(tta=bool(tta), members=[str(r) for r in run_dirs], data=config.data)
    out_dir = pathlib.Path(out_dir or pathlib.Path(run_dirs[0]) / ("eval-tta" if tta else "eval"))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    result["confusion_png"] = str(report.confusion_matrix_png(cm, labels, out_dir / "confusion.png"))
    wrong = np.flatnonzero(pred != splits.y_test)[:24]
    if len(wrong):
        titles = [f"{labels[splits.y_test[i]]}->{labels[pred[i]]} {probs[i, pred[i]]:.2f}" for i in wrong]
        result["mistakes_png"] = str(report.image_grid_png(
            splits.x_test[wrong], titles, out_dir / "mistakes.png"))
    return result


# ---------------------------------------------------------------- predict
def predict(paths, run_dirs, tta=False, top_k=1):
    """[(path, [(label, probability), ...])] for image files."""
    from apps.common import images as images_lib

    config, labels, model, probs_out = combined_model(run_dirs, tta)
    height, _, channels = model.input_shape[1:]
    batch = np.stack([
        images_lib.decode_for_model(p, channels=channels, image_size=height) for p in paths
    ])
    probs = probabilities(model, batch, probs_out)
    results = []
    for path, row in zip(paths, probs):
        order = np.argsort(-row)[:top_k]
        results.append((str(path), [(labels[i], float(row[i])) for i in order]))
    return results


# ---------------------------------------------------------------- export
def export_module(model, labels, outputs_probabilities):
    """A tf.Module with the serving signatures: encoded image bytes or uint8 pixels in;
    probabilities, top class id, label and score out (decoding and softmax in-graph)."""
    import tensorflow as tf

    from apps.common import images as images_lib

    height, width, channels = model.input_shape[1:]

    class ClassifierServing(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.labels = tf.constant(list(labels))

        def outputs(self, pixels):
            y = self.model(pixels, training=False)
            probs = y if outputs_probabilities else tf.nn.softmax(y)
            ids = tf.argmax(probs, axis=-1)
            return {
                "probabilities": probs,
                "class_ids": ids,
                "classes": tf.gather(self.labels, ids),
                "scores": tf.reduce_max(probs, axis=-1),
            }

    module = ClassifierServing()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve_bytes(image_bytes):
        return module.outputs(images_lib.decode_batch(image_bytes, channels, height))

    @tf.function(input_signature=[
        tf.TensorSpec([None, height, width, channels], tf.uint8, name="images")])
    def serve_images(images):
        return module.outputs(tf.cast(images, tf.float32))

    module.serve_bytes = serve_bytes
    module.serve_images = serve_images
    return module, {"serving_default": serve_bytes, "predict_images": serve_images}


def export_signatures(model, labels, outputs_probabilities=False):
    return export_module(model, labels, outputs_probabilities)[1]


def export(run_dirs, tta=False, root="saved_models"):
    """Export the run (or ensemble/TTA combination) as the next version; returns its dir."""
    config, labels, model, probs_out = combined_model(run_dirs, tta)
    result = evaluate(run_dirs, tta)
    keep = {k: v for k, v in result.items() if not k.endswith("_png")}
    module, signatures = export_module(model, labels, probs_out)
    return export_lib.write_saved_model(
        NAME, module, signatures, root=root, config=config, labels=labels, metrics=keep,
        extra_assets={"members.json": [str(r) for r in run_dirs]},
    )


# ---------------------------------------------------------------- CLI
def _runs(args, config_runs_dir="runs"):
    first = train_lib.resolve_run(NAME, args.run, config_runs_dir)
    return [first, *(train_lib.resolve_run(NAME, r) for r in (args.ensemble or []))]


def _cmd_train(args):
    from apps import classification as app

    config = cli.config_from_args(app, args)
    run_dir = train(config, run_dir=args.run_dir, fresh=args.fresh)
    result = evaluate([run_dir])
    print(metrics.format_report(result))
    print(f"run: {run_dir}")


def _cmd_evaluate(args):
    result = evaluate(_runs(args), tta=args.tta)
    print(metrics.format_report(result))
    print(f"confusion matrix: {result['confusion_png']}")


def _cmd_predict(args):
    results = predict(args.images, _runs(args), tta=args.tta, top_k=args.top_k)
    for path, top in results:
        if args.json:
            print(json.dumps({"image": path, "predictions": [
                {"label": label, "probability": p} for label, p in top]}))
        else:
            print(path + "\t" + "\t".join(f"{label} {p:.4f}" for label, p in top))


def _cmd_export(args):
    path = export(_runs(args), tta=args.tta, root=args.model_root)
    print(f"exported {path}")


def _run_arguments(parser):
    cli.add_run_argument(parser)
    parser.add_argument("--ensemble", nargs="+", metavar="DIR",
                        help="more runs whose probabilities are averaged with --run's")
    parser.add_argument("--tta", action="store_true",
                        help="test-time augmentation: average over shifted crops (and flips)")


def add_commands(sub) -> None:
    cli.add_train_command(
        sub, PRESETS, _cmd_train, help="train a classifier (resumes an interrupted run)",
        description="Train a ResNet/Inception classifier. Datasets: mnist5k "
        "(embedded default), idx:<dir>, folder:<dir>, tfds:<name>.")

    p = sub.add_parser("evaluate", help="accuracy, per-class P/R/F1 and a confusion-matrix PNG")
    _run_arguments(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("predict", help="labels and probabilities for image files")
    p.add_argument("images", nargs="+", help="image files (PNG, JPEG, ...)")
    _run_arguments(p)
    p.add_argument("--top-k", type=int, default=1)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("export", help="write saved_models/classification/<version>/")
    _run_arguments(p)
    cli.add_model_root_argument(p)
    p.set_defaults(func=_cmd_export)


# Config is imported here so `apps.classification` exposes one interface.
__all__ = ["Config", "PRESETS", "add_commands", "train", "evaluate", "predict", "export"]
