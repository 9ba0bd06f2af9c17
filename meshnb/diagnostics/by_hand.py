"""The kubectl and istioctl commands that gather a check's evidence by hand, with the user's names in.

Each check declares its commands (:attr:`meshnb.diagnostics.check.Check.by_hand`, a function of a
:class:`Hand`); :func:`commands` fills in each cluster's kubeconfig context, the check's options and,
after a run, the pods it used. Every name is quoted for the shell, so a line can be pasted as it is.

>>> import meshnb
>>> from meshnb.diagnostics.registry import CHECKS
>>> print(commands(CHECKS["remote-secrets"], meshnb.simulate())[0])
kubectl --context=cluster1 -n istio-system get secrets -l istio/multiCluster=true
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from meshnb.backends.base import Mesh
    from meshnb.diagnostics.finding import Finding

__all__ = ["Hand", "commands"]


@dataclass(frozen=True)
class Hand:
    """What by-hand commands are written with.

    ``contexts``: each cluster's kubeconfig context, in the mesh's order (a cluster not in it is its
    own context, as on the simulated mesh); ``options``: the check's; ``pods``: the pod a run used in
    each cluster (else the guide's ``$(kubectl get pod ...)``); ``kubeconfig``: the file, when one was
    named.
    """

    contexts: Mapping[str, str]
    options: Mapping[str, Any]
    pods: Mapping[str, str] = field(default_factory=dict)
    kubeconfig: str | None = None

    @classmethod
    def of(
        cls, mesh: Mesh, options: Mapping[str, Any] | None = None, pods: Mapping[str, str] | None = None
    ) -> Hand:
        """A Hand for ``mesh``: each cluster's own context (``meshnb.connect``) or, simulated, its name.

        >>> import meshnb
        >>> Hand.of(meshnb.simulate()).kubectl("cluster2", "get", "pods")
        'kubectl --context=cluster2 get pods'
        """
        contexts = {
            name: getattr(cluster, "context", None) or name for name, cluster in mesh.clusters.items()
        }
        return cls(contexts, dict(options or {}), dict(pods or {}), getattr(mesh, "kubeconfig", None))

    def _flags(self, cluster: str) -> str:
        kubeconfig = f"--kubeconfig={shlex.quote(self.kubeconfig)} " if self.kubeconfig else ""
        return f"{kubeconfig}--context={shlex.quote(self.contexts.get(cluster, cluster))}"

    def kubectl(self, cluster: str, *args: str) -> str:
        """``kubectl`` in ``cluster`` with ``args`` quoted.

        >>> Hand({"c1": "gke_prod east"}, {}).kubectl("c1", "get", "pods")
        "kubectl --context='gke_prod east' get pods"
        """
        return f"kubectl {self._flags(cluster)} {shlex.join(args)}"

    def istioctl(self, cluster: str, *args: str) -> str:
        """``istioctl`` in ``cluster`` with ``args`` quoted."""
        return f"istioctl {self._flags(cluster)} {shlex.join(args)}"

    def pod(self, cluster: str, namespace: str, app: str) -> str:
        """The pod of ``app`` a run used in ``cluster``, or the shell's way to find one, as the guide does.

        >>> print(Hand({"c1": "c1"}, {}).pod("c1", "sample", "curl"))
        "$(kubectl --context=c1 -n sample get pod -l app=curl -o 'jsonpath={.items[0].metadata.name}')"
        """
        if cluster in self.pods:
            return shlex.quote(self.pods[cluster])
        return self.lookup(cluster, namespace, app)

    def lookup(self, cluster: str, namespace: str, app: str, path: str = "{.items[0].metadata.name}") -> str:
        """A shell substitution for ``path`` (a jsonpath) of the pods of ``app`` in ``cluster``."""
        find = self.kubectl(
            cluster, "-n", namespace, "get", "pod", "-l", f"app={app}", "-o", f"jsonpath={path}"
        )
        return f'"$({find})"'


class Declared(Protocol):
    """What :func:`commands` reads of a check's declaration (:class:`meshnb.diagnostics.check.Check`)."""

    @property
    def options(self) -> tuple[Any, ...]:
        """The check's options, each with ``name`` and ``default``."""

    @property
    def by_hand(self) -> Callable[[Hand], Iterable[str]] | None:
        """The check's commands, made from a :class:`Hand`."""


def _pods(finding: Finding | None) -> dict[str, str]:
    """The first source pod of each cluster in ``finding``'s evidence, if it has any."""
    pods: dict[str, str] = {}
    for table in finding.evidence.values() if finding is not None else ():
        if {"source_cluster", "source_pod"} <= set(table.columns):
            for cluster, pod in zip(table["source_cluster"], table["source_pod"], strict=True):
                if isinstance(cluster, str) and isinstance(pod, str) and pod:
                    pods.setdefault(cluster, pod)
    return pods


def commands(
    check: Declared, mesh: Mesh, options: Mapping[str, Any] | None = None, finding: Finding | None = None
) -> list[str]:
    """The commands that gather ``check``'s evidence by hand on ``mesh`` (``options`` as the check's).

    A cluster's context is its own (``meshnb.connect``) or, on the simulated mesh, its name.
    """
    values = {option.name: option.default for option in check.options}
    values.update(options or {})
    hand = Hand.of(mesh, values, _pods(finding))
    return list(check.by_hand(hand)) if check.by_hand is not None else []
