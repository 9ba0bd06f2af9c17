"""Trust configuration: whether the clusters' plug-in CAs share a root (Istio's guide: 'Trust configuration').

The guide diffs ``root-cert.pem`` of the ``cacerts`` secret between two clusters. This check reads
the secret in every cluster at once, parses only its certificate keys (``root-cert.pem``,
``ca-cert.pem``, ``cert-chain.pem``; or ``ca.crt``/``tls.crt`` in the cert-manager layout), and goes
further than a diff: it verifies signatures, so that two roots with the same subject but different
keys are told apart, and a combined root bundle is recognised as the migration step it usually is.
The private key (``ca-key.pem``/``tls.key``) is noted as present and never read.

Evidence:

- ``clusters``: one row per cluster. ``cluster``, ``status`` (pass/warn/fail/error), ``detail``,
  ``roots`` (certificates in root-cert.pem), ``root_sha256`` (their SHA-256 fingerprints, ``", "``
  joined), ``root_subject`` (their subjects, ``" | "`` joined), ``intermediate`` (subject of
  ca-cert.pem), ``not_after`` (earliest expiry among the cluster's certificates), ``private_key``
  ("present (not read)" or "absent"), ``keys`` (the secret's data keys, names only), ``trusted_by``
  and ``trusts`` (the clusters that accept its certificates, and whose certificates it accepts).
- ``trust``: the trust matrix. Column ``presented_by`` names the cluster whose workloads present
  certificates (issued under its ca-cert.pem); every other column is a cluster that verifies them
  with its root-cert.pem: True, False, or NA when unknown (a cluster that could not be read).
- ``certs``: every certificate read, in the ``certs`` schema (never a private key).

>>> import meshnb
>>> finding = check_trust(meshnb.simulate("trust-mismatch"))
>>> finding.status, finding.evidence["trust"].values.tolist()
('fail', [['cluster1', True, False], ['cluster2', False, True]])
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshnb.backends.base import Cluster, Mesh
from meshnb.diagnostics.by_hand import Hand
from meshnb.diagnostics.check import Check, Option
from meshnb.diagnostics.fanout import Progress, Report, describe, per_cluster, reason_of
from meshnb.diagnostics.finding import STATUSES, Finding, listed, reasons, worst
from meshnb.errors import MeshnbError, NotFound, ParseError
from meshnb.names import validate_name
from meshnb.schemas import SCHEMAS

if TYPE_CHECKING:
    import pandas as pd
    from cryptography.x509 import Certificate

__all__ = ["CERT_KEYS", "KEY_KEYS", "check_trust"]

log = logging.getLogger("meshnb")

CHECK = "trust"
GUIDE = "Istio's 'Troubleshooting Multicluster' guide"
PLUGIN_CA_URL = "https://istio.io/latest/docs/tasks/security/cert-management/plugin-ca-cert/"

#: Certificate keys of a cacerts secret and their role (Istio's layout, then cert-manager's).
CERT_KEYS: dict[str, str] = {
    "root-cert.pem": "root",
    "ca-cert.pem": "ca",
    "cert-chain.pem": "chain",
    "ca.crt": "root",
    "tls.crt": "ca",
}
#: Keys holding the CA's private key: their presence is noted, their value never read.
KEY_KEYS = ("ca-key.pem", "tls.key")

STEP_MIGRATION = (
    "A root-cert.pem with several roots is the usual bundle while moving to a new root (see "
    f"{PLUGIN_CA_URL}): finish the migration by issuing every cluster's intermediate from the new root, "
    "restart the workloads, then remove the old root from every bundle. Until then every cluster must "
    "carry the same bundle."
)
STEP_ROTATE = (
    "Rotate the expired or expiring CA certificates before they expire: istiod does not renew plugged-in "
    f"certificates. Issue new ones from the same root ({PLUGIN_CA_URL}), update the cacerts secret, "
    "restart istiod and the workloads."
)
STEP_ACCESS = (
    "A cluster could not be read: check its kubeconfig context, that its API server answers, and that "
    "you may get secrets in istio-system (RBAC)."
)

#: kubectl's jsonpath to the root certificate of a cacerts secret.
ROOT_PATH = "jsonpath={.data.root-cert\\.pem}"

_ORDER = ("root-cert.pem", "ca.crt", "ca-cert.pem", "tls.crt", "cert-chain.pem")


@dataclass
class _Read:
    """What one cluster's cacerts secret held (certificates only; a private key is only noted)."""

    missing: str | None = None  # the NotFound detail when there is no secret
    keys: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    roots: list[Certificate] = field(default_factory=list)
    ca: Certificate | None = None
    chain: list[Certificate] = field(default_factory=list)
    private_key: bool = False
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (status, reason, message)

    @property
    def usable(self) -> bool:
        """Whether this cluster's chain and roots are known (so its matrix cells can be computed)."""
        return self.missing is None and self.ca is not None and bool(self.roots)


