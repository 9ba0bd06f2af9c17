"""Connectivity between the clusters' pod networks, without Istio in the way (the guide's firewall step).

The guide rules out firewalls by deploying helloworld and curl in a namespace without sidecar injection
and curling the remote helloworld pod's IP directly, in both directions. This check does that in every
cluster at once, and only when asked: with ``apply=False`` (the default) it returns the plan and
changes nothing; with ``apply=True`` it creates the objects, waits for them, probes every ordered pair
of clusters, and deletes everything it created afterwards (also after an error or an interruption)
unless ``keep=True``.

>>> import meshnb
>>> check_connectivity(meshnb.simulate()).status          # the plan only
'skipped'
>>> check_connectivity(meshnb.simulate("firewall"), apply=True).status
'fail'
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from meshnb.backends.base import DEFAULT_TIMEOUT, Mesh, Pod
from meshnb.diagnostics.by_hand import Hand
from meshnb.diagnostics.check import Check, Option
from meshnb.diagnostics.fanout import Cancelled, Progress, per_cluster
from meshnb.diagnostics.finding import Finding, listed
from meshnb.errors import ClusterError, ClusterTimeout, MeshnbError, NotFound
from meshnb.names import validate_name
from meshnb.readers.curl import CURL_WRITE_OUT, RESET_KINDS, classify_error, parse_curl_batch

__all__ = ["ALLOW_CHANGES", "check_connectivity", "manifests", "plan_for_panel"]

log = logging.getLogger("meshnb")

CHECK = "connectivity"
HELLOWORLD_IMAGE = "docker.io/istio/examples-helloworld-{version}:1.0"
CURL_IMAGE = "docker.io/curlimages/curl:8.16.0"
PROBE_TIMEOUT_S = 5
OUTCOMES: dict[str | None, str] = {  # curl's or Envoy's error kind -> the probe outcome the guide talks about
    None: "ok",
    "timeout": "timeout",
    "connect_timeout": "timeout",
    "refused": "refused",
    "connect_failure": "refused",
    **dict.fromkeys(RESET_KINDS, "reset"),
    "tls": "tls/plaintext mismatch",
    "dns": "dns",
}
#: outcome -> its ``reason`` word (an outcome not listed is its own reason)
_REASONS = {"tls/plaintext mismatch": "tls-mismatch"}
STEP_NETWORK = (
    "The pods cannot reach each other even without Istio, so the cause is likely outside Istio (guide: "
    "'Verify connectivity'): check firewall rules and security groups between the clusters' pod (or "
    "node) networks, and the routes between them; in a multi-network mesh, check that each cluster's "
    "east-west gateway is reachable on port 15443 instead."
)


def manifests(cluster_index: int, namespace: str) -> list[dict[str, Any]]:
    """The objects the probe creates in the ``cluster_index``-th cluster (0-based), in creation order.

    The namespace has sidecar injection off; helloworld answers like Istio's sample (same labels,
    port 5000, ``/hello``), v1 in the first cluster, v2 in the second, and so on.

    >>> [m["kind"] for m in manifests(0, "uninjected-sample")]
    ['Namespace', 'Service', 'Pod', 'Pod']
    """
    version = f"v{cluster_index + 1}"
    labels = {"app.kubernetes.io/managed-by": "meshnb"}
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {**labels, "istio-injection": "disabled"}},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "helloworld",
                "namespace": namespace,
                "labels": {**labels, "app": "helloworld"},
            },
            "spec": {"ports": [{"port": 5000, "name": "http"}], "selector": {"app": "helloworld"}},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"helloworld-{version}",
                "namespace": namespace,
                "labels": {**labels, "app": "helloworld", "version": version},
            },
            "spec": {
                "containers": [
                    {
                        "name": "helloworld",
                        "image": HELLOWORLD_IMAGE.format(version=version),
                        "env": [{"name": "SERVICE_VERSION", "value": version}],
                        "ports": [{"containerPort": 5000}],
                        "readinessProbe": {"httpGet": {"path": "/hello", "port": 5000}},
                    }
                ]
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "curl", "namespace": namespace, "labels": {**labels, "app": "curl"}},
            "spec": {
                "containers": [{"name": "curl", "image": CURL_IMAGE, "command": ["/bin/sleep", "infinity"]}],
                "terminationGracePeriodSeconds": 0,
            },
        },
    ]


def _plan(mesh: Mesh, namespace: str):
    import pandas as pd

    rows = [
        {
            "cluster": name,
            "kind": m["kind"],
            "namespace": m["metadata"].get("namespace", ""),
            "name": m["metadata"]["name"],
            "image": ", ".join(c["image"] for c in m.get("spec", {}).get("containers", [])),
        }
        for index, name in enumerate(mesh.clusters)
        for m in manifests(index, namespace)
    ]
    return pd.DataFrame(rows, columns=["cluster", "kind", "namespace", "name", "image"])


class _Gate:
    """The gate the probe's creates pass through, so that cleanup can close it.

    Once cleanup closes it, no create starts (a worker still waiting for an old namespace to go stops),
    and cleanup waits, per cluster, for those in flight.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._open = True
        self._busy: dict[str, int] = {}

    @contextlib.contextmanager
    def entry(self, cluster: str) -> Iterator[None]:
        with self._cond:
            if not self._open:
                raise Cancelled
            self._busy[cluster] = self._busy.get(cluster, 0) + 1
        try:
            yield
        finally:
            with self._cond:
                self._busy[cluster] -= 1
                self._cond.notify_all()

    def close(self) -> None:
        """Let no create start, in any cluster."""
        with self._cond:
            self._open = False

    def settle(self, cluster: str, timeout: float) -> bool:
        """Wait up to ``timeout`` for ``cluster``'s creates in flight to end; False if one still runs."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._busy.get(cluster), timeout)


def _create(
    mesh: Mesh,
    namespace: str,
    created: dict[str, int],
    progress: Progress | None,
    deadline: float,
    sleep: Callable[[float], None],
    gate: _Gate,
) -> dict[str, Any]:
    """Create the probe objects in every cluster; ``created`` counts, as it goes, what each cluster got."""
    index = {name: i for i, name in enumerate(mesh.clusters)}

    def work(name, cluster, report):
        objects = manifests(index[name], namespace)

        def count() -> None:  # inside the gate: cleanup, once it passes the gate, sees every create
            created[name] = created.get(name, 0) + 1

        for manifest in objects:
            _create_one(name, cluster, manifest, deadline, sleep, gate, count)
            report(created[name], len(objects))
        return True

    return per_cluster(mesh, work, progress)


def _create_one(
    name: str,
    cluster,
    manifest: dict[str, Any],
    deadline: float,
    sleep: Callable[[float], None],
    gate: _Gate,
    count: Callable[[], None],
) -> None:
    """Create one object, waiting until ``deadline`` for a namespace of that name still being deleted.

    While a namespace of the same name is still being deleted (a previous probe's, Kubernetes deletes
    namespaces in the background), wait for it to go, until ``deadline``.
    """
    while True:
        try:
            with gate.entry(name):
                cluster.create(manifest)
                count()
            return
        except ClusterError as exc:
            if exc.status != 409 or "being deleted" not in exc.detail or time.monotonic() >= deadline:
                raise
            log.info(
                "%s: waiting for namespace %s to finish deleting", exc.cluster, manifest["metadata"]["name"]
            )
            sleep(1.0)


def _wait_ready(
    mesh: Mesh, namespace: str, names: list[str], timeout: float, progress: Progress | None, sleep: Callable
) -> dict[str, list[Pod] | MeshnbError]:
    deadline = time.monotonic() + timeout
    result: dict[str, list[Pod] | MeshnbError] = {}
    pending = list(names)
    while pending:
        for name in list(pending):
            try:
                pods = mesh.clusters[name].list_pods(namespace)
            except MeshnbError as exc:
                result[name] = exc
                pending.remove(name)
                continue
            ready = [p for p in pods if p.ready and p.ip]
            if progress:
                progress(name, len(ready), 2)
            if len(ready) >= 2:
                result[name] = ready
                pending.remove(name)
        if pending and time.monotonic() > deadline:
            for name in pending:
                result[name] = ClusterTimeout(name, f"pods in {namespace} not ready after {timeout:.0f} s")
            break
        if pending:
            sleep(1.0)
    return result


def _probe(mesh: Mesh, namespace: str, ready: dict[str, list[Pod]]) -> list[dict[str, Any]]:
    rows = []
    for source, pods in ready.items():
        curl = next(p for p in pods if p.labels.get("app") == "curl")
        for dest, dest_pods in ready.items():
            if dest == source:
                continue
            target = next(p for p in dest_pods if p.labels.get("app") == "helloworld")
            url = f"http://{target.ip}:5000/hello"
            argv = ["curl", "-s", "--max-time", str(PROBE_TIMEOUT_S), "--write-out", CURL_WRITE_OUT, url]
            row: dict[str, Any] = {
                "source_cluster": source,
                "source_pod": curl.name,
                "dest_cluster": dest,
                "pod_ip": target.ip,
            }
            try:
                result = mesh.clusters[source].exec(
                    namespace, curl.name, argv, container=curl.default_container, timeout=PROBE_TIMEOUT_S + 30
                )
                transfers = parse_curl_batch(result.stdout)
                if len(transfers) > 1:
                    raise ValueError(f"curl printed {len(transfers)} answers to one request")
            except (MeshnbError, ValueError) as exc:
                rows.append(
                    {**row, "outcome": "error", "http_status": None, "latency_ms": None, "error": str(exc)}
                )
                continue
            if not transfers:
                error = (result.stderr or "curl printed nothing")[:300]
                rows.append(
                    {**row, "outcome": "error", "http_status": None, "latency_ms": None, "error": error}
                )
                continue
            (transfer,) = transfers
            kind = classify_error(
                transfer.http_status, transfer.body, transfer.curl_exit, transfer.curl_error
            )
            rows.append(
                {
                    **row,
                    "outcome": OUTCOMES.get(kind, kind or "ok"),
                    "http_status": transfer.http_status,
                    "latency_ms": None if transfer.seconds is None else transfer.seconds * 1000,
                    "error": (transfer.curl_error or (transfer.body if kind else "") or None),
                }
            )
    return rows


def _cleanup(mesh: Mesh, namespace: str, created: dict[str, int], gate: _Gate) -> dict[str, str]:
    """Delete what was created, in every cluster at once.

    The namespace takes its pods and service with it; each cluster's is deleted after its creates still
    in flight have ended. A second Ctrl-C (or SIGTERM) while this runs does not cut it short: it is
    bounded by the clusters' call timeouts, and then re-raised.
    """
    gate.close()
    outcome: dict[str, str] = {}

    def clean(name: str) -> None:
        cluster = mesh.clusters[name]
        settled = gate.settle(name, float(getattr(cluster, "timeout", DEFAULT_TIMEOUT)) + 1.0)
        if settled and not created.get(name):
            return  # nothing of this run's is there
        try:
            cluster.delete("Namespace", None, namespace)
            outcome[name] = "deleted"
        except NotFound:
            outcome[name] = "already gone"
        except Exception as exc:  # MeshnbError, or a bug: say so, never as a traceback of a thread
            log.debug("cleanup of %s in %s", namespace, name, exc_info=True)
            outcome[name] = f"NOT deleted: {exc}"
        if not settled:  # its create may still land: say so whatever the delete did
            outcome[name] = f"NOT sure: {outcome[name]}, but a create call had not ended; check {namespace}"
        if not outcome[name].startswith(("deleted", "already")):
            log.error("%s: namespace %s %s", name, namespace, outcome[name])

    finished = threading.Semaphore(0)

    def run(name: str) -> None:
        try:
            clean(name)
        finally:
            finished.release()

    for name in mesh.clusters:
        threading.Thread(target=run, args=(name,), name=f"meshnb-cleanup-{name}", daemon=True).start()
    interrupted: BaseException | None = None
    waiting = len(mesh.clusters)
    while waiting:  # not Thread.join: interrupted, it can take a running thread for finished
        try:
            if finished.acquire(timeout=0.2):
                waiting -= 1
        except KeyboardInterrupt as exc:  # Ctrl-C again, SIGTERM, SIGHUP: finish cleaning first
            interrupted = exc
            log.warning("cleaning up namespace %s first: it ends within the clusters' timeouts", namespace)
    log.info("probe namespace %s: %s", namespace, outcome or "nothing to delete")
    if interrupted is not None:
        raise interrupted
    return {name: outcome[name] for name in mesh.clusters if name in outcome}


#: The next step of a plan, wherever it was made; a panel says it in the words of its own checkbox.
ALLOW_CHANGES = (
    "Review the plan, then allow changes: `meshnb check connectivity --apply`, `meshnb triage "
    "--allow-changes`, the panels' *Allow changes* box, or `apply=True` in code."
)


def plan_for_panel(finding: Finding, checkbox: str) -> Finding:
    """``finding`` as a panel shows it: a plan's next step names the panel's own ``checkbox``.

    >>> import meshnb
    >>> plan = check_connectivity(meshnb.simulate())
    >>> plan_for_panel(plan, "Allow changes").next_steps
    ['Review the plan, then tick *Allow changes* above and press Run.']
    """
    if finding.next_steps != [ALLOW_CHANGES]:
        return finding
    return dataclasses.replace(
        finding, next_steps=[f"Review the plan, then tick *{checkbox}* above and press Run."]
    )


def check_connectivity(
    mesh: Mesh,
    namespace: str = "uninjected-sample",
    *,
    apply: bool = False,
    keep: bool = False,
    timeout: float = 180.0,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Finding:
    """Probe pod-to-pod connectivity between clusters without sidecars (creates objects only if ``apply``).

    Evidence: ``plan`` (what is created where), ``probes`` (source, destination, pod IP, outcome, HTTP
    status, latency, error) and ``cleanup``.
    """
    import pandas as pd

    from meshnb.schemas import frame

    validate_name(namespace, "namespace")
    if namespace in ("default", "kube-system", "istio-system", "sample"):
        raise ValueError(
            f"refusing to use namespace {namespace!r}: the probe creates and deletes its namespace"
        )
    plan = _plan(mesh, namespace)
    details = {"namespace": namespace, "apply": apply, "keep": keep}
    if not apply:
        return Finding(
            check=CHECK,
            status="skipped",
            summary=(
                f"would create namespace {namespace} (no sidecar injection) with helloworld and curl in "
                f"{len(mesh.clusters)} clusters, curl each remote helloworld pod IP, then delete it all; "
                "nothing is created until changes are allowed"
            ),
            evidence={"plan": plan},
            next_steps=[ALLOW_CHANGES],
            details=details,
            headline="the probe is planned, not run: nothing is created until changes are allowed",
        )
    created: dict[str, int] = {}  # objects created per cluster, updated as they are created
    gate = _Gate()
    probes: list[dict[str, Any]] = []
    cleanup: dict[str, str] = {}
    errors: dict[str, str] = {}
    try:
        outcomes = _create(mesh, namespace, created, progress, time.monotonic() + timeout, sleep, gate)
        for name, outcome in outcomes.items():
            if isinstance(outcome, MeshnbError):
                errors[name] = f"could not create the probe objects: {outcome}"
        ready_names = [n for n, o in outcomes.items() if o is True]
        ready = _wait_ready(mesh, namespace, ready_names, timeout, progress, sleep)
        for name, outcome in ready.items():
            if isinstance(outcome, MeshnbError):
                errors[name] = str(outcome)
        probes = _probe(mesh, namespace, {n: o for n, o in ready.items() if isinstance(o, list)})
    finally:  # also on errors and interruptions: remove what this run created, nothing else
        if keep:
            gate.close()
            cleanup = {n: "kept (keep=True)" for n in mesh.clusters if created.get(n)}
        else:
            cleanup = _cleanup(mesh, namespace, created, gate)
    probe_df = frame(
        "connectivity.probes",
        ({**row, "reason": _REASONS.get(row["outcome"], row["outcome"])} for row in probes),
    )
    cleanup_df = pd.DataFrame(list(cleanup.items()), columns=["cluster", "cleanup"])
    failed = probe_df[probe_df["outcome"] != "ok"]
    steps = []
    if len(failed):
        status = "fail"
        summary = "; ".join(
            f"{r.source_cluster} -> {r.dest_cluster} ({r.pod_ip}): {r.outcome}" for r in failed.itertuples()
        )
        summary += ": the pods cannot reach each other without Istio, the cause is likely outside Istio"
        pairs = set(zip(failed["source_cluster"], failed["dest_cluster"], strict=True))
        headline = _headline(list(mesh.clusters), pairs)
        steps.append(STEP_NETWORK)
    elif errors:
        status, summary = "error", "; ".join(f"{name}: {text}" for name, text in errors.items())
        headline = f"the probe could not run in {listed(list(errors))}"
    elif probe_df.empty:
        status, summary = "error", "no probe could run (fewer than two clusters were ready)"
        headline = summary
    else:
        status = "pass"
        summary = f"every cluster reaches every other cluster's pods directly ({len(probe_df)} probes)"
        headline = summary
    if errors and status == "fail":
        summary += "; also: " + "; ".join(f"{name}: {text}" for name, text in errors.items())
    left = [name for name, text in cleanup.items() if not text.startswith(("deleted", "already", "kept"))]
    if left:
        hand = Hand.of(mesh)
        deletes = ", ".join(f"`{hand.kubectl(name, 'delete', 'namespace', namespace)}`" for name in left)
        steps.append(f"Delete the probe namespace where cleanup failed: {deletes}.")
    return Finding(
        check=CHECK,
        status=status,
        summary=summary,
        headline=headline,
        evidence={"probes": probe_df, "plan": plan, "cleanup": cleanup_df},
        next_steps=steps,
        details=details,
    )


def _headline(clusters: list[str], pairs: set[tuple[str, str]]) -> str:
    """One sentence: which clusters' pods cannot reach which others' (``pairs``: source, destination)."""
    sources = [name for name in clusters if name in {source for source, _ in pairs}]
    dests = [name for name in clusters if name in {dest for _, dest in pairs}]
    whom = (
        "each other's pods"
        if len(sources) > 1 and pairs == {(a, b) for a in sources for b in sources if a != b}
        else f"the pods of {listed(dests)}"
    )
    return f"{listed(sources)} cannot reach {whom} even without Istio: the cause is likely outside Istio"


def _by_hand(hand: Hand) -> list[str]:
    """The guide's firewall step: a curl pod without a sidecar, curling each remote helloworld pod IP."""
    probe = hand.options["namespace"]
    lines = []
    for cluster in hand.contexts:
        lines += [
            hand.kubectl(cluster, "create", "namespace", probe),
            hand.kubectl(cluster, "-n", probe, "apply", "-f", "samples/curl/curl.yaml"),
            hand.kubectl(cluster, "-n", probe, "wait", "--for=condition=Ready", "pod", "-l", "app=curl"),
        ]
    for source in hand.contexts:
        for target in hand.contexts:
            if source != target:
                ip = hand.lookup(target, "sample", "helloworld", "{.items[0].status.podIP}")
                lines.append(
                    f"{hand.kubectl(source, '-n', probe, 'exec', '-c', 'curl')} "
                    f"{hand.lookup(source, probe, 'curl')} -- curl -sS {ip}:5000/hello"
                )
    return lines + [hand.kubectl(cluster, "delete", "namespace", probe) for cluster in hand.contexts]


CHECK_SPEC = Check(
    CHECK,
    check_connectivity,
    "curl each remote helloworld pod IP from a pod without a sidecar (prints the plan unless --apply)",
    options=(
        Option("namespace", "uninjected-sample", label="Probe namespace"),
        Option("apply", False, help="create the probe objects, probe, then delete them"),
        Option("keep", False, help="with --apply: keep the probe objects afterwards"),
    ),
    tables=(
        (
            "probes",
            (
                "source_cluster",
                "dest_cluster",
                "pod_ip",
                "outcome",
                "reason",
                "http_status",
                "latency_ms",
                "error",
            ),
        ),
        ("plan", ("cluster", "kind", "namespace", "name", "image")),
        ("cleanup", ("cluster", "cleanup")),
    ),
    verdicts=("probes", "source_cluster"),
    title="Connectivity without Istio",
    guide="Connectivity and firewall issues",
    panel="meshnb.widgets.connectivity:ConnectivityPanel",
    in_triage=lambda settings: {"apply": settings.allow_changes},
    by_hand=_by_hand,
)
