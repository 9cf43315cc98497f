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


class FrameError(Exception):
    """The peer sent something that is not a valid server-to-client frame."""


@dataclass(frozen=True)
class Frame:
    opcode: int
    payload: bytes  # whole for control frames; the first KEPT_PAYLOAD bytes of data frames
    compressed: bool = False  # RSV1: permessage-deflate
    complete: bool = True  # the whole payload was kept

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
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


def close_frame(code: int = CLOSE_NORMAL) -> bytes:
    return encode_frame(OP_CLOSE, struct.pack("!H", code))


def text_frame(text: str) -> bytes:
    return encode_frame(OP_TEXT, text.encode("utf-8"))


async def read_frame(reader: asyncio.StreamReader) -> Frame:
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
        return Frame(opcode, await reader.readexactly(length))
    kept = await reader.readexactly(min(length, KEPT_PAYLOAD))
    remaining = length - len(kept)
    while remaining:
        chunk = await reader.readexactly(min(remaining, _DISCARD_CHUNK))
        remaining -= len(chunk)
    return Frame(opcode, kept, compressed, complete=len(kept) == length)
