"""Headless Chromium as the referee of what an attacker's page can really do.

A real browser (Debian's `chromium`) loads a page at each Origin wsaudit tries, over real
TLS (one certificate of the test CA for every name), and the page opens
`new WebSocket("wss://app.example.com/<path>")` exactly as an attacker's page would: the
browser alone decides the Origin and the other headers. Every name resolves to 127.0.0.1
(`--host-resolver-rules`), and the test certificate is trusted by its public key
(`--ignore-certificate-errors-spki-list`). That flag also covers names the certificate
does not list (e.g. wsaudit's `app.example.com_.wsaudit-attacker.example`): whether a
public CA would issue a certificate for a name is not modelled.

Two things serve those names on 127.0.0.1:80 (http), :443 and :8443 (https):

- `attacker_sites`: Debian's nginx, serving the attacker page for every host and proxying
  every other path to the server under test (`proxy_http_version 1.1`, Upgrade and
  Connection forwarded, `Host $http_host`), as a production front does.
- `capture_server`: a raw TCP/TLS server of the tests' own that serves the same page and
  records every request head exactly as it arrived, answering WebSocket handshakes with
  `101` and echoing.

The browser is driven over the DevTools protocol: one page (target) per Origin, one result
per page: `accepted` (open, and the echo came back), `closed-after-upgrade` (open, then a
close or an error packet before the echo), `refused` (no open: the handshake failed),
`no-answer` (nothing within the wait), or `not-producible` (no page can send it: a browser
always sends Origin, Chromium's resolver refuses the name, or mixed content).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from websockets.asyncio.client import ClientConnection, connect

from support.nginx import nginx_running

CHROMIUM = "/usr/bin/chromium"

APP_HOST = "app.example.com"
ALLOWED = f"https://{APP_HOST}"
# Every untrusted Origin wsaudit tries against https://app.example.com that a page can have.
ATTACKER_ORIGINS = (
    "https://wsaudit-foreign.example",
    "null",
    "https://app.example.com.wsaudit-attacker.example",
    "https://wsaudit-attackerexample.com",
    "https://app-example.com",
    "https://wsaudit-attacker.app.example.com",
    "https://wsaudit-attacker.example.com",
    "http://app.example.com",
    "https://app.example.com:8443",
)
PAGE_ORIGINS = (ALLOWED, *ATTACKER_ORIGINS)
HOSTS = tuple(dict.fromkeys(h for o in PAGE_ORIGINS if (h := urlsplit(o).hostname)))
# The sandboxed iframe that produces `Origin: null` sits in a cross-site page, over the
# endpoint's scheme (an https page cannot open ws://).
NULL_ORIGIN_PARENT = {
    "wss": "https://wsaudit-foreign.example",
    "ws": "http://wsaudit-foreign.example",
}
# The schemes served on each loopback port: what the Origins above need.
LISTENERS: dict[int, frozenset[str]] = {
    80: frozenset({"http"}),
    443: frozenset({"https"}),
    8443: frozenset({"https"}),
}
# The capture server tells TLS from plain HTTP by the first byte: both on every port.
ANY_SCHEME = {port: frozenset({"http", "https"}) for port in LISTENERS}

PAGE_PREFIX = "/wsaudit-referee/"
PAGE_PATH = PAGE_PREFIX + "attack.html"
PAGE_WAIT = 5.0  # seconds a page waits for open, echo or close
NAVIGATION_WAIT = 10.0

RESULTS = ("accepted", "closed-after-upgrade", "refused", "no-answer", "not-producible")

_ATTACK_JS = r"""
function wsauditAttack(url, exchange, timeoutMs) {
  return new Promise((resolve) => {
    const events = [];
    const token = "wsaudit-referee-" + Math.random().toString(36).slice(2);
    const echo = exchange === "socketio" ? '42["message","' + token + '"]' : token;
    let opened = false;
    let done = false;
    let ws = null;
    const finish = (result, extra) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try { if (ws) ws.close(); } catch (e) {}
      resolve(Object.assign({result: result, origin: self.origin, opened: opened,
                             events: events, code: null, detail: ""}, extra || {}));
    };
    const timer = setTimeout(() => finish("no-answer", {
      detail: opened ? "open, but no echo within " + timeoutMs + " ms"
                     : "no open, error or close within " + timeoutMs + " ms"}), timeoutMs);
    try {
      ws = new WebSocket(url);
    } catch (e) {
      // Mixed content (an https page and ws://) or a URL the browser rejects: no
      // handshake is ever sent from this page.
      finish("not-producible", {detail: "the WebSocket constructor threw: " + e});
      return;
    }
    ws.onopen = () => {
      opened = true;
      events.push("open");
      if (exchange === "echo") ws.send(token);
    };
    ws.onmessage = (event) => {
      const data = typeof event.data === "string" ? event.data : "(binary)";
      events.push("message " + data.slice(0, 200));
      if (data === echo) { finish("accepted"); return; }
      if (exchange !== "socketio") return;
      if (data.startsWith("0{")) ws.send("40");
      else if (data === "2") ws.send("3");
      else if (data.startsWith("40")) ws.send(echo);
      else if (data.startsWith("44") || data.startsWith("41")) {
        finish("closed-after-upgrade", {detail: "Socket.IO packet " + data.slice(0, 200)});
      }
    };
    ws.onerror = () => { events.push("error"); };
    ws.onclose = (event) => {
      events.push("close " + event.code);
      finish(opened ? "closed-after-upgrade" : "refused",
             {code: event.code, detail: event.reason || ""});
    };
  });
}
"""

_SANDBOX_JS = r"""
function wsauditSandboxed(url, exchange, timeoutMs) {
  return new Promise((resolve) => {
    const frame = document.createElement("iframe");
    frame.setAttribute("sandbox", "allow-scripts");
    const timer = setTimeout(() => resolve({result: "no-answer", origin: null, opened: false,
      events: [], code: null, detail: "the sandboxed frame never reported"}), timeoutMs + 3000);
    addEventListener("message", (event) => {
      if (event.source !== frame.contentWindow) return;
      clearTimeout(timer);
      resolve(event.data);
    });
    const args = JSON.stringify([url, exchange, timeoutMs]);
    const code = document.getElementById("attack").textContent;
    frame.srcdoc = "<script>" + code + "\nwsauditAttack(..." + args +
      ").then((r) => parent.postMessage(r, '*'));<" + "/script>";
    document.body.appendChild(frame);
  });
}
"""

PAGE_HTML = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>wsaudit referee</title>
<script id="attack">{_ATTACK_JS}</script>
<script>{_SANDBOX_JS}</script>
</head><body></body></html>
"""


