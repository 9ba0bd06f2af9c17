"""istiod's and istioctl's multicluster views, read from real output (tests/data/real/views/).

The expected readings come from the inputs' origins (README.md there): the Go test's golden strings
and testdata files, the values in the Go structs and tests that produced them, and the pastes'
own text. Property tests: arbitrary text either reads or raises ParseError, never another exception.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshnb.errors import ParseError
from meshnb.readers.istioctl_views import read_proxy_status, read_remote_clusters
from meshnb.readers.istiod_debug import read_clusterz, read_endpoint_shards, read_networkz, read_syncz
from meshnb.schemas import SCHEMAS

VIEWS = Path(__file__).parent / "data" / "real" / "views"
NA = None
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _text(name: str) -> str:
    return (VIEWS / name).read_text()


def _values(df: pd.DataFrame, columns: list[str]) -> list[list[object]]:
    return [[None if pd.isna(v) else v for v in row] for row in df[columns].astype(object).values.tolist()]


# --------------------------------------------------------------------------------------------------
# istioctl remote-clusters


def test_remote_clusters_with_revision_golden():
    df = read_remote_clusters(_text("remote-clusters-59942-revisions.txt"))
    assert list(df.columns) == list(SCHEMAS["remote_clusters"])
    assert _values(df, ["cluster", "secret", "status", "istiod", "revision"]) == [
        ["cluster-1", "cluster-1-secret", "SYNCED", "istiod-canary-abc123", "canary"],
        ["cluster-2", "cluster-2-secret", "SYNCED", "istiod-default-def456", "default"],
    ]


def test_remote_clusters_without_revision_label_is_na():
    df = read_remote_clusters(_text("remote-clusters-59942-no-revision-label.txt"))
    assert _values(df, ["cluster", "istiod", "revision"]) == [["cluster-1", "istiod-6d8f97c8d9-abc123", NA]]


def test_remote_clusters_header_only_is_empty():
    assert read_remote_clusters(_text("remote-clusters-59942-empty.txt")).empty


def test_remote_clusters_before_1_31_with_config_cluster():
    df = read_remote_clusters(_text("remote-clusters-1.20-layout.txt"))
    assert _values(df, ["cluster", "secret", "status", "istiod", "revision"]) == [
        ["config", NA, "synced", "istiod-6d8f97c8d9-abc123", NA],
        ["c0", "istio-system/s0", "synced", "istiod-6d8f97c8d9-abc123", NA],
        ["c1", "istio-system/s1", "syncing", "istiod-6d8f97c8d9-abc123", NA],
    ]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("cluster-1     s     SYNCED     istiod-1", "expected the header"),
        ("NAME     SECRET     STATUS     ISTIOD\ncluster-1  s   SYNCED     istiod-1", "to start at column"),
        ("NAME\tSECRET\tSTATUS\tISTIOD\n", "got a tab"),
    ],
)
def test_remote_clusters_refusals_name_the_line(text, where):
    with pytest.raises(ParseError, match=where) as info:
        read_remote_clusters(text)
    assert info.value.lineno is not None and info.value.line is not None


# --------------------------------------------------------------------------------------------------
# istioctl proxy-status, text


CORE = ["cds", "lds", "eds", "rds", "ecds"]


def test_proxy_status_1_20_http_syncz_layout():
    """multiStatusMultiPilot.txt: StatusWriter's NOT SENT and STALE (Never Acknowledged)."""
    df = read_proxy_status(_text("ps-1.20.0-multiStatusMultiPilot.txt"))
    assert _values(df, ["proxy", "cluster", *CORE, "istiod", "version"]) == [
        ["proxy1", "cluster1", "STALE", "SYNCED", "SYNCED", "NOT SENT", "NOT SENT", "istiod1", "1.1"],
        ["proxy2", "cluster2", "STALE", "SYNCED", "STALE", "SYNCED", "NOT SENT", "istiod2", "1.1"],
        ["proxy3", "cluster3", "STALE", "NOT SENT", "STALE", "SYNCED", "NOT SENT", "istiod3", "1.1"],
        ["proxy4", "cluster4", "IGNORED", "IGNORED", "IGNORED", "IGNORED", "IGNORED", "istiod4", "1.1"],
    ]
    assert df["subscribed"].isna().all() and df["subscribed_count"].isna().all()


