"""Search spaces: every app has one, sampled on the course's scales, bad input refused."""

import math
import socket
import time

import numpy as np
import pytest

from apps import APPS, get_task
from apps.common import config as config_lib
from apps.common.errors import ConfigError
from tuning import search, spaces


def _base(app_name, preset="tiny"):
    task = get_task(app_name)
    preset = preset if preset in task.presets else "default"
    return config_lib.resolve(task.Config, task.presets, preset=preset)


# The declared space of every app, in declaration order (tuning/spaces.py):
# name -> (kind, low, high, sampling, step, tier) for numbers, ("choice", values, tier).
LEARNING_RATE = ("float", 1e-4, 1e-1, "log", None, 1)
ONE_MINUS_BETA_1 = ("float", 1e-3, 1e-1, "log", None, 2)
LR_SCHEDULE = ("choice", ("constant", "cosine", "exponential"), 3)
WEIGHT_DECAY = ("float", 1e-6, 1e-2, "log", None, 4)
SPACES = {
    "classification": {
        "learning_rate": LEARNING_RATE,
        "one_minus_beta_1": ONE_MINUS_BETA_1,
        "width": ("int", 16, 64, "log", 2, 2),
        "batch_size": ("choice", (32, 64, 128), 2),
        "blocks": ("int", 1, 3, "linear", None, 3),
        "lr_schedule": LR_SCHEDULE,
        "lr_decay_rate": ("float", 0.3, 0.95, "linear", None, 3),
        "weight_decay": WEIGHT_DECAY,
        "dropout": ("float", 0.0, 0.5, "linear", None, 4),
    },
    "detection": {
        "learning_rate": LEARNING_RATE,
        "one_minus_beta_1": ONE_MINUS_BETA_1,
        "width": ("int", 16, 32, "log", 2, 2),
        "head_filters": ("choice", (64, 128, 256), 2),
        "batch_size": ("choice", (16, 32, 64), 2),
        "blocks": ("int", 1, 2, "linear", None, 3),
        "lr_schedule": LR_SCHEDULE,
        "lr_decay_rate": ("float", 0.3, 0.95, "linear", None, 3),
        "weight_decay": WEIGHT_DECAY,
    },
    "embeddings": {
        "learning_rate": LEARNING_RATE,
        "vector_size": ("int", 50, 300, "linear", 50, 2),
        "window": ("int", 2, 10, "linear", None, 3),
    },
    "style": {
        "learning_rate": LEARNING_RATE,
        "width": ("int", 4, 32, "log", 2, 2),
        "batch_size": ("choice", (1, 2, 4), 2),
        "blocks": ("int", 1, 5, "linear", None, 3),
    },
    "translation": {
        "learning_rate": LEARNING_RATE,
        "one_minus_beta_1": ONE_MINUS_BETA_1,
        "decoder_units": ("int", 32, 256, "log", 2, 2),
        "batch_size": ("choice", (32, 64, 100, 128), 2),
        "cell": ("choice", ("lstm", "gru"), 3),
        "lr_schedule": LR_SCHEDULE,
    },
    "generate": {
        "learning_rate": LEARNING_RATE,
        "one_minus_beta_1": ONE_MINUS_BETA_1,
        "units": ("int", 32, 512, "log", 2, 2),
        "batch_size": ("choice", (8, 16, 32, 64), 2),
        "rnn_layers": ("int", 1, 3, "linear", None, 3),
        "cell": ("choice", ("lstm", "gru"), 3),
        "dropout": ("float", 0.0, 0.5, "linear", None, 4),
    },
    "wakeword": {
        "learning_rate": LEARNING_RATE,
        "one_minus_beta_1": ONE_MINUS_BETA_1,
        "gru_units": ("int", 32, 256, "log", 2, 2),
        "batch_size": ("choice", (16, 32, 64), 2),
        "gru_layers": ("int", 1, 3, "linear", None, 3),
        "dropout": ("float", 0.0, 0.5, "linear", None, 4),
    },
    "sentiment": {
        "learning_rate": LEARNING_RATE,
        "one_minus_beta_1": ONE_MINUS_BETA_1,
        "units": ("int", 16, 128, "log", 2, 2),
        "batch_size": ("choice", (32, 64, 128), 2),
        "rnn_layers": ("int", 1, 2, "linear", None, 3),
        "cell": ("choice", ("gru", "lstm"), 3),
        "lr_schedule": LR_SCHEDULE,
        "embedding_dropout": ("float", 0.0, 0.5, "linear", None, 4),
        "dropout": ("float", 0.0, 0.5, "linear", None, 4),
    },
    "faces": {
        "learning_rate": LEARNING_RATE,
        "margin": ("float", 0.05, 1.0, "log", None, 1),
        "one_minus_beta_1": ONE_MINUS_BETA_1,
        "people_per_batch": ("choice", (4, 8, 16), 2),
        "images_per_person": ("choice", (2, 4, 8), 2),
        "mining": ("choice", ("batch_hard", "semi_hard"), 3),
        "weight_decay": WEIGHT_DECAY,
    },
}


