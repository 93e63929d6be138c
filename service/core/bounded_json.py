"""JSON read within limits, for every text a caller sends (bodies, cursors). Pure.

`json.loads` turns a 5,000-digit integer into a ValueError from `int()` and arrays nested a few
thousand deep into a RecursionError: neither is the JSONDecodeError callers expect, so both
became 500s. Here they, a too-long number of any kind, and the non-JSON constants `NaN` and
`Infinity` are one `UnsafeJSON` naming the problem; the depth is capped far below recursion.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 32  # the deepest body the API accepts (a FHIR Bundle) is under 10
MAX_NUMBER_DIGITS = 40  # a 64-bit integer has 19 digits; a double round-trips in 17


class UnsafeJSON(ValueError):
    """Well-formed JSON the service will not read: too deep, or a number too long."""


def loads(text: str | bytes) -> Any:
    try:
        value = json.loads(text, parse_int=_integer, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise UnsafeJSON(_too_deep()) from None
    _check_depth(value)
    return value


def _integer(digits: str) -> int:
    return int(_short(digits))


def _float(digits: str) -> float:
    number = float(_short(digits))
    if math.isinf(number):  # 1e999
        raise UnsafeJSON("A number in the JSON is too large.")
    return number


def _short(digits: str) -> str:
    if len(digits) > MAX_NUMBER_DIGITS:
        raise UnsafeJSON(f"A number in the JSON has more than {MAX_NUMBER_DIGITS} digits.")
    return digits


def _constant(name: str) -> Any:
    raise UnsafeJSON(f"{name} is not a JSON value.")


def _check_depth(value: Any) -> None:
    """Level by level, so checking the depth cannot itself recurse too deep."""
    level = [value] if isinstance(value, dict | list) else []
    for _depth in range(MAX_DEPTH):
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, dict | list)
        ]
    if level:
        raise UnsafeJSON(_too_deep())


def _too_deep() -> str:
    return f"The JSON is nested more than {MAX_DEPTH} levels deep."
