"""The idle check: does something between client and server cut a quiet connection?

Proxies and load balancers close WebSocket connections that carry no data for their read
or idle timeout (nginx 60 s, AWS ALB 60 s, GKE 30 s). The check holds an accepted
connection open without sending data, answering the server's pings as a browser would.
"""

from __future__ import annotations

import asyncio
import time

from .frames import OP_CLOSE, OP_PING, FrameError, Pacer, Ponger, read_frame
from .handshake import OpenSocket
from .models import Check, CheckStatus


async def hold_idle(socket: OpenSocket, seconds: float) -> Check:
    started = time.perf_counter()
    pacer = Pacer()
    ponger = Ponger(socket.writer)
    try:
        async with asyncio.timeout(seconds):
            while True:
                await pacer.tick()  # a chatty server must not hold the loop
                frame = await read_frame(socket.reader)
                if frame.opcode == OP_PING:
                    await ponger.answer(frame)
                elif frame.opcode == OP_CLOSE:
                    how = f"a close frame (code {frame.close_code})"
                    break
    except TimeoutError:
        return Check(
            "idle",
            CheckStatus.PASS,
            f"an idle connection stayed open for {seconds:g} s",
            {"heldSeconds": seconds},
        )
    except asyncio.IncompleteReadError:
        how = "the connection closing"
    except (ConnectionError, OSError):
        how = "a connection reset"
    except FrameError as exc:
        how = f"an invalid frame ({exc})"
    held = time.perf_counter() - started
    return Check(
        "idle",
        CheckStatus.FAIL,
        f"an idle connection was cut after {held:.1f} s by {how}, before {seconds:g} s: a "
        "proxy or load balancer in between times out quiet connections (nginx "
        "proxy_read_timeout, 60 s by default: only the read timeout cuts an idle tunnel; ALB "
        "idle timeout 60 s; GKE's backend timeout, 30 s, cuts even busy ones); raise "
        "it, or send pings more often than it",
        {"heldSeconds": round(held, 3), "wantedSeconds": seconds},
    )
