"""Exponential backoff with full jitter, for calls to the API server that failed.

The n-th consecutive failure waits a random time between 0 and min(cap, first * 2**n)
(AWS Architecture Blog, "Exponential Backoff And Jitter"): when the API server goes away,
every endpoint's probe loop fails at once, and the jitter spreads their retries instead of
sending them in waves when it comes back.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    first: float = 1.0
    failures: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def ceiling(self, cap: float) -> float:
        """The longest the next wait may be."""
        return min(cap, self.first * 2.0 ** min(self.failures, 32))

    def next_delay(self, cap: float) -> float:
        """Counts a failure and returns how long to wait before the next attempt."""
        ceiling = self.ceiling(cap)
        self.failures += 1
        return self.rng.uniform(0, ceiling)

    def reset(self) -> None:
        """An attempt succeeded: the next failure starts again from `first`."""
        self.failures = 0
