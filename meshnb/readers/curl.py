"""Parsers for what meshnb reads back from pods: batched curl output and helloworld responses.

The load-balancing check runs one ``curl`` per batch with the URL repeated, and a ``--write-out``
marker after every transfer (:data:`CURL_WRITE_OUT`), so one exec returns many responses:

>>> out = "Hello version: v2, instance: helloworld-v2-7d4b9\\n\\n@@meshnb@@ 200 0.004512 0 \\n"
>>> [(t.http_status, t.body) for t in parse_curl_batch(out)]
[(200, 'Hello version: v2, instance: helloworld-v2-7d4b9')]
>>> parse_hello("Hello version: v2, instance: helloworld-v2-7d4b9")
('v2', 'helloworld-v2-7d4b9')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from meshnb.errors import ParseError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CURL_MARKER",
    "CURL_WRITE_OUT",
    "ERROR_KINDS",
    "NETWORK_KINDS",
    "RESET_KINDS",
    "Transfer",
    "classify_error",
    "parse_curl_batch",
    "parse_hello",
    "read_curl",
]

CURL_MARKER = "@@meshnb@@"
#: curl --write-out format: status, seconds, curl exit code and curl's error message per transfer.
CURL_WRITE_OUT = "\n" + CURL_MARKER + " %{http_code} %{time_total} %{exitcode} %{errormsg}\n"


_HELLO = re.compile(r"^Hello version: (?P<version>[^,\s]+), instance: (?P<instance>\S+)$")

#: error_kind values and what each means, for tables and next steps.
ERROR_KINDS: dict[str, str] = {
    "tls": "TLS handshake failed between proxies (no shared root, or an mTLS/plaintext mismatch)",
    "connect_failure": "the proxy could not connect upstream (since Envoy 1.38.1, TLS failures look so too)",
    "connect_timeout": "the proxy's upstream connection timed out (often a firewall dropping packets)",
    "timeout": "a timeout: curl's --max-time, Envoy's route timeout (504) or ETIMEDOUT on connect",
    "refused": "connection refused (curl's exit 7, or ECONNREFUSED in Envoy's transport failure reason)",
    "reset": "the connection was reset before a response (Envoy: remote reset, connection termination)",
    "local_reset": "Envoy reset the stream itself (reset reason: local reset)",
    "refused_stream": "a stream was refused, retryable (reset reason: local/remote refused stream reset)",
    "protocol_error": "the upstream's answer did not conform to HTTP (reset reason: protocol error)",
    "connect_error": "a CONNECT request's tunnel failed (reset reason: remote error with CONNECT request)",
    "overload": "Envoy's overload manager reset the stream (reset reason: overload manager reset)",
    "no_healthy_upstream": "the proxy has no healthy endpoint for the service",
    "overflow": "the proxy's circuit breaker rejected the request",
    "dns": "the host name did not resolve",
    "http_error": "the service answered with an HTTP error status",
    "unexpected_body": "an answer that is not helloworld's 'Hello version: …' line",
    "curl_error": "curl failed for another reason",
    "other": "an Envoy error reply meshnb does not know (kept verbatim in the error column)",
}
#: The kinds that are a reset of the stream or connection (Envoy's reset reasons, curl's resets).
RESET_KINDS = frozenset(
    {"reset", "local_reset", "refused_stream", "connect_error", "protocol_error", "overload"}
)
#: The kinds that point at the network rather than at TLS or the application.
NETWORK_KINDS = frozenset({"timeout", "refused", "connect_timeout", "connect_failure"}) | RESET_KINDS


@dataclass(frozen=True)
class Transfer:
    """One curl transfer: its HTTP status (None for 000), body, time and curl's exit code/message."""

    http_status: int | None
    body: str
    seconds: float | None
    curl_exit: int | None
    curl_error: str


def parse_hello(body: str) -> tuple[str, str] | None:
    """``(version, instance)`` from a helloworld answer, or None if the body is not one."""
    match = _HELLO.match(body.strip())
    return (match["version"], match["instance"]) if match else None


