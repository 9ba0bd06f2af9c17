"""The lab's workloads on loopback: helloworld servers that answer like Istio's sample, and blackholes.

A :class:`Helloworld` listens on its pod's IP, port 5000, and answers ``GET /hello`` with
``Hello version: v1, instance: <pod name>`` (404 elsewhere), as ``samples/helloworld`` does; stopping
it closes the socket, so connections are refused (a dead backend). A :class:`Blackhole` is a listening
socket whose accept queue is full: new connections never complete and time out, as behind a firewall
that drops packets.

>>> import urllib.request
>>> server = Helloworld("127.0.0.1", 0, "v1", "helloworld-v1-abc")
>>> urllib.request.urlopen(f"http://127.0.0.1:{server.port}/hello").read()
b'Hello version: v1, instance: helloworld-v1-abc\\n'
>>> server.stop()
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading

__all__ = ["Blackhole", "Helloworld"]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the sample's server
    disable_nagle_algorithm = True  # else every response waits ~40 ms for a delayed ACK
    server_version = "Werkzeug/3.0"  # what the sample's Flask app says
    sys_version = ""
    server: _Server

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/hello":
            status = 200
            body = f"Hello version: {self.server.version}, instance: {self.server.instance}\n".encode()
        else:
            status, body = 404, b"<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n"
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    version = ""
    instance = ""

    def server_activate(self) -> None:
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().server_activate()

    def get_request(self) -> tuple[socket.socket, object]:
        connection, address = super().get_request()
        with self.connections_lock:
            self.connections.add(connection)
        return connection, address

    def shutdown_request(self, request: socket.socket | tuple[bytes, socket.socket]) -> None:
        if isinstance(request, socket.socket):  # always, over TCP
            with self.connections_lock:
                self.connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Reset every open connection, as when the process dies."""
        with self.connections_lock:
            connections, self.connections = list(self.connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class Helloworld:
    """helloworld ``version`` as pod ``instance`` on ``ip:port`` (port 0: any free port)."""

    def __init__(self, ip: str, port: int, version: str, instance: str):
        self.server = _Server((ip, port), _Handler)
        self.server.version, self.server.instance = version, instance
        self.ip, self.port = self.server.server_address[:2]
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.1},
            daemon=True,
            name=f"lab-{instance}",
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop answering: the listening socket and open connections close, new ones are refused."""
        self.server.shutdown()
        self.server.server_close()
        self.server.drop_connections()
        self._thread.join(timeout=5)


class Blackhole:
    """A listener on ``ip:port`` that never completes a connection (SYNs are dropped once full)."""

    def __init__(self, ip: str, port: int):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((ip, port))
        self.listener.listen(0)
        self.ip, self.port = self.listener.getsockname()[:2]
        self._fillers = []
        for _ in range(3):  # fill the accept queue: later connections wait for a SYN-ACK that never comes
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect((self.ip, self.port))
            self._fillers.append(filler)

    def stop(self) -> None:
        """Close the listener and the connections that fill its queue."""
        for sock in [*self._fillers, self.listener]:
            sock.close()
        self._fillers = []
