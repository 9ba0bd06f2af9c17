"""Parsers of curl output and helloworld responses, against Envoy's real error texts."""

from __future__ import annotations

import re

import pytest

from meshnb.errors import ParseError
from meshnb.readers.curl import ERROR_KINDS, classify_error, parse_curl_batch, parse_hello

GUIDE_TLS = (
    "upstream connect error or disconnect/reset before headers. reset reason: connection failure, "
    "transport failure reason: TLS error: 268435612:SSL routines:OPENSSL_internal:HTTP_REQUEST"
)
GUIDE_TLS_OLD_LOCAL = (
    "upstream connect error or disconnect/reset before headers. reset reason: local reset, transport "
    "failure reason: TLS error: 268435612:SSL routines:OPENSSL_internal:HTTP_REQUEST"
)


def _reference_bodies(path) -> list[str]:
    """The response bodies in an envoy-tls-errors*.txt file (lines between '== port' and '[http ...]')."""
    bodies, current = [], None
    for line in path.read_text().splitlines():
        if line.startswith("== port"):
            current = []
        elif line.startswith("[http ") and current is not None:
            assert line == "[http 503]"
            bodies.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return bodies


def test_hello_lines():
    assert parse_hello("Hello version: v2, instance: helloworld-v2-758dd55874-6x4t8\n") == (
        "v2",
        "helloworld-v2-758dd55874-6x4t8",
    )
    assert parse_hello("Hello version: v1, instance: helloworld-v1-1") == ("v1", "helloworld-v1-1")
    for garbage in ["", "Hello", "Hello version: , instance: x", "hello version: v1, instance: x", "<html>"]:
        assert parse_hello(garbage) is None


def test_envoy_default_tls_failure_is_a_connect_failure(reference):
    bodies = _reference_bodies(reference / "envoy-1.40" / "envoy-tls-errors.txt")
    assert len(bodies) == 3
    for body in bodies:
        assert classify_error(503, body, 0, "") == "connect_failure"


def test_envoy_verbose_tls_failure_is_tls(reference):
    bodies = _reference_bodies(reference / "envoy-1.40" / "envoy-tls-errors-verbose.txt")
    assert len(bodies) == 3
    assert any("CERTIFICATE_VERIFY_FAILED" in b for b in bodies)
    assert any("TLSV1_ALERT_UNKNOWN_CA" in b for b in bodies)
    for body in bodies:
        assert classify_error(503, body, 0, "") == "tls"


@pytest.mark.parametrize("body", [GUIDE_TLS, GUIDE_TLS_OLD_LOCAL])
def test_guide_tls_error_forms(body):
    assert classify_error(503, body, 0, "") == "tls"


@pytest.mark.parametrize(
    ("status", "body", "curl_exit", "kind"),
    [
        (200, "Hello version: v1, instance: helloworld-v1-abc", 0, None),
        (
            503,
            "upstream connect error or disconnect/reset before headers. reset reason: connection timeout",
            0,
            "connect_timeout",
        ),
        (
            503,
            "upstream connect error or disconnect/reset before headers. reset reason: overflow",
            0,
            "overflow",
        ),
        (
            503,
            "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
            0,
            "reset",
        ),
        (503, "no healthy upstream", 0, "no_healthy_upstream"),
        (404, "<!doctype html><title>404 Not Found</title>", 0, "http_error"),
        (200, "<html>something else</html>", 0, "unexpected_body"),
        (None, "", 6, "dns"),
        (None, "", 7, "refused"),
        (None, "", 28, "timeout"),
        (None, "", 56, "reset"),
        (None, "", 99, "curl_error"),
    ],
)
def test_classify(status, body, curl_exit, kind):
    assert classify_error(status, body, curl_exit, "") == kind
    assert kind is None or kind in ERROR_KINDS


@pytest.mark.parametrize(
    "line", ["@@meshnb@@ ", "@@meshnb@@ 2x0 0.1 0 ", "@@meshnb@@ 200 fast 0 ", "@@meshnb@@ 200"]
)
def test_malformed_marker_raises_parse_error_with_the_line(line):
    with pytest.raises(ParseError, match=re.escape(repr(line))) as info:
        parse_curl_batch("body\n" + line + "\n")
    assert info.value.lineno == 2


def test_old_curl_without_exitcode_variable():
    transfers = parse_curl_batch(
        "Hello version: v1, instance: a\n@@meshnb@@ 200 0.01 %{exitcode} %{errormsg}\n"
    )
    assert transfers[0].curl_exit is None
    assert classify_error(transfers[0].http_status, transfers[0].body, transfers[0].curl_exit, "") is None