def test_proxy_status_1_20_xds_layout_not_sent_enum_and_no_final_newline():
    df = read_proxy_status(_text("ps-1.20.0-multiXdsStatusMultiPilot.txt"))
    assert _values(df, ["proxy", *CORE, "version"]) == [
        ["proxy1", "STALE", "SYNCED", "SYNCED", "NOT SENT", "SYNCED", "1.20"],
        ["proxy2", "STALE", "SYNCED", "STALE", "SYNCED", "STALE", "1.19"],
        ["proxy3", "NOT SENT", "ERROR", "STALE", "NOT SENT", "NOT SENT", "1.20"],
        ["proxy4", "IGNORED", "IGNORED", "IGNORED", "IGNORED", "IGNORED", "1.20"],
    ]


def test_proxy_status_1_24_layout_and_fallback_version():
    df = read_proxy_status(_text("ps-1.24.0-multiXdsStatusMultiPilot.txt"))
    assert df["rds"].tolist() == ["NOT SENT", "SYNCED", "NOT SENT", "IGNORED"]
    fallback = read_proxy_status(_text("ps-1.20.0-singleStatusFallback.txt"))
    assert fallback["version"].tolist() == ["1.1*"]


def test_proxy_status_subscribed_types_layout():
    df = read_proxy_status(_text("ps-1.31.0-rc.0-multiXdsStatusMultiPilot.txt"))
    assert _values(df, ["proxy", "cluster", "istiod", "version", "subscribed_count", "subscribed"]) == [
        ["proxy1", "cluster1", "istiod1", "1.20", 5, "CDS,LDS,EDS,RDS,ECDS"],
        ["proxy2", "cluster2", "istiod2", "1.19", 5, "CDS,LDS,EDS,RDS,ECDS"],
        ["proxy3", "cluster3", "istiod3", "1.20", 5, "CDS,LDS,EDS,RDS,ECDS"],
        ["proxy4", "cluster4", "istiod4", "1.20", 0, NA],
    ]
    assert df[CORE].isna().all().all()  # this layout says which types, not their status


def test_proxy_status_subscribed_types_paste_with_ztunnel():
    df = read_proxy_status(_text("ps-istio-59377-subscribed.txt"))
    assert _values(df, ["proxy", "version", "subscribed_count", "subscribed"]) == [
        ["nginx-deployment-79b8df968b-9x6cd.default", "1.25.0", 4, "CDS,LDS,EDS,RDS"],
        ["nginx-deployment-79b8df968b-t6mgk.default", "1.25.0", 4, "CDS,LDS,EDS,RDS"],
        ["ztunnel-7z764.istio-system", "1.26.2", 2, "WADS,WDS"],
    ]


def test_proxy_status_verbose_layout_sorted_types():
    df = read_proxy_status(_text("ps-1.31.0-rc.0-multiXdsStatusMultiPilot_verbose.txt"))
    assert _values(df, ["proxy", *CORE, "istiod", "version", "other"]) == [
        ["proxy1", "STALE", "SYNCED", "SYNCED", "NOT SENT", "SYNCED", "istiod1", "1.20", NA]
    ]


def test_proxy_status_verbose_with_ages_and_other_types():
    """formatStatus (1.27 on) appends the age; a type other than the five goes to ``other``."""
    text = (
        "NAME       CLUSTER      CDS                LDS         WDS                ISTIOD      VERSION\n"
        "proxy1     cluster1     SYNCED (5m2s)      IGNORED     STALE (3s)         istiod1     1.28.0\n"
    )
    df = read_proxy_status(text)
    assert _values(df, ["cds", "lds", "eds", "other"]) == [["SYNCED", "IGNORED", NA, "WDS=STALE"]]


