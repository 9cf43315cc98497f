"""`wsaudit run` configuration: flags, their environment twins (for the Helm chart), and
validation with clear errors before anything starts."""

from __future__ import annotations

import argparse
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .probe.guard import CLUSTER_KINDS, ClusterKind, IPNetwork, parse_network
from .slots import default_per_namespace

WebhookMode = Literal["off", "warn", "deny"]
WEBHOOK_MODES: tuple[WebhookMode, ...] = ("off", "warn", "deny")
LOG_FORMATS = ("text", "json")


class SettingsError(ValueError):
    """A flag or environment variable is invalid; the message names it."""


@dataclass(frozen=True)
class RunSettings:
    namespaces: tuple[str, ...] = ()  # empty: all namespaces
    allow_private: bool = False
    # Kinds of the cluster's own addresses that may be probed (the others are refused,
    # whatever allow_private says).
    allow_cluster_addresses: frozenset[ClusterKind] = frozenset()
    deny_cidrs: tuple[IPNetwork, ...] = ()
    metrics_port: int = 9090
    health_port: int = 8080
    webhook: WebhookMode = "off"
    webhook_port: int = 9443
    webhook_cert: Path | None = None
    webhook_key: Path | None = None
    max_concurrent_probes: int = 20
    max_concurrent_probes_per_namespace: int = 5
    min_ingress_timeout: float = 3600.0
    log_format: str = "text"
    peering: str | None = None  # None: standalone (one replica)
    bind_address: str = "0.0.0.0"  # noqa: S104 (the pod's ports must be reachable)
    # Cluster-level objects the Ingress audit reads: controllers' ConfigMaps and the
    # LoadBalancer Services in front of them, as (namespace, name).
    controller_configs: tuple[tuple[str, str], ...] = ()
    load_balancer_services: tuple[tuple[str, str], ...] = ()

    @property
    def clusterwide(self) -> bool:
        return not self.namespaces


# (flag, environment variable, help)
ENVIRONMENT = {
    "namespace": "WSAUDIT_NAMESPACES",
    "all_namespaces": "WSAUDIT_ALL_NAMESPACES",
    "allow_private": "WSAUDIT_ALLOW_PRIVATE",
    "allow_cluster_addresses": "WSAUDIT_ALLOW_CLUSTER_ADDRESSES",
    "deny_cidr": "WSAUDIT_DENY_CIDRS",
    "metrics_port": "WSAUDIT_METRICS_PORT",
    "health_port": "WSAUDIT_HEALTH_PORT",
    "webhook": "WSAUDIT_WEBHOOK",
    "webhook_port": "WSAUDIT_WEBHOOK_PORT",
    "webhook_cert": "WSAUDIT_WEBHOOK_CERT",
    "webhook_key": "WSAUDIT_WEBHOOK_KEY",
    "max_concurrent_probes": "WSAUDIT_MAX_CONCURRENT_PROBES",
    "max_concurrent_probes_per_namespace": "WSAUDIT_MAX_CONCURRENT_PROBES_PER_NAMESPACE",
    "min_ingress_timeout": "WSAUDIT_MIN_INGRESS_TIMEOUT",
    "log_format": "WSAUDIT_LOG_FORMAT",
    "peering": "WSAUDIT_PEERING",
    "bind_address": "WSAUDIT_BIND_ADDRESS",
    "controller_config": "WSAUDIT_CONTROLLER_CONFIGS",
    "load_balancer_service": "WSAUDIT_LOAD_BALANCER_SERVICES",
}
_LISTS = (
    "namespace",
    "allow_cluster_addresses",
    "deny_cidr",
    "controller_config",
    "load_balancer_service",
)


