"""The Ingress store without kopf's index barrier: what it keeps of an object, how a listing
at start and the watch's deliveries combine, and which Event was last posted."""

from __future__ import annotations

import asyncio
from typing import Any

from wsaudit.controller.ingress_watch import (
    LAST_APPLIED,
    ListedStore,
    PostedEvent,
    latest_posted,
    settle,
    slim,
)


def ingress(name: str, *, host: str = "chat.example.com", **annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": name,
            "namespace": "prod",
            "uid": f"uid-{name}",
            "resourceVersion": "7",
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
            "annotations": {LAST_APPLIED: "{...the whole object...}", **annotations},
        },
        "spec": {"ingressClassName": "nginx", "rules": [{"host": host}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}},
    }


def test_slim_keeps_identity_annotations_and_spec_only() -> None:
    body = ingress("chat", **{"wsaudit.io/websocket": "true"})
    assert slim(body) == {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "chat",
            "namespace": "prod",
            "uid": "uid-chat",
            "annotations": {"wsaudit.io/websocket": "true"},
        },
        "spec": {"ingressClassName": "nginx", "rules": [{"host": "chat.example.com"}]},
    }


def test_slim_copies_the_spec_so_later_changes_to_the_body_do_not_leak() -> None:
    body = ingress("chat")
    kept = slim(body)
    body["spec"]["rules"][0]["host"] = "other.example.com"
    assert kept["spec"]["rules"][0]["host"] == "chat.example.com"


def test_listed_objects_are_there_at_once_and_deliveries_replace_them() -> None:
    store: ListedStore[tuple[str, str]] = ListedStore()
    store.fill({("prod", "a"): ingress("a"), ("prod", "b"): ingress("b")})
    assert set(store.objects) == {("prod", "a"), ("prod", "b")}
    assert store.unconfirmed == {("prod", "a"), ("prod", "b")}
    store.put(("prod", "a"), ingress("a", host="new.example.com"))
    assert store.objects[("prod", "a")]["spec"]["rules"][0]["host"] == "new.example.com"
    store.drop(("prod", "b"))
    assert set(store.objects) == {("prod", "a")}
    assert store.unconfirmed == frozenset()


def test_a_listing_never_overwrites_what_the_watch_delivered() -> None:
    store: ListedStore[str] = ListedStore()
    store.put("a", ingress("a", host="delivered.example.com"))
    store.fill({"a": ingress("a", host="listed.example.com")})
    assert store.objects["a"]["spec"]["rules"][0]["host"] == "delivered.example.com"
    assert store.unconfirmed == frozenset()


def test_a_later_listing_forgets_listed_objects_that_were_deleted_unseen() -> None:
    store: ListedStore[str] = ListedStore()
    store.fill({"kept": ingress("kept"), "gone": ingress("gone"), "seen": ingress("seen")})
    store.put("seen", ingress("seen"))
    store.narrow({"kept", "seen"})  # "gone" was deleted before kopf listed
    assert set(store.objects) == {"kept", "seen"}
    assert store.unconfirmed == {"kept"}


def test_settle_lists_again_until_every_listed_object_is_confirmed() -> None:
    store: ListedStore[str] = ListedStore()
    store.fill({"kept": ingress("kept"), "gone": ingress("gone")})
    listings: list[set[str]] = []

    async def relist() -> set[str]:
        listings.append({"kept"})
        store.put("kept", ingress("kept"))  # kopf delivers meanwhile
        return {"kept"}

    asyncio.run(asyncio.wait_for(settle(store, relist, patience=0.01), 5))
    assert listings == [{"kept"}]
    assert set(store.objects) == {"kept"}


def test_settle_survives_a_failed_listing() -> None:
    store: ListedStore[str] = ListedStore()
    store.fill({"gone": ingress("gone")})
    attempts = 0

    async def relist() -> set[str]:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise OSError("connection refused")
        return set()

    asyncio.run(asyncio.wait_for(settle(store, relist, patience=0.01), 5))
    assert attempts == 2
    assert store.objects == {}


def event(name: str, reason: str, message: str, at: str, **involved: str) -> dict[str, Any]:
    return {
        "type": "Warning" if reason == "WebSocketMisconfigured" else "Normal",
        "reason": reason,
        "message": message,
        "eventTime": at,
        "involvedObject": {
            "kind": "Ingress",
            "namespace": "prod",
            "name": name,
            "uid": f"uid-{name}",
            **involved,
        },
    }


REASONS = ("WebSocketMisconfigured", "WebSocketReady")


def test_latest_posted_is_the_newest_of_our_events_per_ingress() -> None:
    events = [
        event("chat", "WebSocketMisconfigured", "old", "2024-05-01T10:00:00.000001Z"),
        event("chat", "WebSocketReady", "fixed", "2024-05-01T10:00:00.000002Z"),
        event("chat", "Sync", "someone else's", "2024-05-01T11:00:00.000000Z"),
        event("feed", "WebSocketMisconfigured", "bad", "2024-05-01T09:00:00.000000Z"),
        event("feed", "WebSocketMisconfigured", "bad", "2024-05-01T09:00:00.000000Z", kind="Pod"),
    ]
    assert latest_posted(events, REASONS) == {
        ("prod", "chat"): PostedEvent("uid-chat", "Normal", "WebSocketReady", "fixed"),
        ("prod", "feed"): PostedEvent("uid-feed", "Warning", "WebSocketMisconfigured", "bad"),
    }


def test_latest_posted_orders_by_last_timestamp_without_event_time() -> None:
    older = event("chat", "WebSocketReady", "older", "")
    newer = event("chat", "WebSocketMisconfigured", "newer", "")
    older["lastTimestamp"], newer["lastTimestamp"] = "2024-05-01T10:00:00Z", "2024-05-01T10:00:01Z"
    assert latest_posted([newer, older], REASONS)[("prod", "chat")].message == "newer"
