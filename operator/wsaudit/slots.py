"""Fair probe concurrency: a global limit, a share per namespace, and free slots handed to the
namespace that holds the fewest.

WebSocketEndpoints are written by tenants. With one global semaphore, a namespace full of
endpoints that never answer (tarpits, timeouts up to 2 minutes) holds every slot and delays
everyone's probes. Each namespace may hold at most `per_namespace` of the `total` slots, so
one such namespace queues behind itself, never in front of the others. Several such
namespaces together can still hold every slot; then each slot that frees goes to the waiting
namespace holding the fewest (among equals, the one served longest ago), not to whichever
probe asked first: a namespace with nothing running waits at most until one slot frees, and
under contention the slots go round the namespaces that want them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


def default_per_namespace(total: int) -> int:
    """A quarter of the slots: one tenant's slow endpoints hold at most that many."""
    return max(1, total // 4)


@dataclass
class _Namespace:
    held: int = 0
    last_served: int = -1  # the grant number of its latest slot; -1: none yet
    waiting: deque[asyncio.Future[None]] = field(default_factory=deque)


class FairSlots:
    def __init__(self, total: int, per_namespace: int) -> None:
        self._free = total
        self._per_namespace = per_namespace
        self._namespaces: dict[str, _Namespace] = {}
        self._grants = itertools.count()

    @contextlib.asynccontextmanager
    async def slot(self, namespace: str) -> AsyncIterator[None]:
        await self._acquire(namespace)
        try:
            yield
        finally:
            self._release(namespace)

    async def _acquire(self, namespace: str) -> None:
        entry = self._namespaces.setdefault(namespace, _Namespace())
        if not any(e.waiting for e in self._namespaces.values()) and self._grantable(entry):
            self._grant(entry)
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry.waiting.append(granted)
        self._dispatch()
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._release(namespace)  # granted as it was cancelled: hand the slot on
            else:
                with contextlib.suppress(ValueError):  # _dispatch may have dropped it already
                    entry.waiting.remove(granted)
                self._forget_if_quiet(namespace)
            raise

    def _release(self, namespace: str) -> None:
        entry = self._namespaces[namespace]
        entry.held -= 1
        self._free += 1
        self._forget_if_quiet(namespace)
        self._dispatch()

    def _grantable(self, entry: _Namespace) -> bool:
        return self._free > 0 and entry.held < self._per_namespace

    def _grant(self, entry: _Namespace) -> None:
        self._free -= 1
        entry.held += 1
        entry.last_served = next(self._grants)

    def _dispatch(self) -> None:
        for entry in self._namespaces.values():  # probes cancelled while waiting
            entry.waiting = deque(w for w in entry.waiting if not w.cancelled())
        while self._free > 0:
            candidates = [e for e in self._namespaces.values() if e.waiting and self._grantable(e)]
            if not candidates:
                return
            chosen = min(candidates, key=lambda e: (e.held, e.last_served))
            self._grant(chosen)
            chosen.waiting.popleft().set_result(None)

    def _forget_if_quiet(self, namespace: str) -> None:
        entry = self._namespaces.get(namespace)
        if entry is not None and entry.held == 0 and not entry.waiting:
            del self._namespaces[namespace]  # nothing kept for namespaces gone quiet

    def in_use(self, namespace: str) -> int:
        """Slots this namespace holds or waits for (for tests and metrics)."""
        entry = self._namespaces.get(namespace)
        return entry.held + len(entry.waiting) if entry else 0