class HarnessError(RuntimeError):
    """The harness itself did not work (no page, wrong origin): not a verdict."""


@dataclasses.dataclass(frozen=True)
class PageResult:
    """What the browser saw when a page at `origin` opened the WebSocket."""

    origin: str | None
    result: str
    code: int | None = None
    detail: str = ""
    events: tuple[str, ...] = ()

    def __str__(self) -> str:
        code = f" (close {self.code})" if self.code is not None else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.result}{code}{detail}"


# --- certificate ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SiteCertificate:
    """One leaf of the test CA for every host name a page or the endpoint uses."""

    cert_file: Path
    key_file: Path
    spki_sha256: str  # base64, what --ignore-certificate-errors-spki-list takes
    leaf: trustme.LeafCert

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.leaf.configure_cert(context)
        return context


def site_certificate(
    ca: trustme.CA, workdir: Path, hosts: tuple[str, ...] = HOSTS
) -> SiteCertificate:
    workdir.mkdir(parents=True, exist_ok=True)
    leaf = ca.issue_cert(*hosts)
    cert_file, key_file = workdir / "site.pem", workdir / "site.key"
    cert_file.write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key_file))
    certificate = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    spki_hash = base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")
    return SiteCertificate(cert_file, key_file, spki_hash, leaf)


# --- where pages come from -----------------------------------------------------------------