def _read_cluster(name: str, cluster: Cluster, report: Report, *, namespace: str, secret: str) -> _Read:
    from meshnb.readers.certs import cert_record, parse_pem

    report(0, 1)
    try:
        data = cluster.read_secret(namespace, secret)
    except NotFound as exc:
        report(1, 1)
        return _Read(missing=exc.detail)
    read = _Read(keys=sorted(data))
    present = set(data)
    read.private_key = bool(present & set(KEY_KEYS))
    by_role: dict[str, list[Certificate]] = {}
    unparsed: set[str] = set()
    for key in sorted(present & set(CERT_KEYS), key=_ORDER.index):
        try:
            parsed = parse_pem(data[key])
        except ParseError as exc:
            read.problems.append(("fail", "cacerts-unreadable", f"{key} could not be parsed: {exc}"))
            unparsed.add(CERT_KEYS[key])
            continue
        if parsed.private_keys:
            read.problems.append(
                (
                    "warn",
                    "cacerts-warning",
                    f"{key} also holds a private key block (skipped, not read): keep keys out of {key}",
                )
            )
        certs = [cert for cert, _ in parsed.certificates]
        if not certs:
            read.problems.append(("fail", "cacerts-unreadable", f"{key} holds no certificate"))
        for cert in certs:
            read.records.append(cert_record(cert, cluster=name, secret=secret, key=key))
        role = CERT_KEYS[key]
        if role not in by_role:  # Istio's key wins over cert-manager's when both are present
            by_role[role] = certs
        if role != "root":
            read.chain += certs
    read.roots = by_role.get("root", [])
    read.ca = next(iter(by_role.get("ca") or []), None)
    if "root" not in by_role | dict.fromkeys(unparsed):
        read.problems.append(
            ("fail", "cacerts-unreadable", "no root-cert.pem: istiod has no root to distribute")
        )
    if "ca" not in by_role | dict.fromkeys(unparsed):
        read.problems.append(
            ("fail", "cacerts-unreadable", "no ca-cert.pem: istiod has no intermediate to sign with")
        )
    if not read.private_key:
        read.problems.append(("fail", "cacerts-unreadable", "no ca-key.pem: istiod cannot sign with this CA"))
    if "chain" not in by_role and "tls.crt" not in present:
        read.problems.append(
            ("warn", "cacerts-warning", "no cert-chain.pem: workloads will not present the chain to the root")
        )
    report(1, 1)
    return read


def _short(sha256: str) -> str:
    return sha256[:23] + "…"


def _fps(certs: list[Certificate]) -> list[str]:
    from meshnb.readers.certs import fingerprint

    return [fingerprint(c) for c in certs]


def _matrix(reads: Mapping[str, _Read | MeshnbError]) -> dict[str, dict[str, bool | None]]:
    """matrix[presenter][verifier]: does ``verifier``'s root-cert.pem accept ``presenter``'s chain."""
    from meshnb.readers.certs import chains_to

    matrix: dict[str, dict[str, bool | None]] = {}
    for p, pr in reads.items():
        row: dict[str, bool | None] = {}
        for v, vr in reads.items():
            if isinstance(pr, MeshnbError) or isinstance(vr, MeshnbError):
                row[v] = None
            elif pr.missing is not None or vr.missing is not None:
                # istiod's self-signed root is generated per cluster: it trusts only itself.
                row[v] = (p == v) if pr.missing is not None else False
            elif not (pr.usable and vr.usable):
                row[v] = None
            else:
                row[v] = chains_to(pr.ca, vr.roots, pr.chain)  # type: ignore[arg-type]
        matrix[p] = row
    return matrix


