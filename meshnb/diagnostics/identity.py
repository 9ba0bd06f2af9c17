"""Identity and networks: whether the clusters agree on who each of them is and how to reach it.

A multicluster mesh holds together by names given at install time in every cluster, which must agree:

- a cluster's ID: istiod's ``CLUSTER_ID`` (the config cluster in its ``/debug/clusterz``), the data key
  of every other cluster's remote secret for it, and ``ISTIO_META_CLUSTER_ID`` of its proxies (their
  ``/debug/syncz`` rows); a proxy whose cluster ID is not its istiod's is not found in that cluster's
  registry;
- the mesh ID (``defaultConfig.meshId`` of the ``istio`` ConfigMap, the trust domain when unset) and
  the trust domain, equal in every cluster;
- in a multi-network mesh, each cluster's network (the ``topology.istio.io/network`` label of the
  system namespace; ``meshNetworks`` when used) and its east-west gateway: a Service labelled with that
  network that listens on 15443 (or 15008, HBONE), with an address istiod can use (load-balancer
  status or ``externalIPs``; a host name only is resolved with ``RESOLVE_HOSTNAME_GATEWAYS``, 1.31's
  default, and skipped by istiod without it: ``pilot/pkg/xds/endpoints/ep_filters.go``). Several
  gateways of one network share the endpoints' weight (``splitWeightAmongGateways`` there): each must
  reach the network.

>>> import meshnb
>>> finding = check_identity(meshnb.simulate("second-gateway"))
>>> finding.status, finding.evidence["clusters"]["reason"].tolist()
('warn', ['ok', 'several-gateways'])
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshnb.backends.base import Cluster, Mesh
from meshnb.diagnostics.by_hand import Hand
from meshnb.diagnostics.check import Check, Option
from meshnb.diagnostics.fanout import Progress, Report, describe, error_row, per_cluster
from meshnb.diagnostics.finding import Finding, listed, reasons, verdict
from meshnb.diagnostics.istiod_views import read_istiod
from meshnb.diagnostics.remote_secrets import check_remote_secrets
from meshnb.errors import ClusterError, ClusterTimeout, MeshnbError, Unreachable
from meshnb.names import validate_name

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["NETWORK_LABEL", "STEPS", "check_identity", "headline", "steps"]

log = logging.getLogger("meshnb")

CHECK = "identity"
SYSTEM = "istio-system"
NETWORK_LABEL = "topology.istio.io/network"
#: The ports istiod takes a network gateway Service for (pilot/pkg/serviceregistry/kube/controller/
#: network.go, getGatewayDetails): mTLS (15443, or the networking.istio.io/gatewayPort label) or HBONE.
GATEWAY_PORTS = (15443, 15008)
#: A cluster's reason when several apply: the first (the one to fix first); the last two only warn.
_FIRST = (
    "cluster-id-mismatch",
    "proxy-cluster-id",
    "mesh-id-mismatch",
    "trust-domain-mismatch",
    "network-unlabelled",
    "gateway-network-mismatch",
    "gateway-missing",
    "gateway-no-address",
    "several-gateways",
    "gateway-hostname",
    "cluster-name-differs",
    "mesh-networks-differ",
    "network-label-differs",
)
_WARNINGS = {
    "several-gateways",
    "gateway-hostname",
    "cluster-name-differs",
    "mesh-networks-differ",
    "network-label-differs",
}


@dataclass
class _Seen:
    """What one cluster says of itself."""

    istiod_id: str | None = None  # CLUSTER_ID: the config cluster of istiod's /debug/clusterz
    proxy_ids: dict[str, str] = field(default_factory=dict)  # proxy -> ISTIO_META_CLUSTER_ID
    mesh_id: str | None = None
    trust_domain: str | None = None
    network: str | None = None  # the system namespace's label
    mesh_networks: dict[str, Any] = field(default_factory=dict)  # meshNetworks' networks, when used
    gateways: list[dict[str, Any]] = field(default_factory=list)
    networkz: list[dict[str, Any]] = field(default_factory=list)  # istiod's gateways
    unread: list[str] = field(default_factory=list)  # what could not be read, and why
    namespace: str = SYSTEM  # Istio's system namespace


def _mesh_config(cluster: Cluster, seen: _Seen) -> None:
    import yaml

    try:
        data = cluster.read_config_map(seen.namespace, "istio")
    except ClusterError as exc:
        seen.unread.append(f"the istio ConfigMap ({describe(exc)})")
        return
    try:
        mesh = yaml.safe_load(data.get("mesh") or "") or {}
        networks = yaml.safe_load(data.get("meshNetworks") or "") or {}
    except yaml.YAMLError as exc:
        seen.unread.append(f"the istio ConfigMap (not YAML: {str(exc).splitlines()[0]})")
        return
    mesh = mesh if isinstance(mesh, dict) else {}
    default = mesh.get("defaultConfig")
    default = default if isinstance(default, dict) else {}
    seen.trust_domain = str(mesh.get("trustDomain") or "cluster.local")
    seen.mesh_id = str(default.get("meshId") or seen.trust_domain)
    named = networks.get("networks") if isinstance(networks, dict) else None
    seen.mesh_networks = named if isinstance(named, dict) else {}


def _gateways(name: str, cluster: Cluster, seen: _Seen) -> None:
    try:
        services = cluster.list_services(seen.namespace)
    except ClusterError as exc:
        seen.unread.append(f"the services in {seen.namespace} ({describe(exc)})")
        return
    for svc in services:
        network = svc.labels.get(NETWORK_LABEL)
        if not network or not set(svc.ports) & set(GATEWAY_PORTS):
            continue
        ips = [a for a in svc.external_addresses if _is_ip(a)]
        seen.gateways.append(
            {
                "cluster": name,
                "service": svc.name,
                "network": network,
                "type": svc.type,
                "addresses": ",".join(svc.external_addresses) or None,
                "hostname_only": bool(svc.external_addresses) and not ips,
            }
        )


def _is_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def _read(name: str, cluster: Cluster, report: Report, namespace: str) -> _Seen:
    report(0, 4)
    seen = _Seen(namespace=namespace)
    try:
        seen.network = cluster.namespace_labels(namespace).get(NETWORK_LABEL)
    except (Unreachable, ClusterTimeout):
        raise  # the cluster itself is not there: an error row
    except ClusterError as exc:
        seen.unread.append(f"the {namespace} namespace ({describe(exc)})")
    report(1, 4)
    _mesh_config(cluster, seen)
    report(2, 4)
    _gateways(name, cluster, seen)
    report(3, 4)
    view = read_istiod(cluster, ["/debug/clusterz", "/debug/syncz", "/debug/networkz"], namespace)
    if view.errors:
        seen.unread.append(f"istiod's view ({view.error()})")
    clusterz = view.frames.get("clusterz")
    if clusterz is not None:
        own = clusterz[clusterz["secret"].isna()]["cluster"].dropna()
        seen.istiod_id = str(own.iloc[0]) if len(own) else None
    syncz = view.frames.get("syncz")
    if syncz is not None:
        for row in syncz.drop_duplicates("proxy").itertuples():
            if isinstance(row.cluster, str):
                seen.proxy_ids[str(row.proxy)] = row.cluster
    networkz = view.frames.get("networkz")
    if networkz is not None:
        seen.networkz = networkz[["istiod", "network", "cluster", "address"]].to_dict("records")
    report(4, 4)
    return seen


def _keys_for(target: str, istiod_id: str | None, secrets: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(cluster holding it, data key) of each remote secret for cluster ``target`` (by name or ID)."""
    names = {target, istiod_id} - {None}
    return [
        (row["cluster"], row["data_key"])
        for row in secrets
        if row["cluster"] != target
        and row["data_key"]
        and (row["annotation_cluster"] in names or row["data_key"] in names or row["context"] in names)
    ]