def _samples(app_name, name, n=3000, overrides=None):
    hp, _ = spaces.declare(app_name, _base(app_name), overrides)
    param = next(p for p in hp.space if p.name == name)
    return np.array([param.random_sample(seed=i) for i in range(n)], dtype=np.float64)


def test_every_registered_app_has_its_space_listed_here():
    assert sorted(SPACES) == sorted(APPS) == sorted(spaces.TUNABLES)


@pytest.mark.parametrize("app_name", sorted(APPS))
def test_every_app_has_a_space_whose_overrides_are_config_keys(app_name):
    tunable = spaces.tunable(app_name)
    base = _base(app_name)
    hp, space = spaces.declare(app_name, base)
    lr = space.declared["learning_rate"]
    assert (lr.kind, lr.low, lr.high, lr.sampling, lr.tier) == ("float", 1e-4, 1e-1, "log", 1)
    # Every random point of the space is a valid config of the app.
    for seed in range(5):
        values = {p.name: p.random_sample(seed=seed) for p in hp.space}
        overrides = spaces.overrides_for(app_name, base, values)
        config = config_lib.apply_overrides(base, overrides, "sample")
        assert values["learning_rate"] in overrides.values()
        assert config != base
    assert tunable.direction in ("max", "min")
    assert hasattr(base, tunable.budget)
    # The tuner's objective is the column the app's Task checkpoints on, in the same direction.
    task = get_task(app_name)
    assert (tunable.objective, tunable.direction) == (task.monitor, task.mode)


@pytest.mark.parametrize("app_name", sorted(APPS))
def test_declared_space_names_ranges_and_sampling(app_name):
    """Each app's space as declared, and the keras-tuner hyperparameters it makes."""
    hp, space = spaces.declare(app_name, _base(app_name))
    expected = SPACES[app_name]
    assert list(space.declared) == list(expected)
    assert [p.name for p in hp.space] == list(expected)  # nothing fixed without --tiers
    params = {p.name: p for p in hp.space}
    for name, want in expected.items():
        d, param = space.declared[name], params[name]
        if want[0] == "choice":
            _, values, tier = want
            assert (d.kind, d.values, d.tier) == ("choice", values, tier), name
            assert type(param).__name__ == "Choice" and tuple(param.values) == values, name
            continue
        kind, low, high, sampling, step, tier = want
        assert (d.kind, d.low, d.high, d.sampling, d.step, d.tier) == want, name
        assert type(param).__name__ == kind.capitalize(), name
        assert (param.min_value, param.max_value, param.sampling) == (low, high, sampling), name
        if step is not None:
            assert param.step == step, name


def test_learning_rates_fall_equally_into_each_decade():
    lr = _samples("classification", "learning_rate")
    assert lr.min() >= 1e-4 and lr.max() <= 1e-1
    decades = np.histogram(np.log10(lr), bins=[-4, -3, -2, -1])[0] / len(lr)
    assert np.all(np.abs(decades - 1 / 3) <= 0.03), decades


def test_one_minus_beta_is_log_uniform():
    one_minus = _samples("classification", "one_minus_beta_1")
    base = _base("classification")
    betas = [spaces.overrides_for("classification", base, {"one_minus_beta_1": v})["beta_1"]
             for v in one_minus[:50]]
    assert min(betas) >= 0.9 - 1e-12 and max(betas) <= 0.999 + 1e-12
    # log10(1 - beta) uniform on [-3, -1]: each quarter holds a quarter of the samples.
    quarters = np.histogram(np.log10(one_minus), bins=np.linspace(-3, -1, 5))[0] / len(one_minus)
    assert np.all(np.abs(quarters - 0.25) <= 0.03), quarters


def test_keras_tuner_reverse_log_on_beta_is_not_log_uniform_in_one_minus_beta():
    """Why the space samples 1 - beta itself (see tuning/spaces.py)."""
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    hp.Float("beta_1", 0.9, 0.999, sampling="reverse_log")
    beta = np.array([hp.space[0].random_sample(seed=i) for i in range(3000)])
    below = np.mean(np.log10(1 - beta) < -2)  # log-uniform 1 - beta would put half there
    assert below < 0.15


