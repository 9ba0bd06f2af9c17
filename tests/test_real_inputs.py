"""The readers on real inputs (tests/data/real/, origins in its README); expected readings from the origin."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pandas as pd
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

# as `openssl x509 -noout -subject -nameopt RFC2253` prints it (certs/istio-sample-root-cert.openssl.txt)
SAMPLE_ROOT = "emailAddress=testrootca@istio.io,CN=Root CA,OU=Test,O=Istio,L=Sunnyvale,ST=California,C=US"
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


# ---- istioctl proxy-config endpoint at every release line (tests/data/real/istioctl, origins in README)

ISTIOCTL = REAL / "istioctl"
ENVOY = REAL / "envoy"
SHARED_EDS = Path(__file__).resolve().parents[2] / "shared" / "reference-data" / "istio" / "istioctl-endpoint"
KEY_COLUMNS = ["envoy_cluster", "address", "endpoint_port", "health"]


def _rows(df, columns=KEY_COLUMNS) -> list[tuple]:
    return [tuple(None if pd.isna(v) else v for v in row) for row in df[columns].astype(object).values]


def _table_words(text: str) -> list[list[str]]:
    """The golden's rows as words (its first line is the header), read here straight from the file."""
    return [line.split() for line in text.splitlines()[1:] if line.strip()]


@pytest.mark.parametrize(
    ("summary", "clusters", "header"),
    [
        ("live-52cef80-clustersummary.txt", "live-52cef80-clusters.json", "ENDPOINT CLUSTER"),
        ("live-1.1.0-clustersummary.txt", "live-1.1.0-clusters.json", "ENDPOINT STATUS CLUSTER"),
        (
            "live-1.5.0-clustersummary.txt",
            "live-1.5.0-clusters.json",
            "ENDPOINT STATUS OUTLIER CHECK CLUSTER",
        ),
    ],
)
def test_every_live_table_layout_reads_as_the_json_it_was_printed_from(summary, clusters, header):
    """istioctl's own golden: the table `PrintEndpointsSummary` printed from that /clusters JSON."""
    text = (ISTIOCTL / summary).read_text()
    assert " ".join(text.splitlines()[0].split()) == header
    table = meshnb.read_endpoints(text)
    words = _table_words(text)
    assert table["envoy_cluster"].tolist() == [w[-1] for w in words]
    if "STATUS" in header:
        assert table["health"].tolist() == [w[1] for w in words]
    else:
        assert table["health"].isna().all()  # the table does not say it
    if "OUTLIER" in header:
        assert table["outlier_check"].tolist() == [w[2] for w in words]
    else:
        assert table["outlier_check"].isna().all()
    assert table["weight"].isna().all()  # no table prints a weight
    # the same endpoints as the JSON the writer was primed with (its test's input)
    live = meshnb.read_endpoints((ISTIOCTL / clusters).read_text())
    columns = ["envoy_cluster", "address", "endpoint_port"] + (["health"] if "STATUS" in header else [])
    columns += ["outlier_check"] if "OUTLIER" in header else []
    assert sorted(_rows(table, columns)) == sorted(_rows(live, columns))
    # the same rows, indented and without the header (a paste, or the guide's grep)
    body = "\n".join("   " + line for line in text.splitlines()[1:])
    if "STATUS" in header:
        assert _rows(meshnb.read_endpoints(body)) == _rows(table)


def test_the_live_table_of_1_5_says_the_outlier_check_and_the_pipe():
    df = meshnb.read_endpoints((ISTIOCTL / "live-1.5.0-clustersummary.txt").read_text())
    failed = df[df["outlier_check"] == "FAILED"]
    assert _rows(failed) == [
        ("outbound|9080||reviews.default.svc.cluster.local", "172.17.0.27", 9080, "HEALTHY")
    ]
    pipe = df[df["envoy_cluster"] == "inbound_9092"]  # printed as unix:///sock/mixer.socket
    assert _rows(pipe) == [("inbound_9092", "/sock/mixer.socket", None, "HEALTHY")]


