"""Remote secrets and istiod's logs: whether every control plane can read every other cluster.

The guide: each cluster needs, in istio-system, a secret labelled ``istio/multiCluster=true`` for every
other cluster, holding a kubeconfig under a data key equal to that cluster's name; istiod's logs say
whether it could add the remote cluster. This check reads both in every cluster at once. Tokens are
decoded only for their expiry and never kept.

>>> import meshnb
>>> finding = check_remote_secrets(meshnb.simulate("remote-secret-wrong-key"))
>>> finding.status, finding.evidence["clusters"]["status"].tolist()
('fail', ['fail', 'pass'])
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from meshnb.backends.base import Cluster, Mesh, Secret
from meshnb.diagnostics.by_hand import Hand
from meshnb.diagnostics.check import Check, Option
from meshnb.diagnostics.fanout import Progress, Report, describe, per_cluster, reason_of
from meshnb.diagnostics.finding import Finding, verdict
from meshnb.errors import ClusterError, MeshnbError
from meshnb.names import validate_name
from meshnb.readers.istiod_log import current_failures, parse_istiod_log

#: what istiod did not manage, per failure event that still stands (see current_failures)
_FAILED_TO = {"add_failed": "add", "update_failed": "update", "sync_timeout": "sync"}

__all__ = ["check_remote_secrets", "describe_remote_secret"]

log = logging.getLogger("meshnb")

CHECK = "remote-secrets"
LABEL = "istio/multiCluster=true"
ANNOTATION = "networking.istio.io/cluster"
STEP_CREATE = (
    "Create the missing remote secret with istioctl, named after the remote cluster: "
    "`istioctl create-remote-secret --context=<remote ctx> --name=<remote cluster> | "
    "kubectl apply -f - --context=<this ctx>` (guide: 'Step-by-step diagnosis', remote secrets)."
)
STEP_KEY = (
    "The data key of a remote secret must be the remote cluster's name (the clusterName it was installed "
    "with); recreate the secret with `istioctl create-remote-secret --name=<remote cluster>`."
)
STEP_LOGS = (
    "Read istiod's logs for 'Add cluster' / 'Failed to add remote cluster' lines after fixing a secret."
)
STEP_ISTIOD = (
    "Start istiod again: `kubectl -n istio-system get deploy,pods -l app=istiod` and "
    "`kubectl -n istio-system rollout status deploy/istiod`; until then its proxies keep their last "
    "configuration and new pods get none."
)


def _token_expiry(token: str) -> dt.datetime | None:
    """The ``exp`` claim of a JWT, decoded without verifying it; None if it is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        return dt.datetime.fromtimestamp(int(payload["exp"]), tz=dt.UTC)
    except (ValueError, KeyError, TypeError, binascii.Error, OverflowError):
        return None


def _is_loopback(server: str) -> bool:
    host = urlsplit(server).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _named(entries: Any, field: str) -> dict[str, dict]:
    """``{name: entry[field]}`` for the well-formed entries of a kubeconfig list; others are skipped."""
    if not isinstance(entries, list):
        return {}
    return {
        str(entry.get("name")): entry[field]
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get(field), dict)
    }


def _auth(user: Mapping[str, Any]) -> tuple[str, dt.datetime | None]:
    if user.get("token"):
        return "token", _token_expiry(str(user["token"]))
    if user.get("tokenFile"):
        return "token-file", None
    if user.get("client-certificate-data") or user.get("client-certificate"):
        return "client-certificate", None
    if user.get("exec"):
        return "exec", None
    if user.get("auth-provider"):
        return "auth-provider", None
    return "none", None


