"""Checks and JSON form of the experiments' configuration dataclasses.

The configurations validate themselves in ``__post_init__`` with these
helpers, so every message names the field, its value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

__all__ = ["check_choice", "check_at_least_one", "check_finite_nonnegative", "config_to_json"]


def check_choice(name: str, value: Any, choices: Sequence) -> None:
    """Raise unless ``value`` is one of ``choices``.

    Parameters
    ----------
    name : str
        Field name, for the message.
    value : object
        The value to check.
    choices : sequence
        Allowed values.

    Raises
    ------
    ValueError
        ``"name=value: must be 'a' or 'b'"`` (two choices) or ``"... must be one of (...)"``.
    """
    if value in choices:
        return
    allowed = " or ".join(repr(c) for c in choices) if len(choices) == 2 else f"one of {tuple(choices)}"
    raise ValueError(f"{name}={value!r}: must be {allowed}")


def check_at_least_one(obj: Any, names: Sequence[str], *, allow_none: bool = False) -> None:
    """Raise unless each named attribute of ``obj`` is an integer >= 1 (or None, if allowed).

    Parameters
    ----------
    obj : object
        Usually a configuration dataclass.
    names : sequence of str
        Attribute names, checked in order.
    allow_none : bool
        Accept ``None`` (meaning "all" or "default") as well.

    Raises
    ------
    ValueError
        For the first attribute below 1.
    """
    for name in names:
        v = getattr(obj, name)
        if v is None and allow_none:
            continue
        if v is None or int(v) < 1:
            raise ValueError(f"{name}={v!r}: must be >= 1" + (" or None" if allow_none else ""))


def check_finite_nonnegative(obj: Any, names: Sequence[str]) -> None:
    """Raise unless each named attribute of ``obj`` is a finite number >= 0.

    Parameters
    ----------
    obj : object
        Usually a configuration dataclass.
    names : sequence of str
        Attribute names, checked in order.

    Raises
    ------
    ValueError
        For the first attribute that is negative, infinite or NaN.
    """
    for name in names:
        v = float(getattr(obj, name))
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{name}={v!r}: must be a finite number >= 0")


def config_to_json(cfg: Any, list_fields: Sequence[str] = ()) -> dict:
    """A configuration dataclass as a dict, with the named tuple fields as lists.

    Parameters
    ----------
    cfg : dataclass instance
        The configuration.
    list_fields : sequence of str, optional
        Fields whose (tuple) values are written as lists.

    Returns
    -------
    dict
        :func:`dataclasses.asdict` of ``cfg`` with those fields converted.
    """
    d = dataclasses.asdict(cfg)
    for name in list_fields:
        d[name] = list(getattr(cfg, name))
    return d
