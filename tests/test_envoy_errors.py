"""Envoy's real error bodies (tests/data/real/envoy), each with the kind Envoy's source gives it."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshnb.readers.curl import ERROR_KINDS, classify_error, read_curl

ENVOY = Path(__file__).parent / "data" / "real" / "envoy"
PREFIX = "upstream connect error or disconnect/reset before headers. reset reason: "

REAL = {  # file -> kind, derived in tests/data/real/envoy/README.md
    "istio-39758-delayed-111.txt": "refused",
    "istio-46431-delayed-113.txt": "connect_failure",
    "istio-47052-connection-termination.txt": "reset",
    "istio-35378-protocol-error.txt": "protocol_error",
    "istio-31314-local-reset.txt": "local_reset",
    "istio-22651-connection-failure.txt": "connect_failure",
}


@pytest.mark.parametrize(("name", "kind"), sorted(REAL.items()))
def test_real_body(name, kind):
    body = (ENVOY / name).read_text().strip()
    assert classify_error(503, body, 0, "") == kind
    assert kind in ERROR_KINDS


def test_every_file_is_tested():
    assert {p.name for p in ENVOY.glob("istio-*.txt")} == set(REAL)  # envoy-*: /clusters outputs


@pytest.mark.parametrize(
    ("reason", "kind"),
    [  # Http::Utility::resetReasonToString, every string it returns
        ("connection failure", "connect_failure"),
        ("local connection failure", "connect_failure"),
        ("remote connection failure", "connect_failure"),
        ("connection timeout", "connect_timeout"),
        ("connection termination", "reset"),
        ("local reset", "local_reset"),
        ("local refused stream reset", "refused_stream"),
        ("overflow", "overflow"),
        ("remote reset", "reset"),
        ("remote refused stream reset", "refused_stream"),
        ("remote error with CONNECT request", "connect_error"),
        ("protocol error", "protocol_error"),
        ("overload manager reset", "overload"),
        ("something Envoy 1.41 adds", "other"),
    ],
)
def test_reset_reasons(reason, kind):
    assert classify_error(503, PREFIX + reason, 0, "") == kind
    assert kind in ERROR_KINDS


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        ("delayed connect error: 111", "refused"),  # ECONNREFUSED
        ("delayed connect error: Connection refused", "refused"),
        ("delayed connect error: 110", "timeout"),  # ETIMEDOUT
        ("delayed connect error: 113", "connect_failure"),  # EHOSTUNREACH: the reset reason decides
        ("TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end", "tls"),
        ("TLS error: 268435703:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER", "tls"),
    ],
)
def test_transport_failure_reasons(failure, kind):
    body = PREFIX + "connection failure, transport failure reason: " + failure
    assert classify_error(503, body, 0, "") == kind


def test_router_local_replies():
    assert classify_error(504, "upstream request timeout", 0, "") == "timeout"
    assert classify_error(503, "no healthy upstream", 0, "") == "no_healthy_upstream"


def test_unknown_envoy_reply_is_other_and_kept_whole():
    body = PREFIX + "x" * 600
    df = read_curl(body + "\n@@meshnb@@ 503 0.01 0 \n")
    assert df["error_kind"].tolist() == ["other"]
    assert df["error"].tolist() == [body]
