"""What a server does right after 101 Switching Protocols: keep the socket, or refuse late.

RFC 6455 wants a refusal in the handshake, but many stacks answer 101 to everyone and
refuse afterwards: express-ws answers 101 before its route middleware runs, so a
middleware's 403 becomes a close frame without a code (1005), as does a path with no
`app.ws` route (express-ws 5.0.2 lib/index.js 79-95); user code closes with 1008; Socket.IO
namespace middleware (`io.use`) answers the client's connect packet with a `44`
connect_error and leaves the socket open (socket.io 4.8.4 dist/namespace.js 221-240). A
browser page sees `open` first, then the close: that is a refusal, not an accepted Origin,
and not a healthy handshake for the allowed one. So each accepted connection is held for a
short, bounded time and what arrives is read: a close frame, a protocol packet, data, or
silence.
"""

from __future__ import annotations

import asyncio
import enum
import zlib
from dataclasses import dataclass

from .frames import (
    KEPT_PAYLOAD,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Frame,
    FrameError,
    OversizedFrame,
    Pacer,
    Ponger,
    read_frame,
    text_frame,
)

# How long an accepted connection is watched. Late refusals come at once (a middleware
# that runs before any handler); long enough for a round trip, short enough that ten
# Origin cases add well under a second to a probe.
HOLD_SECONDS = 0.5
# A server that floods frames gets a verdict, not the event loop: at most MAX_FRAMES frames
# and MAX_WATCH_BYTES of payload are read per watch, yielding to the loop as they go.
MAX_FRAMES = 256
MAX_WATCH_BYTES = 1024 * 1024
_INFLATE_LIMIT = 4096


class Seen(enum.StrEnum):
    """The first telling thing after the upgrade."""

    SILENCE = "silence"  # nothing during the hold: the socket is open, waiting for the client
    DATA = "data"  # the server sent a message (a greeting, a protocol's connect answer)
    CLOSE = "close"  # a close frame
    DISCONNECT = "disconnect"  # TCP closed or reset without a close frame
    ERROR_PACKET = "error-packet"  # a protocol-level refusal (Socket.IO connect_error)
    INVALID = "invalid"  # frames no browser accepts (masked, oversized control frames, flood)


@dataclass(frozen=True)
class AfterUpgrade:
    seen: Seen
    close_code: int | None = None
    detail: str = ""
    protocol: str | None = None  # "socket.io" when the Engine.IO open packet was seen

    @property
    def kept_open(self) -> bool:
        return self.seen in (Seen.SILENCE, Seen.DATA)

    def describe(self) -> str:
        match self.seen:
            case Seen.CLOSE:
                code = f" {self.close_code}" if self.close_code is not None else " (no code)"
                after = f" {self.detail}" if self.detail else ""
                return f"a close frame{code}{_close_meaning(self.close_code)}{after}"
            case Seen.DISCONNECT:
                return "the connection closing without a close frame"
            case Seen.ERROR_PACKET | Seen.INVALID:
                return self.detail
        return "an open connection"


_CLOSE_MEANINGS = {
    1002: "protocol error",
    1003: "unsupported data",
    1008: "policy violation: an origin or authentication check",
    1011: "server error",
    4001: "unauthorised",
    4003: "forbidden",
    4401: "unauthorised",
    4403: "forbidden",
}


def _close_meaning(code: int | None) -> str:
    meaning = _CLOSE_MEANINGS.get(code or 0)
    return f" ({meaning})" if meaning else ""


def _is_engineio_open(packet: bytes) -> bool:
    """Engine.IO's open packet: `0{"sid":...,"pingInterval":...}` (protocol v3 and v4)."""
    return packet.startswith(b'0{"sid"') or (
        packet.startswith(b"0{") and b'"pingInterval"' in packet
    )


class _Inflater:
    """permessage-deflate payloads, inflated only as far as a packet needs to be read."""

    def __init__(self) -> None:
        self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)

    def packet(self, frame: Frame) -> bytes:
        if not frame.compressed:
            return frame.payload
        if not frame.complete:
            return b""
        try:
            return self._inflate.decompress(frame.payload + b"\x00\x00\xff\xff", _INFLATE_LIMIT)
        except zlib.error:
            return b""


async def watch(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seconds: float
) -> AfterUpgrade:
    """Reads what the server sends for up to `seconds`, answering pings as a browser would
    and Engine.IO's open packet with Socket.IO's namespace connect (`40`). Data does not
    end the watch: an error message followed by a close is a refusal too."""
    inflater = _Inflater()
    protocol: str | None = None
    talked = False  # the server sent a message (or Socket.IO connected)
    budget = MAX_WATCH_BYTES
    pacer = Pacer()
    ponger = Ponger(writer)
    try:
        async with asyncio.timeout(seconds):
            for _ in range(MAX_FRAMES):
                await pacer.tick()
                frame = await read_frame(reader, max_discard=budget)
                budget = max(0, budget - max(0, frame.length - KEPT_PAYLOAD))
                if frame.opcode == OP_CLOSE:
                    return AfterUpgrade(
                        Seen.CLOSE,
                        frame.close_code,
                        detail="after a message" if talked else "",
                        protocol=protocol,
                    )
                if frame.opcode == OP_PING:
                    await ponger.answer(frame)
                    continue
                if frame.opcode == OP_PONG or frame.opcode >= OP_CLOSE:
                    continue
                packet = inflater.packet(frame) if frame.opcode == OP_TEXT else b""
                if protocol is None and _is_engineio_open(packet):
                    protocol = "socket.io"
                    writer.write(text_frame("40"))
                    await writer.drain()
                    continue
                refusal = _socketio_refusal(packet) if protocol else None
                if refusal is not None:
                    return refusal
                talked = True
            if talked:  # a busy stream, not a flood: the socket is open and talking
                return AfterUpgrade(Seen.DATA, protocol=protocol)
            return AfterUpgrade(
                Seen.INVALID, detail=f"a flood of more than {MAX_FRAMES} control frames at once"
            )
    except TimeoutError:
        return AfterUpgrade(Seen.DATA if talked else Seen.SILENCE, protocol=protocol)
    except OversizedFrame:
        # A valid message too long to skip in a watch: the server is talking, the socket
        # is open (and no longer readable frame by frame, so it is closed, not drained).
        return AfterUpgrade(Seen.DATA, protocol=protocol)
    except FrameError as exc:
        return AfterUpgrade(Seen.INVALID, detail=f"an invalid frame ({exc})", protocol=protocol)
    except (asyncio.IncompleteReadError, ConnectionError, OSError):
        return AfterUpgrade(Seen.DISCONNECT, protocol=protocol)


def _socketio_refusal(packet: bytes) -> AfterUpgrade | None:
    """A Socket.IO refusal: `44{...}` connect_error (namespace middleware refused), `41`
    disconnect, `1` Engine.IO close. `40{...}` (connected) and pings are not."""
    if packet.startswith(b"44"):
        return AfterUpgrade(
            Seen.ERROR_PACKET,
            detail="a Socket.IO connect_error packet (44): namespace middleware (io.use) "
            "refused the connection",
            protocol="socket.io",
        )
    if packet.startswith((b"41", b"1")):
        return AfterUpgrade(
            Seen.ERROR_PACKET,
            detail="a Socket.IO disconnect (41) or Engine.IO close (1) packet",
            protocol="socket.io",
        )
    return None
