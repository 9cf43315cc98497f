"""WebSocketEndpoint handling: one probe loop (a kopf daemon) per resource.

Probes are jittered, limited by the probe slots and never overlap for one resource (one
loop each). When each loop probes first, and which spec changes wake it early, is decided
by the process's Schedule (schedule.py); a change of the Ingress in front wakes it at once.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import kopf
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from ..api.conditions import (
    Verdict,
    blocked_verdicts,
    ingress_configured,
    probe_verdicts,
    settle,
    suspended_verdicts,
)
from ..api.disclosure import shown_to_tenant
from ..api.models import (
    GROUP,
    PLURAL,
    VERSION,
    Condition,
    WebSocketEndpointSpec,
    duration_seconds,
    parse_spec,
)
from ..api.status import WrittenStatus
from ..audit.matching import best_match
from ..backoff import Backoff
from ..probe import ProbeConfig, ProbeConfigError, ProbeResult, probe
from ..schedule import Schedule
from . import ingresses
from .kube import SecretError
from .runtime import Runtime, runtime_of

RETRY_CAP = 60.0  # longest wait between attempts of a failed API call (or the interval)
log = logging.getLogger(__name__)


class Blocked(Exception):
    """No probe can run; `reason` and the message go on Ready."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _timestamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def _pause(stopped: kopf.DaemonStopped, wake: asyncio.Event, seconds: float) -> bool:
    """Waits `seconds`, or until stopped or woken; returns whether woken (probe now)."""
    waits = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stopped.wait())]
    try:
        await asyncio.wait(waits, timeout=max(seconds, 0), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
    woken = wake.is_set()
    wake.clear()
    return woken


async def _probe_config(
    runtime: Runtime, namespace: str, spec: WebSocketEndpointSpec
) -> ProbeConfig:
    token = ca_data = None
    try:
        if spec.auth is not None:
            ref = spec.auth.token_secret_ref
            token = await runtime.kube.secret_value(namespace, ref.name, ref.key)
        if spec.tls.ca_secret_ref is not None:
            ref = spec.tls.ca_secret_ref
            ca_data = await runtime.kube.secret_value(namespace, ref.name, ref.key)
    except SecretError as exc:
        raise Blocked("SecretNotFound", f"{exc}; create it or fix the reference") from None
    return spec.probe_config(token, ca_data)


def _serving_ingress(
    namespace: str, spec: WebSocketEndpointSpec, index: ingresses.Index
) -> tuple[str | None, Mapping[str, Any] | None]:
    """The referenced Ingress, or the one in the namespace whose rules serve the URL's host
    and path with the Ingress API's matching (audit/matching.py)."""
    if spec.ingress_ref is not None:
        return spec.ingress_ref.name, index.get((namespace, spec.ingress_ref.name))
    url = urlsplit(spec.url)
    candidates = [(ingress, body) for (ns, ingress), body in index.items() if ns == namespace]
    found = best_match(candidates, url.hostname or "", url.path or "/")
    if found is None:
        return None, None
    return found[0], next(body for name, body in candidates if name == found[0])


async def _ingress_verdict(
    *,
    runtime: Runtime,
    namespace: str,
    name: str,
    spec: WebSocketEndpointSpec,
) -> Verdict | None:
    ingress_name, body = _serving_ingress(namespace, spec, runtime.ingress_watch.ingresses.objects)
    newly, orphaned = runtime.refer(namespace, name, ingress_name)
    release_ingresses(runtime, namespace, orphaned)
    if ingress_name is None:
        return None
    if body is None:
        return ingress_configured(None, f"{namespace}/{ingress_name}")
    result = await ingresses.audit(runtime, body)
    if result is None:
        return None
    if newly:
        ingresses.publish(runtime, body, result)
    return ingress_configured(result.findings, f"{namespace}/{ingress_name}")


def _status(
    result: ProbeResult | None, conditions: list[Condition], generation: int | None, now: str
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "conditions": [c.model_dump(by_alias=True, exclude_none=True) for c in conditions],
    }
    if result is not None:
        status.update(
            lastProbeTime=now,
            cause=result.cause,
            checks=[c.to_dict() for c in shown_to_tenant(result).checks],
        )
    return status


def release_ingresses(runtime: Runtime, namespace: str, orphaned: Sequence[str]) -> None:
    """An Ingress no endpoint refers to any more keeps its findings only if annotated."""
    for ingress in orphaned:
        body = runtime.ingress_watch.ingresses.objects.get((namespace, ingress))
        if body is None or not ingresses.serves_websockets(runtime, namespace, ingress, body):
            ingresses.forget(runtime, namespace, ingress)


def _post_transitions(body: kopf.Body, changed: list[Verdict]) -> None:
    for verdict in changed:
        good = verdict.status == "True"
        kopf.event(
            body,
            type="Normal" if good else "Warning",
            reason=verdict.reason,
            message=f"{verdict.type} is {verdict.status}: {verdict.message}"[:1000],
        )


@dataclass(frozen=True)
class Probed:
    """What one probe found: the status to write, and the conditions whose status moved
    since the last write (each gets one Event, once that status is written)."""

    generation: int | None  # of the spec probed
    interval: float
    at: datetime.datetime
    status: dict[str, Any]
    transitions: list[Verdict]


async def probe_once(
    *,
    runtime: Runtime,
    body: kopf.Body,
    namespace: str,
    name: str,
    written: WrittenStatus,
    due: float,
    logger: kopf.Logger,
) -> Probed:
    """One probe, its conditions settled against the last written ones, and its metrics
    (with how late after `due`, in the event loop's time, it got its slot).
    Raises ApiException, OSError or HTTPError when a read it needs (a Secret, an Ingress's
    Service) fails; those reads come before the probe, so a retry probes nothing twice."""
    generation = body.get("metadata", {}).get("generation")
    previous = written.conditions()
    result: ProbeResult | None = None
    interval = 60.0
    cert_threshold_days: int | None = None
    suspended = False
    try:
        spec = parse_spec(body.get("spec"))
        interval = spec.interval_seconds
        cert_threshold_days = spec.tls.min_certificate_days
        if spec.suspend:
            suspended = True
            verdicts = suspended_verdicts(previous)
            runtime.metrics.forget_endpoint(namespace, name)  # no stale series while paused
        else:
            config = await _probe_config(runtime, namespace, spec)
            guard = await runtime.guard_for(namespace)
            ingress = await _ingress_verdict(
                runtime=runtime,
                namespace=namespace,
                name=name,
                spec=spec,
            )
            async with runtime.probe_slots.slot(namespace):
                runtime.metrics.record_probe_start(asyncio.get_running_loop().time() - due)
                result = await probe(config, guard)
            # Conditions and status carry only what a tenant may see (api/disclosure.py);
            # metrics and the log keep the full result.
            verdicts = probe_verdicts(shown_to_tenant(result), ingress)
    except ProbeConfigError as exc:
        verdicts = blocked_verdicts(
            "InvalidSpec", f"spec.{exc.field}: {exc.reason}", [c.type for c in previous]
        )
    except Blocked as exc:
        verdicts = blocked_verdicts(exc.reason, str(exc), [c.type for c in previous])
    except (ApiException, OSError, HTTPError):
        raise  # the API server is unreachable: the loop retries
    except Exception as exc:  # one endpoint's failure must not stop its loop
        log.exception("probe of %s/%s failed unexpectedly", namespace, name)
        verdicts = blocked_verdicts(
            "ProbeError",
            f"the probe failed unexpectedly ({type(exc).__name__}); this is a wsaudit bug",
            [c.type for c in previous],
        )
    now = datetime.datetime.now(datetime.UTC)
    conditions, changed = settle(verdicts, previous, generation, _timestamp(now))
    # The metrics hold every probe (the status only changes), also while writes fail.
    current = [(c.type, c.status) for c in conditions]
    if result is not None:
        runtime.metrics.record_probe(
            namespace,
            name,
            result,
            conditions=current,
            finished=now.timestamp(),
            interval=interval,
            cert_threshold_days=cert_threshold_days,
        )
        logger.info(
            f"probed {result.url}: {'failed' if result.failed else 'ok'}"
            f"{f' ({result.cause})' if result.cause else ''}"
        )
    elif not suspended:
        runtime.metrics.record_blocked(namespace, name, conditions=current, interval=interval)
    return Probed(
        generation, interval, now, _status(result, conditions, generation, _timestamp(now)), changed
    )


class _Loop:
    """One endpoint's probe loop: when to probe, the status it last wrote, and the write
    waiting for a retry."""

    def __init__(
        self,
        *,
        runtime: Runtime,
        body: kopf.Body,
        namespace: str,
        name: str,
        schedule: Schedule,
        logger: kopf.Logger,
    ) -> None:
        self.runtime, self.body, self.namespace, self.name = runtime, body, namespace, name
        self.schedule, self.logger = schedule, logger
        self.clock = asyncio.get_running_loop().time
        # The only read of the object's status: afterwards the loop knows what it wrote.
        self.written = WrittenStatus.of(body.get("status"))
        self.reads, self.writes = Backoff(), Backoff()
        self.cap = RETRY_CAP
        now = self.clock()
        self.next_probe = now + schedule.start(
            (namespace, name),
            now=now,
            interval=_interval(body),
            generation=body.get("metadata", {}).get("generation"),
            observed_generation=self.written.observed_generation(),
            last_probe_age=self.written.last_probe_age(datetime.datetime.now(datetime.UTC)),
        )
        self.pending: Probed | None = None
        self.retry_at = 0.0  # a failed write waits until then, and so does a newer status

    async def run(self, stopped: kopf.DaemonStopped, wake: asyncio.Event) -> None:
        while not stopped:
            due = self.next_probe if self.pending is None else min(self.next_probe, self.retry_at)
            woken = await _pause(stopped, wake, due - self.clock())
            if stopped:
                return
            if woken or self.clock() >= self.next_probe:
                await self._probe(due=min(self.next_probe, self.clock()))
            if (
                self.pending is not None
                and self.clock() >= self.retry_at
                and not await self._write()
            ):
                # Deleted: the loop stops itself even if the DELETED event was missed (the
                # endpoints carry no finalizer), so a tenant's server is never probed on.
                return

    async def _probe(self, *, due: float) -> None:
        try:
            probed = await probe_once(
                runtime=self.runtime,
                body=self.body,
                namespace=self.namespace,
                name=self.name,
                written=self.written,
                due=due,
                logger=self.logger,
            )
        except (ApiException, OSError, HTTPError) as exc:
            delay = self.reads.next_delay(self.cap)
            self.next_probe = self.clock() + delay
            self._retrying("not probed", self.reads, delay, exc)
            return
        self.reads.reset()
        self.cap = min(RETRY_CAP, probed.interval)
        self.schedule.probed((self.namespace, self.name), probed.generation, probed.interval)
        self.next_probe = self.clock() + self.schedule.next_delay(probed.interval)
        # The newest status replaces one still waiting; nothing waits when nothing changed.
        self.pending = probed if self.written.needs_write(probed.status, probed.at) else None

    async def _write(self) -> bool:
        """Writes the pending status; False when the endpoint is gone."""
        assert self.pending is not None
        metrics = self.runtime.metrics
        try:
            await self.runtime.kube.patch_status(self.namespace, self.name, self.pending.status)
        except ApiException as exc:
            if exc.status == 404:
                return False
            if exc.status != 422:
                self._failed(exc)
                return True
            # The CRD's schema refused the content (a CRD older than the operator?): the
            # same content would be refused again, so only the next probe writes again.
            metrics.record_status_write("rejected")
            log.error(
                "status of %s/%s refused: %s; is the CRD older than the operator?",
                self.namespace,
                self.name,
                _redacted(exc),
            )
        except (OSError, HTTPError) as exc:
            self._failed(exc)
            return True
        else:
            metrics.record_status_write("written")
            self.written.record(self.pending.status)
            _post_transitions(self.body, self.pending.transitions)
            if self.writes.failures:
                self.logger.info(f"status written after {self.writes.failures} failed attempts")
        self.writes.reset()
        self.pending = None
        return True

    def _failed(self, exc: Exception) -> None:
        """Only the write is retried, after a backoff; a newer probe's status waits too."""
        self.runtime.metrics.record_status_write("failed")
        delay = self.writes.next_delay(self.cap)
        self.retry_at = self.clock() + delay
        self._retrying("status not written", self.writes, delay, exc)

    def _retrying(self, what: str, backoff: Backoff, delay: float, exc: Exception) -> None:
        """The first failure in a row as a warning (kopf posts it as an Event, so it never
        carries the API's raw answer: its headers and body), the next ones to the log only."""
        message = f"{what}, retrying in {delay:.1f} s: {_redacted(exc)}"
        if backoff.failures == 1:
            self.logger.warning(message)
        else:
            log.info(
                "%s/%s: %s (%d failures in a row)",
                self.namespace,
                self.name,
                message,
                backoff.failures,
            )


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=10)
async def probe_loop(
    *,
    body: kopf.Body,
    namespace: str | None,
    name: str,
    stopped: kopf.DaemonStopped,
    memo: Any,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """Probes every interval (jittered) or when woken; writes a probe's status only when it
    changed (api/status.py), and retries a failed write alone, with backoff, until it
    succeeds or the next probe brings a newer status."""
    runtime, schedule = runtime_of(memo), schedule_of(memo)
    namespace = namespace or "default"
    wake = runtime.wakeup(namespace, name)
    try:
        loop = _Loop(
            runtime=runtime,
            body=body,
            namespace=namespace,
            name=name,
            schedule=schedule,
            logger=logger,
        )
        await loop.run(stopped, wake)
    finally:
        schedule.stop((namespace, name))
        orphaned = runtime.forget_endpoint(namespace, name)
        release_ingresses(runtime, namespace, orphaned)


def _redacted(exc: BaseException) -> str:
    if isinstance(exc, ApiException):
        return f"the API server answered HTTP {exc.status} {exc.reason or ''}".strip()
    return type(exc).__name__


def schedule_of(memo: Any) -> Schedule:
    schedule: Schedule = memo.schedule
    return schedule


def _interval(body: Mapping[str, Any]) -> float:
    """The spec's interval before the spec is validated (an invalid one: the default)."""
    try:
        return duration_seconds(str((body.get("spec") or {}).get("interval", "60s")))
    except ValueError:
        return 60.0


@kopf.on.event(GROUP, VERSION, PLURAL)
async def endpoint_changed(
    *,
    event: kopf.RawEvent,
    body: kopf.Body,
    namespace: str | None,
    name: str,
    memo: Any,
    **_: Any,
) -> None:
    """A generation the loop has not probed (a spec edit) is probed at once instead of at
    the next interval; other changes (status writes, labels) wake nothing."""
    key = (namespace or "default", name)
    generation = body.get("metadata", {}).get("generation")
    if event["type"] == "MODIFIED" and schedule_of(memo).wakes(key, generation):
        runtime_of(memo).wake(*key)
