"""The load-balancing check on the simulated mesh: verdicts, evidence, batching, failures."""

from __future__ import annotations

import dataclasses
import threading

import pandas as pd
import pytest

import meshnb
from meshnb.diagnostics.finding import Finding, commands_in
from meshnb.errors import InvalidName
from meshnb.schemas import SCHEMAS

EXPECTED = {
    "healthy": ("pass", {"cluster1": "pass", "cluster2": "pass"}),
    "firewall": ("fail", {"cluster1": "fail", "cluster2": "fail"}),
    "trust-mismatch": ("fail", {"cluster1": "fail", "cluster2": "fail"}),
    "missing-remote-secret": ("fail", {"cluster1": "fail", "cluster2": "pass"}),
    "remote-secret-wrong-key": ("pass", {"cluster1": "pass", "cluster2": "pass"}),  # as real istiod
    "locality-prefer-local": ("fail", {"cluster1": "fail", "cluster2": "fail"}),
}


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_scenarios_reach_the_right_verdict(scenario):
    finding = meshnb.check_load_balancing(meshnb.simulate(scenario), requests=100)
    status, per_source = EXPECTED[scenario]
    assert finding.status == status
    sources = finding.evidence["sources"]
    assert dict(zip(sources["source_cluster"], sources["status"], strict=True)) == per_source
    if status == "fail":
        assert any("Trust configuration" in s for s in finding.next_steps)
        assert any("Verify connectivity" in s for s in finding.next_steps)
        pods = dict(zip(sources["source_cluster"], sources["source_pod"], strict=True))
        for cluster in (name for name, verdict in per_source.items() if verdict == "fail"):
            endpoint = (
                f"istioctl --context={cluster} proxy-config endpoint {pods[cluster]}.sample | grep helloworld"
            )
            secrets = f"kubectl --context={cluster} -n istio-system get secrets -l istio/multiCluster=true"
            commands = [command for step in finding.next_steps for command in commands_in(step)]
            assert endpoint in commands and secrets in commands
    else:
        assert finding.next_steps == []


def test_evidence_follows_the_schemas():
    finding = meshnb.check_load_balancing(meshnb.simulate(), requests=60)
    for name in ("samples", "split", "sources"):
        df = finding.evidence[name]
        assert list(df.columns) == list(SCHEMAS[name])
        assert {c: str(t) for c, t in df.dtypes.items()} == {
            c: str(pd.Series(dtype=t).dtype) for c, t in SCHEMAS[name].items()
        }
    samples = finding.evidence["samples"]
    assert len(samples) == 120
    for _, group in samples.groupby("source_cluster"):
        assert group["seq"].tolist() == list(range(1, 61))
    assert set(samples["dest_cluster"]) == {"cluster1", "cluster2"}
    assert (samples.loc[samples["version"] == "v2", "dest_cluster"] == "cluster2").all()
    assert samples["instance"].str.startswith("helloworld-v").all()
    assert samples["url"].eq("http://helloworld.sample:5000/hello").all()
    split = finding.evidence["split"]
    assert split.groupby("source_cluster")["count"].sum().eq(60).all()
    assert split["expected_share"].eq(0.5).all()


def test_batches_many_requests_per_exec():
    mesh = meshnb.simulate()
    meshnb.check_load_balancing(mesh, requests=230, batch_size=50)
    assert [mesh.clusters[c].calls["exec"] for c in mesh.clusters] == [5, 5]
    guide = meshnb.simulate()
    meshnb.check_load_balancing(guide, requests=12, batch_size=1)
    assert [guide.clusters[c].calls["exec"] for c in guide.clusters] == [12, 12]


def test_same_seed_same_samples():
    a = meshnb.check_load_balancing(meshnb.simulate(seed=4), requests=50).evidence["samples"]
    b = meshnb.check_load_balancing(meshnb.simulate(seed=4), requests=50).evidence["samples"]
    pd.testing.assert_frame_equal(a.drop(columns="ts"), b.drop(columns="ts"))


def test_errors_are_kept_and_classified():
    mesh = meshnb.simulate("trust-mismatch", retries=0, hide_tls_reason=False)
    samples = meshnb.check_load_balancing(mesh, requests=100).evidence["samples"]
    failed = samples[samples["error"].notna()]
    assert len(failed) > 10
    assert set(failed["error_kind"]) == {"tls"}
    assert failed["http_status"].eq(503).all()
    assert failed["error"].str.contains("CERTIFICATE_VERIFY_FAILED").all()
    assert failed["version"].isna().all()

    hidden = meshnb.check_load_balancing(meshnb.simulate("trust-mismatch", retries=0), requests=100)
    assert set(hidden.evidence["samples"]["error_kind"].dropna()) == {"connect_failure"}

    firewall = meshnb.check_load_balancing(meshnb.simulate("firewall", retries=0), requests=50)
    assert set(firewall.evidence["samples"]["error_kind"].dropna()) == {"timeout"}
    assert any("firewall" in s for s in firewall.next_steps)