def _odd(values: Mapping[str, str | None]) -> set[str]:
    """The clusters whose value differs from the most common one (all of them on a tie)."""
    known = {name: value for name, value in values.items() if value is not None}
    counts = Counter(known.values()).most_common()
    if len(counts) < 2:
        return set()
    if counts[0][1] == counts[1][1]:
        return set(known)
    return {name for name, value in known.items() if value != counts[0][0]}


def _problems(
    name: str, seen: _Seen, everyone: Mapping[str, _Seen], secrets: list[dict[str, Any]], multi: bool
) -> list[tuple[str, str]]:
    """(reason, sentence) of everything wrong with cluster ``name``'s identity and network."""
    found = []
    own = seen.istiod_id
    if own is not None:
        wrong = [(holder, key) for holder, key in _keys_for(name, own, secrets) if key != own]
        for holder, key in wrong:
            found.append(
                (
                    "cluster-id-mismatch",
                    f"{holder}'s remote secret names it {key!r}, but its istiod's CLUSTER_ID is {own!r}: "
                    f"istiod in {holder} files its endpoints under another cluster",
                )
            )
        if own != name:
            found.append(
                (
                    "cluster-name-differs",
                    f"istiod calls this cluster {own!r}, meshnb {name!r}: name it as Istio does (the Mesh "
                    "control, or meshnb.connect({...}))",
                )
            )
        strays = sorted(proxy for proxy, cid in seen.proxy_ids.items() if cid != own)
        if strays:
            ids = sorted({seen.proxy_ids[p] for p in strays})
            found.append(
                (
                    "proxy-cluster-id",
                    f"{len(strays)} prox{'y' if len(strays) == 1 else 'ies'} ({listed(strays)}) say "
                    f"ISTIO_META_CLUSTER_ID {listed([repr(i) for i in ids])}, not istiod's {own!r}",
                )
            )
    for reason, label, attr in (
        ("mesh-id-mismatch", "mesh ID", "mesh_id"),
        ("trust-domain-mismatch", "trust domain", "trust_domain"),
    ):
        values = {n: getattr(s, attr) for n, s in everyone.items()}
        if name in _odd(values):
            others = sorted({f"{v!r} ({n})" for n, v in values.items() if v is not None and n != name})
            found.append((reason, f"its {label} is {values[name]!r}; the others: {', '.join(others)}"))
    found += _mesh_networks_problems(name, seen, everyone)
    if multi:
        found += _network_problems(name, seen)
    return found


