"""The tour's shared opening: an app's preset, resolved into the tour directory."""

import pytest

from apps import get_task
from apps.common.errors import ConfigError
from apps.common.report import Report
from apps.detection.config import PRESETS, Config
from apps.tour import TourContext


def test_tour_config_resolves_the_preset_into_the_tour_directory(tmp_path):
    context = TourContext(tmp_path, Report(tmp_path), "models")
    config = get_task("detection").tour_config(context)
    assert isinstance(config, Config)
    assert config.preset == "tour" and config.runs_dir == str(tmp_path / "runs")
    assert PRESETS["tour"].values  # the preset sets something, and all of it arrives
    for key, value in PRESETS["tour"].values.items():
        assert getattr(config, key) == value, key
    assert config.batch_size == Config().batch_size  # not in the preset: the default


def test_tour_config_takes_another_preset(tmp_path):
    context = TourContext(tmp_path, Report(tmp_path), "models")
    config = get_task("detection").tour_config(context, preset="tiny")
    assert config.preset == "tiny" and config.runs_dir == str(tmp_path / "runs")
    for key, value in PRESETS["tiny"].values.items():
        assert getattr(config, key) == value, key


def test_tour_config_unknown_preset_is_a_config_error_naming_it(tmp_path):
    context = TourContext(tmp_path, Report(tmp_path), "m")
    with pytest.raises(ConfigError, match="nope") as info:
        get_task("detection").tour_config(context, preset="nope")
    assert "tour" in str(info.value)  # lists the presets there are


def test_tour_preset_missing_from_an_app_exits_2_before_anything_runs(tmp_path, capsys):
    from apps.cli import main

    code = main(["tour", "--apps", "detection", "style", "--preset", "nope", "--runs-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "'nope'" in err and "detection" in err, err
    assert not any(tmp_path.iterdir())
