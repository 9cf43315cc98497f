from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from wsaudit.probe import ProbeConfig, ProbeConfigError
from wsaudit.probe.config import prepare, read_token_file


@pytest.mark.parametrize(
    ("config", "field", "reason"),
    [
        (ProbeConfig(url="wss://a.example", headers=(("Origin", "x"),)), "headers", "Origin"),
        (ProbeConfig(url="wss://a.example", headers=(("Host", "x"),)), "headers", "Host"),
        (ProbeConfig(url="wss://a.example", headers=(("Cookie", "s=1"),)), "headers", "Cookie"),
        (
            ProbeConfig(url="wss://a.example", headers=(("Sec-WebSocket-Key", "x"),)),
            "headers",
            "Sec-WebSocket-Key",
        ),
        (ProbeConfig(url="wss://a.example", headers=(("X-A", "b\r\nHost: c"),)), "headers", "CR"),
        (ProbeConfig(url="wss://a.example", headers=(("Bad Name", "b"),)), "headers", "name"),
        (
            ProbeConfig(url="wss://a.example", allowed_origins=("a.example",)),
            "origins.allowed",
            "not an origin",
        ),
        (ProbeConfig(url="wss://a.example", timeout=0), "timeout", "above 0"),
        (
            ProbeConfig(url="wss://a.example", ca_file="/nonexistent.pem"),
            "--ca-file",
            "cannot read",
        ),
        (ProbeConfig(url="wss://a.example", ca_file="/dev/zero"), "--ca-file", "not a regular"),
        (ProbeConfig(url="wss://a.example", ca_data="garbage"), "tls.ca", "cannot load"),
        (ProbeConfig(url="wss://a.example", headers=(("X-A", "caf\u00e9"),)), "headers", "ASCII"),
        (ProbeConfig(url="wss://a.example", headers=(("X-A", "a\x1bb"),)), "headers", "control"),
        (ProbeConfig(url="wss://a.example", connect_to="a b"), "connectTo", "ADDR"),
        (ProbeConfig(url="ftp://a.example"), "url", "unsupported scheme"),
        (ProbeConfig(url="wss://a.example", bearer_token=" "), "auth.token", "empty"),
        (ProbeConfig(url="wss://a.example", subprotocols=("a b",)), "subprotocols", "token"),
    ],
)
def test_invalid_config_names_the_field(config: ProbeConfig, field: str, reason: str) -> None:
    with pytest.raises(ProbeConfigError, match=reason) as raised:
        prepare(config)
    assert raised.value.field == field


def test_token_becomes_a_bearer_header_and_own_origin_is_the_default() -> None:
    prepared = prepare(ProbeConfig(url="wss://a.example:8443/ws", bearer_token="t0k"))
    assert ("Authorization", "Bearer t0k") in prepared.headers
    assert [str(o) for o in prepared.allowed] == ["https://a.example:8443"]


def test_token_and_ca_files_that_would_hang_or_flood_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    latin = tmp_path / "latin1"
    latin.write_bytes(b"caf\xe9")
    huge = tmp_path / "huge"
    huge.write_bytes(b"a" * (2 * 1024 * 1024))
    for path, reason in (
        (fifo, "not a regular file"),
        (Path("/dev/zero"), "not a regular file"),
        (tmp_path, "not a regular file"),
        (latin, "not UTF-8"),
        (huge, "larger than"),
    ):
        with pytest.raises(ProbeConfigError, match=reason):
            read_token_file(str(path), "--bearer-token-file")
    token = tmp_path / "token"
    token.write_text("  abc.def\n")
    assert read_token_file(str(token), "--bearer-token-file") == "abc.def"


@pytest.mark.parametrize(
    "config",
    [
        ProbeConfig(url="ws://a.example/ws", bearer_token="t0k"),
        ProbeConfig(url="wss://a.example/ws", bearer_token="t0k", insecure_skip_verify=True),
    ],
)
def test_a_token_goes_only_over_verified_tls_unless_allowed(config: ProbeConfig) -> None:
    with pytest.raises(ProbeConfigError, match="readable by anyone on the path") as raised:
        prepare(config)
    assert raised.value.field == "auth"
    allowed = dataclasses.replace(config, insecure_credentials=True)
    assert ("Authorization", "Bearer t0k") in prepare(allowed).headers
