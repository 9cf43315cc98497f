"""The few WebSocket frames a prober needs after the handshake: close, ping/pong, and reading."""

from __future__ import annotations

import asyncio
import os
import struct
from dataclasses import dataclass

OP_TEXT = 0x1
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
CLOSE_NORMAL = 1000
# Control frames carry at most 125 bytes. Of a data frame only the first KEPT_PAYLOAD
# bytes are kept (enough to recognise a protocol packet); the rest is read and discarded
# in chunks, so a server that streams data cannot make the prober buffer it.
KEPT_PAYLOAD = 4096
_DISCARD_CHUNK = 64 * 1024
# Frames already in the reader's buffer are read without awaiting anything, so a server
# that floods small frames would hold the event loop for as long as the flood lasts: readers
# of many frames yield to the loop every YIELD_EVERY frames, and a discarded payload yields
# after each chunk. With a hundred flooding endpoints probed at once, 32 frames a turn made
# healthy probes beside them twice as slow (the loop's p99 stall 51 ms; 8 frames: 22 ms).
YIELD_EVERY = 8


class FrameError(Exception):
    """The peer sent something that is not a valid server-to-client frame."""


class OversizedFrame(Exception):
    """A data frame whose payload exceeds what the reader may discard; nothing of its
    payload was read, so the stream is no longer at a frame boundary."""

    def __init__(self, length: int) -> None:
        super().__init__(f"a message of {length} bytes")
        self.length = length


class Pacer:
    """Counts frames read in a loop and yields to the event loop every YIELD_EVERY."""

    def __init__(self, every: int = YIELD_EVERY) -> None:
        self._every = every
        self._count = 0

    async def tick(self) -> None:
        self._count += 1
        if self._count % self._every == 0:
            await asyncio.sleep(0)


@dataclass(frozen=True)
class Frame:
    opcode: int
    payload: bytes  # whole for control frames; the first KEPT_PAYLOAD bytes of data frames
    compressed: bool = False  # RSV1: permessage-deflate
    complete: bool = True  # the whole payload was kept
    length: int = -1  # the payload's length on the wire (kept or not)

    @property
    def close_code(self) -> int | None:
        if self.opcode != OP_CLOSE or len(self.payload) < 2:
            return None
        code: int = struct.unpack("!H", self.payload[:2])[0]
        return code


def encode_frame(opcode: int, payload: bytes = b"") -> bytes:
    """A final, masked client frame (RFC 6455 5.3: clients must mask)."""
    if len(payload) > 125:
        raise ValueError("only control-sized payloads are sent by the prober")
    mask = os.urandom(4)
    # XOR as one integer: a byte-by-byte loop was a quarter of the prober's CPU under a
    # ping flood (a pong per ping).
    key = (mask * (len(payload) // 4 + 1))[: len(payload)]
    masked = (int.from_bytes(payload) ^ int.from_bytes(key)).to_bytes(len(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


def close_frame(code: int = CLOSE_NORMAL) -> bytes:
    return encode_frame(OP_CLOSE, struct.pack("!H", code))


def text_frame(text: str) -> bytes:
    return encode_frame(OP_TEXT, text.encode("utf-8"))


# A pong at most this often per connection. Browsers answer every ping; under a ping flood
# that is a write per 127 bytes read, the largest share of the prober's CPU. RFC 6455 5.5.3
# lets an endpoint skip pongs for pings it has not answered yet; a keepalive ping (seconds
# apart) is still answered at once.
PONG_INTERVAL = 0.1


class Ponger:
    """Answers a connection's pings, at most one pong per PONG_INTERVAL."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._last = -PONG_INTERVAL

    async def answer(self, ping: Frame) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._last < PONG_INTERVAL:
            return
        self._last = now
        self._writer.write(encode_frame(OP_PONG, ping.payload))
        await self._writer.drain()


async def read_frame(reader: asyncio.StreamReader, max_discard: int | None = None) -> Frame:
    """Reads one frame. Of a data frame, the payload beyond KEPT_PAYLOAD is discarded, up to
    `max_discard` bytes (None: no limit); a longer one raises OversizedFrame unread."""
    first, second = await reader.readexactly(2)
    opcode = first & 0x0F
    compressed = bool(first & 0x40)
    if second & 0x80:
        raise FrameError("the server masked a frame (servers must not)")
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await reader.readexactly(8))
    if opcode >= 0x8:
        if length > 125:
            raise FrameError("the server sent a control frame longer than 125 bytes")
        return Frame(opcode, await reader.readexactly(length), length=length)
    if max_discard is not None and length - min(length, KEPT_PAYLOAD) > max_discard:
        raise OversizedFrame(length)
    kept = await reader.readexactly(min(length, KEPT_PAYLOAD))
    remaining = length - len(kept)
    while remaining:
        chunk = await reader.readexactly(min(remaining, _DISCARD_CHUNK))
        remaining -= len(chunk)
        await asyncio.sleep(0)  # buffered chunks do not yield by themselves
    return Frame(opcode, kept, compressed, complete=len(kept) == length, length=length)
