"""One typed, frozen config per app; `--config FILE` and `--set key=value` resolve onto it.

Order of precedence (later wins): dataclass defaults < preset < config file < `--set`.
Unknown keys are rejected with the list of known ones; values are coerced to the
field's declared type so `--set epochs=3` is an int and `--set stage_blocks=2,2` a tuple.
"""

import dataclasses
import json
import pathlib
import typing

from apps.common.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """What every trainable app shares; apps subclass it with their own fields."""

    data: str = ""
    preset: str = "default"
    seed: int = 1337
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 1e-3
    lr_schedule: str = "cosine"  # "constant" | "cosine" | "exponential"
    lr_decay_rate: float = 0.5  # per epoch, exponential schedule only
    warmup_epochs: float = 0.0
    weight_decay: float = 0.0  # L2 strength on kernels
    beta_1: float = 0.9
    early_stopping_patience: int = 5
    runs_dir: str = "runs"


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


def apply_overrides(config, overrides: dict, origin: str):
    """A new config with `overrides` applied; unknown keys raise ConfigError."""
    cls = type(config)
    known = field_types(cls)
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ConfigError(
            f"{origin}: unknown config key{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(k) for k in unknown)}; known keys: {', '.join(sorted(known))}"
        )
    values = {k: _coerce(cls, k, v, origin) for k, v in overrides.items()}
    return dataclasses.replace(config, **values)


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


def resolve(cls, presets: dict, config_file=None, sets=None, **flags):
    """defaults < preset < config file < explicit flags < `--set`."""
    file_values = read_config_file(config_file) if config_file else {}
    set_values = parse_sets(sets)
    flag_values = {k: v for k, v in flags.items() if v is not None}
    preset = set_values.get("preset", flag_values.get("preset", file_values.get("preset", cls.preset)))
    if preset not in presets:
        raise ConfigError(f"unknown preset {preset!r}; choose from {', '.join(sorted(presets))}")
    config = apply_overrides(cls(), {**presets[preset], "preset": preset}, f"preset {preset!r}")
    if file_values:
        config = apply_overrides(config, file_values, str(config_file))
    config = apply_overrides(config, flag_values, "command line")
    return apply_overrides(config, set_values, "--set")


def to_dict(config) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


def save_config(config, path) -> None:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_dict(config), indent=2, sort_keys=True) + "\n", encoding="utf-8")


def load_config(cls, path):
    """A config saved by `save_config` (a run's or an export's `config.json`)."""
    return apply_overrides(cls(), read_config_file(path), str(path))
