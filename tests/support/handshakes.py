"""A WebSocket server's origin policy that times the probes it sees, for e2e tests that
check when the operator probes."""

from __future__ import annotations

import time

from .servers import ALLOWED


class Handshakes:
    """Counts the probes (one handshake with the allowed Origin each) and can be switched
    from accepting every Origin to accepting only the allowed one."""

    def __init__(self, *, open_to_all: bool = False) -> None:
        self.allowed: list[float] = []
        self.open_to_all = open_to_all

    def __call__(self, origin: str | None) -> bool:
        if origin == ALLOWED:
            self.allowed.append(time.monotonic())
        return self.open_to_all or origin == ALLOWED

    def since(self, moment: float) -> int:
        return sum(1 for seen in self.allowed if seen >= moment)