def test_a_missing_weight_is_na_not_zero():
    """Envoy 1.1-1.5's /clusters JSON in istioctl's testdata mostly has no `weight`: unknown, so NA."""
    text = (ISTIOCTL / "live-1.5.0-clusters.json").read_text()
    doc = json.loads(text)
    weights = [
        host.get("weight")
        for cluster in doc["cluster_statuses"]
        for host in cluster.get("hostStatuses", cluster.get("host_statuses", []))
    ]
    assert None in weights and 1 in weights
    df = meshnb.read_endpoints(text)
    assert [None if pd.isna(w) else w for w in df["weight"]] == weights
    # `-o json` of the same (istioctl's clustersnofiltered golden) reads the same
    listed = meshnb.read_endpoints((ISTIOCTL / "live-1.5.0-clustersnofiltered.txt").read_text())
    columns = [*KEY_COLUMNS, "outlier_check"]
    assert sorted(_rows(listed, columns)) == sorted(_rows(df, columns))


def test_the_eds_table_of_1_15_to_1_18_reads_as_the_later_one():
    """`ENDPOINT STATUS LOCALITY CLUSTER` (1.15-1.18) became `NAME STATUS LOCALITY CLUSTER` (1.19)."""
    old = (ISTIOCTL / "eds-1.15.0-portfilter_output.txt").read_text()
    assert old.splitlines()[0].split() == ["ENDPOINT", "STATUS", "LOCALITY", "CLUSTER"]
    new = (SHARED_EDS / "portfilter_output.txt").read_text()
    assert _rows(meshnb.read_endpoints(old)) == _rows(meshnb.read_endpoints(new))
    assert [w[0].rsplit(":", 1)[0] for w in _table_words(old)] == meshnb.read_endpoints(old)[
        "address"
    ].tolist()


@pytest.mark.parametrize("name", ["emptyfilter_output", "portfilter_output"])
def test_o_yaml_reads_as_o_json(name):
    """istioctl's -o yaml is its -o json through yaml.JSONToYAML (both goldens from istioctl's tests)."""
    as_yaml = meshnb.read_endpoints((ISTIOCTL / f"eds-1.30.0-{name}.yaml").read_text())
    as_json = meshnb.read_endpoints((SHARED_EDS / f"{name}.json").read_text())
    assert as_yaml.equals(as_json) and len(as_yaml) > 0
    assert _rows(as_yaml, [*KEY_COLUMNS, "weight"]) == _rows(as_json, [*KEY_COLUMNS, "weight"])


def test_yaml_errors_name_the_line():
    text = (
        (ISTIOCTL / "eds-1.30.0-portfilter_output.yaml")
        .read_text()
        .replace("portValue: 8080", "portValue: [", 1)
    )
    with pytest.raises(ParseError) as info:
        meshnb.read_endpoints(text)
    assert info.value.lineno is not None and info.value.line == text.splitlines()[info.value.lineno - 1]
    with pytest.raises(ParseError, match="aliases"):
        meshnb.read_endpoints("- clusterName: &a agent\n  endpoints: *a\n")


BANNER = re.compile(r"^------ (.+) ------$")


@pytest.mark.parametrize("name", ["all-1.30.0-summary-withheaders.txt", "all-1.30.0-summary.txt"])
def test_the_endpoint_section_of_proxy_config_all(name):
    """istioctl's goldens for `proxy-config all -f config_dump.json [--with-headers]`."""
    text = (ISTIOCTL / name).read_text()
    df = meshnb.read_endpoints(text, source_cluster="cluster1")
    assert _rows(df) == [
        (
            "inbound-vip|8100|http|httpbin.default.svc.cluster.local",
            "envoy://connect_originate/192.168.195.248:800",
            None,
            "HEALTHY",
        ),
        ("prometheus_stats", "127.0.0.1", 15000, "HEALTHY"),
    ]
    assert df["service"].tolist()[0] == "httpbin.default.svc.cluster.local"
    banners = [
        m.group(1)
        for line in (ISTIOCTL / "all-1.30.0-summary-withheaders.txt").read_text().splitlines()
        if (m := BANNER.match(line))
    ]
    assert banners[-1] == "ENDPOINTS INFO"
    assert df.attrs["sections_skipped"] == banners[:-1]


def test_proxy_config_all_without_an_endpoint_section_is_refused():
    """istioctl before 1.19 printed no endpoint section: no rows would be wrong silently."""
    text = (ISTIOCTL / "all-1.30.0-summary.txt").read_text()
    before = text[: text.index("NAME                                                       STATUS")]
    with pytest.raises(ParseError, match="without an endpoint section") as info:
        meshnb.read_endpoints(before)
    assert info.value.lineno == 1
    bad = text.replace("endpoint/127.0.0.1:15000 ", "endpoint/127.0.0.1:99999 ")
    with pytest.raises(ParseError, match="65535") as info:
        meshnb.read_endpoints(bad)
    assert "99999" in info.value.line and info.value.lineno == len(text.splitlines())