def add_run_arguments(cmd: argparse.ArgumentParser) -> None:
    """Flags default to None so that the environment twin can fill what is not given."""
    env = ENVIRONMENT
    cmd.add_argument(
        "--namespace",
        action="append",
        metavar="NS",
        help=f"watch only this namespace (repeatable; ${env['namespace']}, comma-separated)",
    )
    cmd.add_argument(
        "--all-namespaces",
        action="store_true",
        default=None,
        help="watch every namespace (the default)",
    )
    cmd.add_argument(
        "--allow-private",
        action="store_true",
        default=None,
        help="lift the probe address guard's built-in ranges: loopback, link-local, "
        f"metadata (${env['allow_private']})",
    )
    cmd.add_argument(
        "--allow-cluster-addresses",
        action="append",
        metavar="KIND",
        help="let probes reach the cluster's own addresses of this kind: api-server, nodes, "
        "services, or all (repeatable; refused by default, even with --allow-private; "
        f"${env['allow_cluster_addresses']}, comma-separated)",
    )
    cmd.add_argument(
        "--deny-cidr",
        action="append",
        metavar="CIDR",
        help=f"also refuse probes to this range (${env['deny_cidr']})",
    )
    cmd.add_argument(
        "--metrics-port", metavar="N", help=f"/metrics port, 9090 (${env['metrics_port']})"
    )
    cmd.add_argument(
        "--health-port", metavar="N", help=f"/healthz port, 8080 (${env['health_port']})"
    )
    cmd.add_argument(
        "--webhook",
        metavar="MODE",
        help=f"admission webhook: off (default), warn or deny (${env['webhook']})",
    )
    cmd.add_argument(
        "--webhook-port", metavar="N", help=f"webhook HTTPS port, 9443 (${env['webhook_port']})"
    )
    cmd.add_argument(
        "--webhook-cert", metavar="F", help=f"webhook serving certificate (${env['webhook_cert']})"
    )
    cmd.add_argument("--webhook-key", metavar="F", help=f"its private key (${env['webhook_key']})")
    cmd.add_argument(
        "--max-concurrent-probes",
        metavar="N",
        help=f"probes running at once, 20 (${env['max_concurrent_probes']})",
    )
    cmd.add_argument(
        "--max-concurrent-probes-per-namespace",
        metavar="N",
        help="of those, at most N for one namespace, so one tenant's slow endpoints cannot "
        f"hold them all; a quarter by default (${env['max_concurrent_probes_per_namespace']})",
    )
    cmd.add_argument(
        "--min-ingress-timeout",
        metavar="S",
        help=f"Ingress timeouts under S seconds are findings, 3600 (${env['min_ingress_timeout']})",
    )
    cmd.add_argument("--log-format", metavar="FMT", help=f"text or json (${env['log_format']})")
    cmd.add_argument(
        "--peering",
        metavar="NAME",
        help=f"kopf peering object for several replicas (${env['peering']})",
    )
    cmd.add_argument(
        "--bind-address",
        metavar="ADDR",
        help=f"address of the metrics, health and webhook servers (${env['bind_address']})",
    )
    cmd.add_argument(
        "--controller-config",
        action="append",
        metavar="NS/NAME",
        help="an ingress controller's ConfigMap whose cluster-level settings (global "
        "timeouts, snippets) the Ingress audit reads; needs get on it (repeatable; "
        f"${env['controller_config']}, comma-separated)",
    )
    cmd.add_argument(
        "--load-balancer-service",
        action="append",
        metavar="NS/NAME",
        help="the LoadBalancer Service in front of an ingress controller, whose idle timeout "
        f"the audit reads (repeatable; ${env['load_balancer_service']}, comma-separated)",
    )


def _value(args: argparse.Namespace, field: str) -> Any:
    given = getattr(args, field)
    if given is not None:
        return given
    raw = os.environ.get(ENVIRONMENT[field])
    if raw is None or raw == "":
        return None
    if field in _LISTS:
        return [item.strip() for item in raw.split(",") if item.strip()]
    if field in ("all_namespaces", "allow_private"):
        if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise SettingsError(f"{ENVIRONMENT[field]}={raw!r}: expected true or false")
        return raw.lower() in ("true", "1", "yes")
    return raw


def _port(name: str, value: object, default: int) -> int:
    if value is None:
        return default
    text = str(value)
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise SettingsError(f"{name}: {text!r} is not a port (1-65535)")
    return int(text)


def _flag(field: str) -> str:
    return f"--{field.replace('_', '-')} / {ENVIRONMENT[field]}"


def _object_refs(field: str, values: list[str] | None) -> tuple[tuple[str, str], ...]:
    refs = []
    for value in values or ():
        namespace, sep, name = value.partition("/")
        valid = all(
            part and part == part.lower() and part.replace("-", "").replace(".", "").isalnum()
            for part in (namespace, name)
        )
        if not sep or not valid:
            raise SettingsError(f"{_flag(field)}: {value!r} is not NAMESPACE/NAME")
        refs.append((namespace, name))
    return tuple(refs)


_ALL_KINDS = ("all", "true")  # "true"/"false": the chart's boolean value
_NO_KINDS = ("none", "false")


def _cluster_kinds(values: list[str] | None) -> frozenset[ClusterKind]:
    kinds: set[ClusterKind] = set()
    for value in values or ():
        word = value.strip().lower()
        if word in _ALL_KINDS:
            kinds.update(CLUSTER_KINDS)
        elif word in CLUSTER_KINDS:
            kinds.add(next(kind for kind in CLUSTER_KINDS if kind == word))
        elif word not in _NO_KINDS:
            raise SettingsError(
                f"{_flag('allow_cluster_addresses')}: {value!r} is not api-server, nodes, "
                "services, all or none"
            )
    return frozenset(kinds)


