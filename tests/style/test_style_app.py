"""Style app end to end at tiny sizes: bad input exits 2, optimisers lower J, memory refusal,
original colours; the fast stylizer's training step lowers J, its run saves only the
transformation network, and its export equals `predict` and the in-process network."""

import dataclasses
import types

import numpy as np
import pytest
from PIL import Image

from apps import cli
from apps.style import config as config_lib
from apps.style import optimize


def _png(path, size, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    img = np.stack([x * 255 // size, y * 255 // size, rng.integers(0, 255, (size, size))], -1)
    Image.fromarray(img.astype(np.uint8)).save(path)
    return str(path)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("style-images")
    return {"content": _png(d / "content.png", 48, 0), "style": _png(d / "style.png", 40, 1),
            "style2": _png(d / "style2.png", 40, 2), "tiny": _png(d / "tiny.png", 4, 3),
            "dir": d}


def _run(capsys, tmp_path, *argv):
    code = cli.main(["style", *argv, "--preset", "tiny", "--set", f"runs_dir={tmp_path}"])
    return code, capsys.readouterr().err


def test_non_image_content_exits_2(images, tmp_path, capsys):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image at all")
    code, err = _run(capsys, tmp_path, "run", "--content", str(bad), "--styles", images["style"])
    assert code == 2
    assert "error:" in err and "notes.png" in err and "Traceback" not in err


def test_4x4_image_exits_2(images, tmp_path, capsys):
    code, err = _run(capsys, tmp_path, "run", "--content", images["content"], "--styles", images["tiny"])
    assert code == 2
    assert "4x4" in err and "16x16" in err


def test_blend_weights_of_wrong_length_exit_2(images, tmp_path, capsys):
    code, err = _run(capsys, tmp_path, "run", "--content", images["content"],
                     "--styles", images["style"], images["style2"], "--style-blend-weights", "1", "2", "3")
    assert code == 2
    assert "3 weights for 2 styles" in err


def test_corrupt_weights_file_exits_2(images, tmp_path, capsys):
    bad = tmp_path / "vgg.weights.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    code, err = _run(capsys, tmp_path, "run", "--content", images["content"], "--styles", images["style"],
                     "--weights", str(bad))
    assert code == 2
    assert "vgg.weights.h5" in err and "HDF5" in err


def test_memory_estimate_refuses_up_front(images, tmp_path, capsys):
    code, err = _run(capsys, tmp_path, "run", "--content", images["content"], "--styles", images["style"],
                     "--image-size", "40000")
    assert code == 2
    assert "GiB" in err and "max_memory_gib" in err


def test_memory_estimate_grows_with_pixels():
    vgg = "vgg16"
    layers = ["block1_conv1", "block5_conv1"]
    # block1: 2 full-size 64-channel convs, pool 64 at 1/4 the positions, ... up to block5_conv1.
    floats = optimize.vgg_lib.activation_floats(vgg, layers, 32, 32)
    by_hand = (2 * 64 * 1024 + 64 * 256 + 2 * 128 * 256 + 128 * 64 + 3 * 256 * 64 + 256 * 16
               + 3 * 512 * 16 + 512 * 4 + 512 * 4)
    assert floats == by_hand
    small = optimize.estimate_bytes(vgg, layers, 256, 256)
    large = optimize.estimate_bytes(vgg, layers, 1024, 1024)
    assert large - optimize.BASE_BYTES == pytest.approx(16 * (small - optimize.BASE_BYTES))


def test_original_colors_keeps_content_chroma():
    rng = np.random.default_rng(0)
    content = rng.integers(0, 256, (8, 8, 3)).astype(np.uint8)
    np.testing.assert_allclose(optimize.original_colors(content, content), content, atol=1)
    gray = np.full((8, 8, 3), 128, np.uint8)  # output of luminance 128, no chroma
    out = optimize.original_colors(content, gray).astype(np.float64)
    # Y of the result is the output's (128) wherever no channel clipped.
    y = out @ np.array([0.299, 0.587, 0.114])
    unclipped = np.all((out > 0) & (out < 255), axis=-1)
    np.testing.assert_allclose(y[unclipped], 128.0, atol=1.0)


def test_scale_sizes_coarse_to_fine():
    assert optimize.scale_sizes(256, 192, 3) == [(64, 48), (128, 96), (256, 192)]


@pytest.fixture(scope="module")
def vgg():
    from apps.style import vgg as vgg_lib

    return vgg_lib.build_vgg()  # the pinned HED weights (fetched once, cached)


def test_hed_weights_loaded_by_name(vgg):
    import h5py

    from apps.style import vgg as vgg_lib

    with h5py.File(vgg_lib.default_weights_path(), "r") as f:
        kernel = np.asarray(f["block3/layers/conv2d_1/vars/0"])
    np.testing.assert_array_equal(vgg.get_layer("block3_conv2").get_weights()[0], kernel)


@pytest.mark.parametrize("optimizer", ["lbfgs", "lbfgs-b", "adam"])
def test_optimisers_lower_the_cost(vgg, images, optimizer):
    config = dataclasses.replace(
        config_lib.Config(), content=images["content"],
        styles=(images["style"], images["style2"]), style_blend_weights=(1.0, 3.0), image_size=32,
        iterations=4, optimizer=optimizer, init="noise", print_every=0)
    content, styles = optimize.load_images(config)
    image, history = optimize.stylize(config, content, styles, vgg=vgg)
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    assert len(history) == 4
    assert history[-1].total < history[0].total


class _Quadratic:
    """A stand-in StyleProblem: J = sum(w * (x - c)^2) with w spread over 2 decades, c partly
    outside the 0..255 box (caffe space), so the clipped minimum is known exactly."""

    def __init__(self, shape, seed=0):
        import tensorflow as tf

        rng = np.random.default_rng(seed)
        self.w = tf.constant(10.0 ** rng.uniform(-1, 1, shape), tf.float32)
        self.c = tf.constant(rng.uniform(-160, 180, shape), tf.float32)

    def terms(self, image):
        import tensorflow as tf

        total = tf.reduce_sum(self.w * tf.square(image[0] - self.c))
        return total, total, tf.zeros(()), tf.zeros(())


def test_graph_lbfgs_reaches_the_clipped_minimum_of_a_quadratic():
    # The in-graph L-BFGS (no line search, clipped steps) must find the box-constrained
    # minimum of an ill-conditioned separable quadratic: c clipped to the 0..255 box.
    import tensorflow as tf

    from apps.style import vgg as vgg_lib

    problem = _Quadratic((6, 5, 3))
    x0 = np.zeros((6, 5, 3), np.float32)
    solver = optimize.GraphLBFGS(problem, x0)
    totals = [float(solver.step()[0]) for _ in range(100)]
    want = np.clip(problem.c.numpy(), -vgg_lib.BGR_MEAN, 255.0 - vgg_lib.BGR_MEAN)
    assert 0 < np.mean(want != problem.c.numpy()) < 0.5  # some bounds are active, most are not
    np.testing.assert_allclose(solver.image.numpy()[0], want, atol=1e-2)
    j_min = float(problem.terms(tf.constant(want[None]))[0])
    np.testing.assert_allclose(totals[-1], j_min, rtol=1e-5)
    assert totals[0] > 10 * j_min
    low, high = -vgg_lib.BGR_MEAN, 255.0 - vgg_lib.BGR_MEAN
    assert np.all(solver.image.numpy() >= low - 1e-4) and np.all(solver.image.numpy() <= high + 1e-4)


def test_multiscale_runs_each_scale(vgg, images):
    config = dataclasses.replace(
        config_lib.Config(), content=images["content"], styles=(images["style"],), image_size=32,
        iterations=2, scales=2, optimizer="adam", print_every=0, original_colors=True)
    content, styles = optimize.load_images(config)
    image, history = optimize.stylize(config, content, styles, vgg=vgg)
    assert image.shape == (32, 32, 3)
    assert [p.iteration for p in history] == [1, 2, 1, 2]


def _fast_config(images, tmp_path):
    """The tiny preset on one content photo (a folder of it) and one style."""
    folder = images["dir"] / "sub"
    folder.mkdir(exist_ok=True)
    Image.open(images["content"]).save(folder / "a.png")
    from apps.common.config import preset_config

    config = preset_config(config_lib.Config, config_lib.PRESETS, "tiny")
    return dataclasses.replace(config, data=str(folder), styles=(images["style"],), runs_dir=str(tmp_path),
                               print_every=0)


def test_fast_training_steps_lower_the_perceptual_loss(vgg, images, tmp_path):
    """A few of FastStylizer's train_step on one batch of crops (through `fit`) lower J of that
    batch; only the transformation network's variables are trained (VGG is not tracked)."""
    import keras
    import tensorflow as tf

    from apps.style import fast

    config = _fast_config(images, tmp_path)
    keras.utils.set_random_seed(0)
    trainer = fast.build_trainer(config, vgg)
    assert [v.path for v in trainer.trainable_variables] == [v.path for v in trainer.net.trainable_variables]
    assert len(trainer.weights) == len(trainer.net.weights)
    batch = next(iter(fast.crops_dataset(fast.training_photos(config), config)))
    assert batch.shape == (1, 32, 32, 3)
    # The last conv starts at zero: the untrained network is the identity.
    np.testing.assert_allclose(trainer(batch), batch, atol=1e-4)

    def cost():
        return float(trainer.perceptual.terms(batch, trainer(batch))[0])

    before = cost()
    totals = []
    for _ in range(4):
        trainer.fit(tf.data.Dataset.from_tensors(batch).repeat(), epochs=1, steps_per_epoch=2,
                    shuffle=False, verbose=0)
        totals.append(cost())
    # Measured (Adam 1e-3): 3.12e7 -> 2.68e7, 1.75e7, 1.89e7, 1.56e7 (Adam's steps, not monotone).
    assert max(totals) < before and totals[-1] < 0.6 * before


@pytest.fixture(scope="module")
def fast_run(vgg, images, tmp_path_factory):
    """A tiny stylizer trained by TASK.train (Run.fit, epochs of fast_steps_per_epoch steps) on
    one photo, with the shared VGG (training, evaluate and export build no other)."""
    from apps.style import vgg as vgg_lib
    from apps.style.task import TASK

    root = tmp_path_factory.mktemp("fast")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(vgg_lib, "build_vgg", lambda *a, **k: vgg)
        config = _fast_config(images, root / "runs")
        yield config, TASK.train(config, verbose=0), root


def test_fast_run_logs_each_epoch_and_saves_only_the_transform_net(fast_run, vgg):
    import zipfile

    import h5py

    from apps.style import fast
    from apps.style.task import TASK

    config, run, _ = fast_run
    assert run.done and fast.fast_epochs(config) == config.fast_steps // config.fast_steps_per_epoch == 2
    rows = run.log_rows()
    assert (run.path / "log.csv").read_text().count("\n") == 1 + fast.fast_epochs(config)
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert all(np.isfinite(float(r[k])) and float(r[k]) > 0 for r in rows for k in ("loss", "style"))
    # best.keras: the transformation network's variables only (no VGG kernels inside).
    net = TASK.load_model(run)
    fresh = fast.build_transform_net(config)
    assert len(net.weights) == len(fresh.weights)
    with zipfile.ZipFile(run.path / "best.keras") as z, z.open("model.weights.h5") as f, h5py.File(f) as h5:
        stored = []
        h5["layers"].visititems(lambda name, obj: stored.append(obj.shape) if isinstance(obj, h5py.Dataset) else None)
        # The rest is Adam's state: two moments per trainable variable of the net, its step and rate.
        assert set(h5) <= {"layers", "optimizer", "vars"}
        assert len(h5["optimizer/vars"]) == 2 * len(fresh.trainable_weights) + 2
    assert sorted(stored) == sorted(tuple(w.shape) for w in fresh.weights)
    assert sum(int(np.prod(s)) for s in stored) < sum(int(np.prod(w.shape)) for w in vgg.weights) / 100
    vgg_kernel = vgg.get_layer("block1_conv1").get_weights()[0]
    assert vgg_kernel.shape not in stored
    # The saved network is the trained one: no longer the identity.
    x = np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 3)).astype(np.float32)
    assert np.abs(np.asarray(net(x)) - x).max() > 1e-3


