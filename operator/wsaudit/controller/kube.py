"""The Kubernetes API calls that kopf does not make for us: status writes and Secret reads."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from ..api.models import GROUP, PLURAL, VERSION
from ..audit import ObjectRef

log = logging.getLogger(__name__)


class SecretError(Exception):
    """A referenced Secret or key is missing or unreadable; the message says which."""


def _load_configuration() -> client.Configuration:
    configuration = client.Configuration()
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    return configuration


class KubeApi:
    def __init__(self) -> None:
        api_client = client.ApiClient(_load_configuration())
        self._api_client = api_client
        self._custom = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)

    @property
    def api_client(self) -> client.ApiClient:
        """For modules with reads of their own (one connection pool for the process)."""
        return self._api_client

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Merge-patches the status subresource (conditions are replaced as a whole list)."""
        await asyncio.to_thread(
            self._custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            {"status": status},
            _request_timeout=10,
        )

    async def ensure_peering(self, name: str, namespaces: tuple[str, ...]) -> None:
        """Creates the kopf peering object(s) if missing, so that replicas can elect one."""
        for namespace in namespaces or (None,):
            body = {
                "apiVersion": "kopf.dev/v1",
                "kind": "KopfPeering" if namespace else "ClusterKopfPeering",
                "metadata": {"name": name},
            }
            try:
                if namespace is None:
                    await asyncio.to_thread(
                        self._custom.create_cluster_custom_object,
                        "kopf.dev",
                        "v1",
                        "clusterkopfpeerings",
                        body,
                        _request_timeout=10,
                    )
                else:
                    await asyncio.to_thread(
                        self._custom.create_namespaced_custom_object,
                        "kopf.dev",
                        "v1",
                        namespace,
                        "kopfpeerings",
                        body,
                        _request_timeout=10,
                    )
            except ApiException as exc:
                if exc.status != 409:  # 409: it exists already
                    raise

    async def read_object(self, ref: ObjectRef) -> dict[str, Any] | None:
        """A Service, ConfigMap or BackendConfig as a plain dict; None when absent or not
        readable."""
        try:
            if ref.kind in ("Service", "ConfigMap"):
                read = (
                    self._core.read_namespaced_service
                    if ref.kind == "Service"
                    else self._core.read_namespaced_config_map
                )
                obj = await asyncio.to_thread(read, ref.name, ref.namespace, _request_timeout=10)
                return cast(dict[str, Any], self._api_client.sanitize_for_serialization(obj))  # type: ignore[no-untyped-call]
            backend_config = await asyncio.to_thread(
                self._custom.get_namespaced_custom_object,
                "cloud.google.com",
                "v1",
                ref.namespace,
                "backendconfigs",
                ref.name,
                _request_timeout=10,
            )
            return cast(dict[str, Any], backend_config)
        except ApiException as exc:
            if exc.status in (403, 404):
                return None  # the rule reports it as "not visible"
            raise

    async def secret_value(self, namespace: str, name: str, key: str) -> str:
        """The key's text. Every failure gives the same SecretError: whoever can write a
        WebSocketEndpoint must not learn from its status whether a Secret they cannot read
        exists, which keys it has or what it holds. The operator's log says which."""
        unavailable = SecretError(
            f"Secret {namespace}/{name} key {key!r} is not available to wsaudit: it does not "
            "exist, lacks the key, is not UTF-8 text, or wsaudit may not read it (RBAC: get "
            "on secrets in this namespace); the operator's log says which"
        )
        try:
            secret = await asyncio.to_thread(
                self._core.read_namespaced_secret, name, namespace, _request_timeout=10
            )
        except ApiException as exc:
            if exc.status in (403, 404):
                log.warning("Secret %s/%s: HTTP %s", namespace, name, exc.status)
                raise unavailable from None
            raise
        data = secret.data or {}
        if key not in data:
            log.warning("Secret %s/%s has no key %r", namespace, name, key)
            raise unavailable
        try:
            return base64.b64decode(data[key]).decode("utf-8").strip()
        except (binascii.Error, UnicodeDecodeError):
            log.warning("Secret %s/%s key %r is not UTF-8 text", namespace, name, key)
            raise unavailable from None
