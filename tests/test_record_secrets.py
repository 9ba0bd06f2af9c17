"""No secret through a record's rendering: a token or private key planted in a Secret's annotations
(as ``kubectl apply`` leaves them), labels or data, or in a Pod's annotations, appears in no repr, str,
pprint, IPython display or pandas cell of any record type the backends return."""

from __future__ import annotations

import base64
import collections
import dataclasses
import json
import logging
import pprint
import re
from typing import Any

import pandas as pd
import pytest
import yaml
from fakeapi import FakeApiServer, write_kubeconfig
from IPython.core.formatters import DisplayFormatter
from IPython.lib.pretty import pretty
from planted import planted_secrets

import meshnb
from meshnb.backends import base
from meshnb.backends.base import ExecResult, Node, Pod, Secret, SecretData, Service
from meshnb.backends.kube import connect

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")  # Kubernetes' rule, ≤63 chars

MESH = meshnb.simulate()
TOKEN = MESH.pki.token("cluster2")
KEY_PEM = MESH.pki.cacerts("cluster1", "root")["ca-key.pem"]


def _kubeconfig(token: str) -> str:
    """What ``istioctl create-remote-secret`` puts under the data key: a kubeconfig with a token."""
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "cluster2", "cluster": {"server": "https://172.18.2.10:6443"}}],
            "contexts": [{"name": "cluster2", "context": {"cluster": "cluster2", "user": "cluster2"}}],
            "current-context": "cluster2",
            "users": [{"name": "cluster2", "user": {"token": token}}],
        },
        sort_keys=False,
    )


