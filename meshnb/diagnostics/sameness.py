"""Sameness: the service, and the Istio config that applies to it, the same in every cluster.

Istio's "namespace sameness": a service of the same name and namespace in several clusters is one
service, whose endpoints istiod merges. It does not merge the Service definitions: istiod's aggregate
registry (``pilot/pkg/serviceregistry/aggregate/controller.go``, ``Services`` and ``mergeService``)
keeps the definition of the first registry that has the service, which is its own cluster's (the
local registry is added first), and from the others takes only their cluster IPs and service
accounts; ports that differ are only a debug log line (``service ... defined from cluster ... is
different from others``). Endpoints are then matched to a service port by the port's *name*
(``pilot/pkg/xds/endpoints/endpoint_builder.go``: ``svcPort.Name != ep.ServicePortName``), so a port
named differently in another cluster loses that cluster's endpoints, and a protocol (``appProtocol``
or the name's prefix) that differs makes each cluster's proxies treat the port differently.

This check reads, in every cluster at once, the Service, its pods, and the DestinationRules,
VirtualServices, Sidecars and PeerAuthentications of its namespace and of the root namespace
(``istio-system``: mesh-wide Sidecars and PeerAuthentications), keeps those that apply to the
service, and compares each across the clusters:

- the Service is missing in a cluster: ``fail`` (``service-missing``);
- its ports differ (number, name, protocol, appProtocol): ``warn`` (``port-drift``);
- a config object differs or exists in only some clusters: ``warn`` (``config-drift``), with a row per
  differing field in the ``drift`` table.

A kind whose CRD is not installed (404) is "not installed" in the ``config`` table, not a failure.

>>> import meshnb
>>> finding = check_sameness(meshnb.simulate("drifted-destination-rule"))
>>> finding.status, sorted(set(finding.evidence["drift"]["field"]))
('warn', ['spec.trafficPolicy.connectionPool.http.maxRequestsPerConnection'])
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshnb.backends.base import Cluster, Mesh, PortSpec, Service
from meshnb.diagnostics.by_hand import Hand
from meshnb.diagnostics.check import Check, Option
from meshnb.diagnostics.fanout import Progress, Report, error_row, per_cluster
from meshnb.diagnostics.finding import Finding, listed, reasons, verdict
from meshnb.errors import MeshnbError, NotFound
from meshnb.names import validate_name

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["KINDS", "applies", "check_sameness", "differences", "host_matches", "normalised", "step_same"]

log = logging.getLogger("meshnb")

CHECK = "sameness"
#: Istio's root namespace: its Sidecars and PeerAuthentications without a selector apply mesh-wide.
ROOT_NAMESPACE = "istio-system"
DOMAIN = "cluster.local"
#: The kinds compared: kind -> (group, version, plural, what selects the workloads it applies to).
KINDS: dict[str, tuple[str, str, str, str]] = {
    "DestinationRule": ("networking.istio.io", "v1", "destinationrules", "host"),
    "VirtualService": ("networking.istio.io", "v1", "virtualservices", "hosts"),
    "Sidecar": ("networking.istio.io", "v1", "sidecars", "workloadSelector"),
    "PeerAuthentication": ("security.istio.io", "v1", "peerauthentications", "selector"),
}
#: Metadata that differs between clusters by itself (the API server's, kubectl's).
_IGNORED_ANNOTATIONS = ("kubectl.kubernetes.io/", "deployment.kubernetes.io/")
STEP_ACCESS = (
    "A cluster could not be read: check the context, the API server and RBAC (list services and pods in "
    "the namespace; list destinationrules, virtualservices, sidecars and peerauthentications in it and in "
    "istio-system: the README's ClusterRole)."
)
ABSENT, NOT_INSTALLED = "absent", "not installed"


def host_matches(host: str, service: str, namespace: str, rule_namespace: str, domain: str = DOMAIN) -> bool:
    """Whether a DestinationRule's ``host`` (or a VirtualService's) names the service, as istiod reads it.

    A name without a dot is short for ``name.<the rule's namespace>.svc.<domain>`` (Istio's
    ``ResolveShortnameToFQDN``); a name with a dot is taken as it is; ``*`` and ``*.suffix`` are
    wildcards.

    >>> host_matches("helloworld", "helloworld", "sample", "sample")
    True
    >>> host_matches("helloworld", "helloworld", "sample", "istio-system")  # helloworld.istio-system
    False
    >>> [host_matches(h, "helloworld", "sample", "sample") for h in
    ...  ("helloworld.sample.svc.cluster.local", "*.sample.svc.cluster.local", "*", "helloworld.sample")]
    [True, True, True, False]
    """
    fqdn = f"{service}.{namespace}.svc.{domain}"
    if host == "*":
        return True
    if host.startswith("*."):
        return fqdn.endswith(host[1:])
    if "." not in host:
        return f"{host}.{rule_namespace}.svc.{domain}" == fqdn
    return host == fqdn


def _selector_of(kind: str, spec: Mapping[str, Any]) -> dict[str, str] | None:
    if kind == "Sidecar":
        chosen = (spec.get("workloadSelector") or {}).get("labels")
    else:
        chosen = (spec.get("selector") or {}).get("matchLabels")
    return dict(chosen) if chosen else None


def applies(
    obj: Mapping[str, Any], service: str, namespace: str, pod_labels: Sequence[Mapping[str, str]]
) -> str | None:
    """How a config object applies to the service (a few words), or None if it does not.

    A DestinationRule or VirtualService by its host(s); a Sidecar or PeerAuthentication by its selector
    matching one of the service's pods, or without one namespace-wide (in the service's namespace) or
    mesh-wide (in the root namespace).

    >>> pa = {"kind": "PeerAuthentication", "metadata": {"namespace": "istio-system"}, "spec": {}}
    >>> applies(pa, "helloworld", "sample", [])
    'mesh-wide'
    >>> sc = {"kind": "Sidecar", "metadata": {"namespace": "sample"},
    ...       "spec": {"workloadSelector": {"labels": {"app": "helloworld"}}}}
    >>> applies(sc, "helloworld", "sample", [{"app": "helloworld", "version": "v1"}])
    'selects app=helloworld'
    >>> applies(sc, "helloworld", "sample", [{"app": "curl"}]) is None
    True
    """
    kind = str(obj.get("kind", ""))
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    where = str(meta.get("namespace", ""))
    if kind in ("DestinationRule", "VirtualService"):
        hosts = [spec.get("host")] if kind == "DestinationRule" else list(spec.get("hosts") or [])
        for host in hosts:
            if isinstance(host, str) and host_matches(host, service, namespace, where):
                return f"host {host}"
        return None
    chosen = _selector_of(kind, spec)
    if chosen is None:
        return "namespace-wide" if where == namespace else "mesh-wide" if where == ROOT_NAMESPACE else None
    if where != namespace:  # a selector outside the workloads' namespace selects none of them
        return None
    if any(all(labels.get(k) == v for k, v in chosen.items()) for labels in pod_labels):
        return "selects " + ",".join(f"{k}={v}" for k, v in sorted(chosen.items()))
    return None


def normalised(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a config object to compare: ``spec``, labels and annotations not written by tools.

    >>> normalised({"metadata": {"name": "x", "uid": "1", "resourceVersion": "7", "labels": {"a": "b"},
    ...   "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}}, "spec": {"host": "x"},
    ...   "status": {}})
    {'metadata': {'labels': {'a': 'b'}}, 'spec': {'host': 'x'}}
    """
    meta = obj.get("metadata") or {}
    kept: dict[str, Any] = {}
    if meta.get("labels"):
        kept["labels"] = dict(meta["labels"])
    notes = {
        k: v for k, v in (meta.get("annotations") or {}).items() if not k.startswith(_IGNORED_ANNOTATIONS)
    }
    if notes:
        kept["annotations"] = notes
    out: dict[str, Any] = {"metadata": kept} if kept else {}
    out["spec"] = obj.get("spec") or {}
    return out


