"""Whatever bytes an endpoint answers with, the probe returns a classified result in time."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.servers import ALLOWED, tcp_server
from wsaudit.probe import AddressGuard, CheckStatus, ProbeConfig, probe

pytestmark = pytest.mark.integration

heads = st.one_of(
    st.binary(max_size=400),
    st.builds(
        lambda status, headers, tail: (
            f"HTTP/1.1 {status} X\r\n".encode() + headers + b"\r\n\r\n" + tail
        ),
        st.integers(0, 999),
        st.binary(max_size=200).filter(lambda b: b"\r\n\r\n" not in b),
        st.binary(max_size=100),
    ),
)


async def probe_answering(answer: bytes) -> tuple[float, object]:
    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()

    async with tcp_server(respond) as server:
        started = time.monotonic()
        result = await probe(
            ProbeConfig(url=server.url(), allowed_origins=(ALLOWED,), timeout=2),
            AddressGuard(allow_private=True),
        )
        return time.monotonic() - started, result


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(heads)
def test_any_answer_is_classified_within_the_timeout(answer: bytes) -> None:
    elapsed, result = asyncio.run(probe_answering(answer))
    handshake = result.check("handshake")  # type: ignore[attr-defined]
    assert handshake is not None
    assert handshake.status in (CheckStatus.PASS, CheckStatus.FAIL, CheckStatus.WARN)
    if handshake.status is CheckStatus.FAIL:
        assert result.cause  # type: ignore[attr-defined]
    assert elapsed < 2 + 1.5
