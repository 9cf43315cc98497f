"""The event loop of `wsaudit run` and `wsaudit probe`: uvloop where it is installed.

uvloop runs the probe engine's transports in C (issue 13 measured 45 % less CPU per
`ws://` handshake, 15 % per `wss://`). kopf picks it up only in its own `kopf run` CLI
(kopf/_kits/loops.py, proper_loop), not under `asyncio.run`, so wsaudit chooses the loop
itself. It is a Linux and macOS dependency: elsewhere asyncio's own loop runs everything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

Result = TypeVar("Result")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop constructor, or None (asyncio's default) where uvloop is missing."""
    try:
        import uvloop  # noqa: PLC0415 (optional: no wheels on Windows)
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, Result]) -> Result:
    """asyncio.run on uvloop when installed (asyncio.run takes a loop_factory only from
    Python 3.12; asyncio.Runner has it from 3.11)."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
