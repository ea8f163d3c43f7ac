"""Targets, loss, anchors, model head, OverFeat conversion, YOLO label parsing."""

import numpy as np
import pytest

from apps.common.errors import DataError
from apps.detection import anchors as anchors_lib
from apps.detection import data, overfeat
from apps.detection.losses import YoloLoss


def _scenes(boxes, classes):
    return data.Scenes(np.zeros((len(boxes), 32, 32, 3), np.uint8),
                       [np.asarray(b, np.float32).reshape(-1, 4) for b in boxes],
                       [np.asarray(c, np.int64) for c in classes])


def test_targets_midpoint_cell_and_best_iou_anchor():
    anchors = [[4, 4], [8, 16]]  # the 6 x 14 box fits the second better
    scenes = _scenes([[[17, 2, 23, 16]], []], [[1], []])
    y, lost = data.encode_targets(scenes, anchors, 32, 4, 3)  # stride 8
    assert lost == 0 and y.shape == (2, 4, 4, 2, 8)
    # Centre (20, 9): column 2, row 1; offsets (0.5, 0.125).
    np.testing.assert_allclose(y[0, 1, 2, 1], [0.5, 0.125, np.log(6 / 8), np.log(14 / 16), 1, 0, 1, 0])
    assert y[0].sum() == pytest.approx(y[0, 1, 2, 1].sum()) and not y[1].any()


def test_loss_hand_computed():
    anchors = [[8, 8]]
    scenes = _scenes([[[0, 0, 8, 8]]], [[0]])
    y_true, _ = data.encode_targets(scenes, anchors, 16, 2, 2)  # centre (4, 4): cell (0, 0)
    y_pred = np.zeros((1, 2, 2, 1, 7), np.float32)
    y_pred[0, 0, 0, 0] = [0, 0, 0.5, 0, 1.0, 2.0, 0.0]
    y_pred[0, 1, 1, 0, 4] = -1.0
    loss = YoloLoss(lambda_coord=5, lambda_noobj=0.5, lambda_class=1)
    sp = np.log1p(np.exp(-1.0))  # softplus(-1) = BCE(1, logit 1)
    box = 0.5 ** 2  # centre: sigmoid(0) = 0.5 = target; wh: (0.5 - 0) ** 2
    no_obj = 2 * np.log(2) + np.log1p(np.exp(-1.0))  # two slots at logit 0, one at -1
    cls = -np.log(np.exp(2) / (np.exp(2) + 1))
    expected = 5 * box + sp + 0.5 * no_obj + cls
    assert float(loss(y_true, y_pred)) == pytest.approx(expected, rel=1e-5)
    restored = YoloLoss.from_config(loss.get_config())
    assert restored.lambda_noobj == 0.5
    assert float(restored(y_true, y_pred)) == pytest.approx(expected, rel=1e-5)


def test_kmeans_no_empty_clusters_and_iou_grows_with_k():
    rng = np.random.default_rng(0)
    wh = np.concatenate([rng.normal(m, 2, (200, 2)) for m in ([10, 20], [30, 30], [60, 20], [15, 50])])
    rows = anchors_lib.sweep(np.abs(wh) + 1, range(1, 7))
    ious = [score for _, _, score in rows]
    assert all(b > a for a, b in zip(ious, ious[1:]))
    for k, centroids, _ in rows:
        assert len(np.unique(centroids, axis=0)) == k
    # 95 identical boxes and 5 others, k = 5: a naive k-means leaves clusters empty.
    degenerate = np.array([[10, 10]] * 95 + [[12, 30], [40, 8], [25, 25], [50, 50], [5, 40]], float)
    centroids, _ = anchors_lib.kmeans(degenerate, 5)
    best = np.argmax(anchors_lib.wh_iou(degenerate, centroids), axis=1)
    assert len(np.unique(best)) == 5  # every cluster owns a box
    with pytest.raises(DataError, match="distinct"):
        anchors_lib.kmeans([[3, 3], [3, 3]], 2)


