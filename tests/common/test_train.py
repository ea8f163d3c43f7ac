import dataclasses
import subprocess
import sys

import pytest

from apps.common import config as config_lib
from apps.common import train
from apps.common.errors import ConfigError


def _config(tmp_path, **kw):
    return dataclasses.replace(config_lib.TrainConfig(), runs_dir=str(tmp_path), **kw)


def _interrupted(run_dir, pid):
    (run_dir / "backup").mkdir()
    (run_dir / "PID").write_text(f"{pid}\n")


def test_new_run_then_resume_of_an_interrupted_one(tmp_path):
    config = _config(tmp_path)
    first, resumed = train.prepare_run("demo", config)
    assert not resumed and first.parent == tmp_path / "demo"
    assert config_lib.load_config(config_lib.TrainConfig, first / "config.json") == config
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    _interrupted(first, dead)
    again, resumed = train.prepare_run("demo", config)
    assert (again, resumed) == (first, True)
    # --fresh, a different config, or a finished run: a new directory.
    assert train.prepare_run("demo", config, fresh=True)[0] != first
    assert train.prepare_run("demo", _config(tmp_path, epochs=3))[0] != first


def test_a_live_run_is_never_taken_over(tmp_path):
    config = _config(tmp_path)
    first, _ = train.prepare_run("demo", config)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _interrupted(first, sleeper.pid)
        second, resumed = train.prepare_run("demo", config)
        assert second != first and not resumed
    finally:
        sleeper.kill()
        sleeper.wait()


def test_explicit_run_dir_with_another_config_is_refused(tmp_path):
    run_dir, _ = train.prepare_run("demo", _config(tmp_path), run_dir=tmp_path / "mine")
    with pytest.raises(ConfigError, match="different config"):
        train.prepare_run("demo", _config(tmp_path, seed=2), run_dir=run_dir)


def test_best_logged_value_survives_a_resume(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("epoch,val_accuracy,val_loss\n0,0.5,1.0\n1,0.75,nan\n2,0.7,0.8\n")
    assert train._best_logged(log, "val_accuracy", "max") == 0.75
    assert train._best_logged(log, "val_loss", "min") == 0.8
    assert train._best_logged(tmp_path / "none.csv", "val_loss", "min") is None


def test_learning_rate_schedules():
    config = config_lib.TrainConfig(learning_rate=0.1, epochs=2)
    cosine = train.learning_rate_schedule(config, steps_per_epoch=10)
    assert float(cosine(0)) == pytest.approx(0.1)
    assert float(cosine(10)) == pytest.approx(0.05, rel=1e-5)  # half-way down the cosine
    warm = train.learning_rate_schedule(dataclasses.replace(config, warmup_epochs=1), 10)
    assert float(warm(5)) == pytest.approx(0.05, rel=1e-5)
    assert train.learning_rate_schedule(dataclasses.replace(config, lr_schedule="constant"), 10) == 0.1
    with pytest.raises(ConfigError, match="lr_schedule"):
        train.learning_rate_schedule(dataclasses.replace(config, lr_schedule="linear"), 10)


def test_no_finished_run_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no finished demo run"):
        train.latest_run("demo", str(tmp_path))


@pytest.mark.parametrize("keep", ["best", "last"])
def test_fit_keeps_the_best_or_the_last_epoch(tmp_path, keep):
    # A learning rate that overshoots makes the validation loss rise after epoch 1: "best"
    # keeps that first epoch's model, "last" the model as training ended.
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    x = np.linspace(-1, 1, 32, dtype="float32")[:, None]
    y = 3 * x
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, kernel_initializer="zeros")])
    model.compile(optimizer=keras.optimizers.SGD(3.5), loss="mse")
    config = _config(tmp_path, epochs=4, batch_size=32)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    history = train.fit(model, data, data, config, run_dir, monitor="val_loss", mode="min",
                        keep=keep, verbose=0)
    losses = history.history["val_loss"]
    assert np.argmin(losses) < len(losses) - 1  # the last epoch is not the best one
    kept = keras.models.load_model(run_dir / train.BEST_MODEL, compile=False)
    got = float(np.mean((kept.predict(x, verbose=0) - y) ** 2))
    want = min(losses) if keep == "best" else losses[-1]
    assert got == pytest.approx(want, rel=1e-4)
