"""Credentials tried, read-only: whether each remote secret's kubeconfig does what istiod does with it.

The remote-secrets check reads the secrets; this one uses them. For every kubeconfig of every
``istio/multiCluster=true`` secret it asks the remote API server, from this machine and with the
kubeconfig held in memory only, who the token is (``/version``, a SelfSubjectReview) and whether it may
list and watch each resource istiod's controllers read in a remote cluster
(:data:`meshnb.backends.remote_api.READER_RIGHTS`, from Istio 1.31's source), with one
SelfSubjectAccessReview each: the API server answers a review and keeps nothing, so nothing is
created. Every server is tried at once, each within ``timeout`` seconds in all.

A token that is valid but may not list endpointslices is a finding of its own (istiod then stays
``syncing``, then ``timeout``, and the proxies get no endpoints of that cluster), as are an expired or
revoked token, a loopback or unreachable server, and a CA that does not verify the server. The token
never reaches a table, a log line or a message.

>>> import meshnb
>>> finding = check_credentials(meshnb.simulate("remote-secret-no-endpointslices"))
>>> finding.status, finding.evidence["clusters"]["reason"].tolist()
('fail', ['forbidden', 'ok'])
"""

from __future__ import annotations

import dataclasses
import logging
import shlex
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshnb.backends.base import Cluster, Mesh, TriesKubeconfigs
from meshnb.backends.remote_api import (
    READER_RIGHTS,
    REASONS,
    TRY_TIMEOUT,
    Attempt,
    Right,
    common_fields,
    read_target,
    try_all,
)
from meshnb.diagnostics.by_hand import Hand
from meshnb.diagnostics.check import Check, Option
from meshnb.diagnostics.fanout import Progress, Report, describe, error_row, per_cluster
from meshnb.diagnostics.finding import Finding, verdict
from meshnb.errors import MeshnbError
from meshnb.names import validate_name

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CAUSES",
    "FAILING",
    "check_credentials",
    "credential_causes",
    "credential_clusters",
    "fixes",
    "status_of",
]

log = logging.getLogger("meshnb")

CHECK = "credentials"
LABEL = "istio/multiCluster=true"
ANNOTATION = "networking.istio.io/cluster"
READER_ACCOUNT = "system:serviceaccount:istio-system:istio-reader-service-account"
#: The reasons that fail a cluster (a forbidden right fails it only when istiod needs it to sync).
#: A server that does not answer from here only warns: meshnb does not run where istiod does, and a
#: private address (an internal load balancer, a private endpoint) may answer istiod and not meshnb.
FAILING = ("token-expired", "token-rejected", "ca-mismatch", "server-loopback")


def status_of(attempt: Attempt) -> str:
    """An attempt's status: fail, or warn (a loopback server that answered, an unneeded right, not tried).

    A server that does not answer from here warns too (see :data:`FAILING`).

    >>> status_of(Attempt("https://10.0.0.1:6443", "token-expired")), status_of(Attempt("https://x", "ok"))
    ('fail', 'pass')
    """
    if attempt.reason in FAILING:
        return "fail"
    if attempt.reason == "forbidden":
        return "fail" if any(check.right.needed for check in attempt.denied) else "warn"
    if attempt.reason in ("not-tried", "unreachable") or attempt.loopback:
        return "warn"
    return "pass"


def _reason(attempt: Attempt) -> str:
    """The reason word a row shows: a loopback server that answered is ``server-loopback`` (a warning)."""
    if attempt.reason == "ok" and attempt.loopback:
        return "server-loopback"
    return attempt.reason


@dataclass
class _Tried:
    attempts: list[dict[str, Any]] = field(default_factory=list)
    rights: list[dict[str, Any]] = field(default_factory=list)


class _Held:
    """One cluster's remote secrets: (secret, data key, remote cluster) and, beside, each kubeconfig."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str, str]] = []
        self.configs: list[bytes] = []  # in memory only, dropped once tried

    def __repr__(self) -> str:
        return f"_Held({self.found!r})"


def _read(name: str, cluster: Cluster, report: Report, *, namespace: str) -> _Held:
    """``name``'s remote secrets, with their kubeconfigs (held, never shown)."""
    report(0, 1)
    held = _Held()
    for secret in cluster.list_secrets(namespace, LABEL):
        for key, value in secret.data.items():
            remote = secret.annotations.get(ANNOTATION) or key
            held.found.append((f"{secret.namespace}/{secret.name}", key, remote))
            held.configs.append(value)
    report(1, 1)
    return held