def test_proxy_status_pastes_from_issues():
    kiali = read_proxy_status(_text("ps-kiali-6250-1.17.2.txt"))
    assert _values(kiali, ["proxy", "cluster", *CORE, "istiod", "version"]) == [
        ["echo-v1-768f8b6fc7-h28kw.default", "Kubernetes", "NOT SENT", "SYNCED", "NOT SENT", "NOT SENT",
         "NOT SENT", "istiod-57c965889-bh5xs", "1.17.2"],
        ["echo-v2-787b774f49-w5zzm.default", "Kubernetes", "NOT SENT", "SYNCED", "NOT SENT", "NOT SENT",
         "NOT SENT", "istiod-57c965889-bh5xs", "1.17.2"],
    ]  # fmt: skip
    before = read_proxy_status(_text("ps-istio-51638-1.23-dev.txt"))
    assert before["version"].tolist() == ["1.23-dev", "1.23-dev", "master-2024-06-02T19-03-25"]
    assert before.loc[2, CORE].tolist() == ["IGNORED"] * 5
    assert before["rds"].tolist()[:2] == ["NOT SENT", "NOT SENT"]


def test_proxy_status_before_cluster_column():
    """Issue 36290's paste (1.10.3): NAME CDS LDS EDS RDS ISTIOD VERSION, no CLUSTER and no ECDS."""
    df = read_proxy_status(_text("ps-istio-36290-1.10.3.txt"))
    assert len(df) == 6
    assert df["cluster"].isna().all() and df["ecds"].isna().all()
    assert df["rds"].tolist() == ["NOT SENT"] * 4 + ["SYNCED"] * 2
    assert set(df["istiod"]) == {"istiod-1-10-3-845cddf779-67wx9"} and set(df["version"]) == {"1.10.3"}
    assert df.loc[4, "proxy"] == "productpage-v1-69d58d775f-6qbgc.default"


def test_proxy_status_indented_paste_and_two_tables():
    """A table indented as pasted in a document, and two tables (one per context) one after the other."""
    one = _text("ps-kiali-6250-1.17.2.txt")
    indented = "".join("    " + line + "\n" for line in one.splitlines())
    assert read_proxy_status(indented)["proxy"].tolist() == read_proxy_status(one)["proxy"].tolist()
    both = read_proxy_status(one + "\n" + _text("ps-istio-59377-subscribed.txt"))
    assert len(both) == 5
    assert both["subscribed_count"].isna().tolist() == [True, True, False, False, False]


def test_proxy_status_empty_cell_is_na():
    """The 1.20 xDS writer leaves a type's cell empty when the ClientConfig lacks it."""
    text = (
        "NAME       CLUSTER      CDS        LDS        EDS        RDS        ECDS     ISTIOD      VERSION\n"
        "proxy1     cluster1     SYNCED     SYNCED     SYNCED     SYNCED              istiod1     1.20\n"
    )
    assert _values(read_proxy_status(text), ["ecds", "istiod"]) == [[NA, "istiod1"]]


SUBSCRIBED_HEADER = "NAME     CLUSTER     ISTIOD     VERSION     SUBSCRIBED TYPES\n"
WIDE_HEADER = "NAME     CDS       LDS       EDS       RDS       ISTIOD     VERSION\n"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (SUBSCRIBED_HEADER + "p        c           i          1           3 (CDS)", "expected 3 types"),
        (SUBSCRIBED_HEADER + "p        c           i          1           many", "a count"),
        (WIDE_HEADER + "p        WEIRD     SYNCED    SYNCED    SYNCED    i          1", "expected CDS to be"),
        (WIDE_HEADER + "         SYNCED    SYNCED    SYNCED    SYNCED    i          1", "expected a proxy"),
        ("hello world", "expected the header NAME"),
    ],
)
def test_proxy_status_refusals_name_the_line(text, where):
    with pytest.raises(ParseError, match=where) as info:
        read_proxy_status(text)
    assert info.value.lineno is not None


# --------------------------------------------------------------------------------------------------
# istioctl proxy-status -o json


