"""istiod's log lines about remote clusters, in every format Istio has used, as istiod_events rows.

istiod logs ``TIMESTAMP<TAB>LEVEL<TAB>[SCOPE<TAB>]MESSAGE`` (``istio.io/pkg/log`` up to 1.18,
istio's own ``pkg/log`` since; the secret controller logs in the default scope, which has no scope
field), with ``WithLabels``' ``<TAB>key=value ...`` after the message from 1.16. With
``--log_as_json`` a line is a JSON object with ``time``, ``level``, ``scope``, ``msg`` and the labels
as fields. The remote-cluster lines this module knows, by release
(``pkg/kube/secretcontroller/secretcontroller.go`` to 1.11, ``pkg/kube/multicluster/`` since):

- 1.3 to 1.5: ``Adding new cluster member: C``, ``Data 'C' in the secret S in namespace N is not a
  valid kubeconfig: ERR`` (also ``is not a kubeconfig: ERR``, ``is empty, and disregarded``),
  ``error during create of kubernetes client interface for cluster: C ERR``, ``error during create
  of clusterID: C ERR``, ``Cluster C in the secret S in namespace N already exists``, ``Deleting
  cluster member: C``, ``error during cluster delete: C ERR``
- 1.6 to 1.9: ``Adding cluster_id=C from secret=S`` (the attempt), ``Failed to add remote cluster
  from secret=S for cluster_id=C: ERR``, ``Error creating cluster_id=C from secret S: ERR``,
  ``Updating cluster C from secret S``, ``Error updating cluster_id=C from secret=S: ERR``, ``Error
  updating cluster_id from secret=C: S ERR``, ``Updating cluster_id=C from secret=S: (kubeconfig are
  identical)``; ``ClusterID reused in two different secrets: S1 and S2 ...`` (to 1.10)
- 1.10 to 1.15: ``Adding cluster C from secret S`` (the attempt) and ``Adding cluster_id=C from
  secret=S: ERR`` or ``Adding cluster_id from secret=C: S ERR`` (its failure), the same with
  ``Updating``; ``skipping update of cluster_id=C from secret=S: (kubeconfig are identical)`` (1.10:
  ``C cluster_id=S from secret=%!v(MISSING): (kubeconfig are identical)``); ``cluster
  %!d(string=C) from secret S has already been registered`` (1.13 to 1.15); ``ignoring cluster C
  from secret S as it would overwrite the local cluster`` (1.12 to 1.15; ``config cluster`` at 1.15);
  ``remote clusters failed to sync after D`` (to 1.14), ``remote cluster C failed to sync after D``
  (1.15 on)
- 1.16 to 1.21: ``Adding cluster`` / ``Updating cluster`` (the attempt) and ``Adding cluster: create
  remote cluster failed: ERR`` / ``... initialize cluster failed: ERR`` (1.16 to 1.18), ``cluster has
  already been registered``, ``skipping update (kubeconfig are identical)``, ``ignoring cluster as it
  would overwrite the config cluster``, all with ``cluster=C secret=S`` labels
- 1.22 to 1.31: the same with ``Add`` / ``Update`` (``ACTION.String()``); ``remote cluster C failed
  to sync`` and ``... failed to sync handler``; ``Timed out waiting for cluster C to sync X`` (1.27
  on); from 1.30 the label is ``config=S``, a change is ``processing remote config event for S``,
  and there are ``Timed out waiting for remote config source to sync``, ``remote cluster C failed to
  sync KRT collection X``, ``remote config S has conflicting file-backed kubeconfigs ...``; ``remote
  cluster C is closed or timed out, omitting it ...`` (1.29, 1.30), ``... is timed out, omitting
  it`` and ``... is closed, omitting it`` (1.31)
- secret events: ``Processing add: S`` / ``Processing update: S`` / ``Processing delete: S`` (1.3 to
  1.12), ``secret controller got event from queue for secret S`` (1.11, 1.12), ``processing secret
  event for secret S`` (1.11 to 1.29); ``Error processing S (will retry): ERR`` (1.3 to 1.12);
  ``Failed to sync multicluster remote secrets controller cache`` (1.12 to 1.18)
- deletions: ``Deleting cluster_id=C configured by secret=S`` (1.6 on) and ``Error removing
  cluster_id=C configured by secret=S: ERR`` (1.6 to 1.18), ``cluster C does not exist, maybe caused
  by invalid kubeconfig`` (1.3 to 1.21); every release: ``Number of remote clusters: N``

Events: ``added`` / ``updated`` (an attempt: istiod logs no success line of its own; a failure, if
any, follows for the same cluster), ``add_failed`` / ``update_failed``, ``deleted``,
``delete_failed``, ``secret_event``, ``secret_failed`` (``Error processing S``, a conflicting
remote config), ``unchanged``,
``already_registered``, ``ignored``, ``sync_timeout``, ``sync_failed``, ``omitted``,
``watch_error`` (``watch error in cluster C: ERR``, 1.18 on), ``synced``
(``kube controller for C synced after D``, every release from 1.5; ``cluster C synced, replacing
registry``, 1.31: a sync that ends a timeout says only this) and ``remote_clusters=N``. A line
may carry ``grep -n`` (``123:``, ``file.log:123:``) and ``kubectl logs
--prefix`` / ``--timestamps`` prefixes, in that order, and may have had its tabs turned into spaces
by a paste. :func:`parse_istiod_log` ignores every other line and never raises;
:func:`read_istiod_log` refuses a text with lines but no event in them.

>>> events = parse_istiod_log(
...     "2026-11-28T09:00:01.100000Z\\terror\\tAdd cluster: create remote cluster failed: "
...     "bad key\\tcluster=kubeconfig secret=istio-system/istio-remote-secret-cluster2")
>>> events[0]["event"], events[0]["remote_cluster"], events[0]["secret"]
('add_failed', 'kubeconfig', 'istio-system/istio-remote-secret-cluster2')
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from meshnb.errors import ParseError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["current_failures", "parse_istiod_log", "read_istiod_log"]

# Every pattern is matched at the start of a message (re.match), and none nests quantifiers: a line of
# any length is read in linear time.
_LINE = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\dT[0-9:.]+Z?)\s+(?P<level>[a-z]+)\s+(?:(?P<scope>[\w.-]+)\t)?(?P<rest>.*)$"
)
_LABEL = re.compile(r"(?P<key>cluster|secret|config)=(?P<value>\S+)")
#: where a paste that turned tabs into spaces put the labels: two spaces before the first one
_SPACED_LABELS = re.compile(r"(?<=  )(?=(?:cluster|secret|config)=)")
#: a scope field in such a paste: one word and two or more spaces
_SPACED_SCOPE = re.compile(r"[\w.-]+ {2,}(?=\S)")
#: ``grep -n`` (``123:`` or ``file:123:``, ``-`` for context lines) or ``grep -H`` before the line.
_GREP = re.compile(r"^(?:[^\s:]*:)?(?:\d+[:-])?(?=\d{4}-\d\d-\d\dT|\{|\[)")
#: ``kubectl logs --prefix`` (``[pod/NAME/CONTAINER] ``) before the line.
_PREFIX = re.compile(r"^\[[^\]\s]+\] ")
#: ``kubectl logs --timestamps`` (RFC3339) before istiod's own timestamp or JSON object.
_KUBECTL_TS = re.compile(r"^\d{4}-\d\d-\d\dT\S+ (?=\d{4}-\d\d-\d\dT|\{)")

_Found = dict[str, Any]
_Rule = tuple[re.Pattern[str], Callable[[re.Match[str], dict[str, str]], _Found | None]]


def _is_update(action: str) -> bool:
    return action.startswith("Updat")


def _fixed(event: str) -> Callable[[re.Match[str], dict[str, str]], _Found]:
    """A rule's reading: ``event``, with the cluster, secret and error the pattern or labels hold."""

    def read(match: re.Match[str], labels: dict[str, str]) -> _Found:
        found = match.groupdict()
        return {
            "event": event,
            "cluster": found.get("cluster") or labels.get("cluster"),
            "secret": found.get("secret") or labels.get("secret") or labels.get("config"),
            "error": found.get("error"),
        }

    return read


