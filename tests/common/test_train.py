"""The one training path: Run (claim, resume, parts, finish, logs) and the optimizer schedules."""

import dataclasses
import os
import subprocess
import sys

import pytest

from apps.common import config as config_lib
from apps.common.errors import ConfigError
from apps.common.optimizers import learning_rate_schedule, make_optimizer
from apps.common.run import BEST_MODEL, DONE, Run, best_logged, read_log


def _config(tmp_path, **kw):
    return dataclasses.replace(config_lib.TrainConfig(), runs_dir=str(tmp_path), **kw)


def _interrupted(run_dir, pid):
    (run_dir / "backup").mkdir()
    (run_dir / "PID").write_text(f"{pid}\n")


def _dead_pid():
    return subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()


def test_new_run_then_resume_of_an_interrupted_one(tmp_path):
    config = _config(tmp_path)
    first = Run.claim("demo", config)
    assert not first.resumed and first.path.parent == tmp_path / "demo"
    assert first.config == config
    assert config_lib.load_config(config_lib.TrainConfig, first.path / "config.json") == config
    _interrupted(first.path, _dead_pid())
    again = Run.claim("demo", config)
    assert (again.path, again.resumed) == (first.path, True)
    assert (first.path / "PID").read_text().strip() == str(os.getpid())  # claimed by us
    # --fresh, a different config, or a finished run: a new directory.
    assert Run.claim("demo", config, fresh=True).path != first.path
    assert Run.claim("demo", _config(tmp_path, epochs=3)).path != first.path
    again.finish()
    assert Run.claim("demo", config).path != first.path  # a finished run is never resumed


def test_a_live_run_is_never_taken_over(tmp_path):
    config = _config(tmp_path)
    first = Run.claim("demo", config)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _interrupted(first.path, sleeper.pid)
        second = Run.claim("demo", config)
        assert second.path != first.path and not second.resumed
    finally:
        sleeper.kill()
        sleeper.wait()


def test_explicit_run_dir_resumes_with_its_config_and_refuses_another(tmp_path):
    mine = tmp_path / "mine"
    run = Run.claim("demo", _config(tmp_path), path=mine)
    assert run.path == mine and not run.resumed
    again = Run.claim("demo", _config(tmp_path), path=mine)
    assert again.path == mine and again.resumed
    with pytest.raises(ConfigError, match="different config"):
        Run.claim("demo", _config(tmp_path, seed=2), path=mine)
    again.finish()
    with pytest.raises(ConfigError, match="has finished"):
        Run.claim("demo", _config(tmp_path), path=mine)


def test_finish_writes_done_and_releases_the_run(tmp_path):
    run = Run.claim("demo", _config(tmp_path))
    assert not run.done and (run.path / "PID").exists()
    run.finish("note")
    assert run.done and (run.path / DONE).read_text() == "note\n"
    assert not (run.path / "PID").exists()
    opened = Run.open("demo", config_lib.TrainConfig, runs_dir=str(tmp_path))
    assert opened.path == run.path and opened.config == run.config


def test_parts_are_resumed_until_done(tmp_path):
    run = Run.claim("demo", _config(tmp_path))
    frozen = run.part("frozen", dataclasses.replace(run.config, epochs=2))
    assert frozen.path == run.path / "frozen" and frozen.path.is_dir()
    assert not frozen.resumed and frozen.config.epochs == 2
    assert run.part("frozen").resumed  # an unfinished part is continued
    assert run.part("frozen").config == run.config  # the run's config unless given
    frozen.finish()
    again = run.part("frozen")
    assert again.done and not again.resumed
    assert again.fit(None, None, epochs=1) is None  # a finished part is skipped
    assert not run.done  # a part's DONE is its own


def test_no_finished_run_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no finished demo run"):
        Run.open("demo", config_lib.TrainConfig, runs_dir=str(tmp_path))
    Run.claim("demo", _config(tmp_path))  # unfinished: still none
    with pytest.raises(ConfigError, match="no finished demo run"):
        Run.open("demo", config_lib.TrainConfig, runs_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="not a finished run"):
        Run.open("demo", config_lib.TrainConfig, tmp_path / "nope")


def test_read_log_and_best_logged_value_survives_a_resume(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("epoch,val_accuracy,val_loss\n0,0.5,1.0\n1,0.75,nan\n2,0.7,0.8\n")
    rows = read_log(log)
    assert [r["epoch"] for r in rows] == ["0", "1", "2"] and rows[1]["val_accuracy"] == "0.75"
    assert read_log(tmp_path / "none.csv") == []
    assert best_logged(log, "val_accuracy", "max") == 0.75
    assert best_logged(log, "val_loss", "min") == 0.8
    assert best_logged(log, "nosuch", "min") is None
    assert best_logged(tmp_path / "none.csv", "val_loss", "min") is None
    run = Run(tmp_path, None)
    assert run.log_rows() == rows


def test_learning_rate_schedules():
    config = config_lib.TrainConfig(learning_rate=0.1, epochs=2)
    cosine = learning_rate_schedule(config, steps_per_epoch=10)
    assert float(cosine(0)) == pytest.approx(0.1)
    assert float(cosine(10)) == pytest.approx(0.05, rel=1e-5)  # half-way down the cosine
    warm = learning_rate_schedule(dataclasses.replace(config, warmup_epochs=1), 10)
    assert float(warm(5)) == pytest.approx(0.05, rel=1e-5)
    assert float(warm(10)) == pytest.approx(0.1, rel=1e-5)  # warmed up
    exponential = learning_rate_schedule(dataclasses.replace(config, lr_schedule="exponential",
                                                             lr_decay_rate=0.5), 10)
    assert float(exponential(10)) == pytest.approx(0.05, rel=1e-5)  # halved per epoch
    assert float(exponential(20)) == pytest.approx(0.025, rel=1e-5)
    assert learning_rate_schedule(dataclasses.replace(config, lr_schedule="constant"), 10) == 0.1
    with pytest.raises(ConfigError, match="lr_schedule"):
        learning_rate_schedule(dataclasses.replace(config, lr_schedule="linear"), 10)


def test_make_optimizer_is_adam_at_the_config_or_given_rate():
    config = config_lib.TrainConfig(learning_rate=0.1, epochs=2, lr_schedule="constant", beta_1=0.5)
    adam = make_optimizer(config, 10)
    assert type(adam).__name__ == "Adam"
    assert float(adam.learning_rate) == pytest.approx(0.1) and adam.beta_1 == 0.5
    assert float(make_optimizer(config, 10, learning_rate=0.01).learning_rate) == pytest.approx(0.01)


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
    run = Run.claim("demo", _config(tmp_path, epochs=4), path=tmp_path / "run")
    history = run.fit(model, data, data, epochs=4, monitor="val_loss", mode="min", keep=keep, verbose=0)
    losses = history.history["val_loss"]
    assert np.argmin(losses) < len(losses) - 1  # the last epoch is not the best one
    kept = keras.models.load_model(run.path / BEST_MODEL, compile=False)
    got = float(np.mean((kept.predict(x, verbose=0) - y) ** 2))
    want = min(losses) if keep == "best" else losses[-1]
    assert got == pytest.approx(want, rel=1e-4)
    assert run.done and not (run.path / "backup").exists()
    assert [int(r["epoch"]) for r in run.log_rows()] == [0, 1, 2, 3]
    np.testing.assert_allclose(run.load_model().predict(x, verbose=0), kept.predict(x, verbose=0))