def test_other_scales():
    width = _samples("classification", "width", n=600)
    assert set(width.astype(int)) == {16, 32, 64}
    dropout = _samples("classification", "dropout")
    assert dropout.mean() == pytest.approx(0.25, abs=0.02)  # linear on [0, 0.5]
    assert np.mean(dropout < 0.25) == pytest.approx(0.5, abs=0.03)


def test_overrides_narrow_fix_and_choose():
    base = _base("classification")
    hp, space = spaces.declare("classification", base, {
        "learning_rate": "1e-3:1e-2", "blocks": "2", "batch_size": "32,64", "width": "16:32"})
    by_name = {p.name: p for p in hp.space}
    assert (by_name["learning_rate"].min_value, by_name["learning_rate"].max_value) == (1e-3, 1e-2)
    assert by_name["learning_rate"].sampling == "log"
    assert type(by_name["blocks"]).__name__ == "Fixed" and by_name["blocks"].value == 2
    assert list(by_name["batch_size"].values) == [32, 64]
    assert {by_name["width"].random_sample(seed=i) for i in range(100)} == {16, 32}


def test_tiers_fix_lower_priorities_at_the_base_config():
    base = _base("classification")
    hp, _ = spaces.declare("classification", base, tiers=1)
    tuned = [p.name for p in hp.space if type(p).__name__ != "Fixed"]
    assert tuned == ["learning_rate"]
    overrides = spaces.overrides_for("classification", base, dict(hp.values, learning_rate=0.01), tiers=1)
    assert overrides["beta_1"] == pytest.approx(base.beta_1)
    assert overrides["stage_filters"] == base.stage_filters
    assert overrides["dropout"] == base.dropout


@pytest.mark.parametrize("overrides, message", [
    ({"momentum": "0.9"}, "unknown hyperparameter 'momentum'"),
    ({"learning_rate": ""}, "empty range"),
    ({"learning_rate": "1e-3:"}, "empty range"),
    ({"learning_rate": "1e-2:1e-3"}, "min 0.01 > max 0.001"),
    ({"learning_rate": "0:1e-3"}, "log sampling needs min > 0"),
    ({"learning_rate": "fast"}, "is not a number"),
    ({"batch_size": "1:2"}, "give values a,b,c"),
    ({"lr_schedule": "linear"}, "not among"),
])
def test_bad_hyperparameter_specs(overrides, message):
    with pytest.raises(ConfigError, match=message):
        spaces.declare("classification", _base("classification"), overrides)


@pytest.mark.parametrize("field, value, message", [
    ("trials", -1, "--trials: expected a positive number of trials, got -1"),
    ("trials", 0, "--trials"),
    ("max_epochs", 0, "--max-epochs"),
    ("executions_per_trial", 0, "--executions-per-trial"),
])
def test_bad_search_settings(field, value, message):
    settings = search.Settings(app="classification", base={}, trials=3, max_epochs=1)
    settings = search.Settings(**{**settings.__dict__, field: value})
    with pytest.raises(ConfigError, match=message):
        search.validate(settings)


def test_cli_bad_input_exits_2(capsys):
    from apps.cli import main

    assert main(["tune", "classification", "--preset", "tiny", "--trials", "-3"]) == 2
    assert "--trials: expected a positive number of trials, got -3" in capsys.readouterr().err
    assert main(["tune", "classification", "--preset", "tiny", "--hp", "momentum=0.9"]) == 2
    assert "unknown hyperparameter 'momentum'" in capsys.readouterr().err
    assert main(["tune", "classification", "--preset", "tiny", "--hp", "dropout=0.5:0.1"]) == 2
    assert "min 0.5 > max 0.1" in capsys.readouterr().err


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_chief_is_a_clear_error_within_the_timeout(tmp_path, capsys):
    from apps.cli import main

    port = _free_port()  # nothing listens there
    start = time.monotonic()
    code = main(["tune", "classification", "--preset", "tiny", "--trials", "2",
                 "--directory", str(tmp_path), "--worker", f"127.0.0.1:{port}", "--timeout", "2"])
    elapsed = time.monotonic() - start
    assert code == 2
    err = capsys.readouterr().err
    assert f"--worker 127.0.0.1:{port}: chief unreachable for 2s" in err
    assert elapsed < 60  # bounded by the timeout, not keras-tuner's hour


