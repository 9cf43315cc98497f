"""The Kubernetes API calls that kopf does not make for us: status writes, Secret reads,
the webhook's reads (IngressClasses, SubjectAccessReviews)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from ..api.models import GROUP, PLURAL, PROBE_CREDENTIAL_LABEL, VERSION
from ..audit import ObjectRef

log = logging.getLogger(__name__)

# Each API call's own limit, where no shorter budget applies (the webhook passes its own).
REQUEST_TIMEOUT = 10.0
# IngressClasses are few and rarely change: the webhook lists them at most this often.
INGRESS_CLASSES_TTL = 10.0


class SecretError(Exception):
    """A referenced Secret cannot be used; the message is the same whatever the cause."""


@dataclass(frozen=True)
class Requester:
    """Who sent an admission request (its userInfo), as a SubjectAccessReview names them."""

    username: str
    uid: str = ""
    groups: Sequence[str] = ()
    extra: Mapping[str, Sequence[str]] = field(default_factory=dict)

    @classmethod
    def from_user_info(cls, user_info: Mapping[str, Any]) -> Requester:
        extra = user_info.get("extra") or {}
        return cls(
            username=str(user_info.get("username") or ""),
            uid=str(user_info.get("uid") or ""),
            groups=tuple(str(g) for g in user_info.get("groups") or ()),
            extra={str(k): tuple(str(v) for v in values) for k, values in extra.items()},
        )


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
        self._authorization = client.AuthorizationV1Api(api_client)
        self._networking = client.NetworkingV1Api(api_client)
        # When the IngressClasses were last listed, and what they were.
        self._ingress_classes: tuple[float, dict[str, dict[str, Any]]] | None = None

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
            _request_timeout=REQUEST_TIMEOUT,
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
                        _request_timeout=REQUEST_TIMEOUT,
                    )
                else:
                    await asyncio.to_thread(
                        self._custom.create_namespaced_custom_object,
                        "kopf.dev",
                        "v1",
                        namespace,
                        "kopfpeerings",
                        body,
                        _request_timeout=REQUEST_TIMEOUT,
                    )
            except ApiException as exc:
                if exc.status != 409:  # 409: it exists already
                    raise

    async def read_object(
        self, ref: ObjectRef, request_timeout: float = REQUEST_TIMEOUT
    ) -> dict[str, Any] | None:
        """A Service, ConfigMap or BackendConfig as a plain dict; None when absent or not
        readable. `request_timeout` bounds the call's thread as well as the wait for it."""
        try:
            if ref.kind in ("Service", "ConfigMap"):
                read = (
                    self._core.read_namespaced_service
                    if ref.kind == "Service"
                    else self._core.read_namespaced_config_map
                )
                obj = await asyncio.to_thread(
                    read, ref.name, ref.namespace, _request_timeout=request_timeout
                )
                return cast(dict[str, Any], self._api_client.sanitize_for_serialization(obj))  # type: ignore[no-untyped-call]
            backend_config = await asyncio.to_thread(
                self._custom.get_namespaced_custom_object,
                "cloud.google.com",
                "v1",
                ref.namespace,
                "backendconfigs",
                ref.name,
                _request_timeout=request_timeout,
            )
            return cast(dict[str, Any], backend_config)
        except ApiException as exc:
            if exc.status in (403, 404):
                return None  # the rule reports it as "not visible"
            raise

    async def secret_value(self, namespace: str, name: str, key: str) -> str:
        """The key's text, from a Secret that opted in (labelled PROBE_CREDENTIAL_LABEL=true).

        Whoever can write a WebSocketEndpoint must not learn from its status whether a
        Secret exists, which keys it has or what it holds, so every failure, a Secret that
        did not opt in included, gives the same SecretError; the operator's log says which.
        The label is checked before the data is looked at: an unlabelled Secret's value is
        never decoded or sent."""
        unavailable = SecretError(
            f"Secret {namespace}/{name} key {key!r} is not available to wsaudit: it does not "
            f"exist, is not labelled {PROBE_CREDENTIAL_LABEL}=true, lacks the key, is not "
            "UTF-8 text, or wsaudit may not read it (RBAC: get on secrets in this namespace); "
            "the operator's log says which. Its owner opts it in with: kubectl label secret "
            f"-n {namespace} {name} {PROBE_CREDENTIAL_LABEL}=true"
        )
        try:
            secret = await asyncio.to_thread(
                self._core.read_namespaced_secret, name, namespace, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            if exc.status in (403, 404):
                log.warning("Secret %s/%s: HTTP %s", namespace, name, exc.status)
                raise unavailable from None
            raise
        labels = (secret.metadata.labels if secret.metadata else None) or {}
        if labels.get(PROBE_CREDENTIAL_LABEL) != "true":
            log.warning(
                "Secret %s/%s is not labelled %s=true: wsaudit does not use it",
                namespace,
                name,
                PROBE_CREDENTIAL_LABEL,
            )
            raise unavailable
        data = secret.data or {}
        if key not in data:
            log.warning("Secret %s/%s has no key %r", namespace, name, key)
            raise unavailable
        try:
            return base64.b64decode(data[key]).decode("utf-8").strip()
        except (binascii.Error, UnicodeDecodeError):
            log.warning("Secret %s/%s key %r is not UTF-8 text", namespace, name, key)
            raise unavailable from None

    async def may_get_secret(
        self, requester: Requester, namespace: str, name: str, request_timeout: float
    ) -> bool:
        """Whether `requester` may get the Secret (a SubjectAccessReview: RBAC and any other
        authorizer of the API server answer). Raises ApiException or urllib3's errors when
        the API server does not answer."""
        review = client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user=requester.username,
                uid=requester.uid or None,
                groups=list(requester.groups) or None,
                extra={k: list(v) for k, v in requester.extra.items()} or None,
                resource_attributes=client.V1ResourceAttributes(
                    namespace=namespace, verb="get", resource="secrets", name=name
                ),
            )
        )
        answer = await asyncio.to_thread(
            self._authorization.create_subject_access_review,
            review,
            _request_timeout=request_timeout,
        )
        return answer.status is not None and bool(answer.status.allowed)

    async def ingress_classes(self, request_timeout: float) -> dict[str, dict[str, Any]]:
        """Every IngressClass by name, listed at most every INGRESS_CLASSES_TTL seconds."""
        now = time.monotonic()
        if self._ingress_classes is not None and now - self._ingress_classes[0] < (
            INGRESS_CLASSES_TTL
        ):
            return self._ingress_classes[1]
        listed = await asyncio.to_thread(
            self._networking.list_ingress_class, _request_timeout=request_timeout
        )
        plain = cast(dict[str, Any], self._api_client.sanitize_for_serialization(listed))  # type: ignore[no-untyped-call]
        classes = {item["metadata"]["name"]: item for item in plain.get("items") or []}
        self._ingress_classes = (now, classes)
        return classes