def _pair_message(a: str, b: str, reads: Mapping[str, Any], matrix: Mapping[str, Mapping], secret: str):
    """The reason and text of cluster ``a``'s row about its trust with ``b`` (None: they trust each other)."""
    ab, ba = matrix[a][b], matrix[b][a]
    if ab is not False and ba is not False:
        return None
    from meshnb.readers.certs import openssl_name

    ra, rb = reads[a], reads[b]
    if rb.missing is not None:
        return "peer-cacerts-missing", (
            f"no shared trust with {b} ({b} has no {secret} secret: its istiod signs with its own "
            "self-signed root)"
        )
    if ab is False and ba is False:
        fa, fb = _fps(ra.roots), _fps(rb.roots)
        if not set(fa) & set(fb):
            subjects_a = {openssl_name(c.subject) for c in ra.roots}
            subjects_b = {openssl_name(c.subject) for c in rb.roots}
            same = subjects_a & subjects_b
            how = f"same subject {sorted(same)[0]!r} but different keys" if same else "different subjects"
            return "different-root", (
                f"no shared trust with {b}: different roots ({how}; sha256 "
                f"{', '.join(map(_short, fa))} here, {', '.join(map(_short, fb))} in {b})"
            )
        return (
            "not-trusted",
            f"no shared trust with {b}: neither cluster's intermediate chains to the other's roots",
        )
    if ab is False:
        return "not-trusted", (
            f"{b} does not trust its certificates ({b}'s root-cert.pem lacks the root of its ca-cert.pem)"
        )
    return "not-trusted", (
        f"it does not trust {b}'s certificates (its root-cert.pem lacks the root of {b}'s ca-cert.pem)"
    )


def _expiry(read: _Read, now: dt.datetime, soon_days: float) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for record in read.records:
        if record["sha256"] in seen:
            continue
        seen.add(record["sha256"])
        what = f"{record['key']} {record['subject']!r}"
        after, before = record["not_after"], record["not_before"]
        if after <= now:
            out.append(("fail", "expired", f"{what} expired on {after:%Y-%m-%d}"))
        elif after - now <= dt.timedelta(days=soon_days):
            days = (after - now).days
            out.append(("warn", "expiring", f"{what} expires in {days} day(s), on {after:%Y-%m-%d}"))
        if before > now:
            out.append(("fail", "expired", f"{what} is not valid before {before:%Y-%m-%d}"))
    return out


def _bundle_message(name: str, reads: Mapping[str, Any]) -> str:
    from meshnb.readers.certs import openssl_name

    read = reads[name]
    others = {
        other: set(_fps(r.roots))
        for other, r in reads.items()
        if other != name and isinstance(r, _Read) and r.missing is None
    }
    parts = []
    for cert, fp in zip(read.roots, _fps(read.roots), strict=True):
        sharing = [other for other, fps in others.items() if fp in fps]
        where = f"shared with {', '.join(sharing)}" if sharing else "in no other cluster's bundle"
        parts.append(f"{openssl_name(cert.subject)!r} ({_short(fp)}) {where}")
    return (
        f"root-cert.pem holds {len(read.roots)} roots, the usual bundle while migrating to a new root: "
        + "; ".join(parts)
    )