def _registry_network(seen: _Seen) -> str | None:
    """The network meshNetworks gives the cluster's own registry (``endpoints: - fromRegistry: ID``)."""
    for network, spec in seen.mesh_networks.items():
        endpoints = spec.get("endpoints") if isinstance(spec, dict) else None
        for endpoint in endpoints if isinstance(endpoints, list) else []:
            registry = endpoint.get("fromRegistry") if isinstance(endpoint, dict) else None
            if registry is not None and registry == seen.istiod_id:
                return str(network)
    return None


def _mesh_networks_problems(name: str, seen: _Seen, everyone: Mapping[str, _Seen]) -> list[tuple[str, str]]:
    """meshNetworks, where used: the same in every cluster, and naming this cluster's network as its label."""
    if not any(s.mesh_networks for s in everyone.values()):
        return []
    found = []
    texts = {n: json.dumps(s.mesh_networks, sort_keys=True) for n, s in everyone.items()}
    if name in _odd(texts):
        same = sorted(n for n, text in texts.items() if text != texts[name])
        found.append(
            (
                "mesh-networks-differ",
                f"its meshNetworks ({', '.join(sorted(seen.mesh_networks)) or 'none'}) differs from that of "
                f"{listed(same)}: every istiod must map the clusters to the same networks",
            )
        )
    mapped = _registry_network(seen)
    if mapped and seen.network and mapped != seen.network:
        found.append(
            (
                "network-label-differs",
                f"meshNetworks puts its registry ({seen.istiod_id}) on {mapped!r}, its {seen.namespace} "
                f"label says {seen.network!r}",
            )
        )
    return found


