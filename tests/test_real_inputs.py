"""The readers on real inputs (tests/data/real/, origins in its README); expected readings from the origin."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

import meshnb
from meshnb.errors import ParseError

REAL = Path(__file__).parent / "data" / "real"


@pytest.mark.parametrize(
    ("name", "addresses"),
    [
        ("guide-endpoint-grep-primary.txt", ["10.0.0.11"]),
        ("guide-endpoint-grep-multi-network.txt", ["10.0.5.11", "10.0.6.13"]),
    ],
)
def test_the_guides_grep_of_istioctl_proxy_config_endpoint(name, addresses):
    """The guide pipes the table through `grep helloworld`, which drops its header line."""
    text = (REAL / "istioctl" / name).read_text()
    df = meshnb.read_endpoints(text, source_cluster="cluster1")
    assert df["address"].tolist() == addresses
    assert df["endpoint_port"].tolist() == [5000] * len(addresses)
    assert df["health"].tolist() == ["HEALTHY"] * len(addresses)
    assert df["outlier_check"].tolist() == ["OK"] * len(addresses)
    assert df["service"].tolist() == ["helloworld.sample.svc.cluster.local"] * len(addresses)
    assert df["port"].tolist() == [5000] * len(addresses)
    # the same rows, indented as a paste often is, read the same
    indented = "\n".join("    " + line for line in text.splitlines())
    assert meshnb.read_endpoints(indented)["address"].tolist() == addresses


def test_a_headerless_row_of_each_layout():
    rows = {
        "10.1.0.4:5000  HEALTHY  OK  outbound|5000||helloworld.sample.svc.cluster.local": (
            "HEALTHY",
            "OK",
            None,
        ),
        "10.1.0.4:5000  HEALTHY  us-west/b  outbound|5000||helloworld.sample.svc.cluster.local": (
            "HEALTHY",
            None,
            "us-west",
        ),
        "10.1.0.4:5000  UNHEALTHY  outbound|5000||helloworld.sample.svc.cluster.local": (
            "UNHEALTHY",
            None,
            None,
        ),
    }
    for row, (health, outlier, region) in rows.items():
        got = meshnb.read_endpoints(row).iloc[0]
        assert got["health"] == health, row
        assert (None if got.isna()["outlier_check"] else got["outlier_check"]) == outlier, row
        assert (None if got.isna()["region"] else got["region"]) == region, row


def test_text_that_is_no_row_is_still_refused_with_its_line():
    with pytest.raises(ParseError, match="line 1"):
        meshnb.read_endpoints("Hello version: v1, instance: helloworld-v1-578dd69f69-j69pf\n")
    with pytest.raises(ParseError, match="nor a row of one"):
        row = "10.0.0.11:5000   HEALTHY   OK   outbound|5000||helloworld.sample.svc.cluster.local"
        meshnb.read_endpoints(row + "\nsomething else\n")


# ---- certificates as people have them (Istio's sample plug-in CA: ../shared/reference-data/istio/certs)

SAMPLE_ROOT = (
    "1.2.840.113549.1.9.1=testrootca@istio.io,CN=Root CA,OU=Test,O=Istio,L=Sunnyvale,ST=California,C=US"
)
CACERTS = ("ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem")


def _sample(reference: Path) -> dict[str, bytes]:
    return {name: (reference / "istio" / "certs" / name).read_bytes() for name in CACERTS}


def _secret(files: dict[str, bytes]) -> dict:
    """The cacerts secret as `kubectl create secret generic cacerts --from-file=...` stores it."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "cacerts", "namespace": "istio-system"},
        "type": "Opaque",
        "data": {name: base64.b64encode(body).decode() for name, body in files.items()},
    }


def test_the_base64_the_guides_diff_compares(reference):
    """`kubectl get secret cacerts -o jsonpath='{.data.root-cert\\.pem}'` prints the data value: base64."""
    files = _sample(reference)
    printed = base64.b64encode(files["root-cert.pem"]).decode()
    df = meshnb.read_certs(printed)
    assert df["subject"].tolist() == [SAMPLE_ROOT]
    assert df.equals(meshnb.read_certs(files["root-cert.pem"]))
    wrapped = "\n".join(printed[i : i + 76] for i in range(0, len(printed), 76)) + "\n"  # as `base64` wraps
    assert meshnb.read_certs(wrapped).equals(df)


@pytest.mark.parametrize("form", ["yaml", "json"])
def test_a_whole_secret_as_kubectl_prints_it(reference, form):
    files = _sample(reference)
    secret = _secret(files)
    text = yaml.safe_dump(secret) if form == "yaml" else json.dumps(secret, indent=4)
    df = meshnb.read_certs(text, cluster="cluster1")
    assert df.attrs["keys_not_read"] == ["ca-key.pem"]
    assert sorted(set(df["key"])) == ["ca-cert.pem", "cert-chain.pem", "root-cert.pem"]
    assert set(df["secret"]) == {"cacerts"} and set(df["cluster"]) == {"cluster1"}
    for name in ("ca-cert.pem", "cert-chain.pem", "root-cert.pem"):
        assert df[df["key"] == name]["sha256"].tolist() == meshnb.read_certs(files[name])["sha256"].tolist()
    shown = df.to_json(date_format="iso") + repr(df) + df.to_html()
    assert "PRIVATE" not in shown and secret["data"]["ca-key.pem"][:40] not in shown


def test_a_private_key_is_refused_and_never_decoded(reference, monkeypatch):
    key = _sample(reference)["ca-key.pem"]
    with pytest.raises(ParseError, match="only a private key") as caught:
        meshnb.read_certs(key)
    assert "PRIVATE" not in str(caught.value.line)
    # its base64 is recognised by the BEGIN line alone: the rest is never decoded
    decoded = []
    real = base64.b64decode

    def spy(data, *args, **kwargs):
        decoded.append(len(data))
        return real(data, *args, **kwargs)

    monkeypatch.setattr(base64, "b64decode", spy)
    printed = base64.b64encode(key).decode()
    with pytest.raises(ParseError, match="base64 of a private key: not decoded"):
        meshnb.read_certs(printed)
    assert decoded and max(decoded) <= 64 < len(printed)