def _try_every(
    mesh: TriesKubeconfigs, helds: Mapping[str, _Held], down: Collection[str], timeout: float
) -> dict[str, list[Attempt]]:
    """Every held kubeconfig tried at once (but those for a cluster meshnb itself cannot reach)."""
    jobs = [(name, i) for name, held in helds.items() for i in range(len(held.configs))]

    def attempt(job: tuple[str, int]) -> Attempt:
        name, index = job
        config, remote = helds[name].configs[index], helds[name].found[index][2]
        if remote in down:  # the same server, most likely: trying it again would only wait
            return Attempt(
                reason="not-tried",
                detail=f"not tried: {remote}'s API server does not answer meshnb's own context either",
                **common_fields(read_target(config)),
            )
        try:
            return mesh.try_kubeconfig(config, timeout=timeout)
        except MeshnbError as exc:  # one bad secret never hides the others
            return Attempt(server=None, reason="not-tried", detail=describe(exc))

    results = try_all(jobs, attempt, max_workers=16)
    for held in helds.values():
        held.configs.clear()  # the kubeconfigs are not kept past their attempts
    tried: dict[str, list[Attempt]] = {name: [] for name in helds}
    for (name, _index), done in zip(jobs, results, strict=True):
        tried[name].append(done)
    return tried


def _rows(name: str, held: _Held, results: list[Attempt]) -> _Tried:
    """The attempts and rights rows of one cluster's secrets."""
    tried = _Tried()
    for (held_secret, key, remote), done in zip(held.found, results, strict=True):
        where = {"cluster": name, "secret": held_secret, "remote_cluster": remote, "server": done.server}
        tried.attempts.append(
            {
                **where,
                "data_key": key,
                "auth": done.auth,
                "identity": done.identity,
                "identity_source": done.identity_source,
                "version": done.version,
                "token_expiry": done.token_expiry,
                "status": status_of(done),
                "reason": _reason(done),
                "detail": done.detail,
            }
        )
        verdicts: dict[Right, dict[str, bool]] = {}
        for check in done.rights:
            verdicts.setdefault(check.right, {})[check.verb] = check.allowed
        tried.rights += [
            {
                "cluster": name,
                "secret": held_secret,
                "remote_cluster": remote,
                "group": right.group,
                "resource": right.resource,
                "namespace": right.namespace,
                "needed": right.needed,
                "list": verbs.get("list"),
                "watch": verbs.get("watch"),
            }
            for right, verbs in verdicts.items()
        ]
    return tried


_ORDER = {"fail": 0, "warn": 1, "pass": 2}


def _verdict(attempts: list[dict[str, Any]]) -> tuple[str, str, str]:
    """A cluster's status, reason (its worst attempt's, the first in REASONS) and detail."""
    if not attempts:
        return "pass", "ok", "no remote secret to try"
    worst = min(attempts, key=lambda row: (_ORDER[row["status"]], _rank(row["reason"])))
    status = worst["status"]
    if status == "pass":
        remotes = ", ".join(sorted({row["remote_cluster"] for row in attempts}))
        return "pass", "ok", f"every remote secret's token works against its server ({remotes})"
    lines = [
        f"{row['secret']} -> {row['remote_cluster']} ({row['server'] or 'no server'}): {row['detail']}"
        for row in attempts
        if row["status"] != "pass"
    ]
    return status, worst["reason"], "; ".join(lines)


def _rank(reason: str) -> int:
    return REASONS.index(reason) if reason in REASONS else len(REASONS)