def page_url(origin: str, endpoint: str, served: Mapping[int, frozenset[str]] = LISTENERS) -> str:
    """The attacker page at `origin` ("null": the sandboxed frame's cross-site parent)."""
    if origin == "null":
        origin = NULL_ORIGIN_PARENT[urlsplit(endpoint).scheme]
    parts = urlsplit(origin)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if parts.scheme not in served.get(port, frozenset()):
        raise HarnessError(f"no page is served at {origin}: no {parts.scheme} on port {port}")
    return origin + PAGE_PATH


_HOST_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def chromium_resolves(host: str) -> bool:
    """Whether Chromium's resolver looks `host` up at all.

    Chromium's URL parser accepts hosts such as ``app.example.com`.attacker.example`` or
    ``app.example.com$.attacker.example`` (the URL Standard forbids neither character), but
    its resolver fails every name that is not "canonicalized host compliant" with
    ERR_NAME_NOT_RESOLVED before sending any DNS query: labels of letters, digits, '-' and
    '_', the last label starting with a letter or digit (net::IsCanonicalizedHostCompliant).
    So no page can be served at such a name. test_browser_referee.py proves this against
    Chromium with real DNS (no --host-resolver-rules, whose mapping bypasses the check).
    """
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host.strip("[]"))
        return True
    labels = host.removesuffix(".").split(".")
    if not host or len(host) > 253 or not all(labels):
        return False
    return all(set(label) <= _HOST_LABEL_CHARS for label in labels) and labels[-1][0].isalnum()


@dataclasses.dataclass(frozen=True)
class Sites:
    """nginx serving the attacker pages and fronting the server under test."""

    workdir: Path

    @staticmethod
    def endpoint(path: str, scheme: str = "wss") -> str:
        return f"{scheme}://{APP_HOST}{path}"


@contextlib.contextmanager
def attacker_sites(
    workdir: Path, certificate: SiteCertificate, backend_port: int, backend_scheme: str = "http"
) -> Iterator[Sites]:
    """Runs nginx on 127.0.0.1:80, :443 and :8443 for every host name: the attacker page
    under /wsaudit-referee/, everything else proxied to 127.0.0.1:<backend_port> as a
    production WebSocket front does."""
    root = workdir / "root"
    page = root / PAGE_PATH.lstrip("/")
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(PAGE_HTML)
    listen = "\n".join(
        f"listen 127.0.0.1:{port}{' ssl' if scheme == 'https' else ''} default_server;"
        for port, schemes in LISTENERS.items()
        for scheme in schemes
    )
    http = f"""
        types {{ text/html html; }}
        map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
        server {{
            {listen}
            server_name _;
            ssl_certificate {certificate.cert_file};
            ssl_certificate_key {certificate.key_file};
            location {PAGE_PREFIX} {{
                root {root};
                add_header Cache-Control no-store;
            }}
            location = /favicon.ico {{ return 204; }}
            location / {{
                proxy_pass {backend_scheme}://127.0.0.1:{backend_port};
                proxy_http_version 1.1;
                proxy_set_header Host $http_host;
                proxy_set_header Upgrade $http_upgrade;
                proxy_set_header Connection $connection_upgrade;
                proxy_read_timeout 3600s;
                proxy_send_timeout 3600s;
            }}
        }}
    """
    with nginx_running(workdir, http, list(LISTENERS), worker_connections=256):
        yield Sites(workdir)


# --- the capture server --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CapturedRequest:
    """One request (a WebSocket handshake, or a page load), exactly as it arrived."""

    port: int
    tls: bool
    head: bytes  # request line and headers, CRLF-separated, without the final blank line
    target: str
    headers: tuple[tuple[str, str], ...]  # in order, names as sent

    def header(self, name: str) -> str | None:
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        return ", ".join(values) if values else None

    @property
    def origin(self) -> str | None:
        return self.header("Origin")

    @property
    def upgrade(self) -> bool:
        return (self.header("Upgrade") or "").lower() == "websocket"

    def text(self) -> str:
        scheme = (
            ("wss" if self.tls else "ws") if self.upgrade else ("https" if self.tls else "http")
        )
        return f"[{scheme} on :{self.port}]\n" + self.head.decode("latin-1")


_WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_IO_TIMEOUT = 15.0


class CaptureServer:
    """Plain HTTP and TLS on the same ports (told apart by the first byte): serves the
    attacker page, records every request head, answers WebSocket handshakes with 101 and
    echoes their messages."""

    def __init__(self, certificate: SiteCertificate, ports: tuple[int, ...] = tuple(LISTENERS)):
        self._context = certificate.server_context()
        self._ports = ports
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._requests: list[CapturedRequest] = []
        self._threads: list[threading.Thread] = []
        self._connections: set[socket.socket] = set()
        self._stopped = False

    @property
    def requests(self) -> list[CapturedRequest]:
        with self._lock:
            return list(self._requests)

    def start(self) -> None:
        for port in self._ports:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", port))
            listener.listen(64)
            self._sockets.append(listener)
            thread = threading.Thread(target=self._accept, args=(listener, port), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Closes the listeners and every open connection: a browser must not keep using
        an idle keep-alive connection of a stopped server."""
        with self._lock:
            self._stopped = True
            connections = list(self._connections)
        for sock in [*self._sockets, *connections]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(5)

    def _accept(self, listener: socket.socket, port: int) -> None:
        while True:
            try:
                conn, _peer = listener.accept()
            except OSError:
                return
            with self._lock:
                if self._stopped:
                    conn.close()
                    return
                self._connections.add(conn)
            thread = threading.Thread(target=self._serve, args=(conn, port), daemon=True)
            thread.start()
            with self._lock:
                self._threads.append(thread)

    def _serve(self, conn: socket.socket, port: int) -> None:
        conn.settimeout(_IO_TIMEOUT)
        stream: socket.socket = conn
        try:
            tls = conn.recv(1, socket.MSG_PEEK) == b"\x16"  # a TLS handshake record
            if tls:
                stream = self._context.wrap_socket(conn, server_side=True)  # detaches conn
                with self._lock:
                    self._connections.discard(conn)
                    self._connections.add(stream)
                    if self._stopped:
                        return
            self._http(stream, port, tls)
        except (OSError, ValueError):
            pass
        finally:
            with self._lock:
                self._connections.discard(stream)
            with contextlib.suppress(OSError):
                stream.close()

    def _http(self, stream: socket.socket, port: int, tls: bool) -> None:
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                chunk = stream.recv(65536)
                if not chunk or len(buffer) > 65536:
                    return
                buffer += chunk
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            request_line, *lines = head.decode("latin-1").split("\r\n")
            words = request_line.split(" ")
            target = words[1] if len(words) == 3 else "/"
            headers = tuple(
                (name, value.strip())
                for name, sep, value in (line.partition(":") for line in lines)
                if sep
            )
            request = CapturedRequest(port, tls, head, target, headers)
            with self._lock:
                self._requests.append(request)
            if request.upgrade:
                key = request.header("Sec-WebSocket-Key") or ""
                digest = hashlib.sha1((key + _WEBSOCKET_GUID).encode()).digest()
                stream.sendall(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                    + base64.b64encode(digest)
                    + b"\r\n\r\n"
                )
                _echo_frames(stream, buffer)
                return
            length = int(request.header("Content-Length") or "0")
            while len(buffer) < length:
                chunk = stream.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            buffer = buffer[length:]
            if urlsplit(target).path == PAGE_PATH:
                body, status = PAGE_HTML.encode(), b"200 OK"
            else:
                body, status = b"not found\n", b"404 Not Found"
            stream.sendall(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: text/html; charset=utf-8\r\n"
                b"Cache-Control: no-store\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )


def _echo_frames(stream: socket.socket, buffer: bytes) -> None:
    """Echoes text and binary frames, answers pings and closes (client frames are masked)."""

    def read(n: int) -> bytes:
        nonlocal buffer
        while len(buffer) < n:
            chunk = stream.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            buffer += chunk
        data, buffer = buffer[:n], buffer[n:]
        return data

    while True:
        first, second = read(2)
        opcode, length = first & 0x0F, second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", read(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", read(8))
        mask = read(4) if second & 0x80 else b"\0\0\0\0"
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(read(length)))
        reply = {1: 1, 2: 2, 8: 8, 9: 10}.get(opcode)
        if reply is not None:
            size = len(payload)
            if size < 126:
                header = struct.pack("!BB", 0x80 | reply, size)
            elif size < 65536:
                header = struct.pack("!BBH", 0x80 | reply, 126, size)
            else:
                header = struct.pack("!BBQ", 0x80 | reply, 127, size)
            stream.sendall(header + payload)
        if opcode == 8:
            return


@contextlib.contextmanager
def capture_server(certificate: SiteCertificate) -> Iterator[CaptureServer]:
    server = CaptureServer(certificate)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- real DNS, for what --host-resolver-rules would hide ----------------------------------


class LoopbackDns:
    """A DNS server on 127.77.0.53:53 answering every A query with 127.0.0.1 (others with
    no records), and the files for a mount namespace whose resolver uses it."""

    ADDRESS = "127.77.0.53"  # not 127.0.0.53, where systemd-resolved may listen

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.resolv_conf = workdir / "resolv.conf"
        self.resolv_conf.write_text(f"nameserver {self.ADDRESS}\n")
        self.hosts = workdir / "hosts"
        self.hosts.write_text("127.0.0.1 localhost\n")
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind((self.ADDRESS, 53))
        self._lock = threading.Lock()
        self._queried: list[str] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def queried(self) -> list[str]:
        with self._lock:
            return list(self._queried)

    def namespace_argv(self) -> list[str]:
        """A prefix that runs a command in its own mount namespace with this resolver."""
        script = 'mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/hosts'
        return [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script + ' && shift 2 && exec "$@"',
            "sh",
            str(self.resolv_conf),
            str(self.hosts),
        ]

    def _serve(self) -> None:
        while True:
            try:
                query, peer = self._socket.recvfrom(4096)
            except OSError:
                return
            with contextlib.suppress(IndexError, struct.error, OSError):
                self._socket.sendto(self._answer(query), peer)

    def _answer(self, query: bytes) -> bytes:
        (ident,) = struct.unpack("!H", query[:2])
        offset, labels = 12, []
        while query[offset]:
            size = query[offset]
            labels.append(query[offset + 1 : offset + 1 + size].decode("latin-1"))
            offset += 1 + size
        qtype, _qclass = struct.unpack("!HH", query[offset + 1 : offset + 5])
        question = query[12 : offset + 5]
        with self._lock:
            self._queried.append(".".join(labels))
        if qtype != 1:
            return struct.pack("!HHHHHH", ident, 0x8180, 1, 0, 0, 0) + question
        record = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton("127.0.0.1")
        return struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0) + question + record

    def close(self) -> None:
        self._socket.close()
        self._thread.join(5)


@contextlib.contextmanager
def loopback_dns(workdir: Path) -> Iterator[LoopbackDns]:
    dns = LoopbackDns(workdir)
    try:
        yield dns
    finally:
        dns.close()


def namespaces_available() -> str | None:
    """Why a mount namespace with its own resolv.conf cannot be made here, or None."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return "needs root and unshare(1) for a mount namespace with its own resolv.conf"
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    return f"unshare --mount failed: {done.stderr.strip()}" if done.returncode else None


# --- Chromium ------------------------------------------------------------------------------


def chromium_available() -> bool:
    return os.access(CHROMIUM, os.X_OK)


def ensure_chromium() -> str | None:
    """Installs Chromium the way CI does when it is missing; returns why not, or None."""
    if chromium_available():
        return None
    script = Path(__file__).resolve().parents[2] / "hack" / "install-system-deps.sh"
    try:
        done = subprocess.run(
            ["bash", str(script)], capture_output=True, text=True, timeout=900, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{CHROMIUM} is missing and {script.name} failed: {exc}"
    if chromium_available():
        return None
    return f"{CHROMIUM} is missing and {script.name} could not install it: {done.stderr.strip()}"


@dataclasses.dataclass(frozen=True)
class Chromium:
    process: subprocess.Popen[bytes]
    devtools_url: str
    log: Path


@contextlib.contextmanager
def chromium(
    workdir: Path, certificate: SiteCertificate, dns: LoopbackDns | None = None
) -> Iterator[Chromium]:
    """One headless Chromium, the test certificate trusted; every name resolved to
    loopback by --host-resolver-rules, or, with `dns`, by real DNS lookups in a mount
    namespace. Always killed, with its whole process group, on the way out."""
    workdir.mkdir(parents=True, exist_ok=True)
    profile = Path(tempfile.mkdtemp(prefix="profile-", dir=workdir))
    log = workdir / "chromium.log"
    argv = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        # http://app.example.com must stay http: no automatic upgrade to https.
        "--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable",
        f"--user-data-dir={profile}",
        "--remote-debugging-port=0",
        f"--ignore-certificate-errors-spki-list={certificate.spki_sha256}",
    ]
    if dns is None:
        argv.append("--host-resolver-rules=MAP * 127.0.0.1, EXCLUDE localhost")
    else:
        argv[:0] = dns.namespace_argv()
    argv.append("about:blank")
    with log.open("wb") as output:
        process = subprocess.Popen(
            argv, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while True:
            lines = port_file.read_text().split("\n") if port_file.exists() else []
            if len(lines) >= 2 and lines[0].isdigit() and lines[1].startswith("/devtools/"):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise HarnessError(
                    "Chromium did not start its DevTools endpoint: "
                    + log.read_text(errors="replace")[-3000:]
                )
            time.sleep(0.05)
        yield Chromium(process, f"ws://127.0.0.1:{lines[0]}{lines[1]}", log)
    finally:
        # The process group holds the browser, its zygotes and its renderers.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)
        shutil.rmtree(profile, ignore_errors=True)


class DevToolsError(HarnessError):
    pass


class DevTools:
    """A minimal DevTools protocol client: commands by id, events ignored."""

    def __init__(self, connection: ClientConnection) -> None:
        self._connection = connection
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self._connection:
                message = json.loads(raw)
                future = self._pending.pop(message.get("id", -1), None)
                if future is not None and not future.done():
                    future.set_result(message)
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(DevToolsError("the DevTools connection closed"))

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        seconds: float = NAVIGATION_WAIT,
    ) -> dict[str, Any]:
        self._next_id += 1
        ident = self._next_id
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        await self._connection.send(json.dumps(message))
        try:
            async with asyncio.timeout(seconds):
                reply = await future
        except TimeoutError:
            raise DevToolsError(f"{method}: no answer within {seconds} s") from None
        finally:
            self._pending.pop(ident, None)
        if "error" in reply:
            raise DevToolsError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def close(self) -> None:
        await self._connection.close()
        with contextlib.suppress(Exception):
            await self._reader


class Referee:
    """Opens one page per Origin and reports what the browser saw."""

    def __init__(self, devtools: DevTools, served: Mapping[int, frozenset[str]]) -> None:
        self._devtools = devtools
        self._served = served

    async def attack(
        self, origin: str | None, url: str, exchange: str = "echo", wait: float = PAGE_WAIT
    ) -> PageResult:
        """A page at `origin` opens `url`; `exchange` is `echo` or `socketio`."""
        if origin is None:
            return PageResult(
                None, "not-producible", detail="a browser always sends Origin on a WebSocket"
            )
        target = await self._devtools.call("Target.createTarget", {"url": "about:blank"})
        target_id = target["targetId"]
        try:
            attached = await self._devtools.call(
                "Target.attachToTarget", {"targetId": target_id, "flatten": True}
            )
            async with asyncio.timeout(wait + 3 * NAVIGATION_WAIT):
                return await self._attack(attached["sessionId"], origin, url, exchange, wait)
        except TimeoutError:
            raise HarnessError(f"the page at {origin} did not report in time") from None
        finally:
            with contextlib.suppress(HarnessError):
                await self._devtools.call("Target.closeTarget", {"targetId": target_id})

    async def load(self, url: str) -> str | None:
        """Loads `url` in a fresh page; returns Chromium's network error, or None."""
        target = await self._devtools.call("Target.createTarget", {"url": "about:blank"})
        try:
            attached = await self._devtools.call(
                "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
            )
            navigated = await self._devtools.call(
                "Page.navigate", {"url": url}, attached["sessionId"]
            )
            error: str | None = navigated.get("errorText") or None
            return error
        finally:
            with contextlib.suppress(HarnessError):
                await self._devtools.call("Target.closeTarget", {"targetId": target["targetId"]})

    async def _evaluate(self, session: str, expression: str, seconds: float) -> Any:
        reply = await self._devtools.call(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            session,
            seconds,
        )
        if "exceptionDetails" in reply:
            raise HarnessError(f"{expression[:80]}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    async def _attack(
        self, session: str, origin: str, url: str, exchange: str, wait: float
    ) -> PageResult:
        if origin != "null":
            # Chromium's own URL parser says whether a page can have this origin.
            parsed = await self._evaluate(
                session,
                f"(() => {{ try {{ return new URL({json.dumps(origin)}).origin; }}"
                f" catch (e) {{ return 'invalid URL: ' + e.message; }} }})()",
                NAVIGATION_WAIT,
            )
            if parsed != origin:
                return PageResult(
                    origin,
                    "not-producible",
                    detail=f"Chromium does not accept this origin: new URL() gives {parsed!r}",
                )
            host = urlsplit(origin).hostname or ""
            if not chromium_resolves(host):
                return PageResult(
                    origin,
                    "not-producible",
                    detail=f"Chromium's resolver refuses to look up {host!r} "
                    "(ERR_NAME_NOT_RESOLVED, no DNS query): no page can be served there",
                )
        page = page_url(origin, url, self._served)
        navigated = await self._devtools.call("Page.navigate", {"url": page}, session)
        if navigated.get("errorText"):
            raise HarnessError(f"loading {page} failed: {navigated['errorText']}")
        ready = (
            f"location.href === {json.dumps(page)} && document.readyState === 'complete'"
            " && typeof wsauditAttack === 'function'"
        )
        deadline = time.monotonic() + NAVIGATION_WAIT
        while not await self._evaluate(session, ready, NAVIGATION_WAIT):
            if time.monotonic() > deadline:
                where = await self._evaluate(session, "location.href + ' ' + document.title", 5)
                raise HarnessError(f"{page} did not load the attacker page (got {where})")
            await asyncio.sleep(0.02)
        function = "wsauditSandboxed" if origin == "null" else "wsauditAttack"
        args = ", ".join(json.dumps(a) for a in (url, exchange, int(wait * 1000)))
        value = await self._evaluate(session, f"{function}({args})", wait + NAVIGATION_WAIT)
        if not isinstance(value, dict) or value.get("result") not in RESULTS:
            raise HarnessError(f"the page at {origin} reported {value!r}")
        if value["result"] != "not-producible" and value.get("origin") != origin:
            raise HarnessError(
                f"the page meant to be at {origin} ran at {value.get('origin')!r}: {value}"
            )
        return PageResult(
            origin,
            value["result"],
            value.get("code"),
            str(value.get("detail") or ""),
            tuple(value.get("events") or ()),
        )


@contextlib.asynccontextmanager
async def referee(
    browser: Chromium, served: Mapping[int, frozenset[str]] = LISTENERS
) -> AsyncIterator[Referee]:
    """A DevTools connection to a running Chromium, for the current event loop; `served`:
    the schemes served on each port (nginx: LISTENERS, the capture server: ANY_SCHEME)."""
    connection = await connect(
        browser.devtools_url, max_size=None, ping_interval=None, open_timeout=10
    )
    devtools = DevTools(connection)
    try:
        yield Referee(devtools, served)
    finally:
        await devtools.close()
