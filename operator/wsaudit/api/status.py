"""What a probe loop last wrote to its endpoint's status, and whether a new probe's status
needs writing. Pure, so that the comparison is unit-tested.

Each status write is a PATCH, an etcd write and a watch event for every watcher. Written
after every probe, the API server spent as much CPU as the operator for news that were
mostly "nothing changed". So a probe's status is written only when it differs from the
last written one in anything but `lastProbeTime`, and otherwise once `lastProbeTime` is
HEARTBEAT_SECONDS old, so that it still shows the operator is probing (the time of every
probe is the metric wsaudit_endpoint_last_probe_timestamp_seconds).

The loop compares with its own record of what it wrote, not with the status in the watch's
copy of the object: that copy can lag behind the last write, and then the next probe saw the
old conditions and posted each transition's Event a second time.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from .models import Condition

HEARTBEAT_SECONDS = 3600.0
PROBE_TIME = "lastProbeTime"


def merge_patch(target: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """`target` after a JSON merge patch (RFC 7386, what the status write sends), as the API
    server stores it: null removes a key, objects merge, anything else (lists included)
    replaces, and null members of objects inside lists are dropped too (a check's details
    such as an Origin case without an Origin)."""
    merged = dict(target)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping):
            before = merged.get(key)
            merged[key] = merge_patch(before if isinstance(before, Mapping) else {}, value)
        else:
            merged[key] = _without_nulls(value)
    return merged


def _without_nulls(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _probe_time(status: Mapping[str, Any]) -> datetime.datetime | None:
    try:
        written = datetime.datetime.fromisoformat(str(status[PROBE_TIME]))
    except (KeyError, ValueError):
        return None
    return written if written.tzinfo else written.replace(tzinfo=datetime.UTC)


def _without_probe_time(status: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in status.items() if key != PROBE_TIME}


@dataclass
class WrittenStatus:
    """The endpoint's status as the loop last wrote it (at start: as the object had it)."""

    status: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, status: object) -> WrittenStatus:
        return cls(copy.deepcopy(dict(status)) if isinstance(status, Mapping) else {})

    def conditions(self) -> list[Condition]:
        """The written conditions; one that is not a valid condition (hand-edited status)
        counts as absent, so the next probe replaces it."""
        valid = []
        for raw in self.status.get("conditions") or []:
            try:
                valid.append(Condition.model_validate(raw))
            except ValidationError:
                continue
        return valid

    def observed_generation(self) -> int | None:
        """The spec generation the written status was probed at."""
        generation = self.status.get("observedGeneration")
        return generation if isinstance(generation, int) else None

    def last_probe_age(self, now: datetime.datetime) -> float | None:
        """Seconds since the probe that last wrote the status (None: no probe time)."""
        written = _probe_time(self.status)
        return None if written is None else (now - written).total_seconds()

    def needs_write(self, patch: Mapping[str, Any], now: datetime.datetime) -> bool:
        """Whether writing `patch` changes anything but the probe time, or refreshes a probe
        time older than the heartbeat."""
        if _without_probe_time(merge_patch(self.status, patch)) != _without_probe_time(self.status):
            return True
        if PROBE_TIME not in patch:
            return False
        written = _probe_time(self.status)
        return written is None or (now - written).total_seconds() >= HEARTBEAT_SECONDS

    def record(self, patch: Mapping[str, Any]) -> None:
        """`patch` was written."""
        self.status = merge_patch(self.status, patch)