def check_credentials(
    mesh: Mesh,
    namespace: str = "istio-system",
    *,
    timeout: float = TRY_TIMEOUT,
    remote_secrets: Finding | None = None,
    progress: Progress | None = None,
) -> Finding:
    """Try every remote secret's kubeconfig against its server, read-only.

    Evidence: ``clusters`` (a verdict per cluster holding secrets), ``attempts`` (one row per
    kubeconfig: identity, version, reason) and ``rights`` (each resource istiod reads: whether the token
    may ``list`` and ``watch`` it). ``remote_secrets`` (triage passes it) gives the namespace that check read.

    >>> import meshnb
    >>> check_credentials(meshnb.simulate()).status
    'pass'
    """
    from meshnb.schemas import frame

    if remote_secrets is not None:
        namespace = remote_secrets.details.get("namespace", namespace)
    validate_name(namespace, "namespace")
    if not isinstance(mesh, TriesKubeconfigs):
        return Finding(CHECK, "skipped", f"{type(mesh).__name__} cannot try kubeconfigs")
    read = per_cluster(
        mesh, lambda name, cluster, report: _read(name, cluster, report, namespace=namespace), progress
    )
    down = {name for name, outcome in read.items() if isinstance(outcome, MeshnbError)}
    helds = {name: outcome for name, outcome in read.items() if isinstance(outcome, _Held)}
    tried = _try_every(mesh, helds, down, timeout)
    outcomes = {
        name: outcome if isinstance(outcome, MeshnbError) else _rows(name, outcome, tried[name])
        for name, outcome in read.items()
    }
    rows, attempts, rights = [], [], []
    for name, outcome in outcomes.items():
        if isinstance(outcome, MeshnbError):
            rows.append(error_row(name, outcome, secrets=0))
            continue
        status, reason, detail = _verdict(outcome.attempts)
        secrets = len({row["secret"] for row in outcome.attempts})
        rows.append(
            {"cluster": name, "status": status, "reason": reason, "secrets": secrets, "detail": detail}
        )
        attempts += outcome.attempts
        rights += outcome.rights
    table = frame("credentials.clusters", rows)
    status, summary = verdict(table)
    if status == "pass":
        summary = (
            "every remote secret's token is accepted by its server and may read what istiod reads"
            if attempts
            else "no remote secret to try"
        )
    finding = Finding(
        check=CHECK,
        status=status,
        summary=summary,
        evidence={
            "clusters": table,
            "attempts": frame("credentials.attempts", attempts),
            "rights": frame("credentials.rights", rights),
        },
        details={"namespace": namespace, "label": LABEL, "timeout": timeout},
        headline=_headline(attempts, rights) if status in ("fail", "warn") else summary,
    )
    if status == "pass":
        return finding
    failing = set(table.loc[table["status"].isin(["fail", "warn"]), "cluster"])
    steps = fixes(finding, Hand.of(mesh), failing)
    if status == "error":
        steps.append(
            "A cluster could not be read: check the context, the API server and RBAC (list secrets in "
            f"{namespace})."
        )
    return dataclasses.replace(finding, next_steps=steps)


def _allowed(right: Mapping[str, Any]) -> bool:
    """Whether a row of the rights table may do both (list and watch)."""
    return right["list"] is True and right["watch"] is True


def _denied(row: Mapping[str, Any], rights: list[dict[str, Any]]) -> str:
    """What a forbidden attempt's token may not do, endpointslices first: 'carries a valid token ...'."""
    names = {
        f"{r['resource']}.{r['group']}" if r["group"] else r["resource"]
        for r in rights
        if r["cluster"] == row["cluster"] and r["secret"] == row["secret"] and not _allowed(r)
    }
    ordered = sorted(names, key=lambda n: (n != "endpointslices.discovery.k8s.io", n))
    if not ordered:
        return "carries a token that may not read everything istiod reads"
    more = f" (and {len(ordered) - 1} more resources)" if len(ordered) > 1 else ""
    return f"carries a valid token that cannot list {ordered[0]}{more}"


def _headline(attempts: list[dict[str, Any]], rights: list[dict[str, Any]]) -> str:
    """One sentence: each failing (else warning) secret, what is wrong with it."""
    bad = [row for row in attempts if row["status"] == "fail"] or [
        row for row in attempts if row["status"] == "warn"
    ]
    said = []
    for row in bad:
        what = {
            "token-expired": "carries an expired token",
            "token-rejected": "carries a token the server refuses (revoked?)",
            "ca-mismatch": "has a CA that does not verify the server",
            "server-loopback": "names a loopback server",
            "unreachable": "names a server that does not answer from here",
            "not-tried": "could not be tried",
        }.get(row["reason"]) or (_denied(row, rights) if row["reason"] == "forbidden" else row["reason"])
        said.append(f"{row['cluster']}'s remote secret for {row['remote_cluster']} {what}")
    return "; ".join(said) if said else "some clusters could not be read"


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return table.astype(object).where(table.notna(), None).to_dict("records")


def _create(hand: Hand, owner: str, remote: str, namespace: str, *extra: str) -> str:
    istio = [] if namespace == "istio-system" else [f"--istioNamespace={namespace}"]
    made = hand.istioctl(remote, "create-remote-secret", f"--name={remote}", *istio, *extra)
    return f"{made} | {hand.kubectl(owner, 'apply', '-f', '-')}"


