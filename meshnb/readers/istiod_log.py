"""istiod's log lines about remote clusters, in every format Istio has used, as istiod_events rows.

Istio logs ``TIMESTAMP<TAB>LEVEL<TAB>SCOPE<TAB>MESSAGE`` with ``key=value`` labels after the message.
The remote-cluster lines this module knows:

- up to 1.8: ``Failed to add remote cluster from secret=S for cluster_id=C: ERR``, ``Error creating
  cluster_id=C from secret S: ERR``, ``Error updating cluster_id=C from secret=S: ERR``
- 1.10 to 1.15: ``Adding cluster C from secret S`` (the attempt), ``Adding cluster_id=C from
  secret=S: ERR`` (its failure); the same with ``Updating`` for a changed secret
- 1.16 to 1.21: ``Adding cluster`` / ``Updating cluster`` (the attempt) and ``Adding cluster: create
  remote cluster failed: ERR`` / ``... initialize cluster failed: ERR`` (1.16 to 1.18), with
  ``cluster=C secret=S`` labels after a tab
- 1.22 on: the same with ``Add`` / ``Update`` (``ACTION.String()``); from 1.30 the label is
  ``config=S`` and a change is ``processing remote config event for S``
- ``Deleting cluster_id=C configured by secret=S`` (older) and ``Deleting cluster`` with labels
- ``processing secret event for secret S``: a secret changed; what follows for S supersedes what came
  before (see :func:`current_failures`)
- ``Number of remote clusters: N``

An attempt is read as ``added`` / ``updated`` (istiod logs no success line of its own: the failure,
if any, is the next line for the same cluster); failures as ``add_failed`` / ``update_failed``.
Lines may be istiod's ``--log_as_json`` objects, and may carry ``kubectl logs --prefix`` /
``--timestamps`` prefixes. Other lines are ignored; nothing here raises on odd input.

>>> events = parse_istiod_log(
...     "2026-11-28T09:00:01.100000Z\\terror\\tkube\\tAdding cluster: create remote cluster failed: "
...     "bad key\\tcluster=kubeconfig secret=istio-system/istio-remote-secret-cluster2")
>>> events[0]["event"], events[0]["remote_cluster"], events[0]["secret"]
('add_failed', 'kubeconfig', 'istio-system/istio-remote-secret-cluster2')
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["current_failures", "parse_istiod_log", "read_istiod_log"]

_LINE = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\dT[0-9:.]+Z?)\s+(?P<level>[a-z]+)\s+(?:(?P<scope>[\w.-]+)\t)?(?P<rest>.*)$"
)
_LABEL = re.compile(r"(?P<key>cluster|secret|config)=(?P<value>\S+)")
_OLD_FAILED = re.compile(
    r"Failed to add remote cluster from secret=(?P<secret>\S+) "
    r"for cluster_id=(?P<cluster>[^:\s]+): ?(?P<error>.*)"
)
_OLD_ERROR = re.compile(
    r"Error (?P<action>creating|updating) cluster_id=(?P<cluster>\S+?) "
    r"from secret[= ](?P<secret>[^:\s]+): ?(?P<error>.*)"
)
_MID_FAILED = re.compile(
    r"(?P<action>Adding|Updating) cluster_id=(?P<cluster>\S+?) from secret=(?P<secret>[^:\s]+)"
    r"(?:: ?(?P<error>.+))?$"
)
_MID_ATTEMPT = re.compile(
    r"^(?P<action>Adding|Updating) cluster (?P<cluster>\S+) from secret (?P<secret>\S+)$"
)
_NEW_FAILED = re.compile(
    r"^(?P<action>Add|Adding|Update|Updating) cluster: "
    r"(?:create remote|initialize) cluster failed: ?(?P<error>.*)"
)
_NEW_ATTEMPT = re.compile(r"^(?P<action>Add|Adding|Update|Updating) cluster$")
_COUNT = re.compile(r"Number of remote clusters: (?P<count>\d+)")
_OLD_DELETING = re.compile(r"Deleting cluster_id=(?P<cluster>\S+) configured by secret=(?P<secret>\S+)")
_SECRET_EVENT = re.compile(r"processing (?:secret event for secret|remote config event for) (?P<secret>\S+)")
#: ``kubectl logs --prefix`` (``[pod/NAME/CONTAINER] ``) before the line.
_PREFIX = re.compile(r"^\[[^\]\s]+\] ")
#: ``kubectl logs --timestamps`` (RFC3339) before istiod's own timestamp or JSON object.
_KUBECTL_TS = re.compile(r"^\d{4}-\d\d-\d\dT\S+ (?=\d{4}-\d\d-\d\dT|\{)")


def _labels(text: str) -> tuple[str, dict[str, str]]:
    """Split ``message<TAB>k=v k=v`` (or ``message k=v``) into the message and its labels."""
    message, _, tail = text.partition("\t")
    labels = {m["key"]: m["value"] for m in _LABEL.finditer(tail or message)}
    return message.strip(), labels


def _is_update(action: str) -> bool:
    return action.startswith("Updat")


def _event(message: str, labels: dict[str, str]) -> dict[str, Any] | None:
    """The event a remote-cluster message reports, or None."""
    if match := _OLD_FAILED.search(message):
        return {"event": "add_failed", **match.groupdict()}
    if match := _OLD_ERROR.search(message):
        found = match.groupdict()
        return {"event": "update_failed" if found.pop("action") == "updating" else "add_failed", **found}
    if "(kubeconfig are identical)" in message:
        return None  # an update skipped: nothing changed
    if match := _MID_FAILED.search(message):
        found = match.groupdict()
        update = _is_update(found.pop("action"))
        if found["error"]:
            return {"event": "update_failed" if update else "add_failed", **found}
        return {"event": "updated" if update else "added", **found}
    if match := _MID_ATTEMPT.search(message):
        found = match.groupdict()
        update = _is_update(found.pop("action"))
        return {"event": "updated" if update else "added", **found, "error": None}
    secret = labels.get("secret") or labels.get("config")
    if match := _NEW_FAILED.search(message):
        return {
            "event": "update_failed" if _is_update(match["action"]) else "add_failed",
            "cluster": labels.get("cluster"),
            "secret": secret,
            "error": match["error"],
        }
    if (match := _NEW_ATTEMPT.search(message)) and labels.get("cluster"):
        update = _is_update(match["action"])
        return {
            "event": "updated" if update else "added",
            "cluster": labels["cluster"],
            "secret": secret,
            "error": None,
        }
    if match := _OLD_DELETING.search(message):
        return {"event": "deleted", **match.groupdict(), "error": None}
    if message.startswith("Deleting cluster") and labels.get("cluster"):
        return {"event": "deleted", "cluster": labels["cluster"], "secret": secret, "error": None}
    if match := _SECRET_EVENT.search(message):
        return {"event": "secret_event", "cluster": None, "secret": match["secret"], "error": None}
    if match := _COUNT.search(message):
        return {"event": f"remote_clusters={match['count']}", "cluster": None, "secret": None, "error": None}
    return None


def _split(line: str) -> tuple[str, str, str, dict[str, str]] | None:
    """``(ts, level, message, labels)`` of a text or ``--log_as_json`` line, without kubectl's prefixes."""
    line = _PREFIX.sub("", line.strip(), count=1)
    line = _KUBECTL_TS.sub("", line, count=1)
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
    message, labels = _labels(match["rest"])
    return match["ts"], match["level"], message, labels


