"""One time budget for every API read an admission request makes, so the webhook answers
before the API server gives up on it (the chart's timeoutSeconds is at most 5 s)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from urllib3.exceptions import TimeoutError as RequestTimeout

T = TypeVar("T")

# Under the chart's timeoutSeconds (default and maximum 5 s): the rest is for the audit, the
# answer's way back and the API server's own round trip to the webhook.
WEBHOOK_READ_BUDGET = 3.0


class ReadBudget:
    """Reads share `seconds`; each gets what is left, and a read that does not finish in it
    is given up (its default is used) and named in `missed`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._deadline = time.monotonic() + seconds
        self.missed: list[str] = []

    def remaining(self) -> float:
        return max(0.0, self._deadline - time.monotonic())

    async def read(self, what: str, read: Callable[[float], Awaitable[T]], default: T) -> T:
        """`read(seconds left)`, or `default` when the budget runs out first. The seconds are
        passed on so that the call's own timeout ends its thread too."""
        left = self.remaining()
        if left <= 0:
            self.missed.append(what)
            return default
        try:
            async with asyncio.timeout(left):
                return await read(left)
        except (TimeoutError, RequestTimeout):  # ours, or the call's own at the same moment
            self.missed.append(what)
            return default

    def warning(self) -> str | None:
        """What the answer was given without, for an admission warning."""
        if not self.missed:
            return None
        return (
            f"wsaudit could not read {', '.join(self.missed)} within its {self.seconds:g} s "
            "admission budget; this answer is given without them (the operator's audit, "
            "in Events and metrics, reads them again)"
        )