def _action(attempt: bool) -> Callable[[re.Match[str], dict[str, str]], _Found | None]:
    """An ``Adding``/``Updating`` (``Add``/``Update``) line: the attempt, or the failure with an error."""

    def read(match: re.Match[str], labels: dict[str, str]) -> _Found | None:
        found = _fixed("")(match, labels)
        if attempt and found["cluster"] is None:
            return None  # a bare "Add cluster" without its labels says nothing
        update = _is_update(match["action"])
        failed = not attempt and found["error"] is not None
        found["event"] = (
            ("update_failed" if update else "add_failed") if failed else ("updated" if update else "added")
        )
        return found

    return read


def _whole(event: str) -> Callable[[re.Match[str], dict[str, str]], _Found]:
    """A rule whose error is the whole message (the sync timeouts say what timed out)."""

    def read(match: re.Match[str], labels: dict[str, str]) -> _Found:
        return {**_fixed(event)(match, labels), "error": match.string}

    return read


def _count(match: re.Match[str], labels: dict[str, str]) -> _Found:
    return {"event": f"remote_clusters={match['count']}", "cluster": None, "secret": None, "error": None}


_RULES: list[_Rule] = [
    (re.compile(p), read)
    for p, read in [
        # 1.3 to 1.5 (pkg/kube/secretcontroller/secretcontroller.go)
        (r"Processing (?:add|update|delete): (?P<secret>\S+)$", _fixed("secret_event")),
        (r"Adding new cluster member: (?P<cluster>\S+)$", _fixed("added")),
        (
            r"Data '(?P<cluster>[^']*)' in the secret (?P<secret>\S+) in namespace \S+ "
            r"(?P<error>is empty, and disregarded|is not a (?:valid )?kubeconfig: .*)",
            _fixed("add_failed"),
        ),
        (
            r"error during create of (?:kubernetes client interface for cluster|clusterID): "
            r"(?P<cluster>\S+) (?P<error>.*)",
            _fixed("add_failed"),
        ),
        (
            r"Cluster (?P<cluster>\S+) in the secret (?P<secret>\S+) in namespace \S+ already exists",
            _fixed("already_registered"),
        ),
        (r"Deleting cluster member: (?P<cluster>\S+)$", _fixed("deleted")),
        (r"error during cluster delete: (?P<cluster>\S+) (?P<error>.*)", _fixed("delete_failed")),
        # 1.6 to 1.9
        (
            r"Failed to add remote cluster from secret=(?P<secret>\S+) "
            r"for cluster_id=(?P<cluster>[^:\s]+): ?(?P<error>.*)",
            _fixed("add_failed"),
        ),
        (
            r"Error creating cluster_id=(?P<cluster>\S+?) from secret[= ](?P<secret>[^:\s]+): ?(?P<error>.*)",
            _fixed("add_failed"),
        ),
        (
            r"Error updating cluster_id=(?P<cluster>\S+?) from secret[= ](?P<secret>[^:\s]+): ?(?P<error>.*)",
            _fixed("update_failed"),
        ),
        # `Errorf("Error updating cluster_id from secret=%v: %s %v", clusterID, secretName, err)`
        (
            r"Error updating cluster_id from secret=(?P<cluster>[^:\s]+): (?P<secret>\S+) (?P<error>.*)",
            _fixed("update_failed"),
        ),
        (
            r"ClusterID reused in two different secrets: \S+ and (?P<secret>\S+?)\. ClusterID",
            _fixed("already_registered"),
        ),
        # (kubeconfig are identical): 1.6 to 1.9, 1.10 (with a missing argument), 1.11 to 1.15, 1.16 on
        (
            r"Updating cluster_id=(?P<cluster>\S+) from secret=(?P<secret>[^:\s]+): "
            r"\(kubeconfig are identical\)",
            _fixed("unchanged"),
        ),
        (
            r"(?P<cluster>[^\s=]+) cluster_id=(?P<secret>\S+) from secret=%!v\(MISSING\): "
            r"\(kubeconfig are identical\)",
            _fixed("unchanged"),
        ),
        (
            r"skipping update of cluster_id=(?P<cluster>\S+) from secret=(?P<secret>[^:\s]+): "
            r"\(kubeconfig are identical\)",
            _fixed("unchanged"),
        ),
        (r"skipping update \(kubeconfig are identical\)", _fixed("unchanged")),
        # 1.10 to 1.15 (and 1.6 to 1.9's attempt)
        (
            r"(?P<action>Adding|Updating) cluster_id=(?P<cluster>\S+?) from secret=(?P<secret>[^:\s]+)"
            r"(?:: ?(?P<error>.+))?$",
            _action(attempt=False),
        ),
        # `Errorf("%s cluster_id from secret=%v: %s %v", action, clusterID, secretName, err)`
        (
            r"(?P<action>Adding|Updating) cluster_id from secret=(?P<cluster>[^:\s]+): "
            r"(?P<secret>\S+) (?P<error>.*)",
            _action(attempt=False),
        ),
        (
            r"(?P<action>Adding|Updating) cluster (?P<cluster>\S+) from secret (?P<secret>\S+)$",
            _action(attempt=True),
        ),
        (
            r"cluster (?:%!d\([\w.]+=(?P<c>[^)\s]+)\)|(?P<cluster>\S+)) from secret (?P<secret>\S+) "
            r"has already been registered",
            lambda m, labels: {**_fixed("already_registered")(m, labels), "cluster": m["c"] or m["cluster"]},
        ),
        (
            r"ignoring (?:(?:Adding|Updating|delete) )?cluster (?P<cluster>\S+) from secret (?P<secret>\S+) "
            r"as it would overwrite",
            _fixed("ignored"),
        ),
        # 1.16 on: the labels carry the cluster and the secret
        (
            r"(?P<action>Add|Adding|Update|Updating) cluster: "
            r"(?:create remote|initialize) cluster failed: ?(?P<error>.*)",
            _action(attempt=False),
        ),
        (r"(?P<action>Add|Adding|Update|Updating) cluster$", _action(attempt=True)),
        (r"cluster has already been registered", _fixed("already_registered")),
        (r"ignoring cluster as it would overwrite the config cluster", _fixed("ignored")),
        # deletions
        (
            r"Deleting cluster_id=(?P<cluster>\S+) configured by secret=(?P<secret>\S+)$",
            _fixed("deleted"),
        ),
        (
            r"Error removing cluster_id=(?P<cluster>\S+) configured by secret=(?P<secret>[^:\s]+): "
            r"?(?P<error>.*)",
            _fixed("delete_failed"),
        ),
        # pilot/pkg/serviceregistry/kube/controller/multicluster.go, deleting a cluster it never added
        (
            r"cluster (?P<cluster>\S+) (?P<error>does not exist, maybe caused by invalid kubeconfig)",
            _fixed("delete_failed"),
        ),
        (
            r"Deleting cluster$",
            lambda m, labels: _fixed("deleted")(m, labels) if labels.get("cluster") else None,
        ),
        # secret events and failures
        (r"processing secret event for secret (?P<secret>\S+)", _fixed("secret_event")),
        (r"processing remote config event for (?P<secret>\S+)", _fixed("secret_event")),
        (r"secret controller got event from queue for secret (?P<secret>\S+)", _fixed("secret_event")),
        (
            r"Error processing (?P<secret>\S+) \((?:will retry|giving up)\): (?P<error>.*)",
            _fixed("secret_failed"),
        ),
        (
            r"remote config (?P<secret>\S+) has conflicting file-backed kubeconfigs for the same cluster ID, "
            r"keeping existing configuration: (?P<error>.*)",
            _fixed("secret_failed"),
        ),
        # sync timeouts and failures
        (r"remote clusters failed to sync after \S+", _whole("sync_timeout")),
        (r"remote cluster (?P<cluster>\S+) failed to sync after \S+", _whole("sync_timeout")),
        (
            r"remote cluster (?P<cluster>\S+) failed to sync(?: handler$| KRT collection |$)",
            _whole("sync_failed"),
        ),
        (r"Timed out waiting for cluster (?P<cluster>\S+) to sync", _whole("sync_timeout")),
        (r"Timed out waiting for remote config source to sync", _whole("sync_timeout")),
        (r"Failed to sync multicluster remote secrets controller cache", _whole("sync_failed")),
        (r"remote cluster (?P<cluster>\S+) is timed out, omitting it", _whole("sync_timeout")),
        (r"remote cluster (?P<cluster>\S+) is closed(?: or timed out)?, omitting it", _whole("omitted")),
        # an informer's list or watch refused (pilot/pkg/util/informermetric, 1.18 on): while a cluster
        # does not sync, why (Unauthorized, forbidden); transient ones are normal, so it stands alone
        (r"watch error in cluster (?P<cluster>\S+): (?P<error>.*)", _fixed("watch_error")),
        # a cluster's informers synced (pilot/pkg/serviceregistry/kube/controller): after a timeout too,
        # once istiod may read again, for which no other line is logged
        (r"kube controller for (?P<cluster>\S+) synced after \S+", _fixed("synced")),
        (r"cluster (?P<cluster>\S+) synced, replacing registry", _fixed("synced")),
        (r"Number of remote clusters: (?P<count>\d+)", _count),
    ]
]