def settings_from(args: argparse.Namespace) -> RunSettings:
    """Validates everything at start; raises SettingsError naming the flag and its twin."""
    namespaces: tuple[str, ...] = tuple(_value(args, "namespace") or ())
    if namespaces and _value(args, "all_namespaces"):
        raise SettingsError("--namespace and --all-namespaces exclude each other")
    for namespace in namespaces:
        if not namespace.replace("-", "").isalnum() or namespace != namespace.lower():
            raise SettingsError(f"{_flag('namespace')}: {namespace!r} is not a namespace name")
    try:
        cidrs = tuple(parse_network(c) for c in (_value(args, "deny_cidr") or ()))
    except ValueError as exc:
        raise SettingsError(f"{_flag('deny_cidr')}: {exc}") from None
    webhook: WebhookMode = _value(args, "webhook") or "off"
    if webhook not in WEBHOOK_MODES:
        raise SettingsError(f"{_flag('webhook')}: {webhook!r} is not off, warn or deny")
    cert, key = _value(args, "webhook_cert"), _value(args, "webhook_key")
    if webhook != "off":
        if not cert or not key:
            raise SettingsError(
                f"the webhook needs a serving certificate: {_flag('webhook_cert')} and "
                f"{_flag('webhook_key')}"
            )
        for field, path in (("webhook_cert", cert), ("webhook_key", key)):
            if not Path(str(path)).is_file():
                raise SettingsError(f"{_flag(field)}: {path} is not a readable file")
    concurrency = str(_value(args, "max_concurrent_probes") or "20")
    if not concurrency.isdigit() or not 1 <= int(concurrency) <= 1000:
        raise SettingsError(f"{_flag('max_concurrent_probes')}: {concurrency!r} is not 1-1000")
    share = str(
        _value(args, "max_concurrent_probes_per_namespace")
        or default_per_namespace(int(concurrency))
    )
    if not share.isdigit() or not 1 <= int(share) <= int(concurrency):
        raise SettingsError(
            f"{_flag('max_concurrent_probes_per_namespace')}: {share!r} is not 1-{concurrency} "
            "(at most --max-concurrent-probes)"
        )
    minimum = str(_value(args, "min_ingress_timeout") or "3600")
    try:
        min_timeout = float(minimum)
    except ValueError:
        min_timeout = -1
    if min_timeout <= 0:
        raise SettingsError(f"{_flag('min_ingress_timeout')}: {minimum!r} is not a positive number")
    log_format = str(_value(args, "log_format") or "text")
    if log_format not in LOG_FORMATS:
        raise SettingsError(f"{_flag('log_format')}: {log_format!r} is not text or json")
    ports = {
        "metrics_port": _port(_flag("metrics_port"), _value(args, "metrics_port"), 9090),
        "health_port": _port(_flag("health_port"), _value(args, "health_port"), 8080),
        "webhook_port": _port(_flag("webhook_port"), _value(args, "webhook_port"), 9443),
    }
    used = [p for name, p in ports.items() if name != "webhook_port" or webhook != "off"]
    if len(set(used)) != len(used):
        raise SettingsError(f"the metrics, health and webhook ports must differ: {used}")
    peering = _value(args, "peering")
    bind_address = str(_value(args, "bind_address") or "0.0.0.0")  # noqa: S104
    try:
        ipaddress.ip_address(bind_address)
    except ValueError:
        raise SettingsError(
            f"{_flag('bind_address')}: {bind_address!r} is not an IP address (e.g. 0.0.0.0, "
            ":: for both families, 127.0.0.1)"
        ) from None
    return RunSettings(
        namespaces=namespaces,
        allow_private=bool(_value(args, "allow_private")),
        allow_cluster_addresses=_cluster_kinds(_value(args, "allow_cluster_addresses")),
        deny_cidrs=cidrs,
        webhook=webhook,
        webhook_cert=Path(str(cert)) if cert else None,
        webhook_key=Path(str(key)) if key else None,
        max_concurrent_probes=int(concurrency),
        max_concurrent_probes_per_namespace=int(share),
        min_ingress_timeout=min_timeout,
        log_format=log_format,
        peering=str(peering) if peering else None,
        bind_address=bind_address,
        controller_configs=_object_refs("controller_config", _value(args, "controller_config")),
        load_balancer_services=_object_refs(
            "load_balancer_service", _value(args, "load_balancer_service")
        ),
        **ports,
    )
