"""The test bed keeps going when one object fails every pass of its kubelet.

On the real API servers of tests/testbed: a pod is created and its namespace deleted between two of the
kubelet's passes, so the pod still names no node when the kubelet next tries to bind it, and the API
refuses the binding with 403 ("... because it is being terminated"); a ValidatingAdmissionPolicy refuses
to delete that pod, so it stays, unbound, and the real namespace controller (kube-controller-manager)
cannot empty its namespace. Another namespace is held in Terminating by a finalizer in
metadata.finalizers. While both last, a new pod elsewhere is bound and runs, another deleted namespace
is finalized, and a fault switch changes what the real sidecars' endpoints show, as the simulator says
it does. The kubelet logs its refusal once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from testbed import processes
from testbed.bed import NAMES
from testbed.world import create

import meshnb

pytestmark = pytest.mark.testbed

STUCK = "resilience-1-unbindable"  # sorts before the others: the kubelet meets it first in every list
HELD = "resilience-2-held"
LATER = "resilience-3-deleted"
NEW = "resilience-4-new"
HOLD = "example.com/hold"
POD = "unbindable"
POLICY = "meshnb-test-keep-unbindable-pod"


def _wait(what: str, ready: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"{what} within {timeout:g}s"
        time.sleep(0.2)


def _namespace(core, name: str, finalizers: list[str] | None = None) -> None:
    meta = {"name": name, "labels": {"meshnb-test": "resilience"}, "finalizers": finalizers or []}
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": meta})


def _pod(name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "main", "image": "docker.io/library/busybox:1.37"}]},
    }


def _keep_pod_policy() -> list[dict]:
    """An admission policy that refuses to delete the unbindable pod (as a webhook of a user's might)."""
    group = "admissionregistration.k8s.io/v1"
    rule = {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["DELETE"], "resources": ["pods"]}
    keep = f"!(oldObject.metadata.namespace == '{STUCK}' && oldObject.metadata.name == '{POD}')"
    return [
        {
            "apiVersion": group,
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": POLICY},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {"resourceRules": [rule]},
                "validations": [{"expression": keep, "message": "the test keeps this pod"}],
            },
        },
        {
            "apiVersion": group,
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": POLICY},
            "spec": {"policyName": POLICY, "validationActions": ["Deny"]},
        },
    ]


def _gone(call: Callable, *args) -> bool:
    from kubernetes import client as k8s

    try:
        call(*args)
    except k8s.ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


def _refused(call: Callable, *args, **kwargs) -> bool:
    from kubernetes import client as k8s

    try:
        call(*args, **kwargs)
    except k8s.ApiException as exc:
        return exc.status in (403, 422)
    return False


def _endpoints_verdict(testbed, fault: str):
    mesh = meshnb.connect(list(NAMES), kubeconfig=str(testbed.kubeconfig), timeout=10)
    try:
        got = meshnb.check_endpoints(mesh)
    finally:
        mesh.close()
    want = meshnb.check_endpoints(meshnb.simulate(fault))
    assert (got.status, got.cluster_statuses()) == (want.status, want.cluster_statuses()), got.summary
    return got.status


def test_a_pod_that_cannot_be_bound_does_not_freeze_the_test_bed(testbed):
    from kubernetes import client as k8s

    api = testbed.client("cluster1")
    core = k8s.CoreV1Api(api)
    try:
        for manifest in _keep_pod_policy():
            create(api, manifest)
        # Between two passes: the pod is created and its namespace deleted before the kubelet binds it.
        processes.pause(testbed.root, "kubelet", True)
        try:
            _namespace(core, STUCK)
            core.create_namespaced_pod(STUCK, _pod(POD))
            _wait(  # the API server has loaded the policy: a dry run of the deletion is refused
                "the policy refuses to delete the pod",
                lambda: _refused(core.delete_namespaced_pod, POD, STUCK, dry_run="All"),
                20,
            )
            core.delete_namespace(STUCK)
        finally:
            processes.pause(testbed.root, "kubelet", False)
        _namespace(core, HELD, finalizers=[HOLD])
        core.delete_namespace(HELD)

        # The rest of the world goes on: a new pod is bound and runs ...
        _namespace(core, NEW)
        core.create_namespaced_pod(NEW, _pod("newcomer"))

        def running() -> bool:
            pod = core.read_namespaced_pod("newcomer", NEW)
            return bool(pod.spec.node_name and pod.status.phase == "Running")

        _wait("the new pod bound and Running", running, 20)
        # ... another deleted namespace is emptied and finalized ...
        _namespace(core, LATER)
        core.create_namespaced_config_map(LATER, {"metadata": {"name": "left-behind"}})
        core.delete_namespace(LATER)
        _wait("the deleted namespace finalized", lambda: _gone(core.read_namespace, LATER), 20)
        # ... and a fault switch changes what the sidecars' endpoints show, as on the simulator.
        verdicts = {}
        for fault in ("missing-remote-secret", "healthy"):
            testbed.fault(fault)  # waits until istiod has pushed the change and every proxy took it
            verdicts[fault] = _endpoints_verdict(testbed, fault)
        assert verdicts == {"missing-remote-secret": "fail", "healthy": "pass"}

        # All that while, the unbindable pod stayed as it was, and so did the held namespace.
        pod = core.read_namespaced_pod(POD, STUCK)
        assert not pod.spec.node_name and not pod.metadata.deletion_timestamp
        assert core.read_namespace(STUCK).status.phase == "Terminating"
        held = core.read_namespace(HELD)
        assert held.status.phase == "Terminating" and held.metadata.finalizers == [HOLD]
        assert not held.spec.finalizers  # the namespace controller did its part ("kubernetes" is gone)
        # The refusal was logged once, not every pass (many passes ran: two fault switches waited).
        text = (testbed.root / "logs" / "kubelet.log").read_text(errors="replace")
        assert text.count(f"binding {STUCK}/{POD} failed") == 1, text[-3000:]
    finally:
        _clean_up(testbed, api, core)


def _clean_up(testbed, api, core) -> None:
    from kubernetes import client as k8s
    from testbed.world import delete

    delete(api, "admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding", None, POLICY)
    delete(api, "admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", None, POLICY)
    # The pod goes once the policy does.

    def pod_deleted() -> bool:
        try:
            core.delete_namespaced_pod(POD, STUCK)
        except k8s.ApiException as exc:
            if exc.status == 404:
                return True
            if exc.status not in (403, 422):  # until the API server has dropped the policy
                raise
        return False

    _wait("the unbindable pod deleted", pod_deleted, 20)
    try:
        core.patch_namespace(HELD, {"metadata": {"finalizers": None}})
    except k8s.ApiException as exc:
        if exc.status != 404:
            raise
    for name in (NEW, LATER):
        try:
            core.delete_namespace(name)
        except k8s.ApiException as exc:
            if exc.status != 404:
                raise
    for name in (STUCK, HELD, NEW, LATER):
        _wait(f"namespace {name} gone", lambda n=name: _gone(core.read_namespace, n), 30)
    testbed.fault("healthy")
