"""The app end to end on the tiny preset: train, evaluate, predict, export, CLI errors."""

import json
import types

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from apps import cli
from apps.common import config as config_lib
from apps.detection.config import PRESETS, Config
from apps.detection.task import TASK


@pytest.fixture(scope="session")
def tiny_detector(tmp_path_factory):
    """A 1-epoch tiny detector on a few composed scenes, evaluated and exported once."""
    root = tmp_path_factory.mktemp("detection")
    config = config_lib.resolve(Config, PRESETS, preset="tiny",
                                # A low threshold so the barely trained model yields detections.
                                sets=[f"runs_dir={root / 'runs'}", "score_threshold=0.001"])
    run = TASK.train(config, verbose=0)
    result = TASK.evaluate(run)
    version = TASK.export(run, root=str(root / "saved_models"))
    return run, result, version, root


def test_train_evaluate_reports_every_class(tiny_detector):
    run, result, _, _ = tiny_detector
    assert set(result["per_class"]) == {str(i) for i in range(10)}
    assert 0.0 <= result["map"] <= result["map50"] <= 1.0
    saved = json.loads((run.path / "eval" / "metrics.json").read_text())
    assert saved["objects"] == result["objects"] > 0
    config = config_lib.load_config(Config, run.path / "config.json")
    assert len(config.anchors) == 2 * config.num_anchors  # k-means anchors were recorded


def test_export_serves_what_predict_returns(tiny_detector, tmp_path):
    run, _, version, _ = tiny_detector
    rng = np.random.default_rng(0)
    paths = []
    for i, (h, w) in enumerate([(64, 64), (80, 120)]):
        pixels = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        pixels[10:40, 20:35] = 250  # something box-like
        path = tmp_path / f"{i}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    predicted = TASK.predict(run, paths, types.SimpleNamespace(out_dir=tmp_path / "png"))
    served = tf.saved_model.load(str(version)).signatures["serving_default"]
    total = 0
    for path, entry in zip(paths, predicted):
        out = served(image_bytes=tf.constant([path.read_bytes()]))
        k = int(out["num_detections"][0])
        assert k == len(entry["detections"])
        total += k
        np.testing.assert_allclose(out["boxes"][0, :k].numpy(),
                                   [d["box"] for d in entry["detections"]], atol=1e-3)
        np.testing.assert_allclose(out["scores"][0, :k].numpy(),
                                   [d["score"] for d in entry["detections"]], atol=1e-6)
        assert [x.decode() for x in out["labels"][0, :k].numpy()] == \
            [d["label"] for d in entry["detections"]]
        assert pathlib_exists(entry["png"])
    assert total > 0
    # The uint8 signature gives the same as the CLI path on model-sized pixels.
    pixels = np.asarray(Image.open(paths[0]))[None]
    out = tf.saved_model.load(str(version)).signatures["predict_images"](images=tf.constant(pixels))
    k = int(out["num_detections"][0])
    np.testing.assert_allclose(out["boxes"][0, :k].numpy(),
                               [d["box"] for d in predicted[0]["detections"]], atol=1e-3)


def pathlib_exists(path):
    import pathlib

    return pathlib.Path(path).is_file()


def test_cli_bad_inputs_exit_2(tiny_detector, tmp_path, capsys):
    run, _, _, _ = tiny_detector
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / "images" / "a.png")
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n0 0.5 0.5\n")
    code = cli.main(["detection", "train", "--preset", "tiny", "--data", f"yolo:{tmp_path}",
                     "--set", f"runs_dir={tmp_path / 'runs'}"])
    assert code == 2 and "a.txt:2:" in capsys.readouterr().err
    code = cli.main(["detection", "anchors", "--preset", "tiny", "--data", "nowhere"])
    assert code == 2 and "unknown detection dataset 'nowhere'" in capsys.readouterr().err
    (tmp_path / "bad.png").write_bytes(b"not an image")
    code = cli.main(["detection", "predict", str(tmp_path / "bad.png"), "--run", str(run.path)])
    assert code == 2 and "bad.png" in capsys.readouterr().err


def test_cli_anchors_prints_mean_iou_growing_with_k(capsys):
    code = cli.main(["detection", "anchors", "--preset", "tiny", "--k", "4"])
    out = capsys.readouterr().out
    assert code == 0
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    ious = [float(r[1]) for r in rows]
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4] and ious == sorted(ious) and ious[0] < ious[-1]
    assert all(len(r) == 2 + int(r[0]) for r in rows)  # k anchors on the row of k
    assert "--set anchors=" in out
