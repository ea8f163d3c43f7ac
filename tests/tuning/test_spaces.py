"""Search spaces: every app has one, sampled on the course's scales, bad input refused."""

import math
import socket
import time

import numpy as np
import pytest

from apps import APPS, get_app
from apps.common import config as config_lib
from apps.common.errors import ConfigError
from tuning import search, spaces


def _base(app_name, preset="tiny"):
    app = get_app(app_name)
    preset = preset if preset in app.PRESETS else "default"
    return config_lib.resolve(app.Config, app.PRESETS, preset=preset)


def _samples(app_name, name, n=3000, overrides=None):
    hp, _ = spaces.declare(app_name, _base(app_name), overrides)
    param = next(p for p in hp.space if p.name == name)
    return np.array([param.random_sample(seed=i) for i in range(n)], dtype=np.float64)


@pytest.mark.parametrize("app_name", sorted(APPS))
def test_every_app_has_a_space_whose_overrides_are_config_keys(app_name):
    import keras_tuner

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
    assert isinstance(hp, keras_tuner.HyperParameters)


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
    from apps.common.cli import main

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
    from apps.common.cli import main

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
    from apps import get_app
    from tuning import spaces

    base = get_app("sentiment").Config()
    assert base.ensemble > 1
    hp, _ = spaces.declare("sentiment", base, tiers=1)
    overrides = spaces.overrides_for("sentiment", base, dict(hp.values), tiers=1)
    assert overrides["ensemble"] == 1