def _last_applied(manifest: dict[str, Any]) -> str:
    """kubectl's annotation: the applied manifest as sorted compact JSON and a newline."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")) + "\n"


def _applied_secret(body: dict[str, Any], name: str = "istio-remote-secret-cluster2") -> dict[str, str]:
    meta = {
        "annotations": {"networking.istio.io/cluster": "cluster2"},
        "creationTimestamp": None,
        "labels": {"istio/multiCluster": "true"},
        "name": name,
        "namespace": "istio-system",
    }
    manifest = {"apiVersion": "v1", "kind": "Secret", "metadata": meta, **body}
    return {**meta["annotations"], LAST_APPLIED: _last_applied(manifest)}


KUBECONFIG = _kubeconfig(TOKEN)
KUBECONFIG_B64 = base64.b64encode(KUBECONFIG.encode()).decode()
KEY_B64 = base64.b64encode(KEY_PEM).decode()
HEADER = TOKEN.split(".")[0]  # a token's segment short enough for a label value
NEEDLES = [
    TOKEN.encode(),
    *(part.encode() for part in TOKEN.split(".")),
    *(line for line in KEY_PEM.splitlines() if line and not line.startswith(b"-----")),
    KUBECONFIG_B64.encode(),
    KEY_B64.encode(),
    b"env-t0ken-value",
]


def planted_records() -> dict[str, object]:
    """One record of each type the backends return, with secrets planted wherever they could be."""
    assert len(HEADER) <= 63 and LABEL_VALUE.fullmatch(HEADER), "the planted label must be valid"
    pod_manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"annotations": {}, "labels": {"app": "curl"}, "name": "curl", "namespace": "sample"},
        "spec": {
            "containers": [
                {
                    "env": [
                        {"name": "API_TOKEN", "value": TOKEN},
                        {"name": "EXTRA", "value": "env-t0ken-value"},
                        {"name": "TLS_KEY", "value": KEY_PEM.decode()},
                    ],
                    "image": "curlimages/curl",
                    "name": "curl",
                }
            ]
        },
    }
    return {
        "remote secret, stringData": Secret(
            "istio-remote-secret-cluster2",
            "istio-system",
            labels={"istio/multiCluster": "true", "planted": HEADER},
            annotations=_applied_secret({"stringData": {"cluster2": KUBECONFIG}}),
            data=SecretData({"cluster2": KUBECONFIG.encode()}),
        ),
        "remote secret, data": Secret(
            "istio-remote-secret-cluster2",
            "istio-system",
            labels={"istio/multiCluster": "true"},
            annotations=_applied_secret({"data": {"cluster2": KUBECONFIG_B64}}),
            data=SecretData({"cluster2": KUBECONFIG.encode()}),
        ),
        "cacerts, stringData and data": Secret(
            "cacerts",
            "istio-system",
            annotations=_applied_secret(
                {"data": {"ca-key.pem": KEY_B64}, "stringData": {"key.pem": KEY_PEM.decode()}}, "cacerts"
            ),
            data=SecretData({"ca-key.pem": KEY_PEM, "token": TOKEN.encode()}),
        ),
        "secret given plain dict data": Secret("s", "ns", data={"token": TOKEN.encode()}),  # type: ignore[arg-type]
        "secret data": SecretData({"ca-key.pem": KEY_PEM, "token": TOKEN.encode()}),
        "annotations": base.KeysOnly({LAST_APPLIED: _last_applied({"stringData": {"k": KUBECONFIG}})}),
        "pod": Pod(
            "curl",
            "sample",
            labels={"app": "curl"},
            annotations={LAST_APPLIED: _last_applied(pod_manifest), "planted": TOKEN},
            containers=("curl",),
        ),
        "service": Service(
            "helloworld",
            "sample",
            {"app": "helloworld"},
            cluster_ip="10.96.0.10",
            port_specs=(base.PortSpec(5000, "http", app_protocol="http"),),
        ),
        "port spec": base.PortSpec(5000, "http", target_port="http"),
        "node": Node("node-1", {"topology.kubernetes.io/zone": "us-east-1a"}),
        "exec result": ExecResult(("curl", "-s", "helloworld:5000/hello"), "Hello version: v1\n", "", 0),
    }


def renderings(record: object) -> dict[str, str]:
    """Every way a record is turned into text: by Python, pprint, IPython (what a notebook cell shows),
    logging's %r/%s, and pandas (a record in a DataFrame cell), alone and inside containers."""
    bundle, _ = DisplayFormatter().format(record)
    nested = {"records": [record], "pair": (record, record)}
    frame = pd.DataFrame({"record": [record]})
    return {
        "repr": repr(record),
        "str": str(record),
        "format": f"{record}",
        "log %r": logging.LogRecord("meshnb", 10, __file__, 0, "%r", (record,), None).getMessage(),
        "log %s": logging.LogRecord("meshnb", 10, __file__, 0, "%s", (record,), None).getMessage(),
        "pprint": pprint.pformat(record),
        "pprint narrow": pprint.pformat(record, width=1),
        "pprint nested": pprint.pformat(nested, width=1),
        "pretty": pretty(record),
        "pretty narrow": pretty(record, max_width=1),
        "pretty nested": pretty(nested, max_width=1),
        "repr nested": repr(nested),
        **{f"display {mime}": str(data) for mime, data in bundle.items()},
        "pandas text": frame.to_string(),
        "pandas html": frame.to_html(),
    }


def _leaks(record: object, needles: list[bytes]) -> list[str]:
    """Where ``record``'s renderings show a needle."""
    return [
        f"{where}: {needle[:20]!r}..."
        for where, text in renderings(record).items()
        for needle in needles
        if needle in text.encode()
    ]


def _plain(mapping) -> dict[str, str]:
    """A KeysOnly or SecretData as a plain dict of text (for the test's own search, not a rendering)."""
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in mapping.items()}