# ---- Envoy 1.40 with internal and dual-stack addresses (tests/data/real/envoy, bootstrap kept with them)

INTERNAL = [
    (
        "inbound-vip|8100|http|httpbin.default.svc.cluster.local",
        "envoy://connect_originate/192.168.195.248:800",
        None,
        3,
    ),
    (
        "inbound-vip|8100|http|httpbin.default.svc.cluster.local",
        "envoy://connect_originate/[fd00::f8]:800",
        None,
        1,
    ),
]
DUAL = [
    ("outbound|80||dual.default.svc.cluster.local", "127.0.0.8", 80, 1),
    ("outbound|80||dual.default.svc.cluster.local", "fd00::8", 80, 1),
]


@pytest.mark.parametrize(
    "name",
    [
        "envoy-1.40-clusters-internal.txt",
        "envoy-1.40-clusters-internal.json",
        "envoy-1.40-config-dump-eds-internal.json",
    ],
)
def test_envoy_internal_addresses_are_kept_whole(name):
    """The endpoints of the bootstrap Envoy ran with (weights, envoy_internal_address, IPv6)."""
    bootstrap = yaml.safe_load((ENVOY / "envoy-1.40-clusters-internal.bootstrap.yaml").read_text())
    assert bootstrap["static_resources"]["clusters"][1]["load_assignment"]["endpoints"][0]["lb_endpoints"][0][
        "endpoint"
    ]["address"]["envoy_internal_address"] == {
        "server_listener_name": "connect_originate",
        "endpoint_id": "192.168.195.248:800",
    }
    df = meshnb.read_endpoints((ENVOY / name).read_text())
    got = set(_rows(df, ["envoy_cluster", "address", "endpoint_port", "weight"]))
    assert set(INTERNAL) <= got and set(DUAL) <= got
    internal = df[df["address"].str.startswith("envoy://")]
    assert internal[["region", "zone"]].values.tolist() == [["us-west", "us-west1-a"]] * 2
    assert set(df["health"]) == {"HEALTHY"}


def test_dual_stack_addresses():
    """EDS additional_addresses; istioctl's EDS table joins them with "," (endpoint.go, 1.23 on)."""
    dump = meshnb.read_endpoints((ENVOY / "envoy-1.40-config-dump-eds-internal.json").read_text())
    (extra,) = dump.attrs["additional_addresses"]
    # the bootstrap's additional address ::1 port 80, written as istioctl writes it: address + ":" + port
    assert extra["additional"] == ["::1:80"] and extra["address"] == "127.0.0.8"
    assert dump.iloc[extra["row"]]["address"] == "127.0.0.8"
    # what istioctl 1.23+ prints for that endpoint: the addresses joined by ","
    cluster = "outbound|80||dual.default.svc.cluster.local"
    table = (
        "NAME                    STATUS      LOCALITY     CLUSTER\n"
        f"127.0.0.8:80,::1:80     HEALTHY                  {cluster}\n"
    )
    df = meshnb.read_endpoints(table)
    assert _rows(df) == [(cluster, "127.0.0.8", 80, "HEALTHY")]
    assert df.attrs["additional_addresses"] == [
        {"row": 0, "envoy_cluster": cluster, "address": "127.0.0.8", "additional": ["::1:80"]}
    ]
    # the example, headerless and with proxy-config all's endpoint/ prefix
    row = f"endpoint/10.0.0.8:80,fd00::8:80   HEALTHY   us-west/a   {cluster}"
    df = meshnb.read_endpoints(row)
    assert _rows(df, ["address", "endpoint_port", "region", "zone"]) == [("10.0.0.8", 80, "us-west", "a")]
    assert df.attrs["additional_addresses"][0]["additional"] == ["fd00::8:80"]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("10.0.0.1:70000   HEALTHY   OK   outbound|80||a.b.svc.cluster.local", 1),
        (
            "NAME  STATUS  LOCALITY  CLUSTER\n"
            "10.0.0.1:80,fd00::1:65536  HEALTHY  outbound|80||a.b.svc.cluster.local",
            2,
        ),
        ("outbound|80||a.b.svc.cluster.local::10.0.0.1:65536::weight::1", 1),
        ("outbound|80||a.b.svc.cluster.local::[fd00::1]:99999::health_flags::healthy", 1),
    ],
)
def test_a_port_above_65535_is_refused_with_its_line(text, where):
    with pytest.raises(ParseError, match="above 65535") as info:
        meshnb.read_endpoints(text)
    assert info.value.lineno == where and info.value.line == text.splitlines()[where - 1]