def fixes(
    finding: Finding, hand: Hand, clusters: Collection[str], reasons: Collection[str] | None = None
) -> list[str]:
    """Next steps, commands filled in, for the failing and warning attempts of ``clusters``.

    >>> import meshnb
    >>> mesh = meshnb.simulate("remote-secret-expired-token")
    >>> print(fixes(check_credentials(mesh), Hand.of(mesh), ["cluster1"])[0])
    ... # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
    The token of cluster1's remote secret for cluster2 expired: ... `istioctl --context=cluster2
    create-remote-secret --name=cluster2 | kubectl --context=cluster1 apply -f -`.
    """
    namespace = finding.details.get("namespace", "istio-system")
    names = list(finding.evidence["clusters"]["cluster"])
    rights = _records(finding.evidence["rights"])
    steps = []
    for row in _records(finding.evidence["attempts"]):
        owner, remote, reason = row["cluster"], row["remote_cluster"], row["reason"]
        if (
            owner not in clusters
            or row["status"] == "pass"
            or (reasons is not None and reason not in reasons)
        ):
            continue
        ctx = remote if remote in names else owner  # a remote named by no context: the owner's commands
        create = (
            f"`{_create(hand, owner, remote, namespace)}`"
            if remote in names
            else "istioctl create-remote-secret"
        )
        mine = f"{owner}'s remote secret for {remote}"
        if reason == "token-expired":
            steps.append(
                f"The token of {mine} expired: make the secret again (istioctl puts a fresh token of the "
                f"reader account in it): {create}."
            )
        elif reason == "token-rejected":
            steps.append(
                f"{remote}'s API server refuses the token of {mine} (its service account deleted, or the "
                f"token not of this cluster): make the secret again: {create}."
            )
        elif reason == "forbidden":
            denied = sorted(
                {
                    f"{r['resource']}.{r['group']}" if r["group"] else r["resource"]
                    for r in rights
                    if r["cluster"] == owner and r["secret"] == row["secret"] and not _allowed(r)
                },
                key=lambda n: (n != "endpointslices.discovery.k8s.io", n),
            )
            who = row["identity"] or READER_ACCOUNT
            first = denied[0] if denied else "endpointslices.discovery.k8s.io"
            can_i = hand.kubectl(ctx, "auth", "can-i", "list", first, f"--as={who}")
            bindings = hand.kubectl(ctx, "get", "clusterrolebindings", "-o", "wide")
            shown = (
                ", ".join(denied)
                if len(denied) <= 3
                else f"{denied[0]} and {len(denied) - 1} other resources"
            )
            steps.append(
                f"The token of {mine} is valid ({who}) but may not list and watch {shown}: "
                f"istiod then never syncs {remote}. See it with `{can_i}` and `{bindings} | grep "
                f"{shlex.quote(who.rsplit(':', 1)[-1])}`; bind Istio's reader role "
                f"(istio-reader-clusterrole-{namespace}) to the account, or make the secret again with "
                f"the reader's token: {create}."
            )
        elif reason == "server-loopback":
            address = hand.kubectl(ctx, "get", "endpoints", "kubernetes", "-n", "default")
            fixed = (
                f"`{_create(hand, owner, remote, namespace, '--server=https://ADDRESS:PORT')}`"
                if remote in names
                else "istioctl create-remote-secret --server=https://ADDRESS:PORT"
            )
            steps.append(
                f"{mine} names {row['server']}, a loopback address: istiod in {owner} cannot reach it. "
                f"Make the secret again with an address {owner}'s pods reach (`{address}` shows the API "
                f"server's): {fixed}."
            )
        elif reason == "unreachable":
            info = hand.kubectl(ctx, "cluster-info")
            clusters_view = hand.istioctl(owner, "remote-clusters")
            steps.append(
                f"{row['server']} of {mine} did not answer from here (istiod, in another network, may "
                "still reach it). Compare it with "
                f"the address `{info}` shows, and with what istiod says (`{clusters_view}`); "
                f"if the address is wrong, make the secret again: {create}."
            )
        elif reason == "ca-mismatch":
            steps.append(
                f"The CA in {mine} does not verify {row['server']}: the API server's "
                f"certificate changed, or the secret is for another server. Make it again (istioctl embeds "
                f"the current CA): {create}."
            )
        elif reason == "not-tried":
            steps.append(f"{mine} was not tried (see its row in the attempts table).")
    return steps


#: The diagnosis's cause for each reason of an attempt: (key, what is wrong, in a title).
CAUSES = {
    "token-expired": ("remote-token-expired", "carries an expired token"),
    "token-rejected": ("remote-token-rejected", "carries a token its server refuses (revoked)"),
    "forbidden": ("remote-forbidden", "carries a valid token without the rights istiod needs"),
    "server-loopback": ("remote-server-loopback", "names a loopback server"),
    "unreachable": ("remote-unreachable", "names a server that does not answer"),
    "ca-mismatch": ("remote-ca-mismatch", "has a CA that does not verify its server"),
}


