"""Bounds for the kube backend's HTTP calls: an overall deadline, and a cap on the answer's size.

urllib3's read timeout bounds each socket read, not the call: an API server (or a proxy in front of
it) that sends one byte every two seconds keeps a call alive for days. :func:`deadline` gives a call
a wall-clock limit: the client's connections register with the deadline of the thread that uses
them (:func:`install` gives the client connection classes that do), and when the time is up a timer
shuts their sockets down, which wakes the blocked read at once. :func:`read_body` reads an answer in
pieces and refuses it as soon as it passes the cap (or says, by its Content-Length, that it will).

>>> import time
>>> with deadline(0.05) as watch:
...     time.sleep(0.1)
>>> watch.fired
True
"""

from __future__ import annotations

import contextlib
import functools
import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["MAX_ANSWER_BYTES", "AnswerTooLarge", "Deadline", "deadline", "install", "read_body"]

log = logging.getLogger("meshnb")

#: The largest answer one API call may return (a pod list of a big namespace is tens of MB).
MAX_ANSWER_BYTES = 256 << 20
_PIECE = 1 << 16
_current = threading.local()


class AnswerTooLarge(Exception):
    """An answer over the cap; ``size`` is what was read (or announced) when it was refused."""

    def __init__(self, size: int, limit: int):
        super().__init__(f"answer of {size:,} bytes or more, over the limit of {limit:,}")
        self.size, self.limit = size, limit


class Deadline:
    """The connections one call uses, and whether its time ran out (then their sockets are shut)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.fired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []

    def watch(self, sock: socket.socket | None) -> None:
        """Add a connection's socket (None: not connected), shut at once if the time ran out already."""
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            fired = self.fired
        if fired:
            _shut(sock)

    def fire(self) -> None:
        """End the call's time: mark it fired and shut every watched socket, waking blocked reads."""
        with self._lock:
            self.fired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    """Wake any read blocked on ``sock`` (the base class's shutdown: SSL state is left alone)."""
    with contextlib.suppress(OSError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


@contextmanager
def deadline(seconds: float) -> Iterator[Deadline]:
    """Bound the HTTP calls made in this block on this thread to ``seconds`` in all."""
    watch = Deadline(seconds)
    previous = getattr(_current, "deadline", None)
    _current.deadline = watch
    timer = threading.Timer(seconds, watch.fire)
    timer.daemon = True
    timer.start()
    try:
        yield watch
    finally:
        timer.cancel()
        _current.deadline = previous


def _register(connection: Any) -> None:
    watch = getattr(_current, "deadline", None)
    if watch is not None:
        watch.watch(connection.sock)


@functools.cache
def _connection_classes() -> dict[str, type]:
    """urllib3 pools whose connections join the current deadline when they send a request.

    The socket exists by then, connected by the pool or reused from it.
    """
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class Registers:
        """Join the current deadline on connecting and on sending a request.

        Plain HTTP connects inside ``request``; a request may also go over a connection reused from the
        pool.
        """

        def connect(self) -> None:
            super().connect()  # type: ignore[misc]
            _register(self)

        def request(self, *args: Any, **kwargs: Any) -> None:
            _register(self)
            super().request(*args, **kwargs)  # type: ignore[misc]

    class BoundedHTTPConnection(Registers, HTTPConnection):
        pass

    class BoundedHTTPSConnection(Registers, HTTPSConnection):
        pass

    class BoundedHTTPPool(HTTPConnectionPool):
        ConnectionCls = BoundedHTTPConnection

    class BoundedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = BoundedHTTPSConnection

    return {"http": BoundedHTTPPool, "https": BoundedHTTPSPool}


def install(api_client: Any) -> None:
    """Give ``api_client``'s connection pools the connections that honour :func:`deadline`."""
    import urllib3

    manager = api_client.rest_client.pool_manager
    if type(manager) not in (urllib3.PoolManager, urllib3.ProxyManager):
        log.debug("no overall deadline through %s (only per-read timeouts)", type(manager).__name__)
        return
    manager.clear()
    manager.pool_classes_by_scheme = dict(_connection_classes())


def read_body(response: Any, limit: int = MAX_ANSWER_BYTES) -> bytearray:
    """All of an urllib3 response's body, read a piece at a time; :class:`AnswerTooLarge` past ``limit``.

    The caller closes the response (its connection is not reusable after a refusal).
    """
    announced = response.headers.get("content-length")
    if announced and announced.isdigit() and int(announced) > limit:
        raise AnswerTooLarge(int(announced), limit)
    body = bytearray()
    while True:
        piece = response.read1(_PIECE)
        if not piece:
            return body  # not bytes(body): a copy would cost the answer twice over
        body += piece
        if len(body) > limit:
            raise AnswerTooLarge(len(body), limit)
