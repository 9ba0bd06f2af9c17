"""The long-form DataFrames meshnb produces, declared once (column names and dtypes).

Build frames with :func:`frame`, which validates at the boundary: missing columns are an error,
extra columns are an error, dtypes are coerced to the declared ones.

>>> df = frame("samples", [])
>>> list(df.columns)[:4]
['source_cluster', 'source_pod', 'seq', 'url']

The samples table has a row per request (millions of them), so its repeated strings are
:data:`CATEGORY` columns: a small integer code per row and each distinct string once. :func:`validate`
keeps them so (it never turns them into a string per row) and makes them canonical, so that equal
values give equal frames whichever way they were built (a check, a snapshot, JSON): the categories
are the distinct strings that occur, sorted, as ``str``.

>>> s = validate("samples", frame("samples", []).reindex(range(3)).assign(
...     source_cluster=["c2", "c1", "c2"], seq=[1, 1, 2]))
>>> s["source_cluster"].cat.categories.tolist(), s["source_cluster"].cat.codes.tolist()
(['c1', 'c2'], [1, 0, 1])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CATEGORY", "REASONS", "SCHEMAS", "categorical", "frame", "schema_name", "upgrade", "validate"]

#: A column of repeated strings: a pandas Categorical whose categories are the distinct strings that
#: occur, sorted, of dtype ``str``; missing values are missing (code -1).
CATEGORY = "category"

# dtype names are pandas dtypes; "string" and nullable ints keep missing values honest.
SCHEMAS: dict[str, dict[str, str]] = {
    # One row per request: about 41 bytes a row (a code a byte for each category column while there
    # are fewer than 127 distinct values, 8 bytes for seq, latency_ms and ts, 9 for http_status).
    "samples": {
        "source_cluster": CATEGORY,
        "source_pod": CATEGORY,
        "seq": "int64",
        "url": CATEGORY,
        "http_status": "Int64",
        "version": CATEGORY,
        "instance": CATEGORY,
        "dest_cluster": CATEGORY,
        "error": CATEGORY,
        "error_kind": CATEGORY,
        "latency_ms": "float64",
        "ts": "datetime64[ns, UTC]",
    },
    # One row per response in pasted curl output (meshnb.read_curl).
    "responses": {
        "seq": "int64",
        "http_status": "Int64",
        "version": "string",
        "instance": "string",
        "error_kind": "string",
        "error": "string",
        "latency_ms": "float64",
    },
    # One row per (source cluster, version) among successful responses.
    "split": {
        "source_cluster": "string",
        "version": "string",
        "dest_cluster": "string",
        "count": "int64",
        "total": "int64",
        "share": "float64",
        "ci_low": "float64",
        "ci_high": "float64",
        "expected_share": "float64",
    },
    # One row per source cluster: what it sent, what came back, the verdict for that cluster.
    "sources": {
        "source_cluster": "string",
        "source_pod": "string",
        "requests": "int64",
        "ok": "int64",
        "errors": "int64",
        "versions": "string",
        "remote_share": "float64",
        "chi2": "float64",
        "dof": "Int64",
        "p_value": "float64",
        "status": "string",
        "reason": "string",
        "detail": "string",
    },
    # One row per cluster: what carries a namespace's traffic (meshnb.diagnostics.modes).
    "modes": {
        "cluster": "string",
        "namespace": "string",
        "mode": "string",
        "labelled": "string",
        "sidecar_pods": "int64",
        "ambient_pods": "int64",
        "none_pods": "int64",
        "status": "string",
        "reason": "string",
        "detail": "string",
    },
    # One row per endpoint a proxy holds for a service (Envoy /clusters, istioctl proxy-config endpoint).
    "endpoints": {
        "source_cluster": "string",
        "source_pod": "string",
        "envoy_cluster": "string",
        "service": "string",
        "port": "Int64",
        "address": "string",
        "endpoint_port": "Int64",
        "health": "string",
        "outlier_check": "string",
        "weight": "Int64",
        "priority": "Int64",
        "region": "string",
        "zone": "string",
        "subzone": "string",
        "dest_cluster": "string",
        "network": "string",
        "via_gateway": "boolean",
    },
    # One row per certificate in a cacerts secret or pasted PEM (never a private key).
    "certs": {
        "cluster": "string",
        "secret": "string",
        "key": "string",
        "subject": "string",
        "issuer": "string",
        "serial": "string",
        "sha256": "string",
        "not_before": "datetime64[ns, UTC]",
        "not_after": "datetime64[ns, UTC]",
        "is_ca": "boolean",
    },
    # One row per remote secret (never a token).
    "remote_secrets": {
        "cluster": "string",
        "secret": "string",
        "data_key": "string",
        "annotation_cluster": "string",
        "server": "string",
        "context": "string",
        "auth": "string",
        "token_expiry": "datetime64[ns, UTC]",
        "problems": "string",
    },
    # One row per istiod log line about remote clusters.
    "istiod_events": {
        "cluster": "string",
        "pod": "string",
        "ts": "datetime64[ns, UTC]",
        "level": "string",
        "event": "string",
        "secret": "string",
        "remote_cluster": "string",
        "error": "string",
        "line": "string",
    },
    # istiod's and istioctl's multicluster views (meshnb.readers.istiod_debug and istioctl_views).
    # ``istiod`` is the istiod pod that answered (NA when the input does not say).
    # One row per remote cluster in ``istioctl remote-clusters`` (REVISION from 1.31, NA before).
    "remote_clusters": {
        "istiod": "string",
        "cluster": "string",
        "secret": "string",
        "status": "string",
        "revision": "string",
    },
    # One row per cluster in istiod's /debug/clusterz (the config cluster has no secret).
    "clusterz": {
        "istiod": "string",
        "cluster": "string",
        "secret": "string",
        "status": "string",
    },
    # One row per cross-network gateway in istiod's /debug/networkz.
    "networkz": {
        "istiod": "string",
        "network": "string",
        "cluster": "string",
        "address": "string",
        "port": "Int64",
        "hbone_port": "Int64",
        "service_account": "string",
    },
    # One row per endpoint of each shard in istiod's /debug/endpointShardz.
    "endpoint_shards": {
        "istiod": "string",
        "service": "string",
        "namespace": "string",
        "provider": "string",
        "shard_cluster": "string",
        "address": "string",
        "addresses": "string",
        "endpoint_port": "Int64",
        "port_name": "string",
        "service_account": "string",
        "network": "string",
        "locality": "string",
        "locality_cluster": "string",
        "weight": "Int64",
        "tls_mode": "string",
        "workload": "string",
        "health": "string",
        "node": "string",
    },
    # One row per proxy and xDS type in istiod's /debug/syncz.
    "syncz": {
        "istiod": "string",
        "proxy": "string",
        "proxy_type": "string",
        "cluster": "string",
        "istio_version": "string",
        "proxy_version": "string",
        "type": "string",
        "type_url": "string",
        "sent": "string",
        "acked": "string",
        "status": "string",
        "sent_time": "datetime64[ns, UTC]",
        "last_error": "string",
    },
    # One row per proxy in ``istioctl proxy-status`` (every table layout, and -o json).
    "proxy_status": {
        "istiod": "string",
        "proxy": "string",
        "cluster": "string",
        "version": "string",
        "cds": "string",
        "lds": "string",
        "eds": "string",
        "rds": "string",
        "ecds": "string",
        "other": "string",
        "subscribed_count": "Int64",
        "subscribed": "string",
    },
    # A check's own tables are named "<check>.<table>": each check's per-cluster verdicts (a status, a
    # stable ``reason`` word the diagnosis reads, and a ``detail`` sentence for people).
    "connectivity.probes": {
        "source_cluster": "string",
        "source_pod": "string",
        "dest_cluster": "string",
        "pod_ip": "string",
        "outcome": "string",
        "reason": "string",
        "http_status": "Int64",
        "latency_ms": "float64",
        "error": "string",
    },
    "trust.clusters": {
        "cluster": "string",
        "status": "string",
        "reason": "string",
        "detail": "string",
        "roots": "Int64",
        "root_sha256": "string",
        "root_subject": "string",
        "intermediate": "string",
        "not_after": "datetime64[ns, UTC]",
        "private_key": "string",
        "keys": "string",
        "trusted_by": "string",
        "trusts": "string",
    },
    "endpoints.clusters": {
        "cluster": "string",
        "status": "string",
        "reason": "string",
        "pod": "string",
        "endpoints": "int64",
        "clusters_seen": "string",
        "detail": "string",
    },
    # Per source cluster and cluster of the service: endpoints istiod holds (/debug/endpointShardz) and the
    # proxy holds, and whether istiod knows a gateway for that cluster's network (/debug/networkz).
    "endpoints.held": {
        "cluster": "string",
        "istiod": "string",
        "dest_cluster": "string",
        "network": "string",
        "istiod_endpoints": "int64",
        "proxy_endpoints": "int64",
        "gateway": "boolean",
    },
    # The sync state of each source cluster's proxy in its istiod's /debug/syncz, per xDS type.
    "endpoints.proxy_sync": {
        "cluster": "string",
        "istiod": "string",
        "proxy": "string",
        "type": "string",
        "status": "string",
        "sent": "string",
        "acked": "string",
        "last_error": "string",
    },
    "identity.clusters": {
        "cluster": "string",
        "status": "string",
        "reason": "string",
        "detail": "string",
    },
    # What each cluster says of itself: istiod's CLUSTER_ID, its proxies' cluster IDs, the data keys
    # of the other clusters' remote secrets for it, the mesh ID, the trust domain, the network label.
    "identity.identity": {
        "cluster": "string",
        "istiod_cluster_id": "string",
        "proxy_cluster_ids": "string",
        "secret_keys": "string",
        "mesh_id": "string",
        "trust_domain": "string",
        "network": "string",
    },
    # Each Service in the system namespace that istiod takes for a network's gateway.
    "identity.gateways": {
        "cluster": "string",
        "service": "string",
        "network": "string",
        "type": "string",
        "addresses": "string",
        "hostname_only": "boolean",
    },
    "remote-secrets.clusters": {
        "cluster": "string",
        "status": "string",
        "reason": "string",
        "secrets": "int64",
        "detail": "string",
    },
    # Each remote cluster in istiod's /debug/clusterz, by the cluster istiod runs in.
    "remote-secrets.istiod_clusters": {
        "cluster": "string",
        "istiod": "string",
        "remote": "string",
        "secret": "string",
        "status": "string",
    },
    # credentials: each remote secret's kubeconfig tried against its server, read-only (never a token)
    "credentials.clusters": {
        "cluster": "string",
        "status": "string",
        "reason": "string",
        "secrets": "int64",
        "detail": "string",
    },
    "credentials.attempts": {
        "cluster": "string",
        "secret": "string",
        "data_key": "string",
        "remote_cluster": "string",
        "server": "string",
        "auth": "string",
        "identity": "string",
        "identity_source": "string",
        "version": "string",
        "token_expiry": "datetime64[ns, UTC]",
        "status": "string",
        "reason": "string",
        "detail": "string",
    },
    # one row per resource istiod reads in the remote cluster: may the secret's token list it, watch it
    "credentials.rights": {
        "cluster": "string",
        "secret": "string",
        "remote_cluster": "string",
        "group": "string",
        "resource": "string",
        "namespace": "string",
        "needed": "boolean",
        "list": "boolean",
        "watch": "boolean",
    },
    "sameness.clusters": {
        "cluster": "string",
        "status": "string",
        "reason": "string",
        "pods": "Int64",
        "ports": "string",
        "objects": "Int64",
        "detail": "string",
    },
    # Each port of the service's Service, per cluster.
    "sameness.ports": {
        "cluster": "string",
        "port": "int64",
        "name": "string",
        "protocol": "string",
        "app_protocol": "string",
        "target_port": "string",
    },
    # Each config object that applies to the service, per cluster: how it applies, "absent" where another
    # cluster has it and this one not; a kind whose CRD is not installed: "not installed", no name.
    "sameness.config": {
        "cluster": "string",
        "kind": "string",
        "namespace": "string",
        "name": "string",
        "state": "string",
    },
    # A row per cluster and field of a config object that differs across clusters ("absent": not there).
    "sameness.drift": {
        "kind": "string",
        "namespace": "string",
        "name": "string",
        "field": "string",
        "cluster": "string",
        "value": "string",
    },
    "ambient.clusters": {
        "cluster": "string",
        "status": "string",
        "reason": "string",
        "mode": "string",
        "east_west": "int64",
        "detail": "string",
    },
    "ambient.gateways": {
        "cluster": "string",
        "gateway": "string",
        "network": "string",
        "class": "string",
        "missing": "string",
    },
    "locality.clusters": {
        "cluster": "string",
        "status": "string",
        "reason": "string",
        "locality": "string",
        "in_effect": "boolean",
        "detail": "string",
    },
}

#: The ``reason`` words of the per-cluster verdict tables, one meaning each, stable across releases
#: (the diagnosis, scripts and dashboards read them; the ``detail`` sentences may change).
REASONS: dict[str, str] = {
    "ok": "nothing wrong was found",
    # a cluster that could not be read (the error's kind, see meshnb.errors)
    "unreachable": "the API server did not answer",
    "timeout": "a call took longer than its timeout",
    "unauthorized": "the credentials were refused",
    "forbidden": "RBAC denied a call",
    "not-found": "an object the check reads does not exist (a pod, a secret, a namespace)",
    "exec-failed": "a command run in a pod failed",
    "error": "another error",
    # load-balancing (sources)
    "all-requests-failed": "no request was answered",
    "only-local-versions": "only the source cluster's own versions answered",
    "some-requests-failed": "some requests failed",
    "unexpected-split": "the split of the versions differs from the expected one",
    # connectivity (probes)
    "refused": "the connection was refused",
    "reset": "the connection was reset",
    "tls-mismatch": "TLS where plain text was expected, or the reverse",
    "dns": "a name did not resolve",
    "other": "an answer of a kind meshnb does not know (kept verbatim in the error column)",
    # trust (clusters)
    "cacerts-missing": "no cacerts secret: istiod signs with its own self-signed root",
    "peer-cacerts-missing": "another cluster has no cacerts secret, so no trust is shared with it",
    "cacerts-warning": "the cacerts secret works but has a problem worth fixing",
    "different-root": "the cluster's root differs from another cluster's",
    "not-trusted": "one cluster does not accept the other's certificates",
    "chain-broken": "the intermediate does not chain to the cluster's own root",
    "cacerts-unreadable": "the cacerts secret is incomplete or does not parse",
    "expired": "a certificate expired or is not valid yet",
    "expiring": "a certificate expires soon",
    "root-bundle": "root-cert.pem holds several roots (a migration step)",
    # endpoints (clusters)
    "no-endpoints": "the proxy holds no endpoint of the service",
    "only-local-endpoints": "the proxy holds only its own cluster's endpoints",
    "missing-cluster-endpoints": "the proxy holds no endpoints of some cluster that runs the service",
    "unhealthy-endpoints": "some endpoints are unhealthy or failed outlier checks",
    "proxy-stale": "istiod holds the missing endpoints, but the proxy has not acknowledged them",
    "no-network-gateway": "istiod holds the missing endpoints, but knows no gateway for their network",
    "not-sent-to-ztunnel": "istiod holds the missing endpoints, but sends ztunnel no workload of them",
    # ambient
    "not-ambient": "the namespace is not in ambient mode in this cluster: nothing ambient to check",
    "service-absent": "the service does not exist in the ambient client's cluster (ztunnel needs its VIP)",
    "no-global-scope": "the mesh config has no GLOBAL serviceScopeConfigs entry: no service is global",
    "service-not-global": "the service is not global in the client's cluster (istio.io/global)",
    "no-east-west-gateway": "another network has no east-west gateway istiod recognises for ambient",
    "multi-network-off": "istiod sends ztunnel nothing of the other networks (AMBIENT_ENABLE_MULTI_NETWORK)",
    "waypoint-mismatch": "the service's waypoint is not named alike in every cluster",
    # remote-secrets (clusters)
    "secret-missing": "no remote secret for another cluster",
    "wrong-data-key": "a remote secret's data key is not the cluster's name",
    "secret-unusable": "a remote secret cannot be used (a bad kubeconfig, server or token)",
    "istiod-failed": "istiod says (its log or /debug/clusterz) adding or syncing a remote cluster failed",
    "remote-syncing": "istiod is still syncing a remote cluster (/debug/clusterz)",
    "istiod-missing": "no istiod pod runs in the cluster",
    "istiod-log-unreadable": "the remote secrets are right, but istiod's log could not be read",
    # identity (clusters)
    "cluster-id-mismatch": "another cluster's remote secret names the cluster otherwise than its istiod's ID",
    "proxy-cluster-id": "proxies carry another cluster ID than their istiod",
    "mesh-id-mismatch": "the cluster's mesh ID differs from the others'",
    "trust-domain-mismatch": "the cluster's trust domain differs from the others'",
    "network-unlabelled": "in a multi-network mesh, the system namespace has no network label",
    "gateway-network-mismatch": "the east-west gateway is labelled for another network than the cluster's",
    "gateway-missing": "in a multi-network mesh, the cluster's network has no east-west gateway",
    "gateway-no-address": "the east-west gateway has no external address",
    "several-gateways": "the cluster's network has several east-west gateways",
    "gateway-hostname": "the east-west gateway has only a host name (older istiods skip it)",
    "cluster-name-differs": "meshnb knows the cluster by another name than istiod's cluster ID",
    "not-read": "part of what the check reads could not be read",
    "mesh-networks-differ": "the cluster's meshNetworks differs from the others'",
    "network-label-differs": "meshNetworks puts the cluster's registry on another network than its label",
    # credentials (clusters, attempts): a remote secret's kubeconfig tried against its server
    "token-expired": "the remote API server refused the token (401) and its exp claim is past",
    "token-rejected": "the remote API server refused a token that has not expired (revoked, or not its own)",
    "server-loopback": "the remote secret's server is a loopback address, unreachable from another cluster",
    "ca-mismatch": "the remote server's certificate does not verify against the kubeconfig's CA",
    "not-tried": "a kubeconfig not tried: credentials Python cannot use from memory (a client certificate, "
    "a plugin), or a cluster whose API server does not answer meshnb's own context either",
    # sameness (clusters)
    "service-missing": "the service does not exist in the cluster (its pods, if any, are no one's endpoints)",
    "port-drift": "the service's ports (number, name, protocol, appProtocol) differ from another cluster's",
    "config-drift": "a config object that applies to the service differs or is missing in another cluster",
    # locality (clusters)
    "shared-locality": "the cluster shares its locality with another: locality is not the cause",
    "locality-off": "locality load balancing is off",
    "no-outlier-detection": "locality settings apply, but without outlier detection they are not in effect",
    "prefers-local": "local endpoints are preferred by design",
    "failover-blocked": "local endpoints are preferred and maxEjectionPercent stops failover",
}


def schema_name(check: str, table: str) -> str | None:
    """The schema of ``check``'s evidence ``table``: its own (``check.table``), a shared one, or None.

    >>> schema_name("trust", "clusters"), schema_name("trust", "certs"), schema_name("trust", "trust")
    ('trust.clusters', 'certs', None)
    """
    own = f"{check}.{table}"
    return own if own in SCHEMAS else table if table in SCHEMAS else None


def frame(name: str, records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A DataFrame of schema ``name`` from records (dicts with exactly the schema's keys)."""
    import pandas as pd

    columns = SCHEMAS[name]
    rows = list(records)
    for index, row in enumerate(rows):
        if set(row) != set(columns):
            missing, extra = set(columns) - set(row), set(row) - set(columns)
            raise ValueError(f"{name} record {index}: missing {sorted(missing)}, unexpected {sorted(extra)}")
    df = pd.DataFrame(rows, columns=list(columns))
    return validate(name, df)


