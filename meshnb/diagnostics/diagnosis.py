"""From the findings of every check to the most likely causes, as the guide's decision path reads them.

The guide: no cross-cluster responses -> is it the network (the uninjected probe, or requests that
time out towards the remote gateway)? -> trust (different roots)? -> the control plane (the proxy holds
only local endpoints: remote secrets, istiod's logs)? Locality preference explains local-only traffic
by design. Each cause names the clusters it explains, the evidence, and the next step; several faults
at once give several causes.

>>> import meshnb
>>> from meshnb.diagnostics.triage import triage
>>> [c.key for c in triage(meshnb.simulate("remote-secret-wrong-key")).diagnosis.causes]
['remote-secret-key']
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from meshnb.diagnostics.ambient import headline as ambient_headline
from meshnb.diagnostics.ambient import steps as ambient_steps
from meshnb.diagnostics.by_hand import Hand
from meshnb.diagnostics.check import Check
from meshnb.diagnostics.connectivity import STEP_NETWORK
from meshnb.diagnostics.credentials import credential_causes, credential_clusters
from meshnb.diagnostics.endpoints import STEP_GATEWAY, step_stale
from meshnb.diagnostics.finding import Finding
from meshnb.diagnostics.identity import headline as identity_headline
from meshnb.diagnostics.identity import steps as identity_steps
from meshnb.diagnostics.load_balancing import STEP_CONNECTIVITY
from meshnb.diagnostics.locality import STEP_BY_DESIGN
from meshnb.diagnostics.registry import CHECKS
from meshnb.diagnostics.remote_secrets import STEP_LOGS, fixes
from meshnb.diagnostics.sameness import drift_steps, step_same
from meshnb.diagnostics.trust import STEP_ROTATE, step_create, step_plugin
from meshnb.readers.curl import NETWORK_KINDS

if TYPE_CHECKING:
    from meshnb.backends.base import Mesh

__all__ = ["Cause", "Diagnosis", "diagnose"]

#: A median latency this slow from a cluster that only reached itself: its proxy waited for connection
#: timeouts towards the remote gateway before retrying locally (Envoy's default connect timeout is 10 s).
SLOW_MS = 1000.0
#: Rows of each check's per-cluster verdict table, by check, then by cluster.
Rows = dict[str, dict[str, dict[str, Any]]]
#: Trust reasons that break trust itself (an expired certificate is fixed another way).
TRUST_BROKEN = {"cacerts-missing", "peer-cacerts-missing", "different-root", "not-trusted", "chain-broken"}


@dataclass
class Cause:
    """One explanation: ``key`` (a stable word), a title, the clusters it explains, why, what next."""

    key: str
    title: str
    clusters: tuple[str, ...] = ()
    evidence: list[str] = field(default_factory=list)
    next_step: str = ""
    by_design: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the cause's fields; :meth:`from_dict` reads it back."""
        return {
            "key": self.key,
            "title": self.title,
            "clusters": list(self.clusters),
            "evidence": list(self.evidence),
            "next_step": self.next_step,
            "by_design": self.by_design,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cause:
        """The cause a dict from :meth:`to_dict` describes."""
        return cls(**{**data, "clusters": tuple(data.get("clusters", ()))})


@dataclass
class Diagnosis:
    """The causes, most likely first (the guide's order: network, trust, control plane, locality)."""

    causes: list[Cause] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """One line: the most likely cause's title and the others', or that no problem was found."""
        if not self.causes:
            return "no problem found: every cluster reaches every other cluster's workloads"
        first, *rest = self.causes
        text = f"most likely: {first.title}"
        return text + (f"; also: {'; '.join(c.title for c in rest)}" if rest else "")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the summary and each cause's dict; :meth:`from_dict` reads it back."""
        return {"summary": self.summary, "causes": [c.to_dict() for c in self.causes]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Diagnosis:
        """The diagnosis a dict from :meth:`to_dict` describes (its summary is computed again)."""
        return cls([Cause.from_dict(c) for c in data.get("causes", [])])


def _verdict_rows(finding: Finding, check: Check | None) -> dict[str, dict[str, Any]]:
    """The rows of a Finding's per-cluster verdict table, by cluster (empty if it has none)."""
    table, key = check.verdicts if check else ("clusters", "cluster")
    frame = finding.evidence.get(table)
    if frame is None or not {"status", "reason", "detail", key} <= set(frame.columns):
        return {}
    return {row[key]: row for row in frame.to_dict("records")}


def _with(rows: dict[str, dict[str, Any]], *reasons: str) -> dict[str, dict[str, Any]]:
    return {name: row for name, row in rows.items() if row["reason"] in reasons}


def _local_only(rows: Rows) -> dict[str, dict[str, Any]]:
    """Source clusters whose requests never reached another cluster."""
    return _with(rows.get("load-balancing", {}), "only-local-versions")


def _samples(findings: dict[str, Finding]) -> Any:
    finding = findings.get("load-balancing")
    return None if finding is None else finding.evidence.get("samples")


def _network_errors(findings: dict[str, Finding], rows: Rows) -> dict[str, tuple[int, int]]:
    """(network errors, requests) per source cluster of the load-balancing samples.

    ztunnel resets the connection whatever failed after it accepted it, a handshake too: an ambient
    client's resets are not the network's where trust fails.
    """
    samples = _samples(findings)
    if samples is None:
        return {}
    kinds = samples["error_kind"].astype("string").fillna("")
    modes = findings["load-balancing"].details.get("modes", {})
    trust = rows.get("trust", {})
    untrusted = [n for n, row in trust.items() if row["status"] == "fail" and modes.get(n) == "ambient"]
    network = kinds.isin(NETWORK_KINDS) & ~(samples["source_cluster"].isin(untrusted) & (kinds == "reset"))
    bad = samples[network].groupby("source_cluster", observed=True).size()
    total = samples.groupby("source_cluster", observed=True).size()
    return {name: (int(bad.get(name, 0)), int(total[name])) for name in total.index if bad.get(name, 0)}


def _slow_local_only(findings: dict[str, Finding], rows: Rows) -> dict[str, float]:
    """Median latency of source clusters that only reached themselves, where it is over SLOW_MS."""
    samples = _samples(findings)
    if samples is None:
        return {}
    medians = samples.groupby("source_cluster", observed=True)["latency_ms"].median()
    return {name: float(medians[name]) for name in _local_only(rows) if medians.get(name, 0.0) > SLOW_MS}


def _network(findings: dict[str, Finding], rows: Rows) -> Cause | None:
    probe = findings.get("connectivity")
    probes = None if probe is None else probe.evidence.get("probes")
    if probes is not None and "reason" in probes and (probes["reason"] != "ok").any():
        failed = probes[probes["reason"] != "ok"]
        return Cause(
            "network",
            "the network between the clusters drops pod-to-pod traffic (a firewall or routing)",
            tuple(sorted(set(failed["source_cluster"]))),
            [
                f"probe {r.source_cluster} -> {r.dest_cluster} ({r.pod_ip}): {r.outcome}"
                for r in failed.itertuples()
            ],
            STEP_NETWORK,
        )
    holds_remote = set(_with(rows.get("endpoints", {}), "ok"))
    hit = {n: c for n, c in _network_errors(findings, rows).items() if n in holds_remote}
    slow = {n: ms for n, ms in _slow_local_only(findings, rows).items() if n in holds_remote}
    if not hit and not slow:
        return None
    return Cause(
        "network",
        "requests towards the other clusters fail on the way (network or firewall to the east-west gateway)",
        tuple(sorted(hit.keys() | slow.keys())),
        [
            f"{name}: {bad} of {total} requests failed with a timeout, refusal or reset, although its proxy "
            "holds the other clusters' endpoints"
            for name, (bad, total) in sorted(hit.items())
        ]
        + [
            f"{name}: only its own cluster answered, after {ms:.0f} ms (median): its proxy waits for "
            "connections to the other clusters' gateway to time out, then retries locally"
            for name, ms in sorted(slow.items())
        ],
        STEP_CONNECTIVITY
        + " (In triage: allow changes.) Check the firewall for the east-west gateways' port 15443.",
    )


def _trust(findings: dict[str, Finding], rows: Rows, hand: Hand) -> Cause | None:
    failing = {name: row for name, row in rows.get("trust", {}).items() if row["status"] == "fail"}
    if not failing:
        return None
    evidence = [f"{name}: {row['detail']}" for name, row in sorted(failing.items())]
    samples = _samples(findings)
    if samples is not None:
        tls = int((samples["error_kind"].astype("string") == "tls").sum())
        if tls:
            evidence.append(f"{tls} requests failed with a TLS certificate error")
    reasons = {row["reason"] for row in failing.values()}
    details = findings["trust"].details
    namespace = details.get("namespace", "istio-system")
    if "cacerts-missing" in reasons:
        missing = sorted(_with(failing, "cacerts-missing"))
        step = step_create(hand, missing, namespace, details.get("secret", "cacerts"))
    elif reasons & TRUST_BROKEN or "cacerts-unreadable" in reasons:
        step = step_plugin(hand, sorted(failing), namespace)
    else:
        step = STEP_ROTATE
    return Cause(
        "trust",
        "the clusters do not share a root of trust (their cacerts chain to different roots)",
        tuple(sorted(failing)),
        evidence,
        step,
    )


def _control_plane(findings: dict[str, Finding], rows: Rows, hand: Hand) -> list[Cause]:
    secrets = rows.get("remote-secrets", {})
    endpoints = rows.get("endpoints", {})
    local_only = _local_only(rows)
    failing = {name: row for name, row in secrets.items() if row["status"] == "fail"}
    down = _with(failing, "istiod-missing")
    missing = _with(failing, "secret-missing")
    wrong_key = _with(failing, "wrong-data-key")
    syncing = _with(failing, "remote-syncing")
    specific = credential_clusters(rows)  # a credentials cause names them more precisely
    other = {
        n: row
        for n, row in failing.items()
        if n not in down | missing | wrong_key | syncing and n not in specific
    }

    def support(name: str) -> list[str]:
        found = []
        if endpoints.get(name, {}).get("status") == "fail":
            found.append(f"{name}'s proxy: {endpoints[name]['detail']}")
        if name in local_only:
            found.append(f"{name}: only {local_only[name]['versions']} answered")
        return found

    causes = []
    for key, group, title in (
        ("istiod-down", down, "istiod is not running"),
        ("remote-secret-missing", missing, "a remote secret is missing"),
        ("remote-secret-key", wrong_key, "a remote secret's data key is not the cluster name"),
        ("remote-secret", other, "a remote secret cannot be used"),
        ("remote-syncing", syncing, "istiod is stuck syncing a remote cluster"),
    ):
        if not group:
            continue
        causes.append(
            Cause(
                key,
                f"{title} in {', '.join(sorted(group))}",
                tuple(sorted(group)),
                [f"{name}: {row['detail']}" for name, row in sorted(group.items())]
                + [line for name in sorted(group) for line in support(name)],
                " ".join(fixes(findings["remote-secrets"], hand, group)) or STEP_LOGS,
            )
        )
    causes += [Cause(**cause) for cause in credential_causes(findings, rows, hand)]
    explained = set(secrets) & {c for cause in causes for c in cause.clusters}
    # istiod holds the endpoints the proxy lacks: the proxy did not take them, or their network has no gateway
    for key, title, step in (
        (
            "proxy-stale",
            "the proxies in {} did not take the endpoints istiod holds",
            lambda group: step_stale(hand, {n: row["pod"] for n, row in group.items()}, _namespace(findings)),
        ),
        (
            "no-network-gateway",
            "istiod in {} knows no east-west gateway for another network",
            lambda _group: STEP_GATEWAY,
        ),
    ):
        group = {n: row for n, row in sorted(_with(endpoints, key).items()) if n not in explained}
        if group:
            causes.append(
                Cause(
                    key,
                    title.format(", ".join(group)),
                    tuple(group),
                    [f"{name}'s proxy: {row['detail']}" for name, row in group.items()]
                    + [line for name in group for line in support(name) if "proxy:" not in line],
                    step(group),
                )
            )
            explained |= set(group)
    blind = sorted(n for n, row in endpoints.items() if row["status"] == "fail" and n not in explained)
    if blind:
        causes.append(
            Cause(
                "control-plane",
                f"istiod in {', '.join(blind)} gives its proxies no endpoints of the other clusters",
                tuple(blind),
                [f"{name}'s proxy: {endpoints[name]['detail']}" for name in blind],
                f"Read istiod's logs in {', '.join(blind)} for remote-cluster errors.",
            )
        )
    return causes


def _namespace(findings: dict[str, Finding]) -> str:
    """The namespace of the service the endpoints check looked at."""
    finding = findings.get("endpoints")
    return "sample" if finding is None else str(finding.details.get("namespace", "sample"))


#: identity reasons that are no fault of the mesh (meshnb's own naming, what it could not read).
_IDENTITY_NOT_CAUSES = {"ok", "not-read", "cluster-name-differs"}


def _identity(findings: dict[str, Finding], rows: Rows, hand: Hand, known: list[Cause]) -> list[Cause]:
    """A cause per identity reason: cluster IDs, mesh ID and trust domain, networks and gateways.

    A remote secret under the wrong data key names its cluster otherwise than its istiod: the
    remote-secrets cause says so already.
    """
    keys = {cause.key for cause in known}
    namespace = (
        findings["identity"].details.get("namespace", "istio-system") if "identity" in findings else ""
    )
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    for name, row in rows.get("identity", {}).items():
        if row["status"] in ("fail", "warn") and row["reason"] not in _IDENTITY_NOT_CAUSES:
            groups.setdefault(row["reason"], {})[name] = row
    causes = []
    for reason, group in groups.items():
        if reason == "cluster-id-mismatch" and "remote-secret-key" in keys:
            continue
        names = sorted(group)
        causes.append(
            Cause(
                reason,
                identity_headline(reason, names, namespace),
                tuple(names),
                [f"{name}: {row['detail']}" for name, row in sorted(group.items())],
                " ".join(identity_steps({reason: names}, hand, namespace)),
            )
        )
    return causes


def _ambient(findings: dict[str, Finding], rows: Rows, hand: Hand) -> list[Cause]:
    """A cause per ambient reason, with its clusters and next step (what ambient clients miss)."""
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    for name, row in rows.get("ambient", {}).items():  # several gateways: the identity check's cause
        if row["status"] in ("fail", "warn") and row["reason"] != "several-gateways":
            groups.setdefault(row["reason"], {})[name] = row
    details = findings["ambient"].details if "ambient" in findings else {}
    namespace, service = str(details.get("namespace", "sample")), str(details.get("service", "helloworld"))
    bare = [
        n for n, row in rows.get("ambient", {}).items() if row["status"] != "error" and not row["east_west"]
    ]
    return [
        Cause(
            f"ambient-{reason}",
            ambient_headline(reason, sorted(group)),
            tuple(sorted(group)),
            [f"{name}: {row['detail']}" for name, row in sorted(group.items())],
            " ".join(ambient_steps({reason: sorted(group)}, hand, namespace, service, sorted(bare))),
        )
        for reason, group in groups.items()
    ]


def _explained(causes: list[Cause], specific: list[Cause]) -> list[Cause]:
    """``causes``, then ``specific``, without the catch-all control-plane cause where they name its clusters.

    An ambient client's istiod sending ztunnel nothing of the other networks is said precisely there.
    """
    named = {c for cause in specific for c in cause.clusters}
    kept = [c for c in causes if not (c.key == "control-plane" and set(c.clusters) <= named)]
    return kept + specific


def _locality(findings: dict[str, Finding], rows: Rows) -> Cause | None:
    preferring = _with(rows.get("locality", {}), "prefers-local", "failover-blocked")
    preferred = sorted(n for n in preferring if n in _local_only(rows))
    if not preferred:
        return None
    return Cause(
        "locality",
        f"locality load balancing keeps {', '.join(preferred)}'s traffic local, by design",
        tuple(preferred),
        [f"{name}: {preferring[name]['detail']}" for name in preferred],
        STEP_BY_DESIGN,
        by_design=True,
    )


def _config_drift(findings: dict[str, Finding], rows: Rows, hand: Hand) -> Cause | None:
    """The service's Istio config differing between clusters: a cause of its own, a warning only.

    The clusters then route it differently: retries, load balancing, TLS, what a sidecar may reach.
    """
    drifted = _with(rows.get("sameness", {}), "config-drift")
    if not drifted:
        return None
    names = sorted(drifted)
    return Cause(
        "config-drift",
        f"the service's Istio config differs between {', '.join(names)}",
        tuple(names),
        [f"{name}: {row['detail']}" for name, row in sorted(drifted.items())],
        " ".join(drift_steps(hand, findings["sameness"].evidence["drift"])),
    )


def _sameness(findings: dict[str, Finding], rows: Rows, causes: list[Cause], hand: Hand) -> list[Cause]:
    """``causes`` with the service missing in a cluster, or its ports differing, as a cause of its own.

    Only when clusters fail the load-balancing or endpoints check and no other cause explains them but
    the catch-all "control-plane" one, which this replaces when it names no other cluster (a missing
    Service or a renamed port is why istiod gives no endpoints of the other clusters). A config drift
    is :func:`_config_drift`'s.
    """
    odd = _with(rows.get("sameness", {}), "service-missing", "port-drift")
    explained = {c for cause in causes if cause.key != "control-plane" for c in cause.clusters}
    failing = sorted(
        {
            name
            for check in ("load-balancing", "endpoints")
            for name, row in rows.get(check, {}).items()
            if row["status"] == "fail" and name not in explained
        }
    )
    if not odd or not failing:
        return causes
    details = findings["sameness"].details
    missing = sorted(_with(odd, "service-missing"))
    how = f"missing in {', '.join(missing)}" if missing else "its ports differ"
    cause = Cause(
        "sameness",
        f"the service is not the same in every cluster ({how})",
        tuple(failing),
        [f"{name}: {row['detail']}" for name, row in sorted(odd.items())],
        step_same(
            hand,
            missing,
            sorted(_with(odd, "port-drift")),
            str(details.get("namespace", "sample")),
            str(details.get("service", "helloworld")),
        ),
    )
    # the catch-all cause of exactly these clusters is this one; one of more clusters stays beside it
    out = [cause if c.key == "control-plane" and set(c.clusters) <= set(failing) else c for c in causes]
    return out if cause in out else [*out, cause]


def _unreachable(findings: dict[str, Finding], rows: Rows) -> Cause | None:
    seen: dict[str, str] = {}
    for check, by_cluster in rows.items():
        for name, row in by_cluster.items():
            if row["status"] == "error":
                seen.setdefault(name, f"{findings[check].check}: {row['detail']}")
    if not seen:
        return None
    return Cause(
        "unreachable",
        f"{', '.join(sorted(seen))} could not be checked",
        tuple(sorted(seen)),
        [f"{name}: {detail}" for name, detail in sorted(seen.items())],
        "Check the context, the API server's address and the credentials, and the RBAC role in the README.",
    )


def _held(details: Mapping[str, Any], sources: dict[str, dict[str, Any]], hand: Hand) -> str:
    """The guide's ``istioctl proxy-config endpoint`` on the curl pod of each source cluster."""
    ns = details.get("namespace", "sample")
    envoy = (
        f"outbound|{details.get('port', 5000)}||{details.get('service', 'helloworld')}.{ns}.svc.cluster.local"
    )
    return ", ".join(
        f"`{hand.istioctl(name, 'proxy-config', 'endpoint')} "
        f"{shlex.quote(row['source_pod'])}.{shlex.quote(ns)} --cluster {shlex.quote(envoy)}`"
        for name, row in sorted(sources.items())
    )


def _without_down(causes: list[Cause]) -> list[Cause]:
    """The causes with the clusters whose istiod is down taken out of "could not be checked".

    What cannot be read without istiod (an ambient client's view, /debug/ambientz) is its cause's.
    """
    down = {c for cause in causes if cause.key == "istiod-down" for c in cause.clusters}
    out = []
    for cause in causes:
        if cause.key == "unreachable" and down & set(cause.clusters):
            left = [c for c in cause.clusters if c not in down]
            if not left:
                continue
            evidence = [line for line in cause.evidence if line.split(":", 1)[0] in left]
            title = f"{', '.join(left)} could not be checked"
            out.append(replace(cause, title=title, clusters=tuple(left), evidence=evidence))
            continue
        out.append(cause)
    return out


def diagnose(
    findings: dict[str, Finding], checks: Mapping[str, Check] = CHECKS, mesh: Mesh | None = None
) -> Diagnosis:
    """The causes the findings (keyed by check name) point at, most likely first.

    Only data decide: each check's per-cluster ``status`` and ``reason`` words (its ``verdicts``
    table, declared in ``checks``: the registry's by default), numbers and error kinds; the sentences
    (summaries, details, next steps) are only quoted as evidence. The next steps' commands name the
    contexts of ``mesh``'s clusters (without a mesh: each cluster's name, as on the simulated mesh).
    """
    hand = Hand({}, {}) if mesh is None else Hand.of(mesh)
    rows = {name: _verdict_rows(finding, checks.get(name)) for name, finding in findings.items()}
    causes = [
        c for c in (_unreachable(findings, rows), _network(findings, rows), _trust(findings, rows, hand)) if c
    ]
    causes = _without_down(causes + _control_plane(findings, rows, hand))
    causes += _identity(findings, rows, hand, causes)
    causes = _explained(causes, _ambient(findings, rows, hand))
    if locality := _locality(findings, rows):
        causes.append(locality)
    causes = _sameness(findings, rows, causes, hand)
    if drift := _config_drift(findings, rows, hand):
        causes.append(drift)
    explained = {c for cause in causes for c in cause.clusters}
    unexplained = {
        name: row
        for name, row in rows.get("load-balancing", {}).items()
        if row["status"] == "fail" and name not in explained
    }
    if unexplained:
        causes.append(
            Cause(
                "unexplained",
                f"{', '.join(sorted(unexplained))} fail(s) the load-balancing check for no reason found here",
                tuple(sorted(unexplained)),
                [f"{name}: {row['detail']}" for name, row in sorted(unexplained.items())],
                "Run triage with changes allowed (the connectivity probe), and compare what the proxies hold "
                f"({_held(findings['load-balancing'].details, unexplained, hand)}) with the endpoints check.",
            )
        )
    return Diagnosis(causes)
