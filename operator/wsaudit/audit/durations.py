"""Durations as each ingress controller writes them, to seconds.

Controllers disagree: ingress-nginx reads a bare number of seconds and ignores "60s";
nginx and HAProxy accept unit suffixes, and HAProxy reads a bare number as milliseconds;
Kong reads milliseconds. Each rule says which format its annotation takes.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

_UNITS = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 604800,
    "us": 0.000001,
}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(us|ms|s|m|h|d|w)")


class DurationError(ValueError):
    """The value is not a duration in the expected format."""


class Format(enum.Enum):
    SECONDS = "a whole number of seconds, e.g. 3600"
    MILLISECONDS = "a whole number of milliseconds, e.g. 3600000"
    NGINX = "a time such as 3600, 3600s or 1h"
    HAPROXY = "a time such as 1h or 3600s (a bare number is milliseconds)"


@dataclass(frozen=True)
class _Spec:
    bare_unit: float
    units_allowed: bool


_SPECS = {
    Format.SECONDS: _Spec(1, False),
    Format.MILLISECONDS: _Spec(0.001, False),
    Format.NGINX: _Spec(1, True),
    Format.HAPROXY: _Spec(0.001, True),
}


def parse_duration(value: object, fmt: Format) -> float:
    """Seconds, or DurationError naming the expected format."""
    text = str(value).strip().lower() if isinstance(value, str | int) else None
    if isinstance(value, bool) or text is None or not text:
        raise DurationError(f"{value!r} is not {fmt.value}")
    spec = _SPECS[fmt]
    if text.isascii() and text.isdigit():
        return int(text) * spec.bare_unit
    if not spec.units_allowed:
        raise DurationError(f"{value!r} is not {fmt.value}")
    compact = text.replace(" ", "")
    position, total = 0, 0.0
    for match in _PART.finditer(compact):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(compact) or position == 0:
        raise DurationError(f"{value!r} is not {fmt.value}")
    return total


def human(seconds: float) -> str:
    """3600 -> '3600 s (1 h)'; short values stay in seconds."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds:g} s ({seconds / 3600:g} h)"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds:g} s ({seconds / 60:g} min)"
    return f"{seconds:g} s"
