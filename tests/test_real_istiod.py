"""A real istiod (pilot-discovery 1.31-dev, built by tests/testbed/build) on the test bed's API servers.

It reads cluster2 from cluster1's remote secret exactly as in production (a real token of cluster2's
istio-reader service account, bound to Istio's own reader role), and what it says is read by meshnb:
its log by ``read_istiod_log``, its ``/debug/clusterz`` and ``/debug/networkz`` by ``read_clusterz``
and ``read_networkz``. The expected readings come from the world the test bed laid out (cluster and
secret names, the east-west gateway's address), not from meshnb.
"""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import yaml
from testbed import processes
from testbed.bed import ISTIO_VERSION

import meshnb
from meshnb.readers.istiod_log import current_failures

SECRET = "istio-system/istio-remote-secret-cluster2"


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.read().decode()
    except OSError:
        return None


@pytest.fixture
def istiod(testbed, testbed_bin):
    """istiod of cluster1, a local process with its plugged-in CA: ``(its HTTP base URL, its log)``.

    It runs under the test bed's root, so ``down`` stops it too if this test is cut short.
    """
    work = testbed.root / "real-istiod-cluster1"
    cacerts = work / "etc" / "cacerts"
    cacerts.mkdir(parents=True, exist_ok=True)
    for path in (testbed.root / "istio-pki" / "cluster1-root").iterdir():
        (cacerts / path.name).write_bytes(path.read_bytes())
    config = yaml.safe_load(testbed.kubeconfig.read_text())
    config["current-context"] = "cluster1"
    kubeconfig = work / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    kubeconfig.chmod(0o600)
    flags = ("grpc", "secure", "http", "https", "monitoring", "ctrlz")
    ports = {flag: processes.free_port() for flag in flags}
    env = {
        "CLUSTER_ID": "cluster1",
        "POD_NAMESPACE": "istio-system",
        "POD_NAME": "istiod-real",
        "REVISION": "default",
        "ISTIOD_CUSTOM_HOST": "istiod.istio-system.svc",
        "PILOT_ENABLE_METADATA_EXCHANGE": "false",
        "PILOT_ENABLE_ALPN_FILTER": "false",
    }
    argv = [
        str(testbed_bin / f"pilot-discovery-{ISTIO_VERSION}"),
        "discovery",
        f"--kubeconfig={kubeconfig}",
        "--clusterID=cluster1",
        f"--grpcAddr=127.0.0.1:{ports['grpc']}",
        f"--secureGRPCAddr=127.0.0.1:{ports['secure']}",
        f"--httpAddr=127.0.0.1:{ports['http']}",
        f"--httpsAddr=127.0.0.1:{ports['https']}",
        f"--monitoringAddr=127.0.0.1:{ports['monitoring']}",
        f"--ctrlz_port={ports['ctrlz']}",
    ]
    name = "istiod-real-cluster1"
    log = testbed.root / "logs" / f"{name}.log"
    log.unlink(missing_ok=True)
    processes.start(testbed.root, name, argv, env=env, cwd=work)
    try:
        yield f"http://127.0.0.1:{ports['http']}", log
    finally:
        processes.stop(testbed.root, name)


def _wait_for(what: str, test, timeout: float = 90.0, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = test()
        if value is not None:
            return value
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-3000:] if log else ""
    pytest.fail(f"{what} within {timeout:.0f} s; istiod's log ends:\n{tail}")


def test_meshnb_reads_what_a_real_istiod_says_of_its_remote_cluster(testbed, istiod):
    base, log = istiod

    def synced():
        text = _get(f"{base}/debug/clusterz")
        if not text:
            return None
        df = meshnb.read_clusterz(text, istiod="istiod-real")
        rows = df.set_index("cluster")
        return df if "cluster2" in rows.index and rows.loc["cluster2", "status"] == "synced" else None

    clusters = _wait_for("cluster2 synced in istiod's /debug/clusterz", synced, log=log)
    # istiod's own cluster has no secret; cluster2 comes from cluster1's remote secret
    assert pd.isna(clusters.set_index("cluster").loc["cluster1", "secret"])
    assert clusters.set_index("cluster").loc["cluster2", "secret"] == SECRET

    events = meshnb.read_istiod_log(log.read_text(errors="replace"), cluster="cluster1")
    added = events[(events["event"] == "added") & (events["remote_cluster"] == "cluster2")]
    assert len(added) >= 1 and set(added["secret"]) == {SECRET}
    assert current_failures(events.to_dict("records")) == []

    networkz = _get(f"{base}/debug/networkz") or "[]"
    for name, text in (("clusterz", _get(f"{base}/debug/clusterz") or ""), ("networkz", networkz)):
        (log.parent / f"{name}.json").write_text(text)  # kept beside the log, under the test bed's root
    gateways = meshnb.read_networkz(networkz, istiod="istiod-real")
    remote = testbed.cluster("cluster2")
    row = gateways.set_index("network").loc[remote.network]
    assert (row["cluster"], row["address"], int(row["port"])) == ("cluster2", remote.gateway_ip, 15443)
