"""Which data plane carries a namespace's traffic in each cluster: sidecars, ambient (ztunnel), or none.

A pod is in **sidecar** mode when it runs Istio's proxy (injected: ``sidecar.istio.io/status``, or an
``istio-proxy`` container); in **ambient** mode when Istio's CNI captured it for ztunnel (the
``ambient.istio.io/redirection: enabled`` annotation the CNI node agent writes; ``pending`` is not yet
carried); otherwise in **none**. The injector ignores the ambient labels and the CNI skips a pod with a
sidecar (``cni/pkg/util/enablement_selector.go``), so what the pods show wins over the labels. A
namespace's mode in a cluster is its pods' mode when they agree, ``mixed`` when they do not, and, with
no pod to look at, what its labels ask for (``istio.io/dataplane-mode=ambient``;
``istio-injection=enabled`` or ``istio.io/rev``).

>>> from meshnb.backends.base import Pod
>>> pod_mode(Pod("curl-1", "sample", containers=("curl", "istio-proxy")))
'sidecar'
>>> pod_mode(Pod("curl-1", "sample", annotations={"ambient.istio.io/redirection": "enabled"}))
'ambient'
>>> labelled_mode({"istio.io/dataplane-mode": "ambient"}), labelled_mode({"istio-injection": "enabled"})
('ambient', 'sidecar')
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from meshnb.backends.base import Cluster, Mesh, Pod
from meshnb.diagnostics.fanout import Progress, error_row, per_cluster
from meshnb.errors import MeshnbError, NotFound
from meshnb.names import validate_name
from meshnb.schemas import SCHEMAS, validate

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AMBIENT",
    "MODES",
    "NONE",
    "SIDECAR",
    "dataplane_modes",
    "labelled_mode",
    "namespace_mode",
    "pod_mode",
]

SIDECAR, AMBIENT, NONE = "sidecar", "ambient", "none"
#: A namespace's modes: one of a pod's, ``mixed`` (its pods differ) or ``unknown`` (not read).
MODES = (SIDECAR, AMBIENT, NONE, "mixed", "unknown")
#: What Istio's CNI node agent writes on a pod it redirected to ztunnel.
REDIRECTION = "ambient.istio.io/redirection"
DATAPLANE_MODE = "istio.io/dataplane-mode"


def pod_mode(pod: Pod) -> str:
    """``sidecar``, ``ambient`` or ``none``: what carries ``pod``'s traffic (its containers, annotations).

    >>> pod_mode(Pod("db-0", "sample"))
    'none'
    """
    if "sidecar.istio.io/status" in pod.annotations:  # what Istio's CNI looks at (cni/pkg/util/podutil.go)
        return SIDECAR
    if pod.annotations.get(REDIRECTION) == "enabled":  # "pending": not carried until a ztunnel takes it
        return AMBIENT
    return SIDECAR if "istio-proxy" in pod.containers else NONE


def labelled_mode(labels: Mapping[str, str]) -> str:
    """The mode a namespace's labels ask for: ambient, sidecar (injection on) or none.

    Ambient's label comes first: a namespace labelled for both gets sidecars in its injected pods
    (those ztunnel leaves alone) and ztunnel for the others, so its pods tell the truth.

    >>> labelled_mode({"istio.io/rev": "canary"}), labelled_mode({"istio-injection": "disabled"})
    ('sidecar', 'none')
    """
    if labels.get(DATAPLANE_MODE) == AMBIENT:
        return AMBIENT
    if labels.get("istio-injection") == "enabled" or "istio.io/rev" in labels:
        return SIDECAR
    return NONE


def namespace_mode(pods: Iterable[Pod], labels: Mapping[str, str]) -> tuple[str, Counter[str]]:
    """A namespace's mode from its pods (their count by mode too), or from its labels when it has none.

    >>> mode, counts = namespace_mode([Pod("a", "ns", containers=("istio-proxy",)), Pod("b", "ns")], {})
    >>> mode, dict(counts)
    ('mixed', {'sidecar': 1, 'none': 1})
    """
    counts = Counter(pod_mode(pod) for pod in pods)
    if not counts:
        return labelled_mode(labels), counts
    return (next(iter(counts)) if len(counts) == 1 else "mixed"), counts


def _row(name: str, cluster: Cluster, namespace: str) -> dict[str, object]:
    try:
        labels = cluster.namespace_labels(namespace)
    except NotFound:
        labels = None
    pods = cluster.list_pods(namespace) if labels is not None else []
    mode, counts = namespace_mode(pods, labels or {})
    if labels is None:
        detail = f"namespace {namespace} does not exist"
    elif not pods:
        detail = f"no pods; its labels ask for {mode}"
    else:
        detail = ", ".join(f"{count} {kind}" for kind, count in counts.items())
        if mode != labelled_mode(labels):
            detail += f" (its labels ask for {labelled_mode(labels)})"
    return {
        "cluster": name,
        "namespace": namespace,
        "mode": mode if labels is not None else "unknown",
        "labelled": labelled_mode(labels or {}),
        "sidecar_pods": counts[SIDECAR],
        "ambient_pods": counts[AMBIENT],
        "none_pods": counts[NONE],
        "status": "pass",
        "reason": "ok",
        "detail": detail,
    }


def dataplane_modes(mesh: Mesh, namespace: str = "sample", progress: Progress | None = None) -> pd.DataFrame:
    """The ``modes`` frame: ``namespace``'s mode in every cluster (an error row for one not read).

    >>> import meshnb
    >>> dataplane_modes(meshnb.simulate())[["cluster", "mode", "sidecar_pods"]].values.tolist()
    [['cluster1', 'sidecar', 2], ['cluster2', 'sidecar', 2]]
    """
    import pandas as pd

    validate_name(namespace, "namespace")
    outcomes = per_cluster(mesh, lambda name, cluster, _report: _row(name, cluster, namespace), progress)
    rows = [
        error_row(
            name,
            outcome,
            namespace=namespace,
            mode="unknown",
            labelled="unknown",
            sidecar_pods=0,
            ambient_pods=0,
            none_pods=0,
        )
        if isinstance(outcome, MeshnbError)
        else outcome
        for name, outcome in outcomes.items()
    ]
    return validate("modes", pd.DataFrame(rows, columns=list(SCHEMAS["modes"])))