def _rows(
    reads: Mapping[str, _Read | MeshnbError],
    matrix: Mapping[str, Mapping[str, bool | None]],
    *,
    namespace: str,
    secret: str,
    now: dt.datetime,
    soon_days: float,
) -> tuple[list[dict[str, Any]], dict[str, set[str]]]:
    from meshnb.readers.certs import chains_to, openssl_name

    rows: list[dict[str, Any]] = []
    kinds: dict[str, set[str]] = {k: set() for k in ("missing", "bundle", "expiry", "error", "trust")}
    for name, read in reads.items():
        row: dict[str, Any] = dict.fromkeys(SCHEMAS["trust.clusters"])
        row["cluster"] = name
        if isinstance(read, MeshnbError):
            row.update(status="error", reason=reason_of(read), detail=describe(read))
            kinds["error"].add(name)
            rows.append(row)
            continue
        trusted_by = [v for v, ok in matrix[name].items() if ok and v != name]
        trusts = [p for p in matrix if matrix[p][name] and p != name]
        row.update(trusted_by=", ".join(trusted_by), trusts=", ".join(trusts))
        if read.missing is not None:
            others = [o for o in reads if o != name]
            row.update(
                status="fail",
                reason="cacerts-missing",
                detail=(
                    f"no {secret} secret in {namespace} ({read.missing}): no plug-in CA, so istiod signs "
                    "with its own self-signed root and shares no trust with "
                    f"{', '.join(others) or 'other clusters'}"
                ),
                roots=0,
                private_key="absent",
            )
            kinds["missing"].add(name)
            rows.append(row)
            continue
        messages = list(read.problems)
        if any(status == "fail" for status, _, _ in read.problems):
            kinds["trust"].add(name)
        if read.usable and not chains_to(read.ca, read.roots, read.chain):  # type: ignore[arg-type]
            messages.append(
                ("fail", "chain-broken", "ca-cert.pem does not chain to this cluster's own root-cert.pem")
            )
            kinds["trust"].add(name)
        for other in reads:
            if other != name and isinstance(reads[other], _Read):
                message = _pair_message(name, other, reads, matrix, secret)
                if message:
                    messages.append(("fail", *message))
                    kinds["trust"].add(name)
        if len(read.roots) > 1:
            messages.append(("warn", "root-bundle", _bundle_message(name, reads)))
            kinds["bundle"].add(name)
        expiry = _expiry(read, now, soon_days)
        if expiry:
            kinds["expiry"].add(name)
        messages += expiry
        if not messages:
            peers = ", ".join(trusted_by)
            roots = ", ".join(_short(fp) for fp in _fps(read.roots))
            messages.append(("pass", "ok", f"root {roots}" + (f" shared with {peers}" if peers else "")))
        messages.sort(key=lambda m: -STATUSES.index(m[0]))  # stable: the first found of the worst
        fps = _fps(read.roots)
        row.update(
            status=messages[0][0],
            reason=messages[0][1],
            detail="; ".join(text for _, _, text in messages),
            roots=len(read.roots),
            root_sha256=", ".join(fps),
            root_subject=" | ".join(openssl_name(c.subject) for c in read.roots),
            intermediate=openssl_name(read.ca.subject) if read.ca is not None else None,
            not_after=min((r["not_after"] for r in read.records), default=None),
            private_key="present (not read)" if read.private_key else "absent",
            keys=", ".join(read.keys),
        )
        rows.append(row)
    return rows, kinds


def _frames(
    rows: list[dict[str, Any]],
    matrix: Mapping[str, Mapping[str, bool | None]],
    reads: Mapping[str, _Read | MeshnbError],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    import pandas as pd

    from meshnb.readers.certs import certs_frame
    from meshnb.schemas import frame

    clusters = frame("trust.clusters", rows)
    names = list(matrix)
    trust = pd.DataFrame(
        [
            {"presented_by": p, **{v: pd.NA if ok is None else ok for v, ok in matrix[p].items()}}
            for p in names
        ],
        columns=["presented_by", *names],
    )
    trust = trust.astype({"presented_by": "string", **dict.fromkeys(names, "boolean")})
    certs = certs_frame(r for read in reads.values() if isinstance(read, _Read) for r in read.records)
    return clusters, trust, certs


def _restart(hand: Hand, clusters: Sequence[str], namespace: str) -> str:
    """The commands that restart istiod in ``clusters``, each between backticks."""
    return ", ".join(
        f"`{hand.kubectl(name, '-n', namespace, 'rollout', 'restart', 'deployment/istiod')}`"
        for name in clusters
    )


def step_create(hand: Hand, clusters: Sequence[str], namespace: str, secret: str) -> str:
    """The next step for ``clusters``, which have no ``secret`` (cacerts) in ``namespace``.

    >>> step = step_create(Hand({}, {}), ["cluster2"], "istio-system", "cacerts")
    >>> "`kubectl --context=cluster2 -n istio-system create secret generic cacerts --from-file=" in step
    True
    """
    files = ("ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem")
    create = [
        hand.kubectl(
            name, "-n", namespace, "create", "secret", "generic", secret, *(f"--from-file={f}" for f in files)
        )
        for name in clusters
    ]
    return (
        f"Create the {secret} secret in {namespace} of {listed(clusters)} from an intermediate signed by the "
        f"mesh's common root (in the folder of its files): {', '.join(f'`{c}`' for c in create)}, then "
        f"restart istiod ({_restart(hand, clusters, namespace)}) and the workloads."
    )


def step_plugin(hand: Hand, clusters: Sequence[str], namespace: str) -> str:
    """The next step when trust is broken: certificates from one root, then istiod restarted in ``clusters``.

    >>> print(step_plugin(Hand({}, {}), ["c1"], "istio-system"))  # doctest: +ELLIPSIS
    Fix ... istiod in c1 (`kubectl --context=c1 -n istio-system rollout restart deployment/istiod`) ...
    """
    return (
        "Fix the trust configuration (guide: 'Trust configuration'): every cluster's cacerts secret in "
        f"{namespace} must hold an intermediate CA signed by one common root, with that root in "
        "root-cert.pem. "
        f"Plug in certificates from a common root as in {PLUGIN_CA_URL}, then restart istiod in "
        f"{listed(clusters)} ({_restart(hand, clusters, namespace)}) and the workloads so they get "
        "certificates from the new CA."
    )


def _step_compare(hand: Hand, pairs: Sequence[tuple[str, str]], namespace: str, secret: str) -> str:
    """The guide's diff of the roots of each pair of clusters that do not trust each other."""

    def pem(cluster: str) -> str:
        root = hand.kubectl(cluster, "-n", namespace, "get", "secret", secret, "-o", ROOT_PATH)
        return f"{root} | base64 -d"

    diffs = ", ".join(f"`diff <({pem(a)}) <({pem(b)})`" for a, b in pairs)
    return (
        f"Compare the roots by hand as the guide does: {diffs}. Roots with the same subject can still differ "
        "(different keys): compare fingerprints, as in the clusters table."
    )


def _next_steps(
    hand: Hand,
    kinds: Mapping[str, set[str]],
    matrix: Mapping[str, Mapping[str, bool | None]],
    reads: Mapping[str, _Read | MeshnbError],
    namespace: str,
    secret: str,
) -> list[str]:
    steps = []
    names = list(reads)
    if kinds["missing"]:
        steps.append(step_create(hand, [n for n in names if n in kinds["missing"]], namespace, secret))
    if kinds["missing"] or kinds["trust"]:
        steps.append(
            step_plugin(hand, [n for n in names if n in kinds["missing"] | kinds["trust"]], namespace)
        )
        held = [n for n, read in reads.items() if isinstance(read, _Read) and read.missing is None]
        pairs = [
            (a, b)
            for i, a in enumerate(held)
            for b in held[i + 1 :]
            if matrix[a][b] is False or matrix[b][a] is False
        ]
        if pairs:
            steps.append(_step_compare(hand, pairs, namespace, secret))
    if kinds["bundle"]:
        steps.append(STEP_MIGRATION)
    if kinds["expiry"]:
        steps.append(STEP_ROTATE)
    if kinds["error"]:
        steps.append(STEP_ACCESS)
    return steps


def _now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    if not isinstance(now, dt.datetime):
        raise TypeError(f"now must be a datetime, not {type(now).__name__}")
    return now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)


