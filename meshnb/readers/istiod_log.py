"""istiod's log lines about remote clusters, in every format Istio has used, as istiod_events rows.

Istio logs ``TIMESTAMP<TAB>LEVEL<TAB>SCOPE<TAB>MESSAGE`` with ``key=value`` labels after the message.
The remote-cluster lines this module knows:

- up to 1.8: ``Failed to add remote cluster from secret=S for cluster_id=C: ERR``
- 1.10 to 1.15: ``Adding cluster_id=C from secret=S: ERR`` (a failure) and the same without ``: ERR``
- 1.16 on: ``Add cluster: create remote cluster failed: ERR`` with ``cluster=C`` and ``secret=S`` or
  ``config=S`` labels, and ``Adding cluster`` with the same labels on success
- ``Deleting cluster_id=C configured by secret=S`` (older) and ``Deleting cluster`` with labels
- ``processing secret event for secret S``: a secret changed; what follows for S supersedes what came
  before (see :func:`current_failures`)
- ``Number of remote clusters: N``

Other lines are ignored; nothing here raises on odd input.

>>> events = parse_istiod_log(
...     "2026-11-28T09:00:01.100000Z\\terror\\tkube\\tAdd cluster: create remote cluster failed: "
...     "bad key\\tcluster=kubeconfig secret=istio-system/istio-remote-secret-cluster2")
>>> events[0]["event"], events[0]["remote_cluster"], events[0]["secret"]
('add_failed', 'kubeconfig', 'istio-system/istio-remote-secret-cluster2')
"""

from __future__ import annotations

import datetime as dt
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
_MID_ADDING = re.compile(
    r"Adding cluster_id=(?P<cluster>\S+?) from secret=(?P<secret>[^:\s]+)(?:: ?(?P<error>.+))?$"
)
_NEW_FAILED = re.compile(r"Add cluster: create remote cluster failed: ?(?P<error>.*)")
_COUNT = re.compile(r"Number of remote clusters: (?P<count>\d+)")
_OLD_DELETING = re.compile(r"Deleting cluster_id=(?P<cluster>\S+) configured by secret=(?P<secret>\S+)")
_SECRET_EVENT = re.compile(r"processing secret event for secret (?P<secret>\S+)")


def _labels(text: str) -> tuple[str, dict[str, str]]:
    """Split ``message<TAB>k=v k=v`` (or ``message k=v``) into the message and its labels."""
    message, _, tail = text.partition("\t")
    labels = {m["key"]: m["value"] for m in _LABEL.finditer(tail or message)}
    return message.strip(), labels


def _event(message: str, labels: dict[str, str]) -> dict[str, Any] | None:
    if match := _OLD_FAILED.search(message):
        return {"event": "add_failed", **match.groupdict()}
    if match := _MID_ADDING.search(message):
        found = match.groupdict()
        return {"event": "add_failed" if found["error"] else "added", **found}
    secret = labels.get("secret") or labels.get("config")
    if match := _NEW_FAILED.search(message):
        return {
            "event": "add_failed",
            "cluster": labels.get("cluster"),
            "secret": secret,
            "error": match["error"],
        }
    if message.startswith("Adding cluster") and labels.get("cluster"):
        return {"event": "added", "cluster": labels["cluster"], "secret": secret, "error": None}
    if match := _OLD_DELETING.search(message):
        return {"event": "deleted", **match.groupdict(), "error": None}
    if message.startswith("Deleting cluster") and labels.get("cluster"):
        return {"event": "deleted", "cluster": labels["cluster"], "secret": secret, "error": None}
    if match := _SECRET_EVENT.search(message):
        return {"event": "secret_event", "cluster": None, "secret": match["secret"], "error": None}
    if match := _COUNT.search(message):
        return {"event": f"remote_clusters={match['count']}", "cluster": None, "secret": None, "error": None}
    return None


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
        match = _LINE.match(line.strip())
        if not match or _timestamp(match["ts"]) is None:
            continue
        message, labels = _labels(match["rest"])
        event = _event(message, labels)
        if event is None:
            continue
        rows.append(
            {
                "cluster": cluster,
                "pod": pod,
                "ts": match["ts"],
                "level": match["level"],
                "event": event["event"],
                "secret": event.get("secret"),
                "remote_cluster": event.get("cluster"),
                "error": event.get("error") or None,
                "line": line[:1000],
            }
        )
    return rows


def current_failures(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``add_failed`` events that still stand.

    istiod logs history, so a failure followed by a later event for the same secret (it was changed,
    re-added or deleted) is no longer the state.

    >>> rows = [{"event": "add_failed", "secret": "s", "remote_cluster": "c2"},
    ...         {"event": "secret_event", "secret": "s", "remote_cluster": None},
    ...         {"event": "added", "secret": "s", "remote_cluster": "c2"}]
    >>> current_failures(rows), current_failures(rows[:1])[0]["event"]
    ([], 'add_failed')
    """
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for event in events:
        if event["event"] in ("secret_event", "added", "add_failed", "deleted"):
            key = (event.get("cluster") or "", event.get("secret") or event.get("remote_cluster") or "")
            latest[key] = event
    return [event for event in latest.values() if event["event"] == "add_failed"]


def read_istiod_log(text: str, *, cluster: str = "", pod: str = "") -> pd.DataFrame:
    """istiod's remote-cluster log lines as an ``istiod_events`` DataFrame (``kubectl logs`` of istiod).

    >>> df = read_istiod_log("2026-11-28T09:00:00.000000Z\\tinfo\\tkube\\tNumber of remote clusters: 1")
    >>> df[["event", "level"]].values.tolist()
    [['remote_clusters=1', 'info']]
    """
    from meshnb.schemas import frame

    return frame("istiod_events", parse_istiod_log(text, cluster=cluster, pod=pod))
