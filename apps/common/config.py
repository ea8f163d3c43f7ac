"""One typed, frozen, range-checked config per app; `--config FILE` and `--set key=value`
resolve onto it.

Order of precedence (later wins): dataclass defaults < preset < config file < `--set`.
Unknown keys are rejected with the list of known ones; values are coerced to the
field's declared type so `--set epochs=3` is an int and `--set stage_blocks=2,2` a tuple.

Each field declares what it allows beside its type, in one place:

    epochs: PositiveInt = 10
    dropout: Fraction = 0.2
    cell: Annotated[str, OneOf("gru", "lstm")] = "gru"

and a config is checked whenever it is made (`__post_init__`): a value outside its range
raises ConfigError naming the key, the value and what is allowed (the CLI exits 2). An
app adds checks that relate several fields by overriding `check()`.
"""

import dataclasses
import json
import pathlib
import typing
from typing import Annotated

from apps.common.errors import ConfigError


# ---------------------------------------------------------------- what a field allows
@dataclasses.dataclass(frozen=True)
class Check:
    """A constraint on a field's value; `allows(value)` and a phrase for the error."""

    def allows(self, value) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class Between(Check):
    """low <= value <= high, either end open or absent (None)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def allows(self, value) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open else value > self.high))

    def describe(self) -> str:
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low}"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {self.high}"
        return (f"in {'(' if self.low_open else '['}{self.low}, {self.high}"
                f"{')' if self.high_open else ']'}")


def AtLeast(low) -> Between:  # noqa: N802 - reads as a type annotation
    return Between(low)


def Above(low) -> Between:  # noqa: N802
    return Between(low, low_open=True)


@dataclasses.dataclass(frozen=True)
class OneOf(Check):
    values: tuple

    def __init__(self, *values):
        object.__setattr__(self, "values", tuple(values))

    def allows(self, value) -> bool:
        return value in self.values

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


@dataclasses.dataclass(frozen=True)
class Parts(Check):
    """Names from `values` joined by "+", each at most once ("" for none)."""

    values: tuple

    def __init__(self, *values):
        object.__setattr__(self, "values", tuple(values))

    def allows(self, value) -> bool:
        names = [p.strip() for p in str(value).split("+") if p.strip()]
        return all(n in self.values for n in names) and len(set(names)) == len(names)

    def describe(self) -> str:
        return f"parts from {', '.join(self.values)} joined by '+' (each once; empty for none)"


@dataclasses.dataclass(frozen=True)
class Each(Check):
    """Every item of a tuple passes `check` (and the tuple has `length` items when given)."""

    check: Check
    length: int | None = None
    nonempty: bool = False

    def allows(self, value) -> bool:
        if self.length is not None and len(value) != self.length:
            return False
        if self.nonempty and not value:
            return False
        return all(_item_allowed(self.check, v) for v in value)

    def describe(self) -> str:
        size = f"{self.length} " if self.length is not None else ("one or more " if self.nonempty else "")
        return f"{size}items, each {self.check.describe()}"


def _item_allowed(check: Check, value) -> bool:
    if isinstance(check, Between) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return False
    return check.allows(value)


PositiveInt = Annotated[int, AtLeast(1)]
Count = Annotated[int, AtLeast(0)]  # 0 allowed (often "none" / "off")
PositiveFloat = Annotated[float, Above(0)]
NonNegative = Annotated[float, AtLeast(0)]
Fraction = Annotated[float, Between(0, 1, high_open=True)]  # [0, 1): a share of something
Probability = Annotated[float, Between(0, 1)]
Sizes = Annotated[tuple, Each(AtLeast(1), nonempty=True)]  # widths / counts per stage


def checks(cls) -> dict:
    """{field: [Check, ...]} declared with `Annotated` on the config class and its bases."""
    hints = typing.get_type_hints(cls, include_extras=True)
    out = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        found = [m for m in getattr(hint, "__metadata__", ()) if isinstance(m, Check)]
        if found:
            out[f.name] = found
    return out


def validate(config) -> None:
    """Raise ConfigError for the first field outside what it allows, then the app's check()."""
    for key, field_checks in checks(type(config)).items():
        value = getattr(config, key)
        for check in field_checks:
            if not _item_allowed(check, value):
                raise ConfigError(f"{key}={_shown(value)}: expected {check.describe()}")
    config.check()


def _shown(value) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) or "(empty)"
    return repr(value) if isinstance(value, str) else str(value)


# ---------------------------------------------------------------- the base configs
@dataclasses.dataclass(frozen=True)
class BaseConfig:
    """What every app shares: its data source, preset, seed and where runs go."""

    data: str = ""
    preset: str = "default"
    seed: int = 1337
    runs_dir: str = "runs"

    def __post_init__(self):
        validate(self)

    def check(self) -> None:
        """Checks across fields (an app overrides it); raise ConfigError naming the keys."""