def test_one_unreachable_cluster_does_not_hide_the_other():
    finding = meshnb.check_load_balancing(meshnb.simulate(unreachable="cluster2"), requests=40)
    assert finding.status == "error"
    sources = finding.evidence["sources"].set_index("source_cluster")
    assert sources.loc["cluster2", "status"] == "error"
    assert "unreachable" in sources.loc["cluster2", "detail"]
    assert sources.loc["cluster1", "requests"] == 40
    assert (finding.evidence["samples"]["source_cluster"] == "cluster1").sum() == 40
    assert "cluster2" in finding.summary


def test_a_fail_outranks_an_error():
    mesh = meshnb.simulate(dead_versions=("v1", "v2"), unreachable="cluster2")
    finding = meshnb.check_load_balancing(mesh, requests=30)
    assert finding.evidence["sources"]["status"].tolist() == ["fail", "error"]
    assert finding.status == "fail"
    assert finding.exit_code == 1


def test_no_curl_pod_is_a_clear_error():
    finding = meshnb.check_load_balancing(meshnb.simulate(), namespace="default", requests=5)
    assert finding.status == "error"
    assert finding.evidence["sources"]["detail"].str.contains("curl sample").all()


def test_expected_weights_make_a_skewed_split_a_warning():
    finding = meshnb.check_load_balancing(meshnb.simulate(), requests=400, expected={"v1": 9, "v2": 1})
    assert finding.status == "warn"
    assert finding.evidence["split"].query("version == 'v1'")["expected_share"].eq(0.9).all()
    assert finding.evidence["sources"]["p_value"].lt(0.001).all()


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"namespace": "Sample"}, InvalidName),
        ({"service": "hello world"}, InvalidName),
        ({"path": "/hello; rm -rf /"}, InvalidName),
        ({"port": 70000}, InvalidName),
        ({"requests": 0}, ValueError),
        ({"batch_size": 0}, ValueError),
    ],
)
def test_bad_input_is_refused_before_any_call(kwargs, error):
    mesh = meshnb.simulate()
    with pytest.raises(error):
        meshnb.check_load_balancing(mesh, **kwargs)
    assert sum(sum(c.calls.values()) for c in mesh.clusters.values()) == 0


def test_progress_reaches_the_calling_thread():
    events = []
    meshnb.check_load_balancing(
        meshnb.simulate(),
        requests=30,
        batch_size=10,
        progress=lambda c, done, total: events.append((c, done, total, threading.current_thread())),
    )
    assert {e[3] for e in events} == {threading.current_thread()}
    for cluster in ("cluster1", "cluster2"):
        assert [e[1] for e in events if e[0] == cluster] == [0, 10, 20, 30]


def test_finding_round_trips_through_json():
    finding = meshnb.check_load_balancing(meshnb.simulate("firewall", retries=0), requests=20)
    again = Finding.from_json(finding.to_json())
    assert (again.status, again.summary, again.next_steps) == (
        finding.status,
        finding.summary,
        finding.next_steps,
    )
    for name, df in finding.evidence.items():
        pd.testing.assert_frame_equal(again.evidence[name], df, check_exact=False)
    html = finding._repr_html_()
    assert "FAIL" in html and "Next steps" in html


class _Garbling:
    """A cluster whose curl output is cut or garbled (what a broken exec stream can return)."""

    def __init__(self, inner, mangle):
        self.inner, self.name, self.mangle = inner, inner.name, mangle

    def __getattr__(self, attr):
        return getattr(self.inner, attr)

    def exec(self, *args, **kwargs):
        result = self.inner.exec(*args, **kwargs)
        return dataclasses.replace(result, stdout=self.mangle(result.stdout))


@pytest.mark.parametrize(
    ("mangle", "detail"),
    [
        (lambda out: out.replace("@@meshnb@@ 200", "@@meshnb@@ 2x0"), "bad HTTP status"),
        (lambda out: out[: len(out) // 2], "cut short"),
        (lambda out: "\x00\xff garbage \n" * 3, "returned 0 of"),
    ],
)
def test_garbage_output_is_an_error_for_that_cluster_only(mangle, detail):
    mesh = meshnb.simulate()
    mesh.clusters["cluster2"] = _Garbling(mesh.clusters["cluster2"], mangle)
    finding = meshnb.check_load_balancing(mesh, requests=20)
    sources = finding.evidence["sources"].set_index("source_cluster")
    assert sources.loc["cluster2", "status"] == "error"
    assert detail in sources.loc["cluster2", "detail"]
    assert sources.loc["cluster1", "status"] == "pass"
