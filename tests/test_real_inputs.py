"""The readers on real inputs (tests/data/real/, origins in its README); expected readings from the origin."""

from __future__ import annotations

from pathlib import Path

import pytest

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