_FAILURES = ("add_failed", "update_failed")
_CLUSTER_EVENTS = ("added", "updated", "add_failed", "update_failed", "deleted")

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
    """Rows of the ``istiod_events`` schema for the remote-cluster lines of an istiod log."""
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
                "secret": event.get("secret"),
                "remote_cluster": event.get("cluster"),
                "error": event.get("error") or None,
                "line": line[:1000],
            }
        )
    return rows


def current_failures(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``add_failed`` and ``update_failed`` events that still stand.

    istiod logs history, so a failure is no longer the state once a later event supersedes it: a later
    attempt, failure or deletion for the same remote cluster from the same secret, or a later change
    of that secret (``secret_event``, after which istiod re-reads every cluster in it).

    >>> rows = [{"event": "add_failed", "secret": "s", "remote_cluster": "c2"},
    ...         {"event": "secret_event", "secret": "s", "remote_cluster": None},
    ...         {"event": "added", "secret": "s", "remote_cluster": "c2"}]
    >>> current_failures(rows), current_failures(rows[:1])[0]["event"]
    ([], 'add_failed')
    """
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for event in events:
        kind = event["event"]
        secret = event.get("secret") or ""
        where = event.get("cluster") or ""
        if kind == "secret_event":
            latest = {key: row for key, row in latest.items() if key[:2] != (where, secret)}
        elif kind in _CLUSTER_EVENTS:
            latest[(where, secret, event.get("remote_cluster") or "")] = event
    return [event for event in latest.values() if event["event"] in _FAILURES]


def read_istiod_log(text: str, *, cluster: str = "", pod: str = "") -> pd.DataFrame:
    """istiod's remote-cluster log lines as an ``istiod_events`` DataFrame (``kubectl logs`` of istiod).

    >>> df = read_istiod_log("2026-11-28T09:00:00.000000Z\\tinfo\\tkube\\tNumber of remote clusters: 1")
    >>> df[["event", "level"]].values.tolist()
    [['remote_clusters=1', 'info']]
    """
    from meshnb.schemas import frame

    return frame("istiod_events", parse_istiod_log(text, cluster=cluster, pod=pod))
