"""Relay stdin/stdout to a TCP port on loopback: ``python relay.py PORT`` (no imports of the test bed).

kwok runs it, in the pod's network namespace, for each connection of ``kubectl port-forward`` (what
``istioctl`` uses to reach a proxy's admin port or istiod's debug port), as a kubelet would connect to
the pod's port.
"""

from __future__ import annotations

import os
import socket
import sys
import threading


def main(argv: list[str]) -> int:
    sock = socket.create_connection(("127.0.0.1", int(argv[0])), timeout=10)
    sock.settimeout(None)

    def upstream() -> None:
        while data := os.read(0, 65536):
            sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)

    threading.Thread(target=upstream, daemon=True).start()
    while data := sock.recv(65536):
        os.write(1, data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