def test_proxy_status_json_golden():
    df = read_proxy_status(_text("ps-1.31.0-rc.0-multiXdsStatusSinglePilot.json"))
    columns = ["istiod", "proxy", "cluster", "version", *CORE, "subscribed_count", "subscribed"]
    assert _values(df, columns) == [
        ["istiod1", "proxy1", "cluster1", "1.20", "STALE", "SYNCED", "SYNCED", "NOT SENT", "SYNCED", 5,
         "CDS,LDS,EDS,RDS,ECDS"]
    ]  # fmt: skip


def test_proxy_status_json_documents_back_to_back():
    """printMachineReadable prints one document per istiod, each followed by a newline."""
    one = json.loads(_text("ps-1.31.0-rc.0-multiXdsStatusSinglePilot.json"))
    two = json.loads(json.dumps(one))
    two["controlPlane"]["identifier"] = one["controlPlane"]["identifier"].replace("istiod1", "istiod2")
    two["resources"][0]["node"]["id"] = "proxy2"
    del two["resources"][0]["genericXdsConfigs"][4]["configStatus"]  # UNKNOWN: proto3 JSON omits it
    text = json.dumps(one, indent=4) + "\n" + json.dumps(two, indent=4) + "\n"
    df = read_proxy_status(text)
    assert _values(df, ["istiod", "proxy", "ecds", "subscribed_count", "subscribed"]) == [
        ["istiod1", "proxy1", "SYNCED", 5, "CDS,LDS,EDS,RDS,ECDS"],
        ["istiod2", "proxy2", "IGNORED", 4, "CDS,LDS,EDS,RDS"],
    ]


def test_proxy_status_json_refusal_names_the_path():
    text = (
        '{"resources": [{"node": {"id": "p"}, "genericXdsConfigs": [{"typeUrl": "x", "configStatus": 7}]}]}'
    )
    with pytest.raises(ParseError, match=r"\$\[0\]\.resources\[0\]\.genericXdsConfigs\[0\]\.configStatus"):
        read_proxy_status(text)
    with pytest.raises(ParseError, match="document 1"):
        read_proxy_status('{"resources": []}\n{"resources": [')


# --------------------------------------------------------------------------------------------------
# istiod's debug endpoints


def test_clusterz_from_secretcontroller_test():
    df = read_clusterz(_text("clusterz-secretcontroller-test.json"), istiod="istiod-1")
    assert list(df.columns) == list(SCHEMAS["clusterz"])
    assert _values(df, ["istiod", "cluster", "secret", "status"]) == [
        ["istiod-1", "config", NA, "synced"],
        ["istiod-1", "c0", "istio-system/s0", "synced"],
        ["istiod-1", "c1", "istio-system/s1", "syncing"],
    ]


def test_clusterz_internal_debug_all_form():
    """``istioctl x internal-debug clusterz --all``: an object of istiod name to its answer as a string."""
    inner = _text("clusterz-secretcontroller-test.json")
    text = json.dumps({"istiod-a.istio-system": inner, "istiod-b.istio-system": "[]"})
    df = read_clusterz(text)
    assert df["istiod"].tolist() == ["istiod-a.istio-system"] * 3


def test_networkz_both_struct_versions():
    df = read_networkz(_text("networkz-1.24-struct.json"))
    assert _values(df, ["network", "cluster", "address", "port", "hbone_port", "service_account"]) == [
        ["network1", "cluster1", "172.18.0.8", 15443, NA, NA],
        ["network2", "cluster2", "172.18.0.9", 15443, 15008, "istio-system/istio-eastwestgateway"],
    ]
    old = read_networkz(_text("networkz-1.20-struct.json"))
    assert _values(old, ["network", "port", "hbone_port", "service_account"]) == [["network2", 15443, NA, NA]]


def test_networkz_port_above_65535_refused():
    with pytest.raises(ParseError, match=r"expected a port \(0 to 65535\).*\$\[0\]\[0\]\.Port"):
        read_networkz('[{"Network":"n","Addr":"1.2.3.4","Port":65536}]')


