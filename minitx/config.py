"""Configs are dataclasses read from JSON; each value is checked against its field's
type, so `"n_layer": "4"` in a config.json is an error naming the key, not a
TypeError deep inside a model.

    check_fields(config)          in a config's __post_init__: every field its declared type
    from_dict(cls, data, where)   a config from a JSON object; errors start with `where`
"""
import dataclasses
import numbers
import typing


def check_value(value, kind, name):
    """`value` as field type `kind` (int, float, bool, str, dict or Optional of one);
    an int is accepted as a float. A ValueError names `name` otherwise."""
    if typing.get_origin(kind) is typing.Union:
        if value is None:
            return None
        kind = next(k for k in typing.get_args(kind) if k is not type(None))
    if kind is float and isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if kind in (bool, str, dict) and isinstance(value, kind):
        return value
    expected = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
                dict: "an object"}[kind]
    raise ValueError(f"{name} must be {expected}, got {value!r}")


def check_fields(config):
    """Check (and normalise: 1 -> 1.0 for a float field) every field of a dataclass instance."""
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value = check_value(getattr(config, field.name), hints[field.name],
                            f"{type(config).__name__}: {field.name}")
        object.__setattr__(config, field.name, value)


def from_dict(cls, data, where):
    """cls(**data), for a JSON object `data` read from `where`; unknown keys, wrong types
    and values out of range are one ValueError that starts with `where`."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}")
    try:
        return cls(**data)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