def test_zoom_narrows_around_the_best_trials():
    base = _base("classification")
    settings = search.Settings(app="classification", base=config_lib.to_dict(base), trials=8,
                               max_epochs=1, hp={"blocks": "1"})
    rng = np.random.default_rng(0)
    rows = []
    for i in range(8):
        lr = 10 ** rng.uniform(-4, -1)
        rows.append(dict(round="round1", trial_id=str(i), status="COMPLETED",
                         score=-abs(math.log10(lr) + 2.5),  # best near 10^-2.5
                         values=dict(learning_rate=lr, batch_size=[32, 64, 128][i % 3], blocks=1,
                                     dropout=0.05 * i, width=16)))
    narrowed = search.zoom_ranges(settings, rows)
    top = sorted(rows, key=lambda r: r["score"], reverse=True)[:2]
    lo, hi = (float(v) for v in narrowed["learning_rate"].split(":"))
    assert 1e-4 <= lo < hi <= 1e-1
    assert all(lo <= r["values"]["learning_rate"] <= hi for r in top)
    assert hi / lo < 1e3 / 2  # narrower than the three decades of round 1
    assert narrowed["blocks"] == "1"
    assert set(narrowed["batch_size"].split(",")) == {str(r["values"]["batch_size"]) for r in top}
    # The narrowed specs are valid overrides of the same space.
    spaces.declare("classification", base, narrowed)


def test_chief_oracle_requeues_a_silent_workers_trial_and_keeps_others_waiting(tmp_path):
    """The chief's bookkeeping in-process: no gRPC, no training."""
    from keras_tuner.engine import trial as trial_module

    from tuning import distributed

    base = _base("classification")
    settings = search.Settings(app="classification", base=config_lib.to_dict(base), trials=2,
                               max_epochs=1)
    oracle = search.make_oracle(settings, {}, 0, oracle_mixin=distributed.watched_mixin())
    oracle._set_project_dir(str(tmp_path), "round1")
    first, second = oracle.create_trial("w1"), oracle.create_trial("w2")
    assert (first.status, second.status) == ("RUNNING", "RUNNING")
    # w2 finishes; no new trial is left but w1's is still running: w2 waits (IDLE).
    oracle.update_trial(second.trial_id, {"val_accuracy": 0.5})
    second.status = trial_module.TrialStatus.COMPLETED
    oracle.end_trial(second)
    assert oracle.create_trial("w2").status == "IDLE"
    # w1 goes silent: its trial returns to the queue and w2 takes it.
    oracle._last_seen["w1"] -= 100
    assert oracle.requeue_silent(timeout=10) == [("w1", first.trial_id)]
    again = oracle.create_trial("w2")
    assert (again.status, again.trial_id) == ("RUNNING", first.trial_id)
    oracle.update_trial(again.trial_id, {"val_accuracy": 0.7})
    again.status = trial_module.TrialStatus.COMPLETED
    oracle.end_trial(again)
    assert not oracle.finished()
    assert oracle.create_trial("w2").status == "STOPPED"
    assert oracle.finished()
    assert sorted(t.status for t in oracle.trials.values()) == ["COMPLETED", "COMPLETED"]


@pytest.mark.parametrize("algorithm", ["random", "hyperband", "bayesian"])
def test_each_algorithm_hands_out_trials_of_the_space(algorithm, tmp_path):
    base = _base("classification")
    settings = search.Settings(app="classification", base=config_lib.to_dict(base), trials=3,
                               max_epochs=4, algorithm=algorithm, hp={"blocks": "1"})
    oracle = search.make_oracle(settings, settings.hp, 0)
    oracle._set_project_dir(str(tmp_path), "round1")
    trial = oracle.create_trial("tuner0")
    assert trial.status == "RUNNING"
    values = trial.hyperparameters.values
    assert 1e-4 <= values["learning_rate"] <= 1e-1 and values["blocks"] == 1
    config = search.trial_config(settings, values, settings.hp)
    assert config.learning_rate == values["learning_rate"]
    # Hyperband gives each trial its own budget (tuner/epochs <= max_epochs).
    assert config.epochs == values.get("tuner/epochs", 4) and 1 <= config.epochs <= 4


def test_sentiment_trials_train_one_network():
    # The default sentiment config averages a seed ensemble; a search trial is one network.
    from apps.sentiment.config import Config
    from tuning import spaces

    base = Config()
    assert base.ensemble > 1
    hp, _ = spaces.declare("sentiment", base, tiers=1)
    overrides = spaces.overrides_for("sentiment", base, dict(hp.values), tiers=1)
    assert overrides["ensemble"] == 1