def check_trust(
    mesh: Mesh,
    *,
    namespace: str = "istio-system",
    secret: str = "cacerts",
    soon_days: float = 30,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
) -> Finding:
    """Read every cluster's ``cacerts`` and check that the clusters trust each other's certificates.

    Fails on a missing secret (istiod then uses its own self-signed root), roots that differ, a
    corrupt or incomplete secret, or an expired certificate; warns on a combined root bundle and on
    certificates expiring within ``soon_days`` of ``now`` (default: the current time, naive = UTC).
    A cluster that cannot be read is an ``error`` row; the others are still reported. Evidence:
    ``clusters``, ``trust`` and ``certs`` DataFrames (see the module docstring). Never reads the
    private key.

    >>> import meshnb
    >>> check_trust(meshnb.simulate()).status
    'pass'
    """
    validate_name(namespace, "namespace")
    validate_name(secret, "secret name", subdomain=True)
    if isinstance(soon_days, bool) or not isinstance(soon_days, int | float) or not soon_days >= 0:
        raise ValueError(f"soon_days must be a non-negative number, not {soon_days!r}")
    when = _now(now)
    log.info("trust: reading %s/%s in %d clusters", namespace, secret, len(mesh.clusters))

    reads = per_cluster(
        mesh,
        lambda name, cluster, report: _read_cluster(
            name, cluster, report, namespace=namespace, secret=secret
        ),
        progress,
    )
    matrix = _matrix(reads)
    rows, kinds = _rows(reads, matrix, namespace=namespace, secret=secret, now=when, soon_days=soon_days)
    clusters, trust, certs = _frames(rows, matrix, reads)

    status = worst(clusters["status"].tolist())
    if status == "pass":
        fps = {fp for r in reads.values() if isinstance(r, _Read) for fp in _fps(r.roots)}
        subjects = sorted({s for s in clusters["root_subject"].dropna()})
        summary = (
            f"{', '.join(reads)} share one root ({' | '.join(subjects)}, sha256 "
            f"{', '.join(map(_short, sorted(fps)))}) and trust each other's certificates"
        )
    else:
        # the root cause first: a cluster with no plug-in CA explains its peers' failures
        worst_rows = sorted(
            (r for r in clusters.itertuples() if r.status == status),
            key=lambda r: r.cluster not in kinds["missing"],
        )
        summary = "; ".join(f"{r.cluster}: {r.detail}" for r in worst_rows)
    return Finding(
        check=CHECK,
        status=status,
        summary=summary,
        headline=_headline(clusters, secret, soon_days),
        evidence={"clusters": clusters, "trust": trust, "certs": certs},
        next_steps=_next_steps(Hand.of(mesh), kinds, matrix, reads, namespace, secret)
        if status != "pass"
        else [],
        details={
            "namespace": namespace,
            "secret": secret,
            "soon_days": soon_days,
            "now": when.isoformat(),
            "roots": {n: _fps(r.roots) for n, r in reads.items() if isinstance(r, _Read)},
            "guide": GUIDE,
            "guide_section": "Trust configuration",
            "docs": PLUGIN_CA_URL,
        },
    )


