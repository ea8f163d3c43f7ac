"""The sentiment search space: names, ranges and scales; every point is a config of the app."""

from apps.common import config as config_lib
from apps.sentiment.config import PRESETS, Config
from tuning import spaces


def test_sentiment_space_declares_the_course_scales():
    base = config_lib.resolve(Config, PRESETS, preset="tiny")
    hp, space = spaces.declare("sentiment", base)
    got = {name: (d.kind, d.low, d.high, d.values, d.sampling, d.tier) for name, d in space.declared.items()}
    assert got["learning_rate"] == ("float", 1e-4, 1e-1, (), "log", 1)
    assert got["one_minus_beta_1"] == ("float", 1e-3, 1e-1, (), "log", 2)
    assert got["units"] == ("int", 16, 128, (), "log", 2)
    assert got["cell"] == ("choice", None, None, ("gru", "lstm"), "linear", 3)
    assert got["rnn_layers"] == ("int", 1, 2, (), "linear", 3)
    assert got["dropout"][:3] == ("float", 0.0, 0.5)
    values = {"learning_rate": 0.01, "one_minus_beta_1": 0.01, "units": 32, "batch_size": 128,
              "rnn_layers": 2, "cell": "lstm", "lr_schedule": "constant", "embedding_dropout": 0.1,
              "dropout": 0.2}
    config = config_lib.apply_overrides(base, spaces.overrides_for("sentiment", base, values), "trial")
    assert (config.learning_rate, config.beta_1, config.units, config.cell, config.rnn_layers) == (
        0.01, 0.99, 32, "lstm", 2)
    assert spaces.tunable("sentiment").objective == "val_accuracy"
    assert {p.name for p in hp.space} == set(values)
