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

import dataclasses
import datetime as dt
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshnb.backends.base import Cluster, Mesh, Secret
from meshnb.backends.remote_api import is_loopback, named_entries, token_expiry
from meshnb.diagnostics.by_hand import Hand
from meshnb.diagnostics.check import Check, Option
from meshnb.diagnostics.fanout import Progress, Report, describe, error_row, per_cluster
from meshnb.diagnostics.finding import Finding, listed, reasons, verdict
from meshnb.diagnostics.istiod_views import read_istiod
from meshnb.errors import ClusterError, MeshnbError
from meshnb.names import validate_name
from meshnb.readers.istiod_log import current_failures, parse_istiod_log

if TYPE_CHECKING:
    import pandas as pd

#: what istiod did not manage, per failure event that still stands (see current_failures)
_FAILED_TO = {"add_failed": "add", "update_failed": "update", "sync_timeout": "sync"}

__all__ = ["check_remote_secrets", "describe_remote_secret", "fixes"]

log = logging.getLogger("meshnb")

CHECK = "remote-secrets"
LABEL = "istio/multiCluster=true"
ANNOTATION = "networking.istio.io/cluster"
STEP_LOGS = (
    "Read istiod's logs for 'Add cluster' / 'Failed to add remote cluster' lines after fixing a secret."
)


def _auth(user: Mapping[str, Any]) -> tuple[str, dt.datetime | None]:
    if user.get("token"):
        return "token", token_expiry(str(user["token"]))
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
            context = named_entries(config.get("contexts"), "context").get(str(current)) or {}
            cluster = named_entries(config.get("clusters"), "cluster").get(str(context.get("cluster"))) or {}
            user = named_entries(config.get("users"), "user").get(str(context.get("user"))) or {}
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
            elif row["server"] and is_loopback(row["server"]):
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
    synced: list[dict[str, Any]] = field(default_factory=list)  # istiod's /debug/clusterz, its remotes
    view_error: str | None = None  # why /debug/clusterz could not be read


def _read_cluster(
    name: str, cluster: Cluster, report: Report, *, namespace: str, clusters: list[str], tail_lines: int, now
) -> _Read:
    report(0, 3)
    read = _Read()
    for secret in cluster.list_secrets(namespace, LABEL):
        for row, found in _describe(secret, name, clusters, now):
            read.secrets.append(row)
            read.reasons |= found
    report(1, 3)
    pods = None
    try:
        pods = cluster.list_pods(namespace, "app=istiod")
        for pod in pods:
            read.istiods += 1
            text = cluster.logs(namespace, pod.name, tail_lines=tail_lines)
            read.events += parse_istiod_log(text, cluster=name, pod=pod.name)
    except ClusterError as exc:  # the secrets still tell most of the story
        read.log_error = describe(exc)
    report(2, 3)
    if pods:
        view = read_istiod(cluster, ["/debug/clusterz"], namespace, pods)
        read.view_error = view.error()
        if "clusterz" in view.frames:
            read.synced = [
                {
                    "cluster": name,
                    "istiod": row["istiod"],
                    "remote": row["cluster"],
                    "secret": row["secret"],
                    "status": row["status"],
                }
                for row in _records(view.frames["clusterz"])
                if row["secret"] is not None  # the config cluster itself
            ]
    report(3, 3)
    return read


def _sync_problems(read: _Read, failed: set[str]) -> tuple[list[str], set[str]]:
    """What istiod's ``/debug/clusterz`` says is wrong with the clusters its secrets name, and why.

    ``failed``: remote clusters whose failure istiod's log told already.
    """
    problems: list[str] = []
    found: set[str] = set()
    if read.view_error and not read.synced:
        return problems, found
    states: dict[str, list[tuple[str, str]]] = {}
    for row in read.synced:
        states.setdefault(row["remote"], []).append((row["istiod"], row["status"] or "unknown"))
    for key in dict.fromkeys(row["data_key"] for row in read.secrets if row["data_key"]):
        seen = states.get(key)
        if not seen:
            problems.append(f"istiod has not added cluster {key} (it is not in /debug/clusterz)")
            found.add("istiod-failed")
            continue
        for istiod, status in seen:
            if status == "syncing":
                problems.append(
                    f"istiod {istiod} is still syncing cluster {key} (/debug/clusterz): it has not finished "
                    "reading it, so its proxies have none of its endpoints"
                )
                found.add("remote-syncing")
            elif status != "synced" and key not in failed:
                problems.append(f"istiod {istiod} gave up reading cluster {key} (/debug/clusterz: {status})")
                found.add("istiod-failed")
    return problems, found


#: A cluster's reason when several apply: the first of these (the one to fix first).
_FIRST = (
    "istiod-missing",
    "secret-missing",
    "wrong-data-key",
    "secret-unusable",
    "istiod-failed",
    "remote-syncing",
)