def _network_problems(name: str, seen: _Seen) -> list[tuple[str, str]]:
    """What is wrong with cluster ``name``'s network and east-west gateway in a multi-network mesh."""
    found = []
    if seen.network is None and not seen.mesh_networks:
        found.append(
            (
                "network-unlabelled",
                f"the {seen.namespace} namespace has no {NETWORK_LABEL} label (nor meshNetworks): istiod "
                "takes its pods for the other clusters' network and sends traffic to their pod IPs directly",
            )
        )
        return found
    mine = [g for g in seen.gateways if g["network"] == seen.network] if seen.network else seen.gateways
    others = sorted({g["network"] for g in seen.gateways if seen.network and g["network"] != seen.network})
    if others and not mine:
        found.append(
            (
                "gateway-network-mismatch",
                f"its east-west gateway is labelled {listed(others)}, its namespace {seen.network!r}",
            )
        )
    elif not mine:
        found.append(
            (
                "gateway-missing",
                f"no Service in {seen.namespace} labelled {NETWORK_LABEL}={seen.network} listens on 15443 or "
                "15008: "
                "the other networks cannot reach its pods",
            )
        )
    for gateway in mine:
        if not gateway["addresses"]:
            found.append(
                (
                    "gateway-no-address",
                    f"its east-west gateway {gateway['service']} ({gateway['type']}) has no external address "
                    "(load-balancer status or externalIPs): istiod cannot give it to the other networks",
                )
            )
        elif gateway["hostname_only"]:
            found.append(
                (
                    "gateway-hostname",
                    f"its east-west gateway {gateway['service']} has only a host name "
                    f"({gateway['addresses']}): istiod resolves it only with RESOLVE_HOSTNAME_GATEWAYS "
                    "(1.31's default), older istiods skip it",
                )
            )
    known = {(row["network"], row["address"]) for row in seen.networkz if row["network"] == seen.network}
    several = sorted({address for _network, address in known if address})
    if len(mine) > 1 or len(several) > 1:
        services = listed(sorted(g["service"] for g in mine)) if len(mine) > 1 else listed(several)
        found.append(
            (
                "several-gateways",
                f"{seen.network} has several east-west gateways ({services}): istiod splits each remote "
                "endpoint's weight among them, so each must reach this network",
            )
        )
    return found


def _verdict(problems: list[tuple[str, str]], seen: _Seen) -> tuple[str, str, str]:
    if not problems:
        detail = "its cluster ID, mesh ID, trust domain and network agree with the others"
        if seen.unread:
            return "warn", "not-read", f"could not read {'; '.join(seen.unread)}"
        return "pass", "ok", detail
    reason = next(r for r in _FIRST if any(found == r for found, _text in problems))
    status = "warn" if all(found in _WARNINGS for found, _text in problems) else "fail"
    unread = f" (could not read {'; '.join(seen.unread)})" if seen.unread else ""
    return status, reason, "; ".join(text for _reason, text in problems) + unread


def check_identity(
    mesh: Mesh,
    namespace: str = SYSTEM,
    *,
    remote_secrets: Finding | None = None,
    progress: Progress | None = None,
) -> Finding:
    """Check that the clusters agree on each cluster's ID, the mesh ID, the trust domain and the networks.

    Evidence: ``clusters`` (a verdict per cluster), ``identity`` (what each cluster says of itself)
    and ``gateways`` (each east-west gateway Service). The remote secrets' data keys come from
    :func:`~meshnb.diagnostics.remote_secrets.check_remote_secrets`, unless ``remote_secrets`` is its
    Finding already (triage passes it).

    >>> import meshnb
    >>> check_identity(meshnb.simulate()).status
    'pass'
    """
    from meshnb.schemas import frame

    validate_name(namespace, "namespace")
    if remote_secrets is None:
        remote_secrets = check_remote_secrets(mesh, namespace)
    secrets = remote_secrets.evidence["remote_secrets"]
    secret_rows = secrets.astype(object).where(secrets.notna(), None).to_dict("records")
    outcomes = per_cluster(
        mesh, lambda name, cluster, report: _read(name, cluster, report, namespace), progress
    )
    seen = {name: o for name, o in outcomes.items() if isinstance(o, _Seen)}
    networks = {s.network for s in seen.values() if s.network} | {
        g["network"] for s in seen.values() for g in s.gateways
    }
    multi = len(networks) > 1
    rows, identity, gateways = [], [], []
    for name, outcome in outcomes.items():
        if isinstance(outcome, MeshnbError):
            rows.append(error_row(name, outcome))
            continue
        status, reason, detail = _verdict(_problems(name, outcome, seen, secret_rows, multi), outcome)
        rows.append({"cluster": name, "status": status, "reason": reason, "detail": detail})
        identity.append(
            {
                "cluster": name,
                "istiod_cluster_id": outcome.istiod_id,
                "proxy_cluster_ids": ",".join(sorted(set(outcome.proxy_ids.values()))) or None,
                "secret_keys": ",".join(
                    sorted({k for _h, k in _keys_for(name, outcome.istiod_id, secret_rows)})
                )
                or None,
                "mesh_id": outcome.mesh_id,
                "trust_domain": outcome.trust_domain,
                "network": outcome.network,
            }
        )
        gateways += outcome.gateways
    clusters = frame("identity.clusters", rows)
    status, summary = verdict(clusters)
    if status == "pass":
        summary = "the clusters agree on their IDs, the mesh ID, the trust domain" + (
            " and their networks' gateways" if multi else " (one network: no gateways needed)"
        )
    finding = Finding(
        check=CHECK,
        status=status,
        summary=summary,
        headline=summary if status == "pass" else _headline(clusters, namespace),
        evidence={
            "clusters": clusters,
            "identity": frame("identity.identity", identity),
            "gateways": frame("identity.gateways", gateways),
        },
        details={"multi_network": multi, "namespace": namespace},
    )
    if status == "pass":
        return finding
    by_reason = {str(r): list(g["cluster"]) for r, g in clusters.groupby("reason", sort=False)}
    return dataclasses.replace(finding, next_steps=steps(by_reason, Hand.of(mesh), namespace))


