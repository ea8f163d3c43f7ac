import dataclasses
import json
from typing import Annotated

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


PRESETS = {"default": config_lib.preset("the defaults"), "wide": config_lib.preset("wider", width=64)}


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
    with pytest.raises(ConfigError, match="preset='huge': expected one of default, wide"):
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


# ---------------------------------------------------------------- range checks
@dataclasses.dataclass(frozen=True)
class Ranged(config_lib.TrainConfig):
    size: config_lib.PositiveInt = 4
    share: config_lib.Fraction = 0.5
    cell: Annotated[str, config_lib.OneOf("gru", "lstm")] = "gru"
    widths: Annotated[tuple, config_lib.Each(config_lib.AtLeast(1), length=2)] = (8, 16)
    parts: Annotated[str, config_lib.Parts("a", "b")] = "a+b"
    low: int = 1
    high: int = 2

    def check(self):
        if self.low > self.high:
            raise ConfigError(f"low={self.low}, high={self.high}: expected low <= high")


def test_between_at_least_above_allow_and_describe():
    closed = config_lib.Between(0, 1)
    assert [closed.allows(v) for v in (-0.1, 0, 0.5, 1, 1.1)] == [False, True, True, True, False]
    assert closed.describe() == "in [0, 1]"
    half_open = config_lib.Between(0, 1, high_open=True)
    assert (half_open.allows(0), half_open.allows(1)) == (True, False)
    assert half_open.describe() == "in [0, 1)"
    assert config_lib.Between(0, 1, low_open=True).describe() == "in (0, 1]"
    at_least = config_lib.AtLeast(1)
    assert (at_least.allows(0), at_least.allows(1), at_least.allows(10**9)) == (False, True, True)
    assert at_least.describe() == ">= 1"
    above = config_lib.Above(0)
    assert (above.allows(0), above.allows(1e-9)) == (False, True)
    assert above.describe() == "> 0"
    assert config_lib.Between(high=5).describe() == "<= 5"


def test_one_of_each_parts_allow_and_describe():
    one_of = config_lib.OneOf("gru", "lstm")
    assert (one_of.allows("gru"), one_of.allows("rnn")) == (True, False)
    assert one_of.describe() == "one of 'gru', 'lstm'"
    each = config_lib.Each(config_lib.AtLeast(1), length=2)
    assert each.allows((1, 2)) and not each.allows((1,)) and not each.allows((0, 2))
    assert not each.allows((1, "x"))  # a non-number is outside a numeric range
    assert not each.allows((True, 2))  # so is a bool
    assert each.describe() == "2 items, each >= 1"
    nonempty = config_lib.Each(config_lib.AtLeast(1), nonempty=True)
    assert not nonempty.allows(()) and nonempty.allows((3,))
    assert nonempty.describe() == "one or more items, each >= 1"
    parts = config_lib.Parts("a", "b")
    assert [parts.allows(v) for v in ("", "a", "a+b", "b + a", "a+a", "a+c")] == [
        True, True, True, True, False, False]
    assert "a, b" in parts.describe()


def test_checks_are_collected_from_the_class_and_its_bases():
    found = config_lib.checks(Ranged)
    assert found["size"] == [config_lib.AtLeast(1)]
    assert found["epochs"] == [config_lib.AtLeast(1)]  # declared on TrainConfig
    assert found["cell"] == [config_lib.OneOf("gru", "lstm")]
    assert "low" not in found and "name" not in config_lib.checks(Demo)


def test_epochs_out_of_range_names_the_key_value_and_what_is_allowed():
    for cls in (config_lib.TrainConfig, Demo):
        with pytest.raises(ConfigError) as info:
            cls(epochs=-3)
        assert str(info.value) == "epochs=-3: expected >= 1"


@pytest.mark.parametrize("values, message", [
    (dict(size=0), "size=0: expected >= 1"),
    (dict(share=1.0), "share=1.0: expected in [0, 1)"),
    (dict(share=-0.5), "share=-0.5: expected in [0, 1)"),
    (dict(cell="rnn"), "cell='rnn': expected one of 'gru', 'lstm'"),
    (dict(widths=(8,)), "widths=8: expected 2 items, each >= 1"),
    (dict(widths=(8, 0)), "widths=8,0: expected 2 items, each >= 1"),
    (dict(parts="a+c"), "parts='a+c': expected parts from a, b joined by '+'"),
    (dict(learning_rate=0.0), "learning_rate=0.0: expected > 0"),
    (dict(lr_schedule="linear"), "lr_schedule='linear': expected one of 'constant', 'cosine', 'exponential'"),
    (dict(low=3, high=2), "low=3, high=2: expected low <= high"),
])
def test_out_of_range_values_raise_on_construction(values, message):
    with pytest.raises(ConfigError) as info:
        Ranged(**values)
    assert str(info.value).startswith(message), str(info.value)


def test_in_range_values_and_replace_are_checked_too():
    config = Ranged(size=1, share=0.0, cell="lstm", widths=(1, 1), parts="", low=2, high=2)
    assert (config.size, config.share, config.parts) == (1, 0.0, "")
    with pytest.raises(ConfigError, match="size=0: expected >= 1"):
        dataclasses.replace(config, size=0)


def test_set_and_config_file_values_are_range_checked(tmp_path):
    presets = {"default": config_lib.preset("the defaults")}
    with pytest.raises(ConfigError, match="epochs=-3: expected >= 1"):
        config_lib.resolve(Ranged, presets, sets=["epochs=-3"])
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"share": 2}))
    with pytest.raises(ConfigError, match=r"share=2.0: expected in \[0, 1\)"):
        config_lib.resolve(Ranged, presets, config_file=path)


def test_resolve_checks_once_as_a_whole():
    # The preset alone breaks the cross-field check (low > the default high); its --set completes it.
    presets = {"default": config_lib.preset("the defaults"), "lifted": config_lib.preset("low 5", low=5)}
    with pytest.raises(ConfigError, match="low=5, high=2"):
        config_lib.resolve(Ranged, presets, preset="lifted")
    config = config_lib.resolve(Ranged, presets, preset="lifted", sets=["high=9"])
    assert (config.low, config.high, config.preset) == (5, 9, "lifted")
    # A preset value out of range that --set replaces is never checked on its own either.
    presets["broken"] = config_lib.preset("size 0", size=0)
    assert config_lib.resolve(Ranged, presets, preset="broken", sets=["size=2"]).size == 2


def test_preset_config_and_preset_objects():
    assert PRESETS["wide"].description == "wider" and PRESETS["wide"].values == {"width": 64}
    config = config_lib.preset_config(Demo, PRESETS, "wide")
    assert (config.preset, config.width) == ("wide", 64)
    with pytest.raises(ConfigError, match="preset='nope'"):
        config_lib.preset_config(Demo, PRESETS, "nope")
