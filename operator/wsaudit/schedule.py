"""When the probe loops probe: each loop's first probe, the pace of first probes of specs
never probed, and which spec changes wake a loop early. Pure (the clock's readings and the
random source are passed in), so that every decision is unit-tested.

What a user and a large cluster each need:
- After `kubectl apply` of one endpoint (or a few), its first probe runs at once: a new
  spec is probed without waiting for its interval.
- A bulk creation, or an operator starting beside thousands of endpoints it never probed,
  must not probe them all at once: probes beyond the slots would only queue, and the
  endpoints already on their schedule would wait behind them. First probes of new specs are
  paced (a token bucket of NEW_SPEC_BURST): at the rate the whole fleet needs in steady state
  (the sum of 1 / interval over the loops, at least NEW_SPEC_MIN_RATE), so that creating every
  endpoint at once costs what one interval of the steady state costs; a first probe the pace
  would put more than one interval away is spread over the interval instead.
- After a restart, an endpoint whose status says it was probed at its current generation
  keeps its schedule: its last probe (`status.lastProbeTime`) plus one interval, when that
  probe is less than an interval old; otherwise (the time is written only when the status
  changes, and refreshed hourly) at a random moment within one interval. Never all at once.
- A spec edit wakes the loop at once, but only for a generation the loop has not probed
  itself: `status.observedGeneration` lags while status writes fail, and is not written at
  all when nothing changed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

JITTER = 0.1  # each interval varies by +-10% so that endpoints created together drift apart
NEW_SPEC_BURST = 10  # first probes of new specs that run at once (a small `kubectl apply`)
NEW_SPEC_MIN_RATE = 10.0  # per second: the pace of first probes in a small fleet

Key = tuple[str, str]  # (namespace, name)


def jittered(interval: float, rng: random.Random) -> float:
    return interval * rng.uniform(1 - JITTER, 1 + JITTER)


def resumed_delay(last_probe_age: float | None, interval: float, rng: random.Random) -> float:
    """Seconds until the next probe of a spec probed before, `last_probe_age` seconds ago
    (None: not known): on its schedule when that is within the interval, else at a random
    moment of the interval."""
    if last_probe_age is not None and 0 <= last_probe_age < interval:
        return max(0.0, jittered(interval, rng) - last_probe_age)
    return rng.uniform(0, interval)


@dataclass
class Schedule:
    """This process's probe loops: the interval of each and the spec generation it last
    probed, and the pace of first probes of new specs."""

    rng: random.Random = field(default_factory=random.Random, repr=False)
    _intervals: dict[Key, float] = field(default_factory=dict)
    _probed: dict[Key, int | None] = field(default_factory=dict)
    _rate: float = 0.0  # the sum of 1 / interval, kept as loops come and go
    # The token bucket as a virtual schedule (the generic cell rate algorithm): when the pace
    # would next be free with an empty bucket.
    _paced_until: float = float("-inf")

    @property
    def rate(self) -> float:
        """Probes per second the fleet needs in steady state."""
        return self._rate

    def _set_interval(self, key: Key, interval: float) -> None:
        previous = self._intervals.get(key)
        if previous != interval:
            self._rate += 1.0 / interval - (1.0 / previous if previous else 0.0)
            self._intervals[key] = interval

    def start(
        self,
        key: Key,
        *,
        now: float,
        interval: float,
        generation: int | None,
        observed_generation: int | None,
        last_probe_age: float | None,
    ) -> float:
        """Registers a loop whose status was written for `observed_generation` (None: no
        status), its last probe `last_probe_age` seconds ago; returns the seconds until its
        first probe."""
        self._set_interval(key, interval)
        if observed_generation is not None and observed_generation == generation:
            self._probed[key] = generation
            return resumed_delay(last_probe_age, interval, self.rng)
        self._probed[key] = None  # a new spec: its first probe reads the newest generation
        return self._paced(now, interval)

    def _paced(self, now: float, interval: float) -> float:
        spacing = 1.0 / max(NEW_SPEC_MIN_RATE, self.rate)
        free = max(self._paced_until, now)
        at = max(now, free - (NEW_SPEC_BURST - 1) * spacing)
        if at - now > interval:
            return self.rng.uniform(0, interval)
        self._paced_until = free + spacing
        return at - now

    def probed(self, key: Key, generation: int | None, interval: float) -> None:
        """The loop probed `generation` of its spec, whose interval is `interval`."""
        self._set_interval(key, interval)
        self._probed[key] = generation

    def next_delay(self, interval: float) -> float:
        return jittered(interval, self.rng)

    def wakes(self, key: Key, generation: int | None) -> bool:
        """Whether a change to `generation` is news to the endpoint's loop: it probed (or
        found in its status) another generation. A loop waiting for the first probe of a new
        spec is not woken: that probe reads the newest generation, in its place in the pace."""
        probed = self._probed.get(key)
        return probed is not None and generation != probed

    def stop(self, key: Key) -> None:
        interval = self._intervals.pop(key, None)
        if interval is not None:
            self._rate -= 1.0 / interval
        self._probed.pop(key, None)