def _headline(clusters: pd.DataFrame, secret: str, soon_days: float) -> str:
    """One sentence: which clusters have the worst status, and what it means for trust."""
    found = reasons(clusters)
    if set(found) == {"ok"}:
        return f"{listed(list(clusters['cluster']))} share one root and trust each other's certificates"
    peers = found.pop("peer-cacerts-missing", [])
    said = []
    for reason, names in sorted(found.items(), key=lambda item: item[0] != "cacerts-missing"):
        one = len(names) == 1
        who = listed(names)
        if reason == "cacerts-missing":
            said.append(
                f"{who} {'has' if one else 'have'} no {secret} secret, so "
                + (
                    f"{'it shares' if one else 'they share'} no trust with {listed(peers)}"
                    if peers
                    else f"{'its istiod signs' if one else 'each istiod signs'} with its own self-signed root"
                )
            )
            peers = []
        elif reason == "different-root":
            said.append(
                f"{who} have different roots: they do not trust each other"
                if not one
                else f"{who} has a root of its own: it does not trust the other clusters"
            )
        elif reason == "not-trusted":
            said.append(
                f"trust is broken between {who} and the other clusters (a root-cert.pem lacks a root)"
            )
        elif reason == "chain-broken":
            said.append(f"the intermediate of {who} does not chain to {'its' if one else 'their'} own root")
        elif reason == "cacerts-unreadable":
            said.append(f"the {secret} secret of {who} is incomplete or unreadable")
        elif reason == "expired":
            said.append(f"{who} {'has' if one else 'have'} a CA certificate expired or not yet valid")
        elif reason == "expiring":
            said.append(f"a CA certificate of {who} expires within {soon_days:g} days")
        elif reason == "root-bundle":
            said.append(
                f"{who} {'carries' if one else 'carry'} several roots, as while migrating to a new one"
            )
        elif reason == "cacerts-warning":
            said.append(f"the {secret} secret of {who} is not laid out as Istio expects")
        else:
            said.append(f"{who} could not be read ({reason})")
    if peers:
        said.append(
            f"{listed(peers)} {'has' if len(peers) == 1 else 'have'} a peer without a {secret} secret"
        )
    return ", and ".join(said)


def _by_hand(hand: Hand) -> list[str]:
    """The guide's diff of the roots, and each root's fingerprint and subject."""
    o = hand.options
    root = [o["namespace"], "get", "secret", o["secret"], "-o", ROOT_PATH]

    def pem(cluster: str) -> str:
        return f"{hand.kubectl(cluster, '-n', *root)} | base64 -d"

    first, *others = hand.contexts
    return [
        *(f"diff <({pem(first)}) <({pem(other)})" for other in others),
        *(f"{pem(cluster)} | openssl x509 -noout -subject -fingerprint -sha256" for cluster in hand.contexts),
    ]


CHECK_SPEC = Check(
    CHECK,
    check_trust,
    "compare the cacerts secrets' roots across clusters and verify each intermediate chains to them",
    options=(Option("namespace", "istio-system", label="Istio namespace"), Option("secret", "cacerts")),
    tables=(
        (
            "clusters",
            (
                "cluster",
                "status",
                "reason",
                "root_sha256",
                "intermediate",
                "not_after",
                "private_key",
                "detail",
            ),
        ),
        ("trust", ()),
    ),
    title="Trust configuration",
    guide="Trust Configuration",
    panel="meshnb.widgets.trust:TrustPanel",
    by_hand=_by_hand,
)
