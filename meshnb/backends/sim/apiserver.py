"""The simulated clusters' API servers, as a remote secret's kubeconfig finds them from meshnb's machine.

Each remote cluster's API server knows its own service accounts' tokens: Istio's reader (bound to the
reader role, unless the ``reader_role_removed`` knob took that binding away) and a narrower reader whose
role lacks endpointslices (the ``remote_secret_no_endpointslices`` knob). Any other token is refused
(401): a revoked one, and an expired one (its ``exp`` is past). meshnb is modelled on a machine of its
own: a loopback server, or a cluster in the ``unreachable`` knob, refuses the connection.

>>> from meshnb.backends.sim import simulate
>>> mesh = simulate("remote-secret-no-endpointslices")
>>> secret = mesh.remote_secret("cluster1", "cluster2")
>>> attempt = answer(mesh, secret.data["cluster2"])
>>> attempt.reason, [f"{c.verb} {c.right.name}" for c in attempt.denied]
('forbidden', ['list endpointslices.discovery.k8s.io', 'watch endpointslices.discovery.k8s.io'])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from meshnb.backends.remote_api import (
    READER_RIGHTS,
    Attempt,
    RightCheck,
    base_attempt,
    classify_401,
    common_fields,
    finish,
    judged,
    read_target,
    token_claims,
)
from meshnb.backends.sim.pki import NARROW_READER, READER

if TYPE_CHECKING:
    from collections.abc import Mapping

    from meshnb.backends.sim.knobs import Knobs
    from meshnb.backends.sim.layout import ClusterState
    from meshnb.backends.sim.pki import SimPKI


class MeshState(Protocol):
    """What the API servers read of the simulated mesh (:class:`meshnb.backends.sim.MeshState`)."""

    knobs: Knobs
    pki: SimPKI

    @property
    def clusters(self) -> Mapping[str, object]:
        """The clusters, by name."""

    def state(self, cluster: str) -> ClusterState:
        """What ``cluster`` holds (its API server's address)."""


__all__ = ["SIM_API_VERSION", "answer"]

#: The simulated API servers' version (the test bed's kube-apiserver).
SIM_API_VERSION = "v1.34.2"
_ROLE = "istio-reader-clusterrole-istio-system"


def _rights(mesh: MeshState, remote: str, account: str) -> tuple[RightCheck, ...]:
    checks = []
    for right in READER_RIGHTS:
        if account == READER:
            allowed = remote not in mesh.knobs.reader_role_removed
        else:  # the narrow reader's own role: Istio's reader rules without endpointslices
            allowed = right.resource != "endpointslices"
        why = f'RBAC: allowed by ClusterRoleBinding "{_ROLE}"' if allowed and account == READER else ""
        checks += [RightCheck(right, verb, allowed, why) for verb in right.verbs]
    return tuple(checks)


def answer(mesh: MeshState, kubeconfig: bytes) -> Attempt:
    """The :class:`Attempt` trying ``kubeconfig`` against the simulated mesh gives."""
    target = read_target(kubeconfig)
    early = base_attempt(target)
    if early is not None:
        return early
    common = common_fields(target)
    servers = {mesh.state(name).api_server: name for name in mesh.clusters}
    remote = None if common["loopback"] else servers.get(str(target.server))
    if remote is None or remote in mesh.knobs.unreachable:
        return finish(Attempt(reason="unreachable", detail="connection refused", **common))
    for account in (READER, NARROW_READER):
        if target.token == mesh.pki.token(remote, account=account):
            identity = f"system:serviceaccount:istio-system:{account}"
            return judged(
                Attempt(
                    reason="ok",
                    answered=True,
                    version=SIM_API_VERSION,
                    identity=identity,
                    identity_source="SelfSubjectReview",
                    rights=_rights(mesh, remote, account),
                    **common,
                )
            )
    sub = token_claims(target.token).get("sub")
    return finish(
        Attempt(
            reason=classify_401(target.token),
            detail="HTTP 401 from GET /version: Unauthorized",
            answered=True,
            identity=sub if isinstance(sub, str) else None,
            identity_source="token sub claim (not verified)" if isinstance(sub, str) else None,
            **common,
        )
    )