def _causing(finding: Finding | None) -> list[dict[str, Any]]:
    """The attempts that explain a fault: each that fails, and a loopback server that answered here."""
    if finding is None or "attempts" not in finding.evidence:
        return []
    return [
        row
        for row in _records(finding.evidence["attempts"])
        if row["reason"] in CAUSES and (row["status"] == "fail" or row["reason"] == "server-loopback")
    ]


def credential_clusters(rows: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> set[str]:
    """The clusters the credentials check explains (its verdict rows, by check then cluster).

    Their remote secrets' faults get a cause of their own, not the remote-secrets check's general one.
    """
    return {
        name
        for name, row in rows.get(CHECK, {}).items()
        if row["status"] == "fail" or (row["status"] == "warn" and row["reason"] == "server-loopback")
    }


def credential_causes(
    findings: Mapping[str, Finding], rows: Mapping[str, Mapping[str, Mapping[str, Any]]], hand: Hand
) -> list[dict[str, Any]]:
    """The diagnosis's causes (as keyword arguments of its ``Cause``) from the credentials check.

    One per reason, in :data:`REASONS`' order, naming the clusters that hold the secrets, the evidence
    (each attempt, and what the remote-secrets check and the endpoints check saw there) and the fix.
    """
    finding = findings.get(CHECK)
    if finding is None:
        return []
    explained = credential_clusters(rows)
    by_reason: dict[str, list[dict[str, Any]]] = {}
    for row in _causing(finding):
        if row["cluster"] in explained:
            by_reason.setdefault(row["reason"], []).append(row)
    causes = []
    for reason in sorted(by_reason, key=_rank):
        group = by_reason[reason]
        key, what = CAUSES[reason]
        if reason == "forbidden":
            what = "; ".join(sorted({_denied(row, _records(finding.evidence["rights"])) for row in group}))
        clusters = sorted({row["cluster"] for row in group})
        pairs = sorted({f"{row['cluster']}'s remote secret for {row['remote_cluster']}" for row in group})
        evidence = [
            f"{row['cluster']}: {row['secret']} -> {row['remote_cluster']}: {row['detail']}" for row in group
        ]
        for check in ("remote-secrets", "endpoints"):
            evidence += [
                f"{name} ({check}): {rows[check][name]['detail']}"
                for name in clusters
                if rows.get(check, {}).get(name, {}).get("status") == "fail"
            ]
        causes.append(
            {
                "key": key,
                "title": f"{' and '.join(pairs)} {what}",
                "clusters": tuple(clusters),
                "evidence": evidence,
                "next_step": " ".join(fixes(finding, hand, clusters, {reason})),
            }
        )
    return causes


def _decoded(hand: Hand, owner: str, remote: str, namespace: str) -> str:
    """``--kubeconfig=<(...)``: the remote secret's kubeconfig through a pipe, never written to a file."""
    read = hand.kubectl(
        owner,
        "-n",
        namespace,
        "get",
        "secret",
        f"istio-remote-secret-{remote}",
        "-o",
        f"jsonpath={{.data.{remote}}}",
    )
    return f"--kubeconfig=<({read} | base64 -d)"


def _by_hand(hand: Hand) -> list[str]:
    """With each remote secret's kubeconfig (through a pipe): whoami, version, what it may list."""
    namespace = hand.options["namespace"]
    lines = []
    for owner in hand.contexts:
        for remote in hand.contexts:
            if remote == owner:
                continue
            config = _decoded(hand, owner, remote, namespace)
            lines += [
                f"kubectl {config} version",
                f"kubectl {config} auth whoami",
                *(
                    f"kubectl {config} auth can-i {verb} {right.name}"
                    for right in READER_RIGHTS
                    if right.needed
                    for verb in right.verbs
                ),
            ]
    return lines


CHECK_SPEC = Check(
    CHECK,
    check_credentials,
    "try each remote secret's kubeconfig, read-only: who its token is, what it may list and watch",
    options=(Option("namespace", "istio-system", label="Istio namespace"),),
    tables=(
        ("clusters", ("cluster", "status", "reason", "secrets", "detail")),
        ("attempts", ("cluster", "remote_cluster", "server", "identity", "version", "reason", "detail")),
        ("rights", ("cluster", "remote_cluster", "group", "resource", "needed", "list", "watch")),
    ),
    title="Remote credentials tried",
    needs=("remote-secrets",),
    guide="Step-by-step Diagnosis",
    by_hand=_by_hand,
)