_SAID = {
    "cluster-id-mismatch": "{who} {is_} known by another cluster ID than its istiod's",
    "proxy-cluster-id": "proxies in {who} carry another cluster ID than their istiod",
    "mesh-id-mismatch": "{who} {has} another mesh ID",
    "trust-domain-mismatch": "{who} {has} another trust domain",
    "network-unlabelled": "{who} {has} no network label on {system}",
    "gateway-network-mismatch": "the east-west gateway of {who} is labelled for another network",
    "gateway-missing": "{who} {has} no east-west gateway for {its} network",
    "gateway-no-address": "the east-west gateway of {who} has no external address",
    "several-gateways": "the network of {who} has several east-west gateways",
    "gateway-hostname": "the east-west gateway of {who} has only a host name",
    "cluster-name-differs": "meshnb names {who} otherwise than istiod does",
    "not-read": "the identity of {who} could not be read whole",
    "mesh-networks-differ": "the meshNetworks of {who} differ from the others'",
    "network-label-differs": "meshNetworks and the network label of {who} disagree",
}


def headline(reason: str, names: list[str], namespace: str = SYSTEM) -> str:
    """What ``reason`` means for the clusters ``names``, as part of a sentence.

    >>> headline("gateway-missing", ["c1", "c2"])
    'c1 and c2 have no east-west gateway for their network'
    """
    one = len(names) == 1
    text = _SAID.get(reason, "{who} could not be read (" + reason + ")")
    return text.format(
        who=listed(names),
        is_="is" if one else "are",
        has="has" if one else "have",
        its="its" if one else "their",
        system=namespace,
    )


def _headline(clusters: pd.DataFrame, namespace: str) -> str:
    """One sentence: what is wrong, by reason, with the clusters of the worst status."""
    return ", and ".join(headline(reason, names, namespace) for reason, names in reasons(clusters).items())


def _commands(hand: Hand, names: list[str], *argv: str) -> str:
    """``kubectl ARGV`` in each cluster of ``names``, quoted as commands."""
    return ", ".join(f"`{hand.kubectl(name, *argv)}`" for name in names)


def _step_ids(hand: Hand, names: list[str], namespace: str) -> str:
    views = ", ".join(
        f"`{hand.istioctl(name, 'remote-clusters', f'--istioNamespace={namespace}')}`" for name in names
    )
    return (
        f"A cluster's ID is the clusterName istiod of {listed(names)} runs with ({views} lists it first): "
        "create the other clusters' remote secrets for it with istioctl create-remote-secret "
        "--name=<that ID>, and restart the proxies installed with another one."
    )


def _step_mesh(hand: Hand, names: list[str], namespace: str) -> str:
    looks = _commands(hand, names, "-n", namespace, "get", "configmap", "istio", "-o", "yaml")
    return f"Install {listed(names)} with the same meshID and trustDomain as the others (see {looks})."