@dataclasses.dataclass(frozen=True)
class TrainConfig(BaseConfig):
    """Apps that train through `fit` with Adam: epochs, the learning rate and its schedule."""

    epochs: PositiveInt = 10
    learning_rate: PositiveFloat = 1e-3
    lr_schedule: Annotated[str, OneOf("constant", "cosine", "exponential")] = "cosine"
    lr_decay_rate: Annotated[float, Between(0, 1, low_open=True)] = 0.5  # per epoch, exponential only
    warmup_epochs: NonNegative = 0.0
    weight_decay: NonNegative = 0.0  # L2 strength on kernels
    beta_1: Annotated[float, Between(0, 1, high_open=True)] = 0.9
    early_stopping_patience: Count = 5  # 0: never stop early


def field_types(cls) -> dict:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(cls, key, value, origin):
    """Coerce `value` (from JSON or a `--set` string) to the declared type of `key`."""
    kind = field_types(cls)[key]
    try:
        if kind is bool:
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                return lowered in ("true", "1", "yes")
            if not isinstance(value, bool):
                raise ValueError
            return value
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if kind is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind is str:
            if not isinstance(value, (str, int, float)):
                raise ValueError
            return str(value)
        if kind is tuple:
            if isinstance(value, str):
                text = value.strip()
                if text.startswith("["):
                    value = json.loads(text)
                else:
                    value = [v for v in (p.strip() for p in text.split(",")) if v]
            if not isinstance(value, (list, tuple)):
                raise ValueError
            return tuple(_scalar(v) for v in value)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise ConfigError(
            f"{origin}: '{key}' expects {kind.__name__}, got {value!r}"
        ) from None
    return value


def _scalar(value):
    """Tuple items: numbers stay numbers, everything else is a string."""
    if isinstance(value, str):
        for cast in (int, float):
            try:
                return cast(value)
            except ValueError:
                pass
    return value


def _checked_values(cls, overrides: dict, origin: str) -> dict:
    """`overrides` coerced to the fields' types; unknown keys raise ConfigError."""
    known = field_types(cls)
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ConfigError(
            f"{origin}: unknown config key{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(k) for k in unknown)}; known keys: {', '.join(sorted(known))}"
        )
    return {k: _coerce(cls, k, v, origin) for k, v in overrides.items()}


def apply_overrides(config, overrides: dict, origin: str):
    """A new config with `overrides` applied (and checked); unknown keys raise ConfigError."""
    return dataclasses.replace(config, **_checked_values(type(config), overrides, origin))


def parse_sets(items, flag: str = "--set", expected: str = "key=value") -> dict:
    """`["a=1", "b=x"]` -> `{"a": "1", "b": "x"}` (the values of a repeatable KEY=VALUE flag)."""
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} {item!r}: expected {expected}")
        out[key.strip()] = value
    return out


def plus_parts(config, key: str, allowed) -> tuple:
    """The names in `config.<key>` joined by "+" (empty: none), each one of `allowed`, no repeats."""
    value = getattr(config, key)
    names = tuple(p.strip() for p in str(value).split("+") if p.strip())
    for name in names:
        if name not in allowed:
            raise ConfigError(f"{key}: expected parts from {', '.join(allowed)} joined by '+' "
                              f"(or empty for none), got {value!r}")
    if len(set(names)) != len(names):
        raise ConfigError(f"{key}: a part is repeated in {value!r}")
    return names


def read_config_file(path) -> dict:
    path = pathlib.Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object of config keys, got {type(data).__name__}")
    # A `best_config.json` from tuning or a run's `config.json` may nest the keys.
    return data.get("config", data) if isinstance(data.get("config"), dict) else data


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named set of config values with the one line `--help` and the README show."""

    description: str
    values: dict = dataclasses.field(default_factory=dict)


def preset(description: str, **values) -> Preset:
    return Preset(description, values)


def preset_config(cls, presets: dict, name: str):
    """The config of preset `name` (defaults < preset)."""
    return resolve(cls, presets, sets=[f"preset={name}"])


def resolve(cls, presets: dict, config_file=None, sets=None, **flags):
    """defaults < preset < config file < explicit flags < `--set`, checked once, as a whole
    (a preset may need a key that only `--set` gives)."""
    file_values = read_config_file(config_file) if config_file else {}
    set_values = parse_sets(sets)
    flag_values = {k: v for k, v in flags.items() if v is not None}
    name = set_values.get("preset", flag_values.get("preset", file_values.get("preset", cls.preset)))
    if name not in presets:
        raise ConfigError(f"preset={name!r}: expected one of {', '.join(sorted(presets))}")
    values = _checked_values(cls, {**presets[name].values, "preset": name}, f"preset {name!r}")
    values.update(_checked_values(cls, file_values, str(config_file)) if file_values else {})
    values.update(_checked_values(cls, flag_values, "command line"))
    values.update(_checked_values(cls, set_values, "--set"))
    return cls(**values)


def to_dict(config) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


def save_config(config, path) -> None:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_dict(config), indent=2, sort_keys=True) + "\n", encoding="utf-8")


def load_config(cls, path):
    """A config saved by `save_config` (a run's or an export's `config.json`)."""
    return cls(**_checked_values(cls, read_config_file(path), str(path)))