def _labels(text: str) -> tuple[str, dict[str, str]]:
    """Split ``message<TAB>k=v k=v`` (or a paste's ``message  k=v``) into the message and its labels."""
    message, tab, tail = text.partition("\t")
    if not tab and (spaced := _SPACED_LABELS.search(text)):
        message, tail = text[: spaced.start()], text[spaced.start() :]
    labels = {m["key"]: m["value"] for m in _LABEL.finditer(tail)}
    return message.strip(), labels


def _event(message: str, labels: dict[str, str]) -> _Found | None:
    """The event a remote-cluster message reports, or None."""
    for pattern, read in _RULES:
        if match := pattern.match(message):
            return read(match, labels)
    return None


def _strip(line: str) -> str:
    """The line without ``grep``'s and ``kubectl logs``' prefixes."""
    line = _GREP.sub("", line.strip(), count=1)
    line = _PREFIX.sub("", line, count=1)
    return _KUBECTL_TS.sub("", line, count=1)


def _split(line: str) -> tuple[str, str, str, dict[str, str]] | None:
    """``(ts, level, message, labels)`` of a text or ``--log_as_json`` line, without the prefixes."""
    line = _strip(line)
    if line.startswith("{"):
        try:
            record = json.loads(line)
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        ts, level, msg = record.get("time"), record.get("level"), record.get("msg")
        if not (isinstance(ts, str) and isinstance(level, str) and isinstance(msg, str)):
            return None
        labels = {k: str(v) for k in ("cluster", "secret", "config") if (v := record.get(k)) is not None}
        message, inline = _labels(msg)
        return ts, level, message, {**inline, **labels}
    match = _LINE.match(line)
    if not match:
        return None
    rest = match["rest"]
    if match["scope"] is None and "\t" not in rest and (scope := _SPACED_SCOPE.match(rest)):
        rest = rest[scope.end() :]  # a paste's scope field, its tab turned into spaces
    message, labels = _labels(rest)
    return match["ts"], match["level"], message, labels