def test_endpoint_shards_1_24():
    df = read_endpoint_shards(_text("endpointShardz-1.24-struct.json"), istiod="istiod-1")
    assert list(df.columns) == list(SCHEMAS["endpoint_shards"])
    columns = ["service", "namespace", "provider", "shard_cluster", "address", "addresses", "endpoint_port",
               "port_name", "network", "locality", "locality_cluster", "weight", "tls_mode", "workload",
               "health", "node"]  # fmt: skip
    assert _values(df, columns) == [
        ["helloworld.sample.svc.cluster.local", "sample", "Kubernetes", "cluster1", "10.10.0.7", "10.10.0.7",
         5000, "http", "network1", "us-east1/us-east1-b/", "cluster1", NA, "istio", "helloworld-v1",
         "HEALTHY", "cluster1-worker"],
        ["helloworld.sample.svc.cluster.local", "sample", "Kubernetes", "cluster2", "10.20.0.7",
         "10.20.0.7,fd00:20::7", 5000, "http", "network2", NA, "cluster2", NA, "istio", "helloworld-v2",
         "TERMINATING", NA],
    ]  # fmt: skip


def test_endpoint_shards_1_20_single_address():
    df = read_endpoint_shards(_text("endpointShardz-1.20-struct.json"))
    assert _values(df, ["address", "network", "weight", "health"]) == [["10.20.0.7", NA, 1, NA]]


def test_endpoint_shards_port_above_65535_refused():
    text = '{"s": {"ns": {"Shards": {"Kubernetes/c": [{"Addresses": ["1.1.1.1"], "EndpointPort": 70000}]}}}}'
    with pytest.raises(ParseError, match="EndpointPort"):
        read_endpoint_shards(text)


def test_syncz_from_pr_38165():
    df = read_syncz(_text("syncz-istio-38165-1.14-dev.json"))
    assert list(df.columns) == list(SCHEMAS["syncz"])
    assert _values(df, ["proxy", "cluster", "istio_version", "type", "status"]) == [
        ["sleep-557747455f-ntclb.default", "Kubernetes", "1.14-dev", "CDS", "SYNCED"],
        ["sleep-557747455f-ntclb.default", "Kubernetes", "1.14-dev", "LDS", "SYNCED"],
        ["sleep-557747455f-ntclb.default", "Kubernetes", "1.14-dev", "RDS", "SYNCED"],
        ["sleep-557747455f-ntclb.default", "Kubernetes", "1.14-dev", "EDS", "SYNCED"],
        ["sleep-557747455f-ntclb.default", "Kubernetes", "1.14-dev", "ECDS", "NOT SENT"],
    ]
    assert df.loc[0, "sent"] == "H/Wuh8XL+DI=acda010e-b2f3-4ea3-99d7-3175f5448242"


def test_syncz_resources_ztunnel_and_times():
    df = read_syncz(_text("syncz-1.24-struct.json"))
    ztunnel = df[df["proxy"] == "ztunnel-jbjg2.istio-system"]
    assert _values(ztunnel, ["type", "status", "last_error"]) == [
        ["CDS", "IGNORED", NA],
        ["LDS", "IGNORED", NA],
        ["RDS", "IGNORED", NA],
        ["EDS", "IGNORED", NA],
        ["ECDS", "IGNORED", NA],
        ["WADS", "SYNCED", NA],
        ["WDS", "STALE", "rejected"],
    ]
    assert ztunnel.iloc[5]["sent_time"] == pd.Timestamp(
        dt.datetime(2024, 11, 7, 10, 15, 1, 123456, tzinfo=dt.UTC)
    )
    sidecar = df[df["proxy"] == "sleep-1.sample"].set_index("type")
    assert sidecar.loc["CDS", "sent_time"] == pd.Timestamp("2024-11-07T10:14:59Z")
    assert pd.isna(sidecar.loc["LDS", "sent_time"])  # Go's zero time
    assert sidecar.loc["LDS", "status"] == "STALE"


def test_debug_readers_back_to_back_documents():
    text = _text("clusterz-secretcontroller-test.json") + _text("clusterz-secretcontroller-test.json")
    assert len(read_clusterz(text)) == 6


