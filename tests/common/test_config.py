import dataclasses
import json

import pytest

from apps.common import config as config_lib
from apps.common.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Demo(config_lib.TrainConfig):
    width: int = 4
    rate: float = 0.5
    name: str = "x"
    flag: bool = False
    sizes: tuple = (1, 2)


PRESETS = {"default": {}, "wide": {"width": 64}}


def test_precedence_defaults_preset_file_set(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"width": 8, "rate": 0.25, "preset": "wide"}))
    config = config_lib.resolve(Demo, PRESETS, config_file=path, sets=["rate=0.125", "sizes=3,4,5"])
    assert config.preset == "wide"
    assert config.width == 8  # the file beats the preset
    assert config.rate == 0.125  # --set beats the file
    assert config.sizes == (3, 4, 5)
    assert config.name == "x"


def test_types_are_coerced_and_checked():
    config = config_lib.resolve(Demo, PRESETS, sets=["epochs=3", "flag=true", "sizes=[8, 16]"])
    assert (config.epochs, config.flag, config.sizes) == (3, True, (8, 16))
    with pytest.raises(ConfigError, match="'epochs' expects int, got 'three'"):
        config_lib.resolve(Demo, PRESETS, sets=["epochs=three"])
    with pytest.raises(ConfigError, match="'flag' expects bool"):
        config_lib.resolve(Demo, PRESETS, sets=["flag=maybe"])


def test_unknown_keys_are_rejected_with_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config key 'widht'; known keys: .*width"):
        config_lib.resolve(Demo, PRESETS, sets=["widht=3"])
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"bogus": 1}))
    with pytest.raises(ConfigError, match=r"c.json: unknown config key 'bogus'"):
        config_lib.resolve(Demo, PRESETS, config_file=path)
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        config_lib.resolve(Demo, PRESETS, preset="huge")
    with pytest.raises(ConfigError, match="expected key=value"):
        config_lib.resolve(Demo, PRESETS, sets=["width"])


def test_bad_config_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        config_lib.resolve(Demo, PRESETS, config_file=tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="bad.json: not valid JSON"):
        config_lib.resolve(Demo, PRESETS, config_file=bad)


def test_saved_config_round_trips(tmp_path):
    config = config_lib.resolve(Demo, PRESETS, preset="wide", sets=["sizes=5,6"])
    config_lib.save_config(config, tmp_path / "config.json")
    assert config_lib.load_config(Demo, tmp_path / "config.json") == config
    # A file that nests the keys (tuning's best_config.json) is read too.
    (tmp_path / "best.json").write_text(json.dumps({"config": {"width": 9}, "score": 0.9}))
    assert config_lib.resolve(Demo, PRESETS, config_file=tmp_path / "best.json").width == 9