#: what current_failures keeps when nothing later supersedes it
_FAILURES = ("add_failed", "update_failed", "sync_timeout")
#: the events about one remote cluster that supersede what came before for it
_CLUSTER_EVENTS = (
    "added",
    "updated",
    "add_failed",
    "update_failed",
    "deleted",
    "delete_failed",
    "sync_timeout",
    "synced",
)

#: The span a pandas timestamp (nanoseconds since 1970 in 64 bits) can hold.
_EARLIEST, _LATEST = dt.datetime(1677, 9, 22), dt.datetime(2262, 4, 11)


def _timestamp(text: str) -> str | None:
    """The timestamp if it is a real date and time that a DataFrame can hold.

    The line pattern alone lets '9999-99-99T1:' and '0001-01-01T00' in.
    """
    try:
        when = dt.datetime.fromisoformat(text.rstrip("Z"))
    except ValueError:
        return None
    return text if _EARLIEST <= when.replace(tzinfo=None) <= _LATEST else None


def parse_istiod_log(text: str, *, cluster: str = "", pod: str = "") -> list[dict[str, Any]]:
    """Rows of the ``istiod_events`` schema for the remote-cluster lines of an istiod log (never raises)."""
    rows = []
    for line in text.splitlines():
        split = _split(line)
        if split is None or _timestamp(split[0]) is None:
            continue
        ts, level, message, labels = split
        event = _event(message, labels)
        if event is None:
            continue
        rows.append(
            {
                "cluster": cluster,
                "pod": pod,
                "ts": ts,
                "level": level,
                "event": event["event"],
                "secret": event.get("secret") or None,
                "remote_cluster": event.get("cluster") or None,
                "error": event.get("error") or None,
                "line": line[:1000],
            }
        )
    return rows


