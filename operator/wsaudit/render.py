"""Text rendering for people: one line per verdict, colour only on a terminal."""

from __future__ import annotations

import os
from typing import TextIO

_COLOURS = {
    "pass": "32",
    "warn": "33",
    "fail": "31",
    "skip": "90",
    "error": "31",
    "warning": "33",
    "info": "36",
}


def use_colour(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def label(word: str, colour: bool, width: int = 5) -> str:
    text = word.upper().ljust(width)
    code = _COLOURS.get(word)
    return f"\033[{code}m{text}\033[0m" if colour and code else text
