"""`EmulatorServer`: the same `Emulator` on a loopback port, and `followflow emulator`.

A stdlib `ThreadingHTTPServer` speaking HTTP/1.1 with keep-alive. Each request becomes an
`httpx.Request` for `Emulator.respond`, so both ways in share one behaviour; the server
only adds what a socket can do and a transport cannot: really dropping the connection
(`reset` fault, sent as a TCP RST) and really holding a response (`slow` fault).
Responses go out in one write with TCP_NODELAY: two small writes on a keep-alive
connection would otherwise meet delayed ACKs and cost ~40 ms a request.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import sys
import threading
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from urllib.parse import urlsplit

import httpx

from followflow.clock import OffsetClock
from followflow.emulator.app import PUBLIC_BASE_URLS, Emulator
from followflow.emulator.world import World

_SKIP_HEADERS = frozenset(("content-length", "transfer-encoding", "connection"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: Emulator
    stopping: threading.Event
    base_url: str

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that goes away mid-request (killed, timed out) is routine here;
        # anything else still gets the stdlib's traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib name)
        return  # quiet: a benchmark makes thousands of requests

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server refuses a malformed request line or an over-long header itself: in
        # X's generic problem shape, as JSON, where it would send Python's HTML page.
        title = HTTPStatus(code).phrase
        body = json.dumps(
            {"title": title, "detail": message or title, "type": "about:blank", "status": code},
            separators=(",", ":"),
        ).encode()
        self.close_connection = True
        # Before the request line is parsed, http.server takes the client for HTTP/0.9 and
        # would send the body with no status line; every client here speaks HTTP/1.x.
        self.request_version = self.protocol_version
        self.send_response(code)
        self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.send_header("connection", "close")
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)

    def __getattr__(self, name: str) -> Callable[[], None]:
        # Every method reaches the emulator, which answers the undeclared ones (TRACE,
        # OPTIONS, ...) like X does, where http.server would send a 501 HTML page.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        # The URL the client signed (OAuth 1.0a) is rebuilt from its Host header, so a
        # signature holds whichever of the server's addresses the client used.
        host = self.headers.get("Host") or urlsplit(self.server.base_url).netloc
        headers = [(k, v) for k, v in self.headers.items() if k.lower() != "content-length"]
        request = httpx.Request(
            self.command, f"http://{host}{self.path}", headers=headers, content=body
        )
        outcome = self.server.emulator.respond(request)
        if outcome.drop:
            # SO_LINGER 0: closing sends RST, which clients see as "connection reset by peer".
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if outcome.delay > 0 and self.server.stopping.wait(outcome.delay):
            self.close_connection = True
            return
        response = outcome.response
        content = response.read()
        status = response.status_code
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [
            f"HTTP/1.1 {status} {reason}",
            f"date: {formatdate(usegmt=True)}",
            "server: followflow-emulator",
        ]
        lines += [
            f"{k}: {v}" for k, v in response.headers.items() if k.lower() not in _SKIP_HEADERS
        ]
        lines.append(f"content-length: {len(content)}")
        if self.close_connection:
            lines.append("connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if self.command == "HEAD" else head + content)
        if outcome.after is not None:
            outcome.after()


class _Server6(_Server):
    address_family = socket.AF_INET6


class EmulatorServer:
    """Serve an `Emulator` on `host` (default 127.0.0.1) from a background thread.

    A context manager. `base_url` names the address served, so a client on another host
    (a network namespace, a container) can use it as it is; a wildcard address (0.0.0.0,
    ::) has no address of its own to name, and gets the loopback one.
    """

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator
        self.host = host
        server_class = _Server6 if ":" in host else _Server
        self._server = server_class((host, port), _Handler)
        self._server.emulator = emulator
        self._server.base_url = self.base_url
        self._server.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def start(self) -> EmulatorServer:
        if self._thread is None:
            self.emulator.set_prefetch(True)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="emulator-server",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, release slow responses, close the socket."""
        self._server.stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
        self.emulator.set_prefetch(False)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def write_manifest(path: Path, manifest: dict[str, object]) -> None:
    """Write the manifest atomically, readable by the owner only (it holds tokens)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


def run_from_cli(
    *,
    host: str,
    port: int,
    seed: int,
    manifest: Path,
    preset: str,
    window_seconds: float,
    day_seconds: float,
    churn: float,
    faults: str | None,
    size: str,
    accounts: int,
    public_base_url: str,
    limits: bool,
) -> None:
    """`followflow emulator`: serve until SIGINT/SIGTERM. ValueError for bad options."""
    bases = tuple(dict.fromkeys((public_base_url.rstrip("/"), *PUBLIC_BASE_URLS)))
    emulator = Emulator(
        World(seed, size, fleet=accounts),
        preset=preset,
        window_seconds=window_seconds,
        day_seconds=day_seconds,
        churn=churn,
        faults=faults,
        clock=OffsetClock(),
        limits=limits,
        public_base_urls=bases,
    )
    try:
        server = EmulatorServer(emulator, host=host, port=port)
    except OSError as error:
        raise ValueError(
            f"cannot listen on {host}:{port}: {error.strerror or error}; pick another "
            "--port, or a --host this machine has (`ip -brief address`)"
        ) from None
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # The process is ours: hand the GIL over sooner (default 5 ms) so a request is not
    # kept waiting behind the background page renderer (prefetch.py).
    sys.setswitchinterval(0.0005)
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    with server:
        write_manifest(manifest, emulator.manifest(server.base_url))
        print(
            f"followflow emulator: serving {server.base_url} (seed {seed}, size {size}, "
            f"{emulator.world.K} owned accounts, preset {preset}, "
            f"limits {'on' if limits else 'off'}); manifest: {manifest}",
            flush=True,
        )
        while not stop.wait(0.5):
            pass
        print("followflow emulator: stopped", file=sys.stderr, flush=True)
    for signum, handler in previous.items():
        signal.signal(signum, handler)