def test_a_port_above_65535_in_json_names_the_path():
    text = (
        (ENVOY / "envoy-1.40-clusters-internal.json")
        .read_text()
        .replace('"port_value": 80', '"port_value": 65536', 1)
    )
    with pytest.raises(ParseError, match=r"0 to 65535") as info:
        meshnb.read_endpoints(text)
    assert info.value.line.startswith("$.cluster_statuses[") and info.value.line.endswith(".port_value")


# ---- certificate names as openssl prints them, and bundles with a broken block

CERTS = REAL / "certs"


def _openssl(path: Path) -> tuple[str, str]:
    """subject and issuer from `openssl x509 -noout -subject -issuer -nameopt RFC2253` (first two lines)."""
    subject, issuer = path.read_text().splitlines()[:2]
    return subject.removeprefix("subject="), issuer.removeprefix("issuer=")


@pytest.mark.parametrize("name", ["root-cert", "ca-cert", "root-cert-combined"])
def test_istio_sample_names_read_as_openssl_prints_them(reference, name):
    df = meshnb.read_certs((reference / "istio" / "certs" / f"{name}.pem").read_text())
    assert (df.iloc[0]["subject"], df.iloc[0]["issuer"]) == _openssl(
        CERTS / f"istio-sample-{name}.openssl.txt"
    )
    assert "emailAddress=testrootca@istio.io" in df.iloc[0]["issuer"]


@pytest.mark.parametrize("name", ["many", "special", "extra"])
def test_every_attribute_name_and_escape_as_openssl_prints_them(name):
    df = meshnb.read_certs((CERTS / f"names-{name}.pem").read_text())
    assert (df.iloc[0]["subject"], df.iloc[0]["issuer"]) == _openssl(CERTS / f"names-{name}.openssl.txt")


def _corrupt_block(text: str, block: int) -> tuple[str, int, int]:
    """``text`` with a character of block ``block``'s second body line made non-base64; its BEGIN line and
    the corrupted line (1-based)."""
    lines = text.splitlines()
    begins = [i for i, line in enumerate(lines) if line.startswith("-----BEGIN CERTIFICATE")]
    at = begins[block] + 2
    lines[at] = lines[at][:10] + "!" + lines[at][11:]
    return "\n".join(lines) + "\n", begins[block] + 1, at + 1


@pytest.mark.parametrize("block", [0, 1])
def test_a_bundle_with_one_broken_block_reads_the_others(reference, block, caplog):
    combined = (reference / "istio" / "certs" / "root-cert-combined.pem").read_text()
    whole = meshnb.read_certs(combined)
    assert len(whole) == 2 and whole.attrs["broken_blocks"] == []
    text, begin, bad = _corrupt_block(combined, block)
    with caplog.at_level("WARNING", logger="meshnb"):
        df = meshnb.read_certs(text, key="root-cert.pem")
    assert df["sha256"].tolist() == [whole["sha256"].tolist()[1 - block]]
    (broken,) = df.attrs["broken_blocks"]
    assert (broken["begin_line"], broken["lineno"], broken["key"]) == (begin, bad, "root-cert.pem")
    assert broken["line"] == "[not shown: may be key material]"  # base64 lines are never quoted
    assert "base64" in broken["error"]
    assert f"line {begin}" in caplog.text
    # the same bundle in a secret: the key names where
    secret = _secret({"root-cert.pem": text.encode()})
    df = meshnb.read_certs(json.dumps(secret, indent=4))
    assert [b["key"] for b in df.attrs["broken_blocks"]] == ["root-cert.pem"] and len(df) == 1


def test_a_single_broken_block_is_still_refused(reference):
    root = (reference / "istio" / "certs" / "root-cert.pem").read_text()
    text, _, bad = _corrupt_block(root, 0)
    with pytest.raises(ParseError, match="not base64") as info:
        meshnb.read_certs(text)
    assert info.value.lineno == bad