@pytest.mark.parametrize("reader", [read_clusterz, read_networkz, read_syncz])
def test_debug_readers_refuse_wrong_shape_with_path(reader):
    with pytest.raises(ParseError, match=r"expected a list.*\$\[0\]"):
        reader('{"a": 1}')


# --------------------------------------------------------------------------------------------------
# Property tests: arbitrary text reads or raises ParseError, never another exception


READERS = [
    read_remote_clusters,
    read_proxy_status,
    read_clusterz,
    read_networkz,
    read_endpoint_shards,
    read_syncz,
]
REAL = [p.read_text() for p in sorted(VIEWS.iterdir()) if p.suffix in (".txt", ".json")]


def _only_parse_errors(reader, text):
    try:
        df = reader(text)
    except ParseError as err:
        assert err.line is not None or str(err)
    else:
        assert isinstance(df, pd.DataFrame)


@FUZZ
@given(reader=st.sampled_from(READERS), text=st.text(max_size=400))
def test_arbitrary_text(reader, text):
    _only_parse_errors(reader, text)


@FUZZ
@given(
    reader=st.sampled_from(READERS),
    real=st.sampled_from(REAL),
    cut=st.integers(min_value=0, max_value=4000),
    noise=st.text(alphabet=' \n{}[]":,0123456789ABNSTaxz()', max_size=30),
    at=st.integers(min_value=0, max_value=4000),
)
def test_damaged_real_inputs(reader, real, cut, noise, at):
    damaged = real[:cut]
    at = min(at, len(damaged))
    _only_parse_errors(reader, damaged[:at] + noise + damaged[at:])


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)


@FUZZ
@given(reader=st.sampled_from(READERS), value=json_values)
def test_arbitrary_json(reader, value):
    _only_parse_errors(reader, json.dumps(value))


def test_deep_nesting_is_a_parse_error():
    for reader in READERS:
        _only_parse_errors(reader, "[" * 100_000)
        _only_parse_errors(reader, "NAME     SECRET     STATUS     ISTIOD\n" + " " * 100_000 + "x")


HEADERS = sorted({text.splitlines()[0] for text in REAL if text.startswith("NAME")})
cells = st.sampled_from(
    ["SYNCED", "NOT SENT", "STALE (3s)", "IGNORED", "ERROR", "0", "4 (CDS,LDS,EDS,RDS)", ""]
)


@FUZZ
@given(
    reader=st.sampled_from([read_remote_clusters, read_proxy_status]),
    header=st.sampled_from(HEADERS),
    rows=st.lists(
        st.lists(st.tuples(cells | st.text(max_size=8), st.integers(0, 12)), max_size=10), max_size=5
    ),
)
def test_tables_of_random_cells(reader, header, rows):
    lines = [header] + ["".join(cell + " " * gap for cell, gap in row) for row in rows]
    _only_parse_errors(reader, "\n".join(lines))


def test_a_real_istiods_clusterz_and_networkz():
    """istiod 1.31-dev's answers on the test bed (README): the world it was run in gives the reading."""
    clusterz = read_clusterz((VIEWS / "clusterz-real-istiod-1.31-dev.json").read_text(), istiod="istiod-real")
    assert clusterz[["cluster", "secret", "status"]].astype(object).where(
        clusterz.notna(), None
    ).values.tolist() == [
        ["cluster1", None, "synced"],  # istiod's own cluster: no secret
        ["cluster2", "istio-system/istio-remote-secret-cluster2", "synced"],
    ]
    networkz = read_networkz((VIEWS / "networkz-real-istiod-1.31-dev.json").read_text())
    # the test bed's east-west gateways: network N at 172.18.N.100:15443, no HBONE port
    assert networkz[["network", "cluster", "address", "port"]].values.tolist() == [
        ["network1", "cluster1", "172.18.1.100", 15443],
        ["network2", "cluster2", "172.18.2.100", 15443],
    ]
    assert networkz["hbone_port"].isna().all()