def test_fast_export_equals_predict_and_the_in_process_net(fast_run, images, tmp_path):
    import tensorflow as tf

    from apps.common import images as images_lib
    from apps.style import fast
    from apps.style.task import TASK

    config, run, root = fast_run
    assert config.export_image_size == 48
    options = types.SimpleNamespace(image_size=48, output_dir=str(tmp_path / "out"))
    (entry,) = TASK.predict(run, [images["content"]], options)
    ours = np.asarray(Image.open(entry["styled"]))
    pixels = images_lib.decode_for_model(images["content"], channels=3, image_size=48, allow_gray_to_rgb=True)
    in_process = fast.stylize_pixels(TASK.load_model(run), pixels[None].astype(np.float32)).numpy()[0]
    np.testing.assert_array_equal(ours, in_process)
    version = TASK.export(run, options, root=str(root / "models"))
    assert version.name == "1"
    loaded = tf.saved_model.load(str(version))
    with open(images["content"], "rb") as fh:
        served = loaded.signatures["serving_default"](image_bytes=tf.constant([fh.read()]))
    assert served["images"].shape == (1, 48, 48, 3)
    np.testing.assert_array_equal(served["images"].numpy()[0], ours)
    np.testing.assert_array_equal(tf.io.decode_png(served["png"][0]).numpy(), ours)
    again = loaded.signatures["stylize_images"](images=tf.constant(pixels[None].astype(np.uint8)))
    np.testing.assert_array_equal(again["images"].numpy()[0], ours)
