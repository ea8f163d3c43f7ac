import csv
import io
import shutil
from types import SimpleNamespace

import exports
import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from apps.classification.config import PRESETS, Config
from apps.classification.data import load_data
from apps.classification.model import build_model
from apps.classification.task import TASK
from apps.common import config as config_lib
from apps.common import export as export_lib
from apps.common.run import Run


def _config(preset, **sets):
    return config_lib.resolve(Config, PRESETS, preset=preset, sets=[f"{k}={v}" for k, v in sets.items()])


def _options(ensemble=(), tta=False, top_k=1):
    """The app flags of evaluate/export/predict, as argparse would give them."""
    return SimpleNamespace(ensemble=[str(getattr(r, "path", r)) for r in ensemble], tta=tta, top_k=top_k)


def test_resnet50_preset_has_keras_applications_parameter_count():
    model = build_model(_config("resnet50"), 1000, (224, 224, 3))
    reference = keras.applications.ResNet50(weights=None)
    assert model.count_params() == reference.count_params() == 25_636_712
    assert len(model.get_layer("backbone").layers) > 16  # really built from blocks


def test_inception_preset_builds_and_runs():
    config = _config("inception", stage_filters="16,32", stage_blocks="1,1")
    model = build_model(config, 10, (28, 28, 1))
    out = model(np.zeros((2, 28, 28, 1), "float32"))
    assert out.shape == (2, 10)
    names = [type(layer).__name__ for layer in model.get_layer("backbone").layers]
    assert names.count("InceptionModule") == 2


def test_mnist5k_splits_are_fixed_and_disjoint():
    config = _config("tiny")
    a, b = load_data(config), load_data(config)
    assert len(a.y_test) == 1000 and len(a.y_train) + len(a.y_val) == 4000
    np.testing.assert_array_equal(a.y_test, b.y_test)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert np.bincount(a.y_test).tolist() == [100] * 10  # stratified
    assert a.class_names == tuple(str(i) for i in range(10))


def test_training_writes_a_complete_run(tiny_run):
    run_dir = tiny_run.path
    for name in ("config.json", "best.keras", "log.csv", "labels.txt", "DONE"):
        assert (run_dir / name).exists(), name
    assert not (run_dir / "backup").exists()
    with (run_dir / "log.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert float(rows[-1]["val_accuracy"]) > 0.5
    assert any((run_dir / "tensorboard").rglob("events.out.tfevents.*"))


def test_evaluate_agrees_with_the_model(tiny_run):
    result = TASK.evaluate(tiny_run)
    config, labels, model = tiny_run.config, tiny_run.labels, tiny_run.load_model()
    splits = load_data(config)
    pred = model.predict(splits.x_test.astype("float32"), verbose=0).argmax(1)
    assert result["accuracy"] == pytest.approx(float((pred == splits.y_test).mean()))
    assert result["count"] == 1000
    assert set(result["per_class"]) == set(labels)
    recall0 = float((pred[splits.y_test == 0] == 0).mean())
    assert result["per_class"]["0"]["recall"] == pytest.approx(recall0)
    assert (tiny_run.path / "eval" / "confusion.png").stat().st_size > 1000


def _jpeg_bytes(image):
    buf = io.BytesIO()
    Image.fromarray(image[..., 0]).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def test_export_serves_the_keras_model_from_bytes_and_pixels(tiny_run, tiny_export, tmp_path):
    config, labels, model = tiny_run.config, tiny_run.labels, tiny_run.load_model()
    digits = load_data(config).x_test[:4]
    jpegs = [_jpeg_bytes(d) for d in digits]
    first = exports.copy_version(tiny_export, tmp_path)  # the session's export of this run
    assert export_lib.read_extra(first, "labels.txt") == labels
    assert export_lib.read_extra(first, "config.json")["preset"] == "tiny"
    assert 0 < export_lib.read_extra(first, "metrics.json")["accuracy"] <= 1

    served = exports.load(first)
    out = served.signatures["serving_default"](image_bytes=tf.constant(jpegs))
    decoded = np.stack([tf.io.decode_jpeg(j, channels=1).numpy() for j in jpegs]).astype("float32")
    expected = tf.nn.softmax(model(decoded, training=False)).numpy()
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)
    assert [c.decode() for c in out["classes"].numpy()] == [labels[i] for i in expected.argmax(1)]
    pixels = served.signatures["predict_images"](images=tf.constant(digits))
    np.testing.assert_allclose(
        pixels["probabilities"].numpy(),
        tf.nn.softmax(model(digits.astype("float32"), training=False)).numpy(), atol=1e-5)