def upgrade(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """``df`` as read from a file meshnb wrote before its schema ``name`` gained a ``reason`` column.

    Snapshots and JSON findings of meshnb 0.1 have verdict tables without ``reason``: the column is
    added, missing (the diagnosis was saved with them, so nothing needs it). Other tables are
    returned as they are, for :func:`validate` to judge.

    >>> import pandas as pd
    >>> old = pd.DataFrame({"cluster": ["c1"], "status": ["pass"], "secrets": [1], "detail": ["ok"]})
    >>> upgrade("remote-secrets.clusters", old).columns.tolist()
    ['cluster', 'status', 'reason', 'secrets', 'detail']
    """
    columns = list(SCHEMAS[name])
    if "reason" not in columns or "reason" in df.columns:
        return df
    if list(df.columns) != [c for c in columns if c != "reason"]:
        return df
    return df.reindex(columns=columns)


def validate(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """Check ``df`` has exactly the columns of schema ``name`` (in order) and coerce its dtypes.

    A column already of its declared dtype is kept as it is (not copied); a :data:`CATEGORY`
    column is made canonical (see the module's docstring), from strings or from a Categorical.
    """
    import pandas as pd

    columns = SCHEMAS[name]
    if list(df.columns) != list(columns):
        raise ValueError(f"{name}: expected columns {list(columns)}, got {list(df.columns)}")
    out = {}
    for column, dtype in columns.items():
        series = df[column]
        if dtype == CATEGORY:
            out[column] = _categorical(series)
        elif series.dtype == pd.api.types.pandas_dtype(dtype):
            out[column] = series
        elif dtype.startswith("datetime64"):
            out[column] = pd.to_datetime(series, utc=True).astype(dtype)
        else:
            out[column] = series.astype(dtype)
    return pd.DataFrame(out, index=df.index, copy=False)


def _code_dtype(categories: int) -> str:
    """The integer dtype pandas gives the codes of a Categorical with this many categories."""
    return "int8" if categories < 127 else "int16" if categories < 32767 else "int32"


def categorical(codes: Any, values: Sequence[str | None], index: Any = None) -> pd.Series:
    """A canonical :data:`CATEGORY` Series: row ``i`` is ``values[codes[i]]`` (None is missing).

    ``codes`` is an integer array (one per row), ``values`` the few distinct things it points at;
    the rows are never made into Python strings. Any ``values`` not pointed at are left out.

    >>> categorical([2, 0, 2, 1], ["b", None, "a"]).tolist()
    ['a', 'b', 'a', nan]
    """
    import numpy as np
    import pandas as pd

    codes = np.asarray(codes)
    used = np.zeros(len(values) + 1, dtype=bool)
    used[codes] = True  # code -1 (already missing) marks the extra last slot
    texts = [None if v is None else str(v) for v in values]
    categories = sorted({t for t, u in zip(texts, used, strict=False) if u and t is not None})
    position: dict[str | None, int] = {text: i for i, text in enumerate(categories)}
    lookup = np.array([position.get(t, -1) for t in texts] + [-1], dtype=_code_dtype(len(categories)))
    dtype = pd.CategoricalDtype(pd.Index(categories, dtype=str))
    return pd.Series(pd.Categorical.from_codes(lookup[codes], dtype=dtype), index=index, copy=False)


def _categorical(series: pd.Series) -> pd.Series:
    """``series`` as a canonical :data:`CATEGORY` column (itself when it already is one)."""
    import numpy as np
    import pandas as pd

    if not isinstance(series.dtype, pd.CategoricalDtype):
        codes, uniques = pd.factorize(series.astype("string"), use_na_sentinel=True)
        return categorical(codes, list(uniques), series.index)
    categories = series.cat.categories
    codes = series.cat.codes.to_numpy()
    used = np.zeros(len(categories) + 1, dtype=bool)
    used[codes] = True
    if (
        categories.dtype == pd.Index([], dtype=str).dtype
        and categories.is_monotonic_increasing
        and used[:-1].all()
        and not series.cat.ordered
    ):
        return series
    return categorical(codes, [str(c) for c in categories], series.index)
