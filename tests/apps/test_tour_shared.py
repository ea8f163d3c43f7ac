"""The tour's shared opening: an app's preset, trained fresh under the tour directory."""

import pytest

from apps.common.report import Report
from apps.common.tour import TourContext, train_preset
from apps.detection.config import PRESETS, Config


def test_train_preset_resolves_the_preset_into_the_tour_directory(tmp_path):
    calls = []

    def train(config, fresh):
        calls.append((config, fresh))
        return tmp_path / "runs" / "detection" / "x"

    context = TourContext(tmp_path, Report(tmp_path), "models")
    config, run_dir, seconds = train_preset(context, Config, PRESETS, train)
    assert len(calls) == 1 and calls[0] == (config, True)
    assert run_dir == tmp_path / "runs" / "detection" / "x" and seconds >= 0
    assert config.preset == "tour" and config.runs_dir == str(tmp_path / "runs")
    for key, value in PRESETS["tour"].items():
        assert getattr(config, key) == value, key
    assert config.batch_size == Config().batch_size  # not in the preset: the default


def test_train_preset_unknown_preset_is_a_key_error(tmp_path):
    with pytest.raises(KeyError):
        train_preset(TourContext(tmp_path, Report(tmp_path), "m"), Config, PRESETS, None, preset="nope")
