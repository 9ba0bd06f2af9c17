"""istiod's own view of the mesh, read through the Kubernetes API from every istiod pod of a cluster.

In each istiod pod (``app=istiod`` in the Istio namespace) meshnb runs ``pilot-discovery request GET
/debug/<view>`` in the ``discovery`` container, what ``kubectl exec`` would run. istiod answers its
debug views without authentication only from inside its own pod (``allowAuthenticatedOrLocalhost`` in
``pilot/pkg/xds/debug.go``), so the API server's pod proxy would need a token istiod accepts; an exec
needs only ``create pods/exec`` in istio-system (the README's RBAC). The answers are read by
:mod:`meshnb.readers.istiod_debug` into its DataFrames: ``clusterz`` (the remote clusters and their
sync status), ``syncz`` (each connected proxy's nonces), ``endpoint_shards``, ``networkz`` and
``ambientz`` (the workloads istiod sends ztunnels, as ``endpoints`` rows).

A view that cannot be read (no istiod, RBAC, an older istiod without the view) is said in ``errors``,
never raised: the checks that use these views fall back on what they read before.

>>> import meshnb
>>> view = read_istiod(meshnb.simulate("remote-cluster-syncing").clusters["cluster1"], ["/debug/clusterz"])
>>> view.frames["clusterz"][["cluster", "status"]].values.tolist()
[['cluster1', 'synced'], ['cluster2', 'syncing']]
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from meshnb.diagnostics.fanout import describe
from meshnb.errors import ClusterError, ParseError
from meshnb.readers.istiod_debug import (
    read_ambientz,
    read_clusterz,
    read_endpoint_shards,
    read_networkz,
    read_syncz,
)

if TYPE_CHECKING:
    import pandas as pd

    from meshnb.backends.base import Cluster, Pod

__all__ = ["CONTAINER", "VIEWS", "IstiodView", "read_istiod", "request_argv"]

log = logging.getLogger("meshnb")

#: istiod's container in its pod (the istio-discovery chart's).
CONTAINER = "discovery"
#: Each debug view meshnb reads, the reader of its answer and the name of its DataFrame.
VIEWS: dict[str, tuple[Callable[..., pd.DataFrame], str]] = {
    "/debug/clusterz": (read_clusterz, "clusterz"),
    "/debug/syncz": (read_syncz, "syncz"),
    "/debug/endpointShardz": (read_endpoint_shards, "endpoint_shards"),
    "/debug/networkz": (read_networkz, "networkz"),
    "/debug/ambientz": (lambda text, istiod: read_ambientz(text), "ambientz"),
}
#: What :func:`read_istiod` reads unless told: the multicluster views (``ambientz`` is read when a
#: client is in ambient mode; an istiod without ambient mode has nothing there).
MULTICLUSTER_VIEWS = ("/debug/clusterz", "/debug/syncz", "/debug/endpointShardz", "/debug/networkz")
#: Seconds an istiod has to answer one view (a large mesh's endpointShardz takes a while).
TIMEOUT = 20.0


def request_argv(path: str) -> list[str]:
    """The command run in istiod's pod to read ``path`` (a list: no shell).

    >>> request_argv("/debug/syncz?namespace=sample")
    ['pilot-discovery', 'request', 'GET', '/debug/syncz?namespace=sample']
    """
    view = path.split("?", 1)[0]
    if view not in VIEWS:
        raise ValueError(f"not one of istiod's views meshnb reads: {path!r} (known: {', '.join(VIEWS)})")
    return ["pilot-discovery", "request", "GET", path]


@dataclass
class IstiodView:
    """What a cluster's istiods answered: a DataFrame per view (all istiods' rows), and what failed."""

    pods: list[str] = field(default_factory=list)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def error(self) -> str | None:
        """The failures in one line (None if every view was read)."""
        return "; ".join(self.errors) or None


def read_istiod(
    cluster: Cluster,
    paths: Sequence[str] = MULTICLUSTER_VIEWS,
    namespace: str = "istio-system",
    pods: Sequence[Pod] | None = None,
) -> IstiodView:
    """Read ``paths`` (views of :data:`VIEWS`, with a query if wanted) from every running istiod pod.

    ``pods``: the istiod pods, when the caller has listed them already.
    """
    import pandas as pd

    for path in paths:
        request_argv(path)  # every path is known before anything runs
    view = IstiodView()
    if pods is None:
        try:
            pods = cluster.list_pods(namespace, "app=istiod")
        except ClusterError as exc:
            view.errors.append(f"istiod's pods could not be listed ({describe(exc)})")
            return view
    running = [pod for pod in pods if pod.phase == "Running"]
    if not running:
        view.errors.append(f"no istiod pod (app=istiod) runs in {namespace}")
        return view
    found: dict[str, list[pd.DataFrame]] = {}
    for pod in running:
        view.pods.append(pod.name)
        for path in paths:
            reader, name = VIEWS[path.split("?", 1)[0]]
            text = _request(cluster, namespace, pod.name, path, view.errors)
            if text is None:
                continue
            try:
                frame = reader(text, istiod=pod.name)
            except ParseError as exc:
                if text.startswith("404 page not found"):
                    view.errors.append(f"{pod.name} does not serve {path} (an Istio older than the view?)")
                else:
                    view.errors.append(f"{pod.name}: {path} could not be read: {exc}")
                continue
            found.setdefault(name, []).append(frame)
    for name, frames in found.items():
        view.frames[name] = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return view


def _request(cluster: Cluster, namespace: str, pod: str, path: str, errors: list[str]) -> str | None:
    """istiod's answer to ``path``, or None with the reason added to ``errors``."""
    try:
        result = cluster.exec(namespace, pod, request_argv(path), container=CONTAINER, timeout=TIMEOUT)
    except ClusterError as exc:
        errors.append(f"{pod}: {path} could not be asked ({describe(exc)})")
        return None
    if result.returncode != 0:
        said = (result.stderr or result.stdout).strip().splitlines()
        errors.append(
            f"{pod}: {path}: pilot-discovery request exited {result.returncode}: {said[-1] if said else ''}"
        )
        return None
    return result.stdout
