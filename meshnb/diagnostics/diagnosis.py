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

import re
from dataclasses import dataclass, field
from typing import Any

from meshnb.diagnostics.connectivity import STEP_NETWORK
from meshnb.diagnostics.finding import Finding
from meshnb.diagnostics.load_balancing import STEP_CONNECTIVITY
from meshnb.diagnostics.locality import STEP_BY_DESIGN
from meshnb.diagnostics.remote_secrets import STEP_CREATE, STEP_KEY, STEP_LOGS

__all__ = ["Cause", "Diagnosis", "diagnose"]

#: Request errors that point at the network rather than at TLS or the application.
NETWORK_ERRORS = ("timeout", "refused", "reset", "connect_timeout", "connect_failure")
#: A median latency this slow from a cluster that only reached itself: its proxy waited for connection
#: timeouts towards the remote gateway before retrying locally (Envoy's default connect timeout is 10 s).
SLOW_MS = 1000.0


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
        return cls(**{**data, "clusters": tuple(data.get("clusters", ()))})


@dataclass
class Diagnosis:
    """The causes, most likely first (the guide's order: network, trust, control plane, locality)."""

    causes: list[Cause] = field(default_factory=list)

    @property
    def summary(self) -> str:
        if not self.causes:
            return "no problem found: every cluster reaches every other cluster's workloads"
        first, *rest = self.causes
        text = f"most likely: {first.title}"
        return text + (f"; also: {'; '.join(c.title for c in rest)}" if rest else "")

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary, "causes": [c.to_dict() for c in self.causes]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Diagnosis:
        return cls([Cause.from_dict(c) for c in data.get("causes", [])])


def _rows(finding: Finding | None, table: str = "clusters", key: str = "cluster") -> dict[str, dict]:
    if finding is None or table not in finding.evidence:
        return {}
    return {row[key]: row for row in finding.evidence[table].to_dict("records")}


def _local_only(lb: Finding | None) -> dict[str, dict]:
    """Source clusters whose requests never reached another cluster."""
    return {
        name: row
        for name, row in _rows(lb, "sources", "source_cluster").items()
        if row["status"] == "fail" and not row["remote_share"]
    }


def _network_errors(lb: Finding | None) -> dict[str, tuple[int, int]]:
    """(network errors, requests) per source cluster of the load-balancing samples."""
    if lb is None or "samples" not in lb.evidence:
        return {}
    samples = lb.evidence["samples"]
    kinds = samples["error_kind"].astype("string").fillna("")
    bad = samples[kinds.isin(NETWORK_ERRORS)].groupby("source_cluster").size()
    total = samples.groupby("source_cluster").size()
    return {name: (int(bad.get(name, 0)), int(total[name])) for name in total.index if bad.get(name, 0)}


def _slow_local_only(lb: Finding | None) -> dict[str, float]:
    """Median latency of source clusters that only reached themselves, where it is over SLOW_MS."""
    if lb is None or "samples" not in lb.evidence:
        return {}
    medians = lb.evidence["samples"].groupby("source_cluster")["latency_ms"].median()
    return {name: float(medians[name]) for name in _local_only(lb) if medians.get(name, 0.0) > SLOW_MS}


def _network(findings: dict[str, Finding]) -> Cause | None:
    probe = findings.get("connectivity")
    if probe is not None and probe.status == "fail":
        failed = probe.evidence["probes"].query("outcome != 'ok'")
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
    endpoints = _rows(findings.get("endpoints"))
    holds_remote = {name for name, row in endpoints.items() if row["status"] == "pass"}
    hit = {n: c for n, c in _network_errors(findings.get("load-balancing")).items() if n in holds_remote}
    slow = {n: ms for n, ms in _slow_local_only(findings.get("load-balancing")).items() if n in holds_remote}
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


def _trust(findings: dict[str, Finding]) -> Cause | None:
    trust = findings.get("trust")
    if trust is None or trust.status != "fail":
        return None
    failing = {name: row for name, row in _rows(trust).items() if row["status"] == "fail"}
    evidence = [f"{name}: {row['detail']}" for name, row in sorted(failing.items())]
    samples = findings.get("load-balancing")
    if samples is not None and "samples" in samples.evidence:
        tls = int((samples.evidence["samples"]["error_kind"].astype("string") == "tls").sum())
        if tls:
            evidence.append(f"{tls} requests failed with a TLS certificate error")
    return Cause(
        "trust",
        "the clusters do not share a root of trust (their cacerts chain to different roots)",
        tuple(sorted(failing)),
        evidence,
        trust.next_steps[0]
        if trust.next_steps
        else "Plug in certificates from one shared root in every cluster.",
    )