def test_overfeat_dense_head_equals_conv_head_and_gives_a_dense_map():
    classifier = overfeat.small_classifier()
    conv = overfeat.to_convolutional(classifier)
    rng = np.random.default_rng(0)
    window = rng.uniform(0, 255, (3, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(conv(window).numpy()[:, 0, 0], classifier(window).numpy(), atol=1e-4)
    big = rng.uniform(0, 255, (1, 40, 48, 1)).astype("float32")
    dense = conv(big).numpy()[0]
    stride = overfeat.window_stride(classifier)
    assert stride == 2 and dense.shape == ((40 - 28) // 2 + 1, (48 - 28) // 2 + 1, 10)
    for i, j in [(0, 0), (3, 5), (6, 10)]:
        crop = big[:, i * stride:i * stride + 28, j * stride:j * stride + 28]
        np.testing.assert_allclose(dense[i, j], classifier(crop).numpy()[0], atol=1e-4)


def test_model_head_shape_and_objectness_prior():
    from apps.common import config as config_lib
    from apps.detection.config import PRESETS, Config
    from apps.detection.model import build_model

    config = config_lib.resolve(Config, PRESETS, preset="tiny")
    model = build_model(config, 4, 2)
    out = model(np.zeros((2, 64, 64, 3), "float32")).numpy()
    assert out.shape == (2, 4, 4, 2, 9)
    bias = model.get_layer("head").get_weights()[1].reshape(2, 9)
    assert (bias[:, 4] == -4.0).all()
    assert sum(type(layer).__name__ == "ResidualBlock" for layer in model.layers) == 3


# ------------------------------------------------------------------ YOLO label files

def _yolo_dir(tmp_path, labels, names=("cat", "dog")):
    from PIL import Image

    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    if names:
        (tmp_path / "classes.txt").write_text("\n".join(names) + "\n")
    for i, text in enumerate(labels):
        Image.fromarray(np.full((40, 50, 3), 30 * i, np.uint8)).save(tmp_path / "images" / f"{i}.png")
        if text is not None:
            (tmp_path / "labels" / f"{i}.txt").write_text(text)
    return tmp_path


def test_yolo_dir_clips_drops_and_counts(tmp_path, capsys):
    root = _yolo_dir(tmp_path, [
        "0 0.5 0.5 0.2 0.4\n1 0.95 0.5 0.3 0.2\n",  # the second reaches past the right edge
        "1 0.5 0.5 0 0.3\n",  # zero width: dropped
        None,  # no label file: an image without objects
        "",  # empty label file: no objects either
    ])
    scenes, names = data.load_yolo_dir(str(root), 20)
    assert names == ("cat", "dog") and len(scenes) == 4
    np.testing.assert_allclose(scenes.boxes[0], [[8, 6, 12, 14], [16, 8, 20, 12]], atol=1e-5)
    assert [len(c) for c in scenes.classes] == [2, 0, 0, 0]
    err = capsys.readouterr().err
    assert "clipped 1 box(es)" in err and "dropped 1 zero-area" in err


@pytest.mark.parametrize("text,message", [
    ("0 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2\n", r"1\.txt:2: expected 'class x_center"),
    ("0 0.5 0.5 0.2 0.2\n\nx 0.5 0.5 0.2 0.2\n", r"1\.txt:3: expected an integer class id"),
    ("2 0.5 0.5 0.2 0.2\n", r"1\.txt:1: class id 2 out of range \(expected 0\.\.1\)"),
    ("-1 0.5 0.5 0.2 0.2\n", r"1\.txt:1: class id -1 out of range"),
    ("0 0.5 nan 0.2 0.2\n", r"1\.txt:1: non-finite"),
])
def test_yolo_malformed_lines_name_file_and_line(tmp_path, text, message):
    root = _yolo_dir(tmp_path, ["0 0.5 0.5 0.2 0.2\n", text])
    with pytest.raises(DataError, match=message):
        data.load_yolo_dir(str(root), 20)


def test_unknown_source_and_offline_tfds_are_clear_errors():
    from apps.common import config as config_lib
    from apps.detection.config import PRESETS, Config

    config = config_lib.resolve(Config, PRESETS, preset="tiny", sets=["data=pascal"])
    with pytest.raises(DataError, match="unknown detection dataset 'pascal'"):
        data.load_data(config)
