"""Istio's helloworld sample, as its ``app.py`` answers: ``python -m testbed.helloworld VERSION``.

``GET /hello`` answers ``Hello version: VERSION, instance: HOSTNAME``; anything else is Flask's 404.
It listens on port 5000 of the pod's network namespace it runs in, as the sample's container does.
"""

from __future__ import annotations

import http.server
import os
import sys


class Hello(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    version = "v1"

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/hello":
            status, body = 200, f"Hello version: {self.version}, instance: {os.environ.get('HOSTNAME', '')}\n"
        else:
            status, body = 404, "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n"
        data = body.encode()
        self.send_response(status)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def main(argv: list[str]) -> None:
    Hello.version = argv[0]
    server = http.server.ThreadingHTTPServer(("0.0.0.0", 5000), Hello)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