def test_predict_equals_the_served_model(tiny_run, tiny_export, tmp_path):
    config, labels = tiny_run.config, tiny_run.labels
    digits = load_data(config).x_test[:3]
    paths = []
    for i, d in enumerate(digits):
        paths.append(tmp_path / f"d{i}.jpg")
        paths[-1].write_bytes(_jpeg_bytes(d))
    results = TASK.predict(tiny_run, paths, _options(top_k=10))
    served = exports.load(tiny_export).signatures["serving_default"](
        image_bytes=tf.constant([p.read_bytes() for p in paths]))
    assert [entry["image"] for entry in results] == [str(p) for p in paths]
    for entry, probs in zip(results, served["probabilities"].numpy(), strict=True):
        by_label = {p["label"]: p["probability"] for p in entry["predictions"]}
        np.testing.assert_allclose([by_label[label] for label in labels], probs, atol=1e-5)


def _other_member(run, path):
    """A second finished run for an ensemble: `run`'s directory with its logits layer redrawn
    (what is averaged does not need training)."""
    shutil.copytree(run.path, path)
    model = keras.models.load_model(path / "best.keras", compile=False)
    logits = model.get_layer("logits")
    rng = np.random.default_rng(7)
    logits.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in logits.get_weights()])
    model.save(path / "best.keras")
    return path


def test_tta_ensemble_is_one_exportable_model(tiny_run, tiny_export, tmp_path):
    other = Run.open(TASK.name, Config, _other_member(tiny_run, tmp_path / "other"))
    options = _options(ensemble=[other], tta=True)
    model, probs_out = TASK.combined(tiny_run, options)
    assert probs_out
    digits = load_data(tiny_run.config).x_test[:5]
    # 2 members x 5 crops, averaged.
    m1, m2 = tiny_run.load_model(), other.load_model()
    views = model.get_layer("averaged")._views(tf.constant(digits, tf.float32))
    assert len(views) == 5
    manual = np.mean([tf.nn.softmax(m(v)).numpy() for m in (m1, m2) for v in views], axis=0)
    np.testing.assert_allclose(model(digits).numpy(), manual, atol=1e-6)
    exports.copy_version(tiny_export, tmp_path / "models")  # the session's export of this run
    version = TASK.export(tiny_run, options, root=tmp_path / "models")
    assert version.name == "2"  # the next version beside it
    served = tf.saved_model.load(str(version)).signatures["predict_images"](images=tf.constant(digits))
    np.testing.assert_allclose(served["probabilities"].numpy(), manual, atol=1e-5)
    assert export_lib.read_extra(version, "metrics.json")["tta"] is True


def test_init_from_copies_then_freezes_the_backbone(tiny_run, tmp_path):
    config = _config("tiny", runs_dir=tmp_path / "runs", init_from=tiny_run.path, freeze_epochs=1, epochs=1)
    run = TASK.train(config, verbose=0)
    source = tiny_run.load_model()
    frozen = keras.models.load_model(run.path / "frozen" / "best.keras", compile=False)
    for a, b in zip(source.get_layer("backbone").get_weights(), frozen.get_layer("backbone").get_weights()):
        np.testing.assert_array_equal(a, b)  # frozen phase: backbone untouched
    assert not np.array_equal(source.get_layer("logits").get_weights()[0],
                              frozen.get_layer("logits").get_weights()[0])
    tuned = run.load_model()
    changed = [not np.array_equal(a, b) for a, b in zip(
        frozen.get_layer("backbone").get_weights(), tuned.get_layer("backbone").get_weights())]
    assert any(changed)  # fine-tuning phase: backbone trained