def current_failures(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``add_failed``, ``update_failed`` and ``sync_timeout`` events (of a named cluster) still standing.

    istiod logs history, so a failure is no longer the state once a later event supersedes it: a later
    attempt, failure or deletion for the same remote cluster from the same secret, or a later change
    of that secret (``secret_event``, after which istiod re-reads every cluster in it). A line that
    names no secret (1.3 to 1.5, and the sync timeouts) is about the cluster whatever its secret: it
    supersedes every earlier event for that cluster, and takes the secret of the last of them.

    >>> rows = [{"event": "add_failed", "secret": "s", "remote_cluster": "c2"},
    ...         {"event": "secret_event", "secret": "s", "remote_cluster": None},
    ...         {"event": "added", "secret": "s", "remote_cluster": "c2"}]
    >>> current_failures(rows), current_failures(rows[:1])[0]["event"]
    ([], 'add_failed')
    """
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}  # (where, remote cluster, secret) -> event
    for event in events:
        kind = event["event"]
        secret = event.get("secret") or ""
        where = event.get("cluster") or ""
        remote = event.get("remote_cluster") or ""
        if kind == "secret_event":
            latest = {key: row for key, row in latest.items() if (key[0], key[2]) != (where, secret)}
        elif kind in _CLUSTER_EVENTS and remote:
            earlier = [key for key in latest if key[:2] == (where, remote) and (not secret or not key[2])]
            if not secret and earlier:
                secret = earlier[-1][2]
            for key in earlier:
                del latest[key]
            latest[(where, remote, secret)] = event
    return [event for event in latest.values() if event["event"] in _FAILURES]


#: what istiod prints, for the refusal of a log with none of it
_EXAMPLES = (
    "'processing secret event for secret istio-system/istio-remote-secret-c2', "
    "'Add cluster<TAB>cluster=c2 secret=istio-system/istio-remote-secret-c2', "
    "'Adding cluster_id=c2 from secret=istio-system/istio-remote-secret-c2: ERROR', "
    "'Adding new cluster member: c2', 'remote cluster c2 failed to sync after 15s' or "
    "'Number of remote clusters: 1', after istiod's 'TIMESTAMP<TAB>LEVEL<TAB>' (or as --log_as_json objects)"
)


def read_istiod_log(text: str, *, cluster: str = "", pod: str = "") -> pd.DataFrame:
    """istiod's remote-cluster log lines as an ``istiod_events`` DataFrame (``kubectl logs`` of istiod).

    An empty text is an empty frame; a text with lines but no remote-cluster event is refused with a
    :class:`~meshnb.errors.ParseError` naming its first line (the diagnostics, for which a log with no
    event is normal, call :func:`parse_istiod_log`).

    >>> df = read_istiod_log("2026-11-28T09:00:00.000000Z\\tinfo\\tNumber of remote clusters: 1")
    >>> df[["event", "level"]].values.tolist()
    [['remote_clusters=1', 'info']]
    >>> read_istiod_log("2026-11-28T09:00:00.000000Z\\tinfo\\tads\\tPush debounce stable")
    Traceback (most recent call last):
    ...
    meshnb.errors.ParseError: no istiod remote-cluster event in 1 line ...
    """
    from meshnb.schemas import frame

    rows = parse_istiod_log(text, cluster=cluster, pod=pod)
    if not rows:
        numbered = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        if numbered:
            count = len(numbered)
            raise ParseError(
                f"no istiod remote-cluster event in {count} line{'s' if count != 1 else ''} read: "
                f"expected lines such as {_EXAMPLES}",
                numbered[0][1],
                numbered[0][0],
            )
    return frame("istiod_events", rows)