def test_the_planted_secrets_are_there_to_be_found():
    records = planted_records()
    remote = records["remote secret, stringData"]
    assert TOKEN in remote.annotations[LAST_APPLIED] and remote.labels["planted"] in TOKEN
    assert KUBECONFIG_B64 in records["remote secret, data"].annotations[LAST_APPLIED]
    cacerts = records["cacerts, stringData and data"].annotations[LAST_APPLIED]
    assert KEY_B64 in cacerts and all(line.decode() in cacerts for line in KEY_PEM.splitlines())
    assert TOKEN in records["pod"].annotations[LAST_APPLIED]
    raw = [
        json.dumps(
            dataclasses.asdict(r),
            default=_plain,
        )
        if dataclasses.is_dataclass(r)
        else json.dumps(_plain(r))
        for r in records.values()
    ]
    assert all(any(needle.decode() in text for text in raw) for needle in NEEDLES)  # each one planted


@pytest.mark.parametrize("name", list(planted_records()))
def test_no_planted_secret_in_any_rendering_of_a_record(name):
    leaks = _leaks(planted_records()[name], NEEDLES)
    assert not leaks, f"{name} shows a secret in " + ", ".join(leaks)


def test_a_frame_of_records_shows_no_secret():
    """What a notebook does with a list of records: ``pd.DataFrame(cluster.list_secrets(...))`` (pandas
    turns dataclasses into rows with ``dataclasses.asdict``) and a Series of secrets' data."""
    records = [r for r in planted_records().values() if dataclasses.is_dataclass(r)]
    for rows in (records, [r for r in records if isinstance(r, Secret)], [planted_records()["pod"]]):
        frame = pd.DataFrame(rows)
        for text in (frame.to_string(), frame.to_html(), repr(frame), frame.to_csv()):
            assert not [n for n in NEEDLES if n in text.encode()], text[:300]
    series = pd.Series({"cluster1": planted_records()["secret data"]})
    assert not [n for n in NEEDLES if n in series.to_string().encode()]


def test_the_renderings_still_say_what_the_record_is():
    records = planted_records()
    remote = repr(records["remote secret, stringData"])
    assert "labels=KeysOnly(keys=['istio/multiCluster', 'planted'])" in remote
    assert f"annotations=KeysOnly(keys=[{LAST_APPLIED!r}, 'networking.istio.io/cluster'])" in remote
    assert "data=SecretData(keys=['cluster2'])" in remote
    assert repr(records["secret given plain dict data"]).endswith("data=SecretData(keys=['token']))")
    pod = repr(records["pod"])  # labels are the diagnostic vocabulary (app, version): values shown
    assert "labels={'app': 'curl'}" in pod
    assert f"annotations=KeysOnly(keys=[{LAST_APPLIED!r}, 'planted'])" in pod
    assert "'topology.kubernetes.io/zone': 'us-east-1a'" in repr(records["node"])
    assert "{'app': 'helloworld'}" in repr(records["service"])
    assert "Hello version: v1" in repr(records["exec result"])  # a command's output is the point of it


def test_records_stay_equal_and_readable_by_their_fields():
    records = planted_records()
    remote = records["remote secret, stringData"]
    assert remote.annotations[LAST_APPLIED].endswith("}\n") and remote.data.text("cluster2") == KUBECONFIG
    assert records["pod"] == Pod(**{f: getattr(records["pod"], f) for f in Pod.__dataclass_fields__})
    assert isinstance(records["secret given plain dict data"].data, SecretData)


def test_every_record_type_of_the_backend_contract_is_covered():
    covered = {type(record).__name__ for record in planted_records().values()}
    protocols = ("Cluster", "Mesh", "TriesKubeconfigs")
    records = {name for name in base.__all__ if name != "DEFAULT_TIMEOUT" and name not in protocols}
    assert records == covered


# ----------------------------------------------------------------------------------------------- backends
class _Recording:
    """A cluster that keeps every record it returns, for a triage to run through."""

    def __init__(self, cluster, seen: dict[str, list]):
        self._cluster, self._seen, self.name = cluster, seen, cluster.name

    def __getattr__(self, attr: str):
        method = getattr(self._cluster, attr)
        if not callable(method):
            return method

        def call(*args, **kwargs):
            result = method(*args, **kwargs)
            self._seen[attr].append(result)
            return result

        return call


