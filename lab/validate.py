"""The one parameter validator: every check of a user-given value raises ``ValueError("<name>: must be <what>, got
<value>")``, naming the parameter and what it may be, before any work and any write.

Cheap to import (no TensorFlow): the command lines reject bad parameters in well under a second.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import yaml


def require(ok: bool, name: str, what: str, value: Any) -> None:
    """Raise ``ValueError("<name>: must be <what>, got <value!r>")`` unless ``ok``."""
    if not ok:
        raise ValueError(f"{name}: must be {what}, got {value!r}")


def is_number(value: Any, kinds: tuple[type, ...] = (int, float)) -> bool:
    """``value`` is one of ``kinds`` and not a bool (``True`` is an ``int`` to Python, never a count to us)."""
    return isinstance(value, kinds) and not isinstance(value, bool)


def integer(name: str, value: Any, low: int = 0, *, none: bool = False) -> Any:
    """``value`` if it is an integer >= ``low`` (or None where ``none``)."""
    if none and value is None:
        return value
    require(is_number(value, (int,)) and value >= low, name,
            f"an integer >= {low}" + (" or None" if none else ""), value)
    return value


def number(name: str, value: Any, low: float = 0.0, high: float | None = None, *, strict: bool = False,
           none: bool = False) -> Any:
    """``value`` if it is a number >= ``low`` (> where ``strict``), <= ``high`` when given (or None where ``none``)."""
    if none and value is None:
        return value
    ok = is_number(value) and (value > low if strict else value >= low) and (high is None or value <= high)
    if high is not None:
        what = f"a number in {'(' if strict else '['}{low:g}, {high:g}]"
    else:
        what = f"a number {'>' if strict else '>='} {low:g}"
    require(ok, name, what + (" or None" if none else ""), value)
    return value


def choice(name: str, value: Any, allowed: Sequence) -> Any:
    """``value`` if it is one of ``allowed``."""
    require(value in tuple(allowed), name, f"one of {tuple(allowed)}", value)
    return value


def choices(name: str, values: Any, allowed: Sequence) -> list:
    """``values`` (any form `as_list` reads) as a non-empty list of items of ``allowed``."""
    values = as_list(values, name)
    require(values and all(v in tuple(allowed) for v in values), name, f"a non-empty list of {tuple(allowed)}",
            values)
    return values


def known_keys(name: str, keys: Iterable[str], allowed: Sequence[str]) -> None:
    """Raise ``ValueError("<name>: unknown keys [...]; choose from (...)")`` for keys not in ``allowed``."""
    unknown = sorted(set(keys) - set(allowed))
    if unknown:
        raise ValueError(f"{name}: unknown keys {unknown}; choose from {tuple(allowed)}")


def as_list(value: Any, name: str) -> list:
    """A list-valued (notebook) parameter as a list, however it arrived: a list or tuple (the notebook's default,
    papermill's ``-y`` / ``-f`` YAML), a JSON / YAML list in a string (papermill's ``-p`` passes text:
    ``-p masks '["0000", "1111"]'``), a comma-separated string (``-p models birealnet,quicknet``) or ``None``
    (empty). Anything else: ValueError naming ``name``."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    require(isinstance(value, str), name, "a list, a JSON/YAML list string or a comma-separated string", value)
    text = value.strip()
    if not text.startswith("["):
        return [item.strip() for item in text.split(",") if item.strip()]
    try:
        return list(yaml.safe_load(text))
    except yaml.YAMLError as error:
        raise ValueError(f"{name}: {value!r} is not a JSON/YAML list ({str(error).splitlines()[0]})") from None


def as_dict(value: Any, name: str) -> dict:
    """A mapping-valued (notebook) parameter as a dict: a dict, a JSON / YAML mapping in a string (papermill's ``-p``
    passes text: ``-p overrides '{epochs: 2}'``) or ``None`` (empty)."""
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value) or {}
        except yaml.YAMLError as error:
            raise ValueError(f"{name}: {value!r} is not a JSON/YAML mapping ({str(error).splitlines()[0]})") from None
    require(isinstance(value, dict), name, "a mapping (a dict or a JSON/YAML mapping string)", value)
    return dict(value)