def _verdict(name: str, read: _Read, clusters: list[str]) -> tuple[str, str, str]:
    """A cluster's status, reason and detail."""
    problems, warnings = [], []
    reasons = set(read.reasons)
    keys = {row["data_key"] for row in read.secrets}
    for other in _unmet(name, read.secrets, clusters):
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
    synced, found = _sync_problems(read, {event["remote_cluster"] for event in failed})
    problems += synced
    reasons |= found
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
    if read.synced and keys:
        return "pass", "ok", f"remote secrets for {keys_text}; istiod synced them (/debug/clusterz)"
    unread = f" (istiod's own view: {read.view_error})" if read.view_error else ""
    if unseen:  # not a fault: a long-running istiod's startup lines leave the tail of its log
        return (
            "pass",
            "ok",
            (
                f"remote secrets for {keys_text}; istiod's log does not show it adding {', '.join(unseen)} "
                "(the lines may be older than the log's tail: `istioctl remote-clusters` shows istiod's view)"
                + unread
            ),
        )
    return "pass", "ok", f"remote secrets for {keys_text}; istiod added them{unread}"


def _unmet(name: str, secrets: Iterable[Mapping[str, Any]], clusters: Sequence[str]) -> list[str]:
    """The other clusters that no remote secret of cluster ``name`` is for (by data key or annotation)."""
    meant = {value for row in secrets for value in (row["data_key"], row["annotation_cluster"])}
    return [other for other in clusters if other != name and other not in meant]


def _misnamed(row: Mapping[str, Any], clusters: Collection[str]) -> bool:
    """Whether a remote secret's data key is not the name of the cluster it is for (or it names none)."""
    key = row["data_key"]
    return key not in clusters or key == row["cluster"] or row["annotation_cluster"] != key


def _create(hand: Hand, owner: str, remote: str, namespace: str) -> str:
    """The guide's command that gives cluster ``owner`` a remote secret for cluster ``remote``."""
    istio = [] if namespace == "istio-system" else [f"--istioNamespace={namespace}"]
    made = hand.istioctl(remote, "create-remote-secret", f"--name={remote}", *istio)
    return f"{made} | {hand.kubectl(owner, 'apply', '-f', '-')}"


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """A table's rows as dicts, a missing value None."""
    return table.astype(object).where(table.notna(), None).to_dict("records")


def fixes(finding: Finding, hand: Hand, clusters: Collection[str]) -> list[str]:
    """The next steps, commands filled in, that fix what a remote-secrets ``finding`` found in ``clusters``.

    Start istiod where none runs, create each missing remote secret, recreate each one whose data key is
    not its cluster's name, look at a remote cluster istiod is still syncing. Other faults (a token, a
    server, a failed sync) have no step here.

    >>> import meshnb
    >>> mesh = meshnb.simulate("missing-remote-secret")
    >>> print(fixes(check_remote_secrets(mesh), Hand.of(mesh), ["cluster1"])[0])  # doctest: +ELLIPSIS
    Create ... `istioctl --context=cluster2 create-remote-secret --name=cluster2 | kubectl ... apply -f -` ...
    """
    table = finding.evidence["clusters"]
    names = list(table["cluster"])
    namespace = finding.details.get("namespace", "istio-system")
    secrets = [row for row in _records(finding.evidence["remote_secrets"]) if row["cluster"] in clusters]
    rows = [row for row in _records(table) if row["cluster"] in clusters]
    steps = []
    down = [row["cluster"] for row in rows if row["reason"] == "istiod-missing"]
    if down:
        look = [
            hand.kubectl(name, "-n", namespace, "get", "deploy,pods", "-l", "app=istiod") for name in down
        ]
        wait = [hand.kubectl(name, "-n", namespace, "rollout", "status", "deploy/istiod") for name in down]
        steps.append(
            f"Start istiod again in {listed(down)}: see its deployment and pods with "
            f"{', '.join(f'`{c}`' for c in look)}, and wait for it with {', '.join(f'`{c}`' for c in wait)}; "
            "until then its proxies keep their last configuration and new pods get none."
        )
    unmet = [
        (row["cluster"], remote)
        for row in rows
        if row["status"] != "error"
        for remote in _unmet(row["cluster"], [s for s in secrets if s["cluster"] == row["cluster"]], names)
    ]
    if unmet:
        many = len(unmet) > 1
        steps.append(
            f"Create the missing remote secret{'s' * many} with istioctl, "
            f"{'each named after its' if many else 'named after the'} remote cluster: "
            + ", ".join(f"`{_create(hand, owner, remote, namespace)}`" for owner, remote in unmet)
            + " (guide: 'Step-by-step diagnosis', remote secrets)."
        )
    again = []
    for row in (row for row in secrets if _misnamed(row, names)):
        where, name = row["secret"].split("/", 1)
        remote = next(
            (c for c in (row["annotation_cluster"], row["context"]) if c in names and c != row["cluster"]),
            None,
        )
        delete = f"`{hand.kubectl(row['cluster'], '-n', where, 'delete', 'secret', name)}`"
        again.append(
            f"{delete}, then `{_create(hand, row['cluster'], remote, namespace)}`"
            if remote
            else f"{delete}, then create it again with istioctl create-remote-secret, named after its cluster"
        )
    syncing = [row["cluster"] for row in rows if row["reason"] == "remote-syncing"]
    if syncing:
        views = [f"`{hand.istioctl(name, 'remote-clusters')}`" for name in syncing]
        restart = [
            f"`{hand.kubectl(name, '-n', namespace, 'rollout', 'restart', 'deploy/istiod')}`"
            for name in syncing
        ]
        steps.append(
            f"istiod in {listed(syncing)} has not finished reading a remote cluster ({', '.join(views)} says "
            "syncing): its informers are still listing it, so the remote API server is slow or a list "
            "hangs; check that it answers from istiod's cluster, and read istiod's log for 'watch error'. "
            "With PILOT_REMOTE_CLUSTER_TIMEOUT=0 istiod waits for ever; a restart lists again: "
            + ", ".join(restart)
            + "."
        )
    if again:
        steps.append(
            "The data key of a remote secret must be the remote cluster's name (the clusterName it was "
            f"installed with), and istioctl names it so: recreate the secret: {'; '.join(again)}."
        )
    return steps


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

    Evidence: ``clusters`` (a verdict per cluster), ``remote_secrets``, ``istiod_events`` and
    ``istiod_clusters`` (each remote cluster's sync status in istiod's ``/debug/clusterz``).

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
    summary_rows, secrets, events, synced = [], [], [], []
    for name, outcome in outcomes.items():
        if isinstance(outcome, MeshnbError):
            summary_rows.append(error_row(name, outcome, secrets=0))
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
        synced += outcome.synced
    summary = frame("remote-secrets.clusters", summary_rows)
    status, summary_text = verdict(summary)
    if status == "pass":
        read = [outcome for outcome in outcomes.values() if not isinstance(outcome, MeshnbError)]
        if all(outcome.synced for outcome in read if outcome.secrets):
            said = ", and istiod synced them"
        elif all({row["data_key"] for row in outcome.secrets} <= _added(outcome.events) for outcome in read):
            said = ", and istiod added them"
        else:
            said = " (istiod's log does not show every one added)"
        summary_text = "every cluster has a remote secret for every other cluster" + said
    finding = Finding(
        check=CHECK,
        status=status,
        summary=summary_text,
        evidence={
            "clusters": summary,
            "remote_secrets": frame("remote_secrets", secrets),
            "istiod_events": frame("istiod_events", events),
            "istiod_clusters": frame("remote-secrets.istiod_clusters", synced),
        },
        details={"namespace": namespace, "label": LABEL},
        headline=_headline(summary, secrets, events, clusters) if status != "pass" else summary_text,
    )
    if status == "pass":
        return finding
    steps = fixes(finding, Hand.of(mesh), set(summary.loc[summary["status"] == "fail", "cluster"]))
    if status == "error":
        steps.append(
            "A cluster could not be read: check the context, the API server and RBAC "
            "(get/list secrets and pods, get pods/log in istio-system)."
        )
    return dataclasses.replace(finding, next_steps=[*steps, STEP_LOGS])