def _records_of(results: dict[str, list]) -> list[object]:
    out = []
    for values in results.values():
        for value in values:
            out += value if isinstance(value, list) else [value]
    return [r for r in out if isinstance(r, (Pod, Service, Node, Secret, SecretData, ExecResult))]


@pytest.mark.parametrize("scenario", ["healthy", "remote-secret-wrong-key", "trust-mismatch"])
def test_no_planted_secret_in_the_records_a_triage_reads_from_the_simulated_mesh(scenario):
    mesh = meshnb.simulate(scenario)
    seen: dict[str, list] = collections.defaultdict(list)
    recording = type("Recording", (), {})()
    recording.clusters = {name: _Recording(c, seen) for name, c in mesh.clusters.items()}
    meshnb.triage(recording, allow_changes=True)
    records = _records_of(seen)
    kinds = {type(r).__name__ for r in records}
    assert kinds == {"Pod", "Service", "Node", "Secret", "SecretData", "ExecResult"}
    remote = [r for r in records if isinstance(r, Secret) and r.name.startswith("istio-remote-secret-")]
    assert remote and all(
        mesh.pki.token(r.name.rsplit("-", 1)[1]) in r.annotations[LAST_APPLIED] for r in remote
    )
    needles = planted_secrets(mesh)
    for record in records:
        leaks = _leaks(record, needles)
        assert not leaks, f"{type(record).__name__} shows a secret in " + ", ".join(leaks)


def test_simulated_remote_secrets_carry_kubectl_applys_annotation():
    """As ``istioctl create-remote-secret | kubectl apply -f -`` leaves them, so every planted-secret
    test (snapshots, reports, notebooks, logs) also searches for the token in the annotation."""
    mesh = meshnb.simulate("remote-secret-wrong-key")
    (secret,) = mesh.clusters["cluster1"].list_secrets("istio-system", "istio/multiCluster=true")
    applied = json.loads(secret.annotations[LAST_APPLIED])
    assert applied["metadata"]["annotations"] == {"networking.istio.io/cluster": "cluster2"}
    assert applied["stringData"] == {"kubeconfig": secret.data.text("kubeconfig")}
    assert mesh.pki.token("cluster2") in secret.annotations[LAST_APPLIED]


def test_no_planted_secret_in_the_kube_backends_records_or_logs(tmp_path, caplog):
    """The kube backend builds its records from the API's JSON (the simulated mesh served over HTTP):
    they render as safely, and its debug log (and the kubernetes client's) names no secret."""
    mesh = meshnb.simulate()
    servers = {name: FakeApiServer(cluster, token="t0ken") for name, cluster in mesh.clusters.items()}
    for server in servers.values():
        server.start()
    try:
        path = write_kubeconfig(tmp_path / "kubeconfig", servers)
        with caplog.at_level(logging.DEBUG), connect(list(servers), path, timeout=10) as kube:
            cluster = kube.clusters["cluster1"]
            records = [
                *cluster.list_secrets("istio-system"),
                *cluster.list_secrets("istio-system", "istio/multiCluster=true"),
                cluster.read_secret("istio-system", "cacerts"),
                cluster.read_secret("istio-system", "istio-remote-secret-cluster2"),
                *cluster.list_pods("sample"),
            ]
    finally:
        for server in servers.values():
            server.stop()
    remote = next(r for r in records if isinstance(r, Secret) and r.name == "istio-remote-secret-cluster2")
    assert mesh.pki.token("cluster2") in remote.annotations[LAST_APPLIED]  # it did come through
    needles = planted_secrets(mesh)
    for record in records:
        leaks = _leaks(record, needles)
        assert not leaks, f"{type(record).__name__} shows a secret in " + ", ".join(leaks)
    log_text = "\n".join(r.getMessage() for r in caplog.records).encode()
    assert caplog.records and not [n for n in needles if n in log_text]
