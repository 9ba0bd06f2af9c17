"""An HTTP server on 127.0.0.1 that answers like a broken or hostile API server (or what sits in front
of one): HTML from a proxy, bytes that are not UTF-8, JSON of the wrong shape, a trickle of one byte at
a time, an answer that announces or streams gigabytes. Each behaviour is a function that writes to the
socket; the server stops its connections when it stops.

    with HostileServer(html_page) as server:
        write_kubeconfig(path, {"bad": server})  # it has .url and .token like FakeApiServer
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable

Behaviour = Callable[[socket.socket, threading.Event], None]

__all__ = [
    "HostileServer",
    "announced_gigabytes",
    "endless_chunks",
    "html_page",
    "json_answer",
    "not_utf8",
    "trickle_body",
    "trickle_headers",
]


JSON = "Content-Type: application/json\r\n"
CLOSE = "Connection: close\r\n"  # it closes after each answer, and says so: the client won't reuse it


def _answer(body: bytes, content_type: str = "application/json", status: str = "200 OK") -> bytes:
    head = f"HTTP/1.1 {status}\r\n{CLOSE}Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def html_page(conn: socket.socket, _stop: threading.Event) -> None:
    """A captive portal or load balancer's page, with 200."""
    conn.sendall(_answer(b"<!DOCTYPE html><html><body><h1>Welcome</h1></body></html>", "text/html"))


def not_utf8(conn: socket.socket, _stop: threading.Event) -> None:
    conn.sendall(_answer(b'{"items": ["\xff\xfe\xfa\x80"]}'))


def json_answer(doc: object) -> Behaviour:
    def send(conn: socket.socket, _stop: threading.Event) -> None:
        conn.sendall(_answer(json.dumps(doc).encode()))

    return send


def trickle_body(interval: float = 0.3) -> Behaviour:
    """Headers at once, then a valid JSON body one byte every ``interval`` seconds (never finishing
    within a test's patience: each read completes within any per-read timeout)."""

    def send(conn: socket.socket, stop: threading.Event) -> None:
        body = json.dumps({"kind": "PodList", "items": [], "padding": "x" * 10_000}).encode()
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        for byte in body:
            if stop.wait(interval):
                return
            conn.sendall(bytes([byte]))

    return send


def trickle_headers(interval: float = 0.3) -> Behaviour:
    """The status line and headers one byte every ``interval`` seconds."""

    def send(conn: socket.socket, stop: threading.Event) -> None:
        for byte in _answer(b"{}") * 100:
            if stop.wait(interval):
                return
            conn.sendall(bytes([byte]))

    return send


def announced_gigabytes(conn: socket.socket, stop: threading.Event) -> None:
    """Content-Length of 10 GB, then zeros for as long as the client reads."""
    conn.sendall(f"HTTP/1.1 200 OK\r\n{CLOSE}{JSON}Content-Length: 10000000000\r\n\r\n".encode())
    while not stop.is_set():
        conn.sendall(b"0" * 65536)


def endless_chunks(conn: socket.socket, stop: threading.Event) -> None:
    """Chunked transfer of a JSON list that never ends (no Content-Length to refuse it by)."""
    conn.sendall(f"HTTP/1.1 200 OK\r\n{CLOSE}{JSON}Transfer-Encoding: chunked\r\n\r\n".encode())
    chunk = b'{"items": [' + b'{"metadata": {"name": "x"}},' * 2000
    while not stop.is_set():
        conn.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        chunk = b'{"metadata": {"name": "x"}},' * 2000


class HostileServer:
    """Accept connections on 127.0.0.1 and answer every request with ``behaviour``."""

    token = None

    def __init__(self, behaviour: Behaviour):
        self.behaviour = behaviour
        self.stop = threading.Event()
        self.requests: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)  # accept() wakes to see the stop (closing does not wake it)
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> HostileServer:
        thread = threading.Thread(target=self._accept, name="hostile-accept", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._listener.close()
        for conn in self._conns:
            conn.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            self._conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), name="hostile-conn", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        try:
            request = b""
            while b"\r\n\r\n" not in request:
                data = conn.recv(65536)
                if not data:
                    return
                request += data
            self.requests.append(request)
            self.behaviour(conn, self.stop)
        except OSError:
            pass  # the client gave up: what a hostile server expects
        finally:
            conn.close()
