"""When probe loops probe first, how first probes of new specs are paced, and which spec
changes wake a loop (wsaudit/schedule.py)."""

from __future__ import annotations

import random

import pytest

from wsaudit.schedule import (
    JITTER,
    NEW_SPEC_BURST,
    NEW_SPEC_MIN_RATE,
    Schedule,
    resumed_delay,
)

INTERVAL = 60.0


def schedule() -> Schedule:
    return Schedule(rng=random.Random(7))


def new(plan: Schedule, key: tuple[str, str], now: float = 0.0) -> float:
    """A loop for a spec never probed (no status)."""
    return plan.start(
        key,
        now=now,
        interval=INTERVAL,
        generation=1,
        observed_generation=None,
        last_probe_age=None,
    )


def busiest(delays: list[float], window: float) -> int:
    """The most first probes within any `window` seconds."""
    ordered = sorted(delays)
    return max(sum(1 for d in ordered if first <= d < first + window) for first in ordered)


def test_a_recent_probe_is_resumed_one_interval_after_it() -> None:
    rng = random.Random(1)
    for age in (0.0, 10.0, 59.0):
        delay = resumed_delay(age, INTERVAL, rng)
        assert INTERVAL * (1 - JITTER) - age - 1e-9 <= delay or delay == 0.0
        assert delay <= INTERVAL * (1 + JITTER) - age


@pytest.mark.parametrize("age", [None, 60.0, 1800.0, -5.0])
def test_an_old_or_unknown_probe_time_spreads_over_one_interval(age: float | None) -> None:
    rng = random.Random(2)
    delays = [resumed_delay(age, INTERVAL, rng) for _ in range(3000)]
    assert all(0 <= d <= INTERVAL for d in delays)
    # Spread evenly: about 3000 / 12 = 250 in any 5 s, never all at once.
    assert busiest(delays, 5.0) < 400


def restarted(plan: Schedule, generation: int, observed: int, age: float | None) -> float:
    """A loop of a restarted operator: the status was written at `observed`, `age` s ago."""
    return plan.start(
        ("ns", "a"),
        now=100.0,
        interval=INTERVAL,
        generation=generation,
        observed_generation=observed,
        last_probe_age=age,
    )


def test_restarted_loops_resume_from_their_status() -> None:
    delay = restarted(schedule(), 3, 3, 20.0)
    assert INTERVAL * (1 - JITTER) - 20 <= delay <= INTERVAL * (1 + JITTER) - 20


def test_a_status_of_an_older_generation_is_a_new_spec_probed_at_once() -> None:
    assert restarted(schedule(), 4, 3, 1.0) == 0.0


def test_a_few_new_endpoints_are_probed_at_once() -> None:
    plan = schedule()
    assert [new(plan, ("ns", f"e{n}")) for n in range(NEW_SPEC_BURST)] == [0.0] * NEW_SPEC_BURST


def test_a_bulk_creation_is_paced_at_the_fleets_rate_and_within_one_interval() -> None:
    plan = schedule()
    delays = [new(plan, ("ns", f"e{n}")) for n in range(3000)]
    # 3000 endpoints at 60 s need 50 probes/s, 250 in 5 s. The pace grows with the fleet
    # as the loops start, and what it cannot fit into one interval is spread over it.
    assert busiest(delays, 5.0) <= 1.25 * 250
    assert max(delays) <= INTERVAL
    assert plan.rate == pytest.approx(3000 / INTERVAL)


def test_a_small_fleet_paces_new_specs_at_the_minimum_rate() -> None:
    plan = schedule()
    delays = [new(plan, ("ns", f"e{n}")) for n in range(100)]
    assert busiest(delays, 1.0) <= NEW_SPEC_BURST + NEW_SPEC_MIN_RATE + 1
    assert max(delays) <= (100 - NEW_SPEC_BURST + 1) / NEW_SPEC_MIN_RATE


def test_the_pace_refills_while_nothing_is_created() -> None:
    plan = schedule()
    for n in range(50):
        new(plan, ("ns", f"e{n}"))
    assert new(plan, ("ns", "later"), now=600.0) == 0.0


def test_only_a_generation_the_loop_has_not_probed_wakes_it() -> None:
    plan = schedule()
    key = ("ns", "a")
    assert not plan.wakes(key, 1)  # no loop
    new(plan, key)
    assert not plan.wakes(key, 2)  # its first probe reads the newest generation anyway
    plan.probed(key, 2, INTERVAL)
    assert not plan.wakes(key, 2)  # a status write, a label: same generation
    assert plan.wakes(key, 3)
    plan.probed(key, 3, INTERVAL)
    assert not plan.wakes(key, 3)


def test_a_restarted_loop_is_woken_by_a_generation_newer_than_its_status() -> None:
    plan = schedule()
    restarted(plan, 5, 5, None)
    assert not plan.wakes(("ns", "a"), 5)
    assert plan.wakes(("ns", "a"), 6)


def test_stopped_loops_leave_the_fleets_rate() -> None:
    plan = schedule()
    new(plan, ("ns", "a"))
    plan.probed(("ns", "b"), 1, 10.0)
    assert plan.rate == pytest.approx(1 / 60 + 1 / 10)
    plan.probed(("ns", "b"), 1, 20.0)
    assert plan.rate == pytest.approx(1 / 60 + 1 / 20)
    plan.stop(("ns", "a"))
    plan.stop(("ns", "b"))
    plan.stop(("ns", "b"))
    assert plan.rate == pytest.approx(0.0)
    assert not plan.wakes(("ns", "b"), 2)
