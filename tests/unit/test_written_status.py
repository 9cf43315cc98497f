"""Which probe results are written to the status, and how failed writes back off."""

from __future__ import annotations

import datetime
import random

from wsaudit.api.status import HEARTBEAT_SECONDS, WrittenStatus, merge_patch
from wsaudit.backoff import Backoff

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)


def stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def ready(status: str, since: datetime.datetime = NOW) -> dict[str, object]:
    return {
        "type": "Ready",
        "status": status,
        "reason": "AllChecksPassed" if status == "True" else "HandshakeFailed",
        "message": "m",
        "lastTransitionTime": stamp(since),
        "observedGeneration": 1,
    }


def probed(at: datetime.datetime, *, status: str = "True", cause: str | None = None) -> dict:
    return {
        "observedGeneration": 1,
        "conditions": [ready(status)],
        "lastProbeTime": stamp(at),
        "cause": cause,
        "checks": [{"id": "handshake", "status": "pass", "message": "101", "details": {}}],
    }


def written_after(status: dict) -> WrittenStatus:
    written = WrittenStatus.of({})
    written.record(status)
    return written


def test_a_probe_that_found_the_same_is_not_written() -> None:
    written = written_after(probed(NOW))
    assert not written.needs_write(probed(NOW + datetime.timedelta(minutes=5)), NOW)


def test_a_changed_condition_check_or_generation_is_written() -> None:
    written = written_after(probed(NOW))
    later = NOW + datetime.timedelta(minutes=1)
    assert written.needs_write(probed(later, status="False"), later)
    failed_check = probed(later)
    failed_check["checks"][0]["status"] = "fail"
    assert written.needs_write(failed_check, later)
    edited = probed(later)
    edited["observedGeneration"] = 2
    assert written.needs_write(edited, later)
    assert written.needs_write(probed(later, cause="timeout"), later)


def test_the_probe_time_is_refreshed_once_the_heartbeat_is_due() -> None:
    written = written_after(probed(NOW))
    due = NOW + datetime.timedelta(seconds=HEARTBEAT_SECONDS)
    assert not written.needs_write(probed(due), due - datetime.timedelta(seconds=1))
    assert written.needs_write(probed(due), due)


def test_a_blocked_status_without_probe_time_is_written_once() -> None:
    written = written_after(probed(NOW))
    blocked = {"observedGeneration": 1, "conditions": [ready("False")]}
    later = NOW + datetime.timedelta(days=1)
    assert written.needs_write(blocked, later)
    written.record(blocked)
    # The merge patch left the last probe's time and checks; no heartbeat while blocked.
    assert written.status["lastProbeTime"] == stamp(NOW)
    assert not written.needs_write(blocked, later)


def test_the_first_status_of_a_new_endpoint_is_written() -> None:
    written = WrittenStatus.of(None)
    assert written.needs_write(probed(NOW), NOW)
    written.record(probed(NOW))
    assert "cause" not in written.status  # null removes the key, as on the API server
    assert written.conditions()[0].status == "True"


def test_invalid_written_conditions_count_as_absent() -> None:
    written = WrittenStatus.of({"conditions": [{"type": "Ready"}, ready("True")], "x": 1})
    assert [c.type for c in written.conditions()] == ["Ready"]
    assert written.conditions()[0].status == "True"


def test_merge_patch_follows_rfc_7386() -> None:
    target = {"a": {"b": 1, "c": 2}, "d": [1, 2], "e": "x"}
    patched = merge_patch(target, {"a": {"b": None, "f": 3}, "d": [3], "e": None})
    assert patched == {"a": {"c": 2, "f": 3}, "d": [3]}
    assert target == {"a": {"b": 1, "c": 2}, "d": [1, 2], "e": "x"}  # not modified


def test_nulls_inside_lists_are_dropped_as_the_api_server_stores_them() -> None:
    """origin.missing's details name no Origin: stored without it, and not rewritten after
    a restart for that."""
    status = probed(NOW)
    status["checks"][0]["details"] = {"origins": [{"origin": None, "status": 403}]}
    stored = merge_patch({}, status)
    assert stored["checks"][0]["details"] == {"origins": [{"status": 403}]}
    later = NOW + datetime.timedelta(minutes=1)
    assert not WrittenStatus.of(stored).needs_write(
        {**status, "lastProbeTime": stamp(later)}, later
    )


def test_backoff_doubles_from_one_second_to_the_cap_with_full_jitter() -> None:
    backoff = Backoff(rng=random.Random(7))
    ceilings, delays = [], []
    for _ in range(8):
        ceilings.append(backoff.ceiling(10.0))
        delays.append(backoff.next_delay(10.0))
    assert ceilings == [1, 2, 4, 8, 10, 10, 10, 10]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)  # jittered, not in step with other endpoints
    backoff.reset()
    assert backoff.ceiling(10.0) == 1
    assert Backoff(failures=10_000).ceiling(60.0) == 60  # no overflow after a long outage


def test_after_a_restart_the_objects_status_is_what_was_written() -> None:
    stored = merge_patch({}, probed(NOW))  # as the API server keeps it: no null cause
    written = WrittenStatus.of(stored)
    later = NOW + datetime.timedelta(minutes=3)
    assert not written.needs_write(probed(later), later)
    stored["conditions"] = []
    assert written.conditions()  # a copy: the watch's body changing does not change it


def test_the_written_status_tells_the_generation_and_age_of_its_probe() -> None:
    written = WrittenStatus.of(probed(NOW - datetime.timedelta(seconds=42)))
    assert written.observed_generation() == 1
    assert written.last_probe_age(NOW) == 42.0
    blocked = WrittenStatus.of({"observedGeneration": "2", "conditions": [ready("False")]})
    assert blocked.observed_generation() is None
    assert blocked.last_probe_age(NOW) is None
