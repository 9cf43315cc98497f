"""Fair probe concurrency: a global limit, and a share per namespace.

WebSocketEndpoints are written by tenants. With one global semaphore, a namespace full of
endpoints that never answer (tarpits, timeouts up to 2 minutes) holds every slot and delays
everyone's probes. Each namespace may hold at most `per_namespace` of the `total` slots, and
a probe waits for its namespace's share before it takes a global slot, so a namespace at its
limit queues behind itself, never in front of the others.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


def default_per_namespace(total: int) -> int:
    """A quarter of the slots: at most four tenants' slow endpoints together can fill them."""
    return max(1, total // 4)


class FairSlots:
    def __init__(self, total: int, per_namespace: int) -> None:
        self._total = asyncio.Semaphore(total)
        self._per_namespace = per_namespace
        self._namespaces: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @contextlib.asynccontextmanager
    async def slot(self, namespace: str) -> AsyncIterator[None]:
        own, users = self._namespaces.get(namespace, (asyncio.Semaphore(self._per_namespace), 0))
        self._namespaces[namespace] = (own, users + 1)
        try:
            async with own, self._total:
                yield
        finally:
            own, users = self._namespaces[namespace]
            if users == 1:
                del self._namespaces[namespace]  # nothing kept for namespaces gone quiet
            else:
                self._namespaces[namespace] = (own, users - 1)

    def in_use(self, namespace: str) -> int:
        """Slots this namespace holds or waits for (for tests and metrics)."""
        entry = self._namespaces.get(namespace)
        return entry[1] if entry else 0