_MISSING = re.compile(r"no remote secret for (\S+?)(?:;|$)")


def _control_plane(findings: dict[str, Finding]) -> list[Cause]:
    secrets = _rows(findings.get("remote-secrets"))
    endpoints = _rows(findings.get("endpoints"))
    local_only = _local_only(findings.get("load-balancing"))
    missing, wrong_key, other = {}, {}, {}
    for name, row in secrets.items():
        if row["status"] != "fail":
            continue
        detail = row["detail"]
        if _MISSING.search(detail):
            missing[name] = detail
        elif "data key" in detail:
            wrong_key[name] = detail
        else:
            other[name] = detail

    def support(name: str) -> list[str]:
        found = []
        if endpoints.get(name, {}).get("status") == "fail":
            found.append(f"{name}'s proxy: {endpoints[name]['detail']}")
        if name in local_only:
            found.append(f"{name}: only {local_only[name]['versions']} answered")
        return found

    causes = []
    for key, group, title, step in (
        ("remote-secret-missing", missing, "a remote secret is missing", STEP_CREATE),
        ("remote-secret-key", wrong_key, "a remote secret's data key is not the cluster name", STEP_KEY),
        ("remote-secret", other, "a remote secret cannot be used", STEP_LOGS),
    ):
        if not group:
            continue
        causes.append(
            Cause(
                key,
                f"{title} in {', '.join(sorted(group))}",
                tuple(sorted(group)),
                [f"{name}: {detail}" for name, detail in sorted(group.items())]
                + [line for name in sorted(group) for line in support(name)],
                step,
            )
        )
    explained = set(secrets) & {c for cause in causes for c in cause.clusters}
    blind = sorted(n for n, row in endpoints.items() if row["status"] == "fail" and n not in explained)
    if blind:
        causes.append(
            Cause(
                "control-plane",
                f"istiod in {', '.join(blind)} gives its proxies no endpoints of the other clusters",
                tuple(blind),
                [f"{name}'s proxy: {endpoints[name]['detail']}" for name in blind],
                "Read istiod's logs in those clusters for remote-cluster errors.",
            )
        )
    return causes


def _locality(findings: dict[str, Finding]) -> Cause | None:
    rows = _rows(findings.get("locality"))
    local_only = _local_only(findings.get("load-balancing"))
    preferred = sorted(n for n, row in rows.items() if row["status"] == "warn" and n in local_only)
    if not preferred:
        return None
    return Cause(
        "locality",
        f"locality load balancing keeps {', '.join(preferred)}'s traffic local, by design",
        tuple(preferred),
        [f"{name}: {rows[name]['detail']}" for name in preferred],
        STEP_BY_DESIGN,
        by_design=True,
    )


def _unreachable(findings: dict[str, Finding]) -> Cause | None:
    seen: dict[str, str] = {}
    for finding in findings.values():
        for key in ("cluster", "source_cluster"):
            for table in finding.evidence.values():
                if key not in table or "status" not in table or "detail" not in table:
                    continue
                for row in table[table["status"] == "error"].to_dict("records"):
                    seen.setdefault(row[key], f"{finding.check}: {row['detail']}")
    if not seen:
        return None
    return Cause(
        "unreachable",
        f"{', '.join(sorted(seen))} could not be checked",
        tuple(sorted(seen)),
        [f"{name}: {detail}" for name, detail in sorted(seen.items())],
        "Check the context, the API server's address and the credentials, and the RBAC role in the README.",
    )


def diagnose(findings: dict[str, Finding]) -> Diagnosis:
    """The causes the findings (keyed by check name) point at, most likely first."""
    causes = [c for c in (_unreachable(findings), _network(findings), _trust(findings)) if c]
    causes += _control_plane(findings)
    if locality := _locality(findings):
        causes.append(locality)
    explained = {c for cause in causes for c in cause.clusters}
    unexplained = {
        name: row
        for name, row in _rows(findings.get("load-balancing"), "sources", "source_cluster").items()
        if row["status"] == "fail" and name not in explained
    }
    if unexplained:
        causes.append(
            Cause(
                "unexplained",
                f"{', '.join(sorted(unexplained))} fail(s) the load-balancing check for no reason found here",
                tuple(sorted(unexplained)),
                [f"{name}: {row['detail']}" for name, row in sorted(unexplained.items())],
                "Run triage with changes allowed (the connectivity probe), and compare "
                "`istioctl proxy-config endpoint` with the endpoints check.",
            )
        )
    return Diagnosis(causes)