def describe_remote_secret(
    secret: Secret, owner: str, clusters: list[str], now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Rows of the ``remote_secrets`` schema (one per data key) with the problems found in each."""
    return [row for row, _reasons in _describe(secret, owner, clusters, now)]


def _describe(
    secret: Secret, owner: str, clusters: list[str], now: dt.datetime | None
) -> list[tuple[dict[str, Any], set[str]]]:
    """Each row of :func:`describe_remote_secret` with the ``reason`` words of its problems."""
    import yaml

    now = now or dt.datetime.now(dt.UTC)
    annotation = secret.annotations.get(ANNOTATION)
    rows = []
    for key in secret.data or [None]:
        problems: list[tuple[str, str]] = []  # (reason, text)
        row: dict[str, Any] = {
            "cluster": owner,
            "secret": f"{secret.namespace}/{secret.name}",
            "data_key": key,
            "annotation_cluster": annotation,
            "server": None,
            "context": None,
            "auth": None,
            "token_expiry": None,
        }
        if key is None:
            problems.append(("secret-unusable", "the secret has no data"))
        else:
            try:
                config = yaml.safe_load(secret.data[key])
            except (yaml.YAMLError, ValueError):  # PyYAML raises ValueError on impossible dates
                config = None
            if not isinstance(config, dict):
                problems.append(("secret-unusable", f"data key {key!r} does not hold a kubeconfig"))
                config = {}
            current = config.get("current-context")
            context = _named(config.get("contexts"), "context").get(str(current)) or {}
            cluster = _named(config.get("clusters"), "cluster").get(str(context.get("cluster"))) or {}
            user = _named(config.get("users"), "user").get(str(context.get("user"))) or {}
            row["context"] = None if current is None else str(current)
            row["server"] = None if cluster.get("server") is None else str(cluster["server"])
            row["auth"], row["token_expiry"] = _auth(user)
            if annotation and key != annotation:
                problems.append(
                    (
                        "wrong-data-key",
                        f"data key {key!r} is not the cluster name {annotation!r} of the annotation",
                    )
                )
            if clusters and key not in clusters:
                problems.append(
                    (
                        "wrong-data-key",
                        f"data key {key!r} names no cluster of this mesh ({', '.join(clusters)})",
                    )
                )
            if key == owner:
                problems.append(("wrong-data-key", "the secret points at its own cluster"))
            if config and current != key:
                problems.append(
                    ("secret-unusable", f"the kubeconfig's current context {current!r} is not {key!r}")
                )
            if config and not row["server"]:
                problems.append(("secret-unusable", "the kubeconfig has no server for its current context"))
            elif row["server"] and _is_loopback(row["server"]):
                problems.append(
                    (
                        "secret-unusable",
                        f"server {row['server']} is a loopback address, unreachable from the other cluster",
                    )
                )
            if config and row["auth"] == "none":
                problems.append(("secret-unusable", "the kubeconfig carries no credentials"))
            if row["token_expiry"] is not None and row["token_expiry"] <= now:
                problems.append(("secret-unusable", f"the token expired on {row['token_expiry']:%Y-%m-%d}"))
        if annotation is None:
            problems.append(("secret-unusable", f"no {ANNOTATION} annotation"))
        row["problems"] = "; ".join(text for _reason, text in problems)
        rows.append((row, {reason for reason, _text in problems}))
    return rows


@dataclass
class _Read:
    secrets: list[dict[str, Any]] = field(default_factory=list)
    reasons: set[str] = field(default_factory=set)  # of the secrets' problems
    events: list[dict[str, Any]] = field(default_factory=list)
    log_error: str | None = None
    istiods: int = 0  # istiod pods found


def _read_cluster(
    name: str, cluster: Cluster, report: Report, *, namespace: str, clusters: list[str], tail_lines: int, now
) -> _Read:
    report(0, 2)
    read = _Read()
    for secret in cluster.list_secrets(namespace, LABEL):
        for row, reasons in _describe(secret, name, clusters, now):
            read.secrets.append(row)
            read.reasons |= reasons
    report(1, 2)
    try:
        for pod in cluster.list_pods(namespace, "app=istiod"):
            read.istiods += 1
            text = cluster.logs(namespace, pod.name, tail_lines=tail_lines)
            read.events += parse_istiod_log(text, cluster=name, pod=pod.name)
    except ClusterError as exc:  # the secrets still tell most of the story
        read.log_error = describe(exc)
    report(2, 2)
    return read


#: A cluster's reason when several apply: the first of these (the one to fix first).
_FIRST = ("istiod-missing", "secret-missing", "wrong-data-key", "secret-unusable", "istiod-failed")


def _verdict(name: str, read: _Read, clusters: list[str]) -> tuple[str, str, str]:
    """A cluster's status, reason and detail."""
    problems, warnings = [], []
    reasons = set(read.reasons)
    keys = {row["data_key"] for row in read.secrets}
    meant = keys | {row["annotation_cluster"] for row in read.secrets}
    for other in (c for c in clusters if c != name):
        if other not in meant:
            problems.append(f"no remote secret for {other}")
            reasons.add("secret-missing")
    added = _added(read.events)
    for row in read.secrets:
        if row["problems"]:
            # real istiod (1.31) adds a cluster under whatever data key it finds
            made = (
                f" (istiod added it as cluster {row['data_key']!r})"
                if row["data_key"] in added and row["data_key"] not in clusters
                else ""
            )
            problems.append(f"{row['secret']}: {row['problems']}{made}")
    failed = current_failures(read.events)
    for event in failed:
        what = _FAILED_TO.get(event["event"], "add")
        why = _last_watch_error(read.events, event) if event["event"] == "sync_timeout" else None
        because = f" (its last watch error: {why})" if why else ""
        problems.append(
            f"istiod could not {what} cluster {event['remote_cluster']}: {event['error']}{because}"
        )
        reasons.add("istiod-failed")
    if read.log_error:
        warnings.append(f"istiod's logs could not be read ({read.log_error})")
    elif not read.istiods:
        problems.append("no istiod pod (app=istiod) runs in istio-system")
        reasons.add("istiod-missing")
    if problems:
        return "fail", next(r for r in _FIRST if r in reasons), "; ".join(problems + warnings)
    if warnings:
        return "warn", "istiod-log-unreadable", "; ".join(warnings)
    keys_text = ", ".join(sorted(keys)) or "no other cluster"
    unseen = sorted(keys - _added(read.events))
    if unseen:  # not a fault: a long-running istiod's startup lines leave the tail of its log
        return (
            "pass",
            "ok",
            (
                f"remote secrets for {keys_text}; istiod's log does not show it adding {', '.join(unseen)} "
                "(the lines may be older than the log's tail: `istioctl remote-clusters` shows istiod's view)"
            ),
        )
    return "pass", "ok", f"remote secrets for {keys_text}; istiod added them"


def _last_watch_error(events: list[dict[str, Any]], failure: dict[str, Any]) -> str | None:
    """The last ``watch error in cluster C`` logged for ``failure``'s cluster since its last add or update.

    It says why the cluster does not sync (``Unauthorized``, ``... is forbidden ...``).
    """
    found = None
    for event in events:
        if (
            event.get("cluster") != failure.get("cluster")
            or event["remote_cluster"] != failure["remote_cluster"]
        ):
            continue
        if event["event"] in ("added", "updated"):
            found = None
        elif event["event"] == "watch_error":
            found = event["error"]
    return found


def _added(events: list[dict[str, Any]]) -> set[str]:
    """The remote clusters istiod's log shows it adding or updating (and no failure standing)."""
    return {e["remote_cluster"] for e in events if e["event"] in ("added", "updated") and e["remote_cluster"]}


def check_remote_secrets(
    mesh: Mesh,
    namespace: str = "istio-system",
    *,
    tail_lines: int = 2000,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
) -> Finding:
    """Check every cluster's remote secrets (one per other cluster, data key = its name) and istiod's logs.

    Evidence: ``clusters`` (a verdict per cluster), ``remote_secrets`` and ``istiod_events``.

    >>> import meshnb
    >>> check_remote_secrets(meshnb.simulate()).status
    'pass'
    """
    from meshnb.schemas import frame

    validate_name(namespace, "namespace")
    clusters = list(mesh.clusters)
    outcomes = per_cluster(
        mesh,
        lambda name, cluster, report: _read_cluster(
            name, cluster, report, namespace=namespace, clusters=clusters, tail_lines=tail_lines, now=now
        ),
        progress,
    )
    summary_rows, secrets, events = [], [], []
    for name, outcome in outcomes.items():
        if isinstance(outcome, MeshnbError):
            detail = describe(outcome)
            summary_rows.append(
                {
                    "cluster": name,
                    "status": "error",
                    "reason": reason_of(outcome),
                    "secrets": 0,
                    "detail": detail,
                }
            )
            continue
        status, reason, detail = _verdict(name, outcome, clusters)
        summary_rows.append(
            {
                "cluster": name,
                "status": status,
                "reason": reason,
                "secrets": len(outcome.secrets),
                "detail": detail,
            }
        )
        secrets += outcome.secrets
        events += outcome.events
    summary = frame("remote-secrets.clusters", summary_rows)
    status, summary_text = verdict(summary)
    steps = []
    if status != "pass":
        details = " ".join(summary["detail"])
        if "no remote secret" in details:
            steps.append(STEP_CREATE)
        if "data key" in details or "annotation" in details:
            steps.append(STEP_KEY)
        if "no istiod pod" in details:
            steps.append(STEP_ISTIOD)
        if status == "error":
            steps.append(
                "A cluster could not be read: check the context, the API server and RBAC "
                "(get/list secrets and pods, get pods/log in istio-system)."
            )
        steps.append(STEP_LOGS)
    if status == "pass":
        seen = all(
            {row["data_key"] for row in outcome.secrets} <= _added(outcome.events)
            for outcome in outcomes.values()
            if not isinstance(outcome, MeshnbError)
        )
        summary_text = "every cluster has a remote secret for every other cluster" + (
            ", and istiod added them" if seen else " (istiod's log does not show every one added)"
        )
    return Finding(
        check=CHECK,
        status=status,
        summary=summary_text,
        evidence={
            "clusters": summary,
            "remote_secrets": frame("remote_secrets", secrets),
            "istiod_events": frame("istiod_events", events),
        },
        next_steps=steps,
        details={"namespace": namespace, "label": LABEL},
    )


def _by_hand(hand: Hand) -> list[str]:
    """The guide's remote-secret listing, istiod's log lines about remote clusters, istioctl's view."""
    ns = hand.options["namespace"]
    lines = [
        hand.kubectl(cluster, "-n", ns, "get", "secrets", "-l", "istio/multiCluster=true")
        for cluster in hand.contexts
    ]
    lines += [
        f"{hand.kubectl(cluster, '-n', ns, 'logs', '-l', 'app=istiod', '--tail=-1')} "
        "| grep -E 'remote cluster|Add cluster|failed to sync|watch error'"
        for cluster in hand.contexts
    ]
    return lines + [hand.istioctl(cluster, "remote-clusters") for cluster in hand.contexts]


CHECK_SPEC = Check(
    CHECK,
    check_remote_secrets,
    "check the remote secrets (one per other cluster, data key = its name) and istiod's logs",
    options=(Option("namespace", "istio-system", label="Istio namespace"),),
    tables=(
        ("clusters", ("cluster", "status", "reason", "secrets", "detail")),
        ("remote_secrets", ("cluster", "secret", "data_key", "server", "auth", "token_expiry", "problems")),
        ("istiod_events", ("cluster", "ts", "level", "event", "remote_cluster", "error")),
    ),
    title="Remote secrets and istiod",
    panel="meshnb.widgets.remote_secrets:RemoteSecretsPanel",
    by_hand=_by_hand,
)