def _flat(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(path, leaf) pairs: ``a.b`` for objects, ``a[0]`` for lists, a key with dots as ``a["x.y"]``."""
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            part = f'["{key}"]' if "." in str(key) or "/" in str(key) else (f".{key}" if path else str(key))
            yield from _flat(item, f"{path}{part}")
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _flat(item, f"{path}[{index}]")
    else:
        yield path, value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def differences(versions: Mapping[str, Mapping[str, Any] | str | None]) -> list[tuple[str, dict[str, str]]]:
    """The fields in which the clusters' versions of one object differ: (field path, value per cluster).

    A version is the object (normalised), None when the cluster lacks it (every field ``absent``) or a
    string saying why it is not there (``not installed``).

    >>> a = {"spec": {"host": "h", "trafficPolicy": {"loadBalancer": {"simple": "LEAST_REQUEST"}}}}
    >>> b = {"spec": {"host": "h", "trafficPolicy": {"loadBalancer": {"simple": "ROUND_ROBIN"}}}}
    >>> differences({"c1": a, "c2": b})
    [('spec.trafficPolicy.loadBalancer.simple', {'c1': 'LEAST_REQUEST', 'c2': 'ROUND_ROBIN'})]
    >>> differences({"c1": a, "c2": None})[0]
    ('spec.host', {'c1': 'h', 'c2': 'absent'})
    """
    flat = {name: dict(_flat(v)) if isinstance(v, Mapping) else v for name, v in versions.items()}
    paths: list[str] = []
    for fields in flat.values():
        if isinstance(fields, dict):
            paths += [p for p in fields if p not in paths]
    out = []
    for path in paths:
        values = {
            name: (_text(fields[path]) if path in fields else ABSENT)
            if isinstance(fields, dict)
            else (fields or ABSENT)
            for name, fields in flat.items()
        }
        if len(set(values.values())) > 1:
            out.append((path, values))
    return out


@dataclass
class _Read:
    service: Service | None = None
    pods: list[dict[str, str]] = field(default_factory=list)
    objects: list[dict[str, Any]] = field(default_factory=list)  # every one read, both namespaces
    not_installed: list[str] = field(default_factory=list)  # kinds


def _read(name: str, cluster: Cluster, report: Report, *, namespace: str, service: str) -> _Read:
    read = _Read()
    total = 2 + len(KINDS)
    report(0, total)
    read.service = next((s for s in cluster.list_services(namespace) if s.name == service), None)
    report(1, total)
    chosen = dict(read.service.selector or {}) if read.service is not None else {}
    selector = ",".join(f"{k}={v}" for k, v in sorted((chosen or {"app": service}).items()))
    read.pods = [dict(p.labels) for p in cluster.list_pods(namespace, selector)]
    report(2, total)
    spaces = list(dict.fromkeys((namespace, ROOT_NAMESPACE)))
    for done, (kind, (group, version, plural, _how)) in enumerate(KINDS.items(), start=3):
        try:
            for space in spaces:
                for obj in cluster.list_custom_objects(group, version, space, plural):
                    meta = dict(obj.get("metadata") or {})
                    meta.setdefault("namespace", space)
                    read.objects.append({**obj, "kind": kind, "metadata": meta})
        except NotFound:  # the CRD is not installed: nothing of this kind applies
            log.info("%s: %s.%s is not installed", name, plural, group)
            read.not_installed.append(kind)
        report(done, total)
    return read


def _ports_text(specs: Sequence[PortSpec]) -> str:
    return ", ".join(
        f"{p.port}/{p.name or '(unnamed)'}"
        + (f" {p.protocol}" if p.protocol != "TCP" else "")
        + (f" appProtocol={p.app_protocol}" if p.app_protocol else "")
        for p in specs
    )


def _port_key(p: PortSpec) -> tuple[int, str, str, str]:
    return (p.port, p.name, p.protocol, p.app_protocol or "")


def _port_drift(own: Sequence[PortSpec], other: Sequence[PortSpec], name: str) -> list[str]:
    """How ``own`` ports differ from cluster ``name``'s, in words (empty: they agree)."""
    mine, theirs = {p.port: p for p in own}, {p.port: p for p in other}
    said = []
    for port in sorted(mine.keys() | theirs.keys()):
        a, b = mine.get(port), theirs.get(port)
        if a is None or b is None:
            said.append(f"port {port} {'only in ' + name if a is None else 'not in ' + name}")
            continue
        for label, x, y in (
            ("name", a.name, b.name),
            ("protocol", a.protocol, b.protocol),
            ("appProtocol", a.app_protocol or "", b.app_protocol or ""),
        ):
            if x != y:
                said.append(f"port {port}'s {label} is {x or '(none)'!r} here, {y or '(none)'!r} in {name}")
    return said


def check_sameness(
    mesh: Mesh,
    namespace: str = "sample",
    service: str = "helloworld",
    *,
    progress: Progress | None = None,
) -> Finding:
    """Check that ``service`` and the Istio config that applies to it are the same in every cluster.

    Evidence: ``clusters`` (a verdict per cluster), ``ports`` (each cluster's Service ports),
    ``config`` (each config object that applies, per cluster, and kinds not installed) and ``drift``
    (a row per cluster and field of an object that differs; ``absent`` where a cluster lacks it).

    >>> import meshnb
    >>> check_sameness(meshnb.simulate()).status
    'pass'
    """
    import pandas as pd

    from meshnb.schemas import frame

    validate_name(namespace, "namespace")
    validate_name(service, "service")
    outcomes = per_cluster(
        mesh,
        lambda name, cluster, report: _read(name, cluster, report, namespace=namespace, service=service),
        progress,
    )
    read = {name: o for name, o in outcomes.items() if isinstance(o, _Read)}
    pod_labels = [labels for r in read.values() for labels in r.pods]
    ports = frame(
        "sameness.ports",
        [
            {
                "cluster": name,
                "port": p.port,
                "name": p.name,
                "protocol": p.protocol,
                "app_protocol": p.app_protocol,
                "target_port": p.target_port,
            }
            for name, r in read.items()
            if r.service is not None
            for p in r.service.specs
        ],
    )
    # the objects that apply, by (kind, namespace, name), in each cluster
    found: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
    config_rows = []
    for name, r in read.items():
        for obj in r.objects:
            how = applies(obj, service, namespace, pod_labels)
            if how is None:
                continue
            meta = obj["metadata"]
            key = (obj["kind"], str(meta["namespace"]), str(meta.get("name", "")))
            found.setdefault(key, {})[name] = normalised(obj)
            config_rows.append(
                {"cluster": name, "kind": key[0], "namespace": key[1], "name": key[2], "state": how}
            )
        config_rows += [
            {"cluster": name, "kind": kind, "namespace": "", "name": "", "state": NOT_INSTALLED}
            for kind in r.not_installed
        ]
    drift_rows = []
    drifted: dict[str, list[str]] = {}  # cluster -> what differs, in words
    for key in sorted(found):
        kind, space, object_name = key
        versions: dict[str, Mapping[str, Any] | str | None] = {
            name: found[key].get(name) if kind not in r.not_installed else NOT_INSTALLED
            for name, r in read.items()
        }
        for name, version in versions.items():
            if version is None:
                config_rows.append(
                    {"cluster": name, "kind": kind, "namespace": space, "name": object_name, "state": ABSENT}
                )
        diffs = differences(versions)
        for path, values in diffs:
            drift_rows += [
                {
                    "kind": kind,
                    "namespace": space,
                    "name": object_name,
                    "field": path,
                    "cluster": name,
                    "value": value,
                }
                for name, value in values.items()
            ]
        for name, version in versions.items():
            if not diffs:
                break
            where = f"{kind} {space}/{object_name}"
            if not isinstance(version, Mapping):
                have = [n for n, v in versions.items() if isinstance(v, Mapping)]
                drifted.setdefault(name, []).append(
                    f"{where} is {version or ABSENT} here, in {listed(have)} not"
                )
                continue
            said = [
                f"{path} is {values[name]} here, "
                + ", ".join(f"{values[n]} in {n}" for n in values if n != name and values[n] != values[name])
                for path, values in diffs[:2]
            ]
            more = f" and {len(diffs) - 2} more field(s)" if len(diffs) > 2 else ""
            drifted.setdefault(name, []).append(f"{where} differs: {'; '.join(said)}{more}")
    rows = []
    everywhere = [name for name, r in read.items() if r.service is not None]
    for name, outcome in outcomes.items():
        row: dict[str, Any] = {"cluster": name, "pods": pd.NA, "ports": "", "objects": pd.NA}
        if isinstance(outcome, MeshnbError):
            rows.append(error_row(name, outcome, pods=pd.NA, ports="", objects=pd.NA))
            continue
        row.update(
            pods=len(outcome.pods),
            objects=sum(1 for versions in found.values() if name in versions),
        )
        if outcome.service is None:
            pods = len(outcome.pods)
            where = (
                f"{listed(everywhere)} {'has' if len(everywhere) == 1 else 'have'} it" if everywhere else ""
            )
            detail = (
                f"no Service {service} in {namespace}"
                + (f" ({where})" if where else "")
                + (
                    f": its {pods} pod(s) of {service} are endpoints of no Service, so no cluster's proxies "
                    "get them"
                    if pods
                    else f": its clients cannot resolve {service}.{namespace} (kube-dns knows no such "
                    "Service), although istiod knows it from the other clusters"
                )
            )
            rows.append({**row, "status": "fail", "reason": "service-missing", "detail": detail})
            continue
        specs = outcome.service.specs
        row["ports"] = _ports_text(specs)
        port_words: list[str] = []
        for other in everywhere:
            if other != name and sorted(map(_port_key, specs)) != sorted(
                map(_port_key, read[other].service.specs)  # type: ignore[union-attr]
            ):
                port_words += _port_drift(specs, read[other].service.specs, other)  # type: ignore[union-attr]
        if port_words:
            why = []
            if any("'s name is" in w or " only in " in w or " not in " in w for w in port_words):
                why.append(
                    "istiod uses its own cluster's Service and matches endpoints to a port by name, so the "
                    "proxies here get none of the endpoints of a cluster whose port is named otherwise"
                )
            if any("protocol is" in w or "appProtocol is" in w for w in port_words):
                why.append(
                    "the proxies here treat the port with this cluster's protocol, the others' with theirs"
                )
            detail = "; ".join(dict.fromkeys(port_words)) + ": " + ", and ".join(why)
            if name in drifted:
                detail += "; also " + "; ".join(drifted[name])
            rows.append({**row, "status": "warn", "reason": "port-drift", "detail": detail})
        elif name in drifted:
            rows.append(
                {**row, "status": "warn", "reason": "config-drift", "detail": "; ".join(drifted[name])}
            )
        else:
            count = row["objects"]
            rows.append(
                {
                    **row,
                    "status": "pass",
                    "reason": "ok",
                    "detail": f"{service}.{namespace} has the other clusters' ports ({row['ports']}) and the "
                    f"same {count} config object{'' if count == 1 else 's'} that apply to it",
                }
            )
    clusters = frame("sameness.clusters", rows)
    config = frame("sameness.config", config_rows)
    drift = frame("sameness.drift", drift_rows)
    status, summary = verdict(clusters)
    hand = Hand.of(mesh)
    steps = _next_steps(hand, clusters, drift, namespace, service) if status != "pass" else []
    return Finding(
        check=CHECK,
        status=status,
        summary=summary,
        headline=_headline(clusters, drift, service, namespace),
        evidence={"clusters": clusters, "ports": ports, "config": config, "drift": drift},
        next_steps=steps,
        details={"namespace": namespace, "service": service},
    )


def _resource(kind: str) -> str:
    return kind.lower()


def step_same(
    hand: Hand, missing: Sequence[str], drifting: Sequence[str], namespace: str, service: str
) -> str:
    """The next step for a Service missing in ``missing`` or whose ports differ in ``drifting``.

    >>> print(step_same(Hand({}, {}), ["c2"], [], "sample", "helloworld"))  # doctest: +ELLIPSIS
    Deploy the Service helloworld in sample of c2 ... status: `kubectl --context=c2 -n sample apply -f ...`.
    """
    if missing:
        return (
            f"Deploy the Service {service} in {namespace} of {listed(list(missing))} as in the other "
            "clusters (Istio's namespace sameness: one name and namespace, one service), from the definition "
            "of a cluster that has it without its cluster IP and status: "
            + ", ".join(
                f"`{hand.kubectl(c, '-n', namespace, 'apply', '-f', f'{service}.yaml')}`" for c in missing
            )
            + "."
        )
    return (
        f"Give the Service {service} the same ports (number, name, protocol, appProtocol) in every cluster: "
        "compare them "
        + ", ".join(
            f"`{hand.kubectl(c, '-n', namespace, 'get', 'service', service, '-o', 'jsonpath={.spec.ports}')}`"
            for c in drifting
        )
        + ", then apply one definition to every cluster."
    )


def _next_steps(
    hand: Hand, clusters: pd.DataFrame, drift: pd.DataFrame, namespace: str, service: str
) -> list[str]:
    steps = []
    found = {reason: list(group["cluster"]) for reason, group in clusters.groupby("reason", sort=False)}
    if "service-missing" in found:
        steps.append(step_same(hand, found["service-missing"], [], namespace, service))
    if "port-drift" in found:
        steps.append(step_same(hand, [], list(hand.contexts), namespace, service))
    steps += drift_steps(hand, drift)
    if "error" in set(clusters["status"]):
        steps.append(STEP_ACCESS)
    return steps


def drift_steps(hand: Hand, drift: pd.DataFrame) -> list[str]:
    """A next step per config object of the ``drift`` table: see it in every cluster, apply one version.

    >>> import meshnb
    >>> drift = check_sameness(meshnb.simulate("drifted-destination-rule")).evidence["drift"]
    >>> print(drift_steps(Hand({"c1": "c1"}, {}), drift)[0])  # doctest: +ELLIPSIS
    Make DestinationRule sample/helloworld the same in every cluster (...): compare it by hand, ...
    """
    steps = []
    for (kind, space, name), group in drift.groupby(["kind", "namespace", "name"], sort=True):
        fields = list(dict.fromkeys(group["field"]))
        where = list(dict.fromkeys(group["cluster"]))  # every cluster: each has a row per field
        gets = ", ".join(
            f"`{hand.kubectl(c, '-n', space, 'get', _resource(kind), name, '-o', 'yaml')}`" for c in where
        )
        applies_all = ", ".join(
            f"`{hand.kubectl(c, '-n', space, 'apply', '-f', f'{name}-{_resource(kind)}.yaml')}`"
            for c in where
        )
        what = ", ".join(fields[:3]) + (" ..." if len(fields) > 3 else "")
        verb = "differs" if len(fields) == 1 else "differ"
        steps.append(
            f"Make {kind} {space}/{name} the same in every cluster ({what} {verb}): compare it by hand, "
            f"{gets}; then apply the one you want to every cluster: {applies_all}."
        )
    return steps


def _headline(clusters: pd.DataFrame, drift: pd.DataFrame, service: str, namespace: str) -> str:
    """One sentence: where the service is missing, or what differs, or that all agree."""
    found = reasons(clusters)
    said = []
    for reason, names in found.items():
        one = len(names) == 1
        if reason == "ok":
            said.append(
                f"{service}.{namespace} and the config that applies to it are the same in {listed(names)}"
            )
        elif reason == "service-missing":
            said.append(f"{listed(names)} {'has' if one else 'have'} no Service {service} in {namespace}")
        elif reason == "port-drift":
            said.append(f"the ports of {service} differ in {listed(names)}")
        elif reason == "config-drift":
            objects = list(
                dict.fromkeys(f"{k} {s}/{n}" for k, s, n in drift[["kind", "namespace", "name"]].to_numpy())
            )
            said.append(
                f"{listed(objects)} {'differs' if len(objects) == 1 else 'differ'} between {listed(names)}"
            )
        else:
            said.append(f"{listed(names)} could not be read ({reason})")
    return ", and ".join(said)


def _by_hand(hand: Hand) -> list[str]:
    """The Service and the config objects of its namespace and the root namespace, per cluster."""
    o = hand.options
    kinds = ",".join(plural for _g, _v, plural, _h in KINDS.values())
    lines = []
    for cluster in hand.contexts:
        lines += [
            hand.kubectl(cluster, "-n", o["namespace"], "get", "service", o["service"], "-o", "yaml"),
            hand.kubectl(cluster, "-n", o["namespace"], "get", kinds, "-o", "yaml"),
            hand.kubectl(cluster, "-n", ROOT_NAMESPACE, "get", "sidecars,peerauthentications", "-o", "yaml"),
        ]
    return lines


CHECK_SPEC = Check(
    CHECK,
    check_sameness,
    "compare the service's ports and the Istio config that applies to it across the clusters",
    options=(Option("service", "helloworld"), Option("namespace", "sample")),
    tables=(
        ("clusters", ("cluster", "status", "reason", "pods", "ports", "objects", "detail")),
        ("drift", ("kind", "namespace", "name", "field", "cluster", "value")),
    ),
    title="Service and config sameness",
    guide="Step-by-step Diagnosis",
    by_hand=_by_hand,
)
