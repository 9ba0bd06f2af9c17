"""The credentials check: each remote secret's kubeconfig tried, read-only, and what it says.

Classification (unit), the simulated mesh's faults (a token without endpointslice rights among them)
as findings and triage causes, the kube backend over real HTTP and TLS against tests/fakeapi.py (a CA
that does not verify the server, a closed port, a server that never answers), and that no token
reaches a table, the JSON, a log line or a message.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import time

import pytest
import yaml
from fakeapi import FakeApiServer, closed_port, write_kubeconfig

import meshnb
from meshnb.backends.base import Secret
from meshnb.backends.remote_api import (
    READER_RIGHTS,
    Attempt,
    RightCheck,
    classify_401,
    finish,
    is_loopback,
    judged,
    read_target,
    try_kubeconfig,
)
from meshnb.diagnostics.credentials import check_credentials, status_of

TOKEN = "credentials-test-token-5c1d9e2f7a"


def _jwt(claims: dict) -> str:
    def b64(doc: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'RS256'})}.{b64(claims)}.c2lnbmF0dXJl"


def _kubeconfig(server: str, token: str = TOKEN, ca: bytes | None = None) -> bytes:
    cluster = {"server": server} | (
        {"certificate-authority-data": base64.b64encode(ca).decode()} if ca else {}
    )
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "remote", "cluster": cluster}],
        "contexts": [{"name": "remote", "context": {"cluster": "remote", "user": "remote"}}],
        "current-context": "remote",
        "users": [{"name": "remote", "user": {"token": token}}],
    }
    return yaml.safe_dump(config).encode()


# ----------------------------------------------------------------------------------------- classification
def test_a_401_is_expired_only_when_the_tokens_own_exp_is_past():
    now = dt.datetime(2026, 12, 3, tzinfo=dt.UTC)
    past, future = (
        _jwt({"exp": int((now + delta).timestamp())})
        for delta in (-dt.timedelta(hours=1), dt.timedelta(hours=1))
    )
    assert classify_401(past, now) == "token-expired"
    assert classify_401(future, now) == "token-rejected"
    assert classify_401("not-a-jwt", now) == "token-rejected"


@pytest.mark.parametrize(
    ("server", "loopback"),
    [
        ("https://127.0.0.1:6443", True),
        ("https://127.8.0.3", True),
        ("https://[::1]:6443", True),
        ("https://localhost:6443", True),
        ("https://10.250.1.2:6443", False),
        ("https://api.example.com", False),
    ],
)
def test_loopback_servers(server, loopback):
    assert is_loopback(server) is loopback


def _answered(*denied: str, loopback: bool = False) -> Attempt:
    rights = tuple(
        RightCheck(right, verb, right.resource not in denied)
        for right in READER_RIGHTS
        for verb in right.verbs
    )
    return judged(
        Attempt("https://10.0.0.1:6443", "ok", answered=True, identity="u", rights=rights, loopback=loopback)
    )


def test_the_rights_decide_the_status():
    assert (_answered().reason, status_of(_answered())) == ("ok", "pass")
    no_slices = _answered("endpointslices")
    assert (no_slices.reason, status_of(no_slices)) == ("forbidden", "fail")
    assert "cannot list or watch endpointslices.discovery.k8s.io" in no_slices.detail
    unneeded = _answered("secrets")  # gateway credentials only: istiod still syncs endpoints
    assert (unneeded.reason, status_of(unneeded)) == ("forbidden", "warn")
    here = _answered(loopback=True)  # a loopback server that answered meshnb on this machine
    assert (here.reason, status_of(here)) == ("ok", "warn") and "loopback" in here.detail
    gone = finish(Attempt("https://127.0.0.1:6443", "unreachable", "connection refused", loopback=True))
    assert (gone.reason, status_of(gone)) == ("server-loopback", "fail")
    for reason in ("token-expired", "token-rejected", "ca-mismatch"):
        assert status_of(Attempt("https://10.0.0.1", reason)) == "fail", reason
    # no answer from here: a warning (istiod runs elsewhere: a private address may answer it)
    assert status_of(Attempt("https://10.0.0.1", "unreachable")) == "warn"


def test_the_resource_list_is_what_istiods_controllers_wait_for():
    needed = {(r.group, r.resource) for r in READER_RIGHTS if r.needed}
    assert needed == {
        ("", "namespaces"),
        ("", "services"),
        ("", "pods"),
        ("discovery.k8s.io", "endpointslices"),
        ("", "nodes"),
    }
    assert all(r.verbs == ("list", "watch") for r in READER_RIGHTS)


def test_a_target_never_shows_its_token():
    target = read_target(_kubeconfig("https://10.0.0.1:6443"))
    assert target.token == TOKEN and TOKEN not in repr(target) and TOKEN not in str(target)
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(target)


def test_credentials_python_cannot_use_from_memory_are_not_tried():
    config = yaml.safe_load(_kubeconfig("https://10.0.0.1:6443"))
    config["users"][0]["user"] = {"client-certificate-data": "Y2VydA==", "client-key-data": "a2V5"}
    attempt = try_kubeconfig(yaml.safe_dump(config).encode())
    assert attempt.reason == "not-tried" and "client certificate" in attempt.detail and not attempt.answered


# ----------------------------------------------------------------------------------------- simulated mesh
SIM = {
    "healthy": ("pass", "ok"),
    "remote-secret-no-endpointslices": ("fail", "forbidden"),
    "reader-role-removed": ("fail", "forbidden"),
    "remote-secret-expired-token": ("fail", "token-expired"),
    "remote-secret-revoked-token": ("fail", "token-rejected"),
    "remote-secret-loopback": ("fail", "server-loopback"),
}


@pytest.mark.parametrize("scenario", sorted(SIM))
def test_each_simulated_fault_is_named_for_the_cluster_holding_the_secret(scenario):
    finding = check_credentials(meshnb.simulate(scenario))
    table = finding.evidence["clusters"].set_index("cluster")
    assert (table.loc["cluster1", "status"], table.loc["cluster1", "reason"]) == SIM[scenario]
    assert (table.loc["cluster2", "status"], table.loc["cluster2", "reason"]) == ("pass", "ok")
    attempts = finding.evidence["attempts"]
    assert set(attempts["remote_cluster"]) == {"cluster1", "cluster2"} and len(attempts) == 2


def test_a_token_without_endpointslice_rights_is_a_finding_and_a_cause_of_its_own():
    mesh = meshnb.simulate("remote-secret-no-endpointslices")
    finding = check_credentials(mesh)
    assert finding.headline == (
        "cluster1's remote secret for cluster2 carries a valid token that cannot list "
        "endpointslices.discovery.k8s.io"
    )
    rights = finding.evidence["rights"]
    mine = rights[rights["cluster"] == "cluster1"]
    assert len(mine) == len(READER_RIGHTS)
    denied = mine[~(mine["list"].astype(bool) & mine["watch"].astype(bool))]
    assert denied[["group", "resource", "list", "watch"]].to_dict("records") == [
        {"group": "discovery.k8s.io", "resource": "endpointslices", "list": False, "watch": False}
    ]
    attempt = finding.evidence["attempts"].set_index("cluster").loc["cluster1"]
    assert attempt["identity"] == "system:serviceaccount:istio-system:istio-reader-no-endpointslices"
    report = meshnb.triage(mesh, requests=30)
    (cause,) = report.diagnosis.causes
    assert (cause.key, cause.clusters) == ("remote-forbidden", ("cluster1",))
    assert "endpointslices.discovery.k8s.io" in cause.title
    assert (
        "`kubectl --context=cluster2 auth can-i list endpointslices.discovery.k8s.io "
        "--as=system:serviceaccount:istio-system:istio-reader-no-endpointslices`" in cause.next_step
    )
    assert (
        "istioctl --context=cluster2 create-remote-secret --name=cluster2 | kubectl --context=cluster1"
        in (cause.next_step)
    )
    # what real istiod logs for it (the remote-secrets check quotes it as evidence)
    assert any("endpointslices.discovery.k8s.io is forbidden" in line for line in cause.evidence)
    assert report.findings["endpoints"].cluster_statuses()["cluster1"] == "fail"


@pytest.mark.parametrize(
    ("scenario", "key"),
    [
        ("remote-secret-expired-token", "remote-token-expired"),
        ("remote-secret-revoked-token", "remote-token-rejected"),
        ("remote-secret-loopback", "remote-server-loopback"),
        ("reader-role-removed", "remote-forbidden"),
    ],
)
def test_triage_names_each_credential_fault_with_its_cluster_and_next_step(scenario, key):
    (cause,) = meshnb.triage(meshnb.simulate(scenario), requests=20).diagnosis.causes
    assert (cause.key, cause.clusters) == (key, ("cluster1",))
    assert "cluster1's remote secret for cluster2" in cause.title and "--context=cluster1" in cause.next_step


def test_by_hand_uses_the_secrets_kubeconfig_through_a_pipe():
    from meshnb.diagnostics.by_hand import commands
    from meshnb.diagnostics.registry import CHECKS

    lines = commands(CHECKS["credentials"], meshnb.simulate())
    assert lines[0] == (
        "kubectl --kubeconfig=<(kubectl --context=cluster1 -n istio-system get secret "
        "istio-remote-secret-cluster2 -o 'jsonpath={.data.cluster2}' | base64 -d) version"
    )
    assert any(line.endswith("auth can-i list endpointslices.discovery.k8s.io") for line in lines)


# ----------------------------------------------------------------------------------------- real HTTP
class Holder:
    """A cluster that holds remote secrets (for a KubeMesh over a FakeApiServer)."""

    def __init__(self, name: str, kubeconfigs: dict[str, bytes]):
        self.name, self.kubeconfigs = name, kubeconfigs

    def list_secrets(self, namespace, label_selector=None):
        return [
            Secret(
                f"istio-remote-secret-{remote}",
                namespace,
                labels={"istio/multiCluster": "true"},
                annotations={"networking.istio.io/cluster": remote},
                data={remote: config},
            )
            for remote, config in self.kubeconfigs.items()
        ]


def _certs(tmp_path):
    """Two CAs; a server certificate for 127.0.0.1 signed by the first. Files: (chain, key), ca, other."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)

    def ca(cn):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(name(cn))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        return key, cert

    ca_key, ca_cert = ca("kube-ca")
    _other_key, other_cert = ca("another-ca")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("kube-apiserver"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    chain, key_file = tmp_path / "server.crt", tmp_path / "server.key"  # the test server's, not meshnb's
    chain.write_bytes(cert.public_bytes(pem))
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return (chain, key_file), ca_cert.public_bytes(pem), other_cert.public_bytes(pem)


def test_over_http_a_valid_token_is_identified_and_every_right_reviewed():
    with FakeApiServer(Holder("remote", {}), token=TOKEN, git_version="v1.34.2-fake") as server:
        attempt = try_kubeconfig(_kubeconfig(server.url))
        assert (attempt.reason, attempt.version, attempt.answered) == ("ok", "v1.34.2-fake", True)
        assert (attempt.identity, attempt.identity_source) == (
            "system:serviceaccount:meshnb:reader",
            "SelfSubjectReview",
        )
        asked = {(r["verb"], r.get("group", ""), r["resource"]) for r in server.reviews}
        assert asked == {(v, r.group, r.resource) for r in READER_RIGHTS for v in r.verbs}
        assert {
            "verb": "list",
            "group": "",
            "resource": "configmaps",
            "namespace": "istio-system",
        } in server.reviews
        assert attempt.loopback  # the fake listens on 127.0.0.1: it answered, istiod elsewhere could not
        server.deny("endpointslices")
        denied = try_kubeconfig(_kubeconfig(server.url))
        assert denied.reason == "forbidden" and {(c.verb, c.right.resource) for c in denied.denied} == {
            ("list", "endpointslices"),
            ("watch", "endpointslices"),
        }


def test_over_http_an_expired_or_revoked_token_is_said_so():
    expired = _jwt(
        {"sub": "system:serviceaccount:istio-system:istio-reader-service-account", "exp": 1_700_000_000}
    )
    with FakeApiServer(Holder("remote", {}), token=TOKEN) as server:
        got = try_kubeconfig(_kubeconfig(server.url, token=expired))
        assert (got.reason, got.identity_source) == ("token-expired", "token sub claim (not verified)")
        assert got.identity == "system:serviceaccount:istio-system:istio-reader-service-account"
        assert got.token_expiry == dt.datetime.fromtimestamp(1_700_000_000, dt.UTC)
        assert (
            try_kubeconfig(_kubeconfig(server.url, token="revoked-opaque-token")).reason == "token-rejected"
        )


def test_a_closed_port_is_unreachable_in_the_systems_words():
    attempt = try_kubeconfig(_kubeconfig(f"https://127.0.0.1:{closed_port()}"))
    assert attempt.reason == "server-loopback" and attempt.detail.endswith("(from here: connection refused)")
    config = _kubeconfig(f"http://127.0.0.1:{closed_port()}")
    assert "connection refused" in try_kubeconfig(config).detail


def test_a_server_that_never_answers_is_given_up_within_the_timeout():
    with FakeApiServer(Holder("remote", {}), token=TOKEN) as server:
        server.hang = "request"
        started = time.monotonic()
        attempt = try_kubeconfig(_kubeconfig(server.url), timeout=1.0)
        elapsed = time.monotonic() - started
    assert attempt.reason == "server-loopback" and "timed out" in attempt.detail
    assert elapsed < 3


def test_tls_with_the_right_ca_verifies_and_with_another_is_ca_mismatch(tmp_path):
    tls, ca, other = _certs(tmp_path)
    with FakeApiServer(Holder("remote", {}), token=TOKEN, tls=tls) as server:
        assert server.url.startswith("https://127.0.0.1:")
        assert try_kubeconfig(_kubeconfig(server.url, ca=ca)).reason == "ok"
        wrong = try_kubeconfig(_kubeconfig(server.url, ca=other))
        assert wrong.reason == "ca-mismatch" and "certificate verify failed" in wrong.detail
        assert not wrong.answered


def test_the_check_on_real_clusters_one_bad_secret_hides_no_other(tmp_path, caplog):
    """Through meshnb.connect: cluster1 holds four secrets (valid, no endpointslices, wrong CA, closed
    port); each is its own row, tried at once, and no token appears anywhere."""
    tls, ca, other = _certs(tmp_path)
    caplog.set_level(logging.DEBUG, logger="meshnb")
    with (
        FakeApiServer(Holder("r-ok", {}), token=TOKEN, tls=tls) as good,
        FakeApiServer(Holder("r-narrow", {}), token=TOKEN, tls=tls) as narrow,
    ):
        narrow.deny("endpointslices")
        secrets = {
            "r-ok": _kubeconfig(good.url, ca=ca),
            "r-narrow": _kubeconfig(narrow.url, ca=ca),
            "r-ca": _kubeconfig(good.url, ca=other),
            "r-closed": _kubeconfig(f"https://127.0.0.1:{closed_port()}", ca=ca),
        }
        with FakeApiServer(Holder("cluster1", secrets), token="admin-token-for-meshnb") as holder:
            path = write_kubeconfig(tmp_path / "config", {"cluster1": holder})
            with meshnb.connect(["cluster1"], path) as mesh:
                finding = check_credentials(mesh)
    attempts = finding.evidence["attempts"].set_index("remote_cluster")
    assert attempts["reason"].to_dict() == {
        "r-ok": "server-loopback",
        "r-narrow": "forbidden",
        "r-ca": "ca-mismatch",
        "r-closed": "server-loopback",
    }
    assert attempts["status"].to_dict() == {
        "r-ok": "warn",
        "r-narrow": "fail",
        "r-ca": "fail",
        "r-closed": "fail",
    }
    assert finding.status == "fail" and finding.evidence["clusters"]["reason"].tolist() == ["ca-mismatch"]
    steps = " ".join(finding.next_steps)
    assert "auth can-i list endpointslices.discovery.k8s.io --as=system:serviceaccount:meshnb:reader" in steps
    # the token in no table, no JSON, no log line, no step, no headline
    shown = [finding.to_json(), finding.headline, steps, caplog.text]
    shown += [table.to_csv() for table in finding.evidence.values()]
    shown += [repr(value) for table in finding.evidence.values() for value in table.to_numpy().ravel()]
    assert not [text for text in shown if TOKEN in text or "admin-token-for-meshnb" in text]


def test_the_simulated_tokens_appear_nowhere(caplog):
    from planted import planted_secrets

    caplog.set_level(logging.DEBUG, logger="meshnb")
    for scenario in SIM:
        mesh = meshnb.simulate(scenario)
        report = meshnb.triage(mesh, requests=10)
        finding = report.findings["credentials"]
        texts = [finding.to_json(), json.dumps(report.diagnosis.to_dict()), caplog.text]
        texts += [t.to_csv() for t in finding.evidence.values()]
        tokens = [
            mesh.pki.token("cluster2", account=a, expired=e)
            for a, e in [
                ("istio-reader-service-account", True),
                ("istio-reader-no-endpointslices", False),
                ("istio-reader-revoked", False),
            ]
        ]
        needles = [n.decode() for n in planted_secrets(mesh)] + tokens + [t.split(".")[2] for t in tokens]
        assert not [n for n in needles for text in texts if n in text], scenario


def test_a_server_that_echoes_the_token_never_gets_it_into_the_attempt():
    """A proxy or a hostile server may quote the Authorization header back: it is blanked out."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Echo(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"kind": "Status", "message": f"bad {self.headers['Authorization']}"}).encode()
            self.send_response(401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        token = _jwt({"sub": "someone", "exp": 1})
        attempt = try_kubeconfig(_kubeconfig(f"http://127.0.0.1:{server.server_address[1]}", token=token))
    finally:
        server.shutdown()
    assert attempt.reason == "token-expired" and "bad Bearer <redacted>" in attempt.detail
    assert token not in repr(attempt) and token.split(".")[1] not in repr(attempt)