def _step_network(hand: Hand, names: list[str], namespace: str) -> str:
    label = ", ".join(
        f'`{hand.kubectl(name, "label", "namespace", namespace)} {NETWORK_LABEL}="$NETWORK"`'
        for name in names
    )
    return (
        f"Label {listed(names)}'s {namespace} with its network, as the guide's install does ({label}, with "
        "NETWORK set to the network's name); its east-west gateway Service carries the same label."
    )


def _step_gateway(hand: Hand, names: list[str], namespace: str) -> str:
    look = _commands(hand, names, "-n", namespace, "get", "svc", "-l", "istio=eastwestgateway")
    return (
        f"Give {listed(names)} an east-west gateway with an external IP ({look}: EXTERNAL-IP must not be "
        "<pending>; without load balancers: spec.externalIPs), made as the guide's gen-eastwest-gateway.sh "
        "makes it."
    )


def _step_several(hand: Hand, names: list[str], namespace: str) -> str:
    look = _commands(hand, names, "-n", namespace, "get", "svc", "-l", NETWORK_LABEL)
    return f"Keep one east-west gateway per network, or make sure each one reaches it ({look})."


def _step_mesh_networks(hand: Hand, names: list[str], namespace: str) -> str:
    looks = _commands(
        hand, names, "-n", namespace, "get", "configmap", "istio", "-o", "jsonpath={.data.meshNetworks}"
    )
    return (
        f"Give every cluster the same meshNetworks, each cluster's registry on the network its {namespace} "
        f"label names (see {looks}), or leave meshNetworks out and let the labels say it."
    )


#: The next step for each reason (those that share one, together).
STEPS: tuple[tuple[tuple[str, ...], Callable[[Hand, list[str], str], str]], ...] = (
    (("cluster-id-mismatch", "proxy-cluster-id"), _step_ids),
    (("mesh-id-mismatch", "trust-domain-mismatch"), _step_mesh),
    (("network-unlabelled", "gateway-network-mismatch"), _step_network),
    (("gateway-missing", "gateway-no-address", "gateway-hostname"), _step_gateway),
    (("several-gateways",), _step_several),
    (("mesh-networks-differ", "network-label-differs"), _step_mesh_networks),
)


def steps(by_reason: Mapping[str, list[str]], hand: Hand, namespace: str = SYSTEM) -> list[str]:
    """The next steps for the clusters of each reason, with each cluster's own commands.

    >>> steps({"several-gateways": ["c2"]}, Hand({"c2": "c2"}, {}))  # doctest: +ELLIPSIS
    ['Keep one east-west gateway per network, ... (`kubectl --context=c2 -n istio-system get svc -l ...`).']
    """
    made = []
    for group, step in STEPS:
        names = [name for reason in group for name in by_reason.get(reason, [])]
        if names:
            made.append(step(hand, sorted(set(names)), namespace))
    return made


def _by_hand(hand: Hand) -> list[str]:
    """Each cluster's own view of its ID, mesh config, network label and gateways."""
    ns = hand.options["namespace"]
    lines = []
    for cluster in hand.contexts:
        lines += [
            hand.istioctl(cluster, "remote-clusters", f"--istioNamespace={ns}"),
            hand.kubectl(cluster, "get", "namespace", ns, "-L", NETWORK_LABEL),
            hand.kubectl(cluster, "-n", ns, "get", "configmap", "istio", "-o", "jsonpath={.data.mesh}")
            + " | grep -E 'meshId|trustDomain'",
            hand.kubectl(cluster, "-n", ns, "get", "svc", "-l", NETWORK_LABEL, "-o", "wide"),
        ]
    return lines


CHECK_SPEC = Check(
    CHECK,
    check_identity,
    "check that the clusters agree on their IDs, the mesh ID, the trust domain, networks and gateways",
    tables=(
        ("clusters", ("cluster", "status", "reason", "detail")),
        (
            "identity",
            ("cluster", "istiod_cluster_id", "proxy_cluster_ids", "secret_keys", "mesh_id", "network"),
        ),
        ("gateways", ("cluster", "service", "network", "type", "addresses")),
    ),
    options=(Option("namespace", SYSTEM, label="Istio namespace"),),
    title="Identity and networks",
    in_triage=lambda _settings: {},
    needs=("remote-secrets",),
    by_hand=_by_hand,
    guide="Step-by-step Diagnosis",
)