def _headline(
    table: pd.DataFrame, secrets: list[dict[str, Any]], events: list[dict[str, Any]], clusters: list[str]
) -> str:
    """One sentence: what is wrong in each cluster of the worst status (the first reason of each)."""
    said = []
    for reason, names in sorted(reasons(table).items(), key=lambda item: _order(item[0])):
        has = "has" if len(names) == 1 else "have"
        mine = [row for row in secrets if row["cluster"] in names]
        if reason == "istiod-missing":
            said.append(f"no istiod runs in {listed(names)}")
        elif reason == "secret-missing" and len(names) == 1:
            said.append(f"{names[0]} has no remote secret for {listed(_unmet(names[0], mine, clusters))}")
        elif reason == "secret-missing":
            said.append(f"{listed(names)} lack remote secrets for other clusters")
        elif reason == "wrong-data-key":
            keys = sorted(
                {repr(row["data_key"]) for row in mine if row["data_key"] and _misnamed(row, clusters)}
            )
            said.append(f"{listed(names)} {has} a remote secret under the wrong data key {listed(keys)}")
        elif reason == "secret-unusable":
            said.append(f"{listed(names)} {has} a remote secret that istiod cannot use")
        elif reason == "istiod-failed":
            failed = current_failures([e for e in events if e["cluster"] in names])
            remotes = sorted({e["remote_cluster"] for e in failed}) or ["a remote cluster"]
            said.append(f"istiod in {listed(names)} cannot read {listed(remotes)}")
        elif reason == "remote-syncing":
            said.append(f"istiod in {listed(names)} is still syncing a remote cluster")
        elif reason == "istiod-log-unreadable":
            said.append(f"istiod's logs could not be read in {listed(names)}")
        else:
            said.append(f"{listed(names)} could not be read ({reason})")
    return ", and ".join(said)


def _order(reason: str) -> int:
    """Where a reason comes in a headline: the one to fix first, first."""
    return _FIRST.index(reason) if reason in _FIRST else len(_FIRST)


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
        ("istiod_clusters", ("cluster", "istiod", "remote", "secret", "status")),
    ),
    title="Remote secrets and istiod",
    guide="Step-by-step Diagnosis",
    panel="meshnb.widgets.remote_secrets:RemoteSecretsPanel",
    by_hand=_by_hand,
)