def _to_int(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None


def parse_curl_batch(stdout: str) -> list[Transfer]:
    """Split the output of a batched curl into transfers.

    Text after the last marker (a batch cut short) is not a transfer and is dropped. A marker line
    whose fields are not what :data:`CURL_WRITE_OUT` writes raises :class:`ParseError` with the line.
    """
    transfers: list[Transfer] = []
    body: list[str] = []
    prefix = CURL_MARKER + " "
    for lineno, line in enumerate(stdout.splitlines(), start=1):
        if not line.startswith(prefix):
            body.append(line)
            continue
        fields = line[len(prefix) :].split(" ", 3)
        if len(fields) < 3:
            raise ParseError("curl write-out marker with missing fields", line, lineno)
        code, seconds, exitcode = fields[0], fields[1], fields[2]
        if not (len(code) == 3 and code.isascii() and code.isdigit()):
            raise ParseError("curl write-out marker with a bad HTTP status", line, lineno)
        try:
            elapsed = float(seconds.replace(",", "."))
        except ValueError as exc:
            raise ParseError("curl write-out marker with a bad time", line, lineno) from exc
        transfers.append(
            Transfer(
                http_status=int(code) or None,
                body="\n".join(body).strip("\n"),
                seconds=elapsed,
                curl_exit=_to_int(exitcode),
                curl_error=fields[3].strip() if len(fields) > 3 else "",
            )
        )
        body = []
    return transfers


# Envoy's local reply texts (envoyproxy/envoy; see tests/data/real/envoy/README.md for each source):
# the router's "upstream connect error or disconnect/reset before headers. [retried and the latest ]
# reset reason: <Http::Utility::resetReasonToString>[, transport failure reason: <reason>]", where the
# connection's failure reason is "delayed connect error: <errno or strerror>" or a TLS error.
_UPSTREAM_RESET = "upstream connect error or disconnect/reset before headers"
_TLS = re.compile(
    r"TLS[_ ]error|CERTIFICATE_VERIFY_FAILED|TLSV1_ALERT|HTTP_REQUEST|WRONG_VERSION_NUMBER|SSL routines", re.I
)
_RESET_REASON = re.compile(r"reset reason: (?P<reason>[^,]+)")
_DELAYED_CONNECT = re.compile(r"delayed connect error: (?P<error>[^,]+)")
#: errno (Linux) or its strerror text in "delayed connect error: ..." -> kind
_CONNECT_ERRNO = {
    "111": "refused",  # ECONNREFUSED
    "connection refused": "refused",
    "110": "timeout",  # ETIMEDOUT
    "connection timed out": "timeout",
}
#: Http::Utility::resetReasonToString's strings (Envoy 1.2x-1.40) -> kind
_RESET_KINDS = {
    "connection failure": "connect_failure",  # ConnectionFailure (before the split)
    "local connection failure": "connect_failure",  # LocalConnectionFailure
    "remote connection failure": "connect_failure",  # RemoteConnectionFailure
    "connection timeout": "connect_timeout",  # ConnectionTimeout
    "connection termination": "reset",  # ConnectionTermination
    "local reset": "local_reset",  # LocalReset
    "local refused stream reset": "refused_stream",  # LocalRefusedStreamReset
    "overflow": "overflow",  # Overflow
    "remote reset": "reset",  # RemoteReset
    "remote refused stream reset": "refused_stream",  # RemoteRefusedStreamReset
    "remote error with CONNECT request": "connect_error",  # ConnectError
    "protocol error": "protocol_error",  # ProtocolError
    "overload manager reset": "overload",  # OverloadManager
}
_CURL_KINDS = {6: "dns", 7: "refused", 28: "timeout", 35: "tls", 52: "reset", 56: "reset"}


def _envoy_kind(http_status: int, body: str) -> str | None:
    """The kind of one of Envoy's local replies, ``other`` for an unknown one, None if not Envoy's."""
    text = body.strip()
    if text == "no healthy upstream":
        return "no_healthy_upstream"
    if http_status == 504 and text == "upstream request timeout":
        return "timeout"
    if _UPSTREAM_RESET not in text:
        return None
    if _TLS.search(text):
        return "tls"
    connect = _DELAYED_CONNECT.search(text)
    if connect and connect["error"].strip().lower() in _CONNECT_ERRNO:
        return _CONNECT_ERRNO[connect["error"].strip().lower()]
    reason = _RESET_REASON.search(text)
    if reason is None:
        return "other"
    return _RESET_KINDS.get(reason["reason"].strip(), "other")


def classify_error(http_status: int | None, body: str, curl_exit: int | None, curl_error: str) -> str | None:
    """The error kind of one transfer (a key of :data:`ERROR_KINDS`), or None if it is a success.

    >>> classify_error(503, "upstream connect error or disconnect/reset before headers. "
    ...     "reset reason: connection failure, transport failure reason: TLS error: "
    ...     "268435612:SSL routines:OPENSSL_internal:HTTP_REQUEST", 0, "")
    'tls'
    >>> classify_error(503, "upstream connect error or disconnect/reset before headers. "
    ...     "reset reason: connection failure, transport failure reason: delayed connect error: 111", 0, "")
    'refused'
    """
    if curl_exit not in (None, 0):
        return _CURL_KINDS.get(curl_exit, "curl_error")
    if http_status is None:
        return "curl_error"
    if "no healthy upstream" in body:
        return "no_healthy_upstream"
    kind = _envoy_kind(http_status, body)
    if kind is not None:
        return kind
    if _TLS.search(body):
        return "tls"
    if not 200 <= http_status < 300:
        return "http_error"
    if parse_hello(body) is None:
        return "unexpected_body"
    return None


_CURL_FAILED = re.compile(r"^curl: \((?P<exit>\d+)\) (?P<message>.*)$")
_KUBECTL_EXIT = re.compile(r"^command terminated with exit code \d+$")


def _plain_line(line: str) -> tuple[Transfer, str | None]:
    """One line of the guide's loop (``curl -sS helloworld.sample:5000/hello``, one call per line)."""
    failed = _CURL_FAILED.match(line)
    if failed:
        transfer = Transfer(None, "", None, int(failed["exit"]), failed["message"])
        return transfer, classify_error(None, "", transfer.curl_exit, transfer.curl_error)
    if parse_hello(line) is not None:
        return Transfer(None, line, None, 0, ""), None
    kind = classify_error(503, line, 0, "")  # Envoy's local replies come with a 503
    return Transfer(None, line, None, 0, ""), "unexpected_body" if kind == "http_error" else kind


def _error_text(transfer: Transfer, kind: str | None) -> str | None:
    """The error column: curl's message or the body (an ``other`` body whole, others cut to 500)."""
    if kind is None:
        return None
    text = transfer.curl_error or transfer.body
    return text if kind == "other" else text[:500]


def read_curl(text: str | bytes) -> pd.DataFrame:
    """Responses from curl output, as a ``responses`` DataFrame (one row per request).

    Reads the guide's loop (``for i in $(seq 10); do kubectl exec ... -- curl -sS
    helloworld.sample:5000/hello; done``: one answer or ``curl: (N) ...`` error per line; kubectl's
    ``command terminated with exit code N`` lines are skipped) and meshnb's batched output with its
    ``--write-out`` markers (:data:`CURL_WRITE_OUT`, which adds the HTTP status and time).

    >>> df = read_curl("Hello version: v1, instance: helloworld-v1-776f57d5f6-s7zfc\\n"
    ...                "no healthy upstream\\n"
    ...                "curl: (7) Failed to connect to helloworld.sample port 5000 after 1 ms\\n")
    >>> df[["version", "error_kind"]].astype(object).where(df[["version", "error_kind"]].notna(), None
    ...     ).values.tolist()
    [['v1', None], [None, 'no_healthy_upstream'], [None, 'refused']]
    """
    from meshnb.schemas import frame

    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if CURL_MARKER in text:
        pairs = [
            (t, classify_error(t.http_status, t.body, t.curl_exit, t.curl_error))
            for t in parse_curl_batch(text)
        ]
    else:
        lines = (line.strip() for line in text.splitlines())
        pairs = [_plain_line(line) for line in lines if line and not _KUBECTL_EXIT.match(line)]
    rows = []
    for seq, (transfer, kind) in enumerate(pairs, start=1):
        hello = parse_hello(transfer.body) if kind is None else None
        rows.append(
            {
                "seq": seq,
                "http_status": transfer.http_status,
                "version": hello[0] if hello else None,
                "instance": hello[1] if hello else None,
                "error_kind": kind,
                "error": _error_text(transfer, kind),
                "latency_ms": None if transfer.seconds is None else transfer.seconds * 1000.0,
            }
        )
    return frame("responses", rows)
