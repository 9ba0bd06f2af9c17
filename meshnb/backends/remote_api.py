"""A remote secret's kubeconfig tried, read-only: who the remote API server says it is, what it may do.

istiod reaches each remote cluster with the kubeconfig of its remote secret and lists and watches the
resources in :data:`READER_RIGHTS`. :func:`try_kubeconfig` does what istiod's first requests do, from
this machine, with the kubeconfig held in memory only: ``GET /version``, a ``SelfSubjectReview``
(who am I, ``authentication.k8s.io/v1``, Kubernetes 1.28+), and a ``SelfSubjectAccessReview`` per verb
and resource (may I). A review is answered and forgotten by the API server: nothing is created. The
outcome is an :class:`Attempt` whose ``reason`` is a stable word::

    ok              the server answered and the token was accepted (see ``rights`` for what it may do)
    token-expired   401, and the token's own ``exp`` claim is past
    token-rejected  401 with a token that has not expired (revoked: its service account deleted)
    forbidden       the token is valid but some right of READER_RIGHTS is denied (``rights`` says which)
    server-loopback the server is 127.0.0.0/8, ::1 or localhost: istiod in another cluster cannot reach it
                    (meshnb on the same machine may still get an answer: then the attempt says so)
    unreachable     no connection: refused, timed out, no such host (in the operating system's words)
    ca-mismatch     the server's certificate does not verify against the kubeconfig's CA
    not-tried       credentials Python cannot use from memory (a client certificate: ``ssl`` loads
                    keys from files only, and a private key is never written), a plugin, a token file

The token and any key never leave this module: not in an Attempt, a log line or an exception.

>>> attempt = Attempt(server="https://127.0.0.1:6443", reason="server-loopback", detail="...")
>>> attempt.ok, attempt.reason
(False, 'server-loopback')
>>> [r.resource for r in READER_RIGHTS if r.needed]
['namespaces', 'services', 'pods', 'endpointslices', 'nodes']
"""

from __future__ import annotations

import base64
import binascii
import concurrent.futures
import datetime as dt
import ipaddress
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from urllib.parse import urlsplit

__all__ = [
    "READER_RIGHTS",
    "REASONS",
    "TRY_TIMEOUT",
    "Attempt",
    "Right",
    "RightCheck",
    "Target",
    "is_loopback",
    "named_entries",
    "read_target",
    "token_claims",
    "token_expiry",
    "try_all",
    "try_kubeconfig",
]

log = logging.getLogger("meshnb")
T = TypeVar("T")

#: Seconds one remote API server may take for everything :func:`try_kubeconfig` asks it, in all.
TRY_TIMEOUT = 5.0
_MAX_ANSWER = 1 << 20  # a /version or a review answer is a few hundred bytes
#: An attempt's reasons, worst first (the order a cluster's verdict picks its reason in).
REASONS = (
    "token-expired",
    "token-rejected",
    "ca-mismatch",
    "server-loopback",
    "unreachable",
    "forbidden",
    "not-tried",
    "ok",
)


@dataclass(frozen=True)
class Right:
    """What istiod lists and watches in a remote cluster: a resource of an API group (``""``: core).

    ``needed``: istiod's controller for the cluster waits for it before it counts as synced, so without
    it the cluster stays ``syncing``, then ``timeout``, and its endpoints never reach the proxies.
    ``namespace``: the one namespace it is read in (None: at the cluster scope).
    """

    group: str
    resource: str
    needed: bool
    source: str
    namespace: str | None = None
    verbs: tuple[str, ...] = ("list", "watch")

    @property
    def name(self) -> str:
        """The resource as kubectl names it: ``endpointslices.discovery.k8s.io``, ``pods``."""
        return f"{self.resource}.{self.group}" if self.group else self.resource


# What istiod 1.31-dev reads in a remote cluster, from Istio's own source: the istio.io/istio module at
# v0.0.0-20260827124520-eed52ebb66ad (its VERSION file says 1.31), the one the test bed runs. The
# istio-reader ClusterRole that `istioctl create-remote-secret` binds
# (manifests/charts/istio-control/istio-discovery/templates/reader-clusterrole.yaml) grants get, list
# and watch of all of these; these are the ones the remote cluster's controllers list and watch:
#   pkg/kube/multicluster/cluster.go            namespaces (the discovery filter, waited for first),
#                                               services, pods, nodes, gateways (buildClusterCollections)
#   pilot/pkg/serviceregistry/kube/controller   controller.go informersSynced(): namespaces, services,
#                                               endpointslices (endpointslice.go), pods, nodes;
#                                               multicluster.go: the remote mesh ConfigMap `istio` in the
#                                               system namespace (falls back to the config cluster's),
#                                               workloadentries (WorkloadEntryCrossCluster);
#                                               network.go: gateways.gateway.networking.k8s.io
#   pilot/pkg/credentials/kube/secrets.go       secrets (gateway TLS credentials, every cluster)
#   pkg/kube/kclient (delayed informers)        customresourcedefinitions (which CRDs exist)
_CONTROLLER = "pilot/pkg/serviceregistry/kube/controller"
READER_RIGHTS: tuple[Right, ...] = (
    Right("", "namespaces", True, "pkg/kube/multicluster/cluster.go"),
    Right("", "services", True, f"{_CONTROLLER}/controller.go"),
    Right("", "pods", True, f"{_CONTROLLER}/controller.go"),
    Right("discovery.k8s.io", "endpointslices", True, f"{_CONTROLLER}/endpointslice.go"),
    Right("", "nodes", True, f"{_CONTROLLER}/controller.go"),
    Right("", "secrets", False, "pilot/pkg/credentials/kube/secrets.go"),
    Right("", "configmaps", False, f"{_CONTROLLER}/multicluster.go", namespace="istio-system"),
    Right("networking.istio.io", "workloadentries", False, f"{_CONTROLLER}/multicluster.go"),
    Right("gateway.networking.k8s.io", "gateways", False, f"{_CONTROLLER}/network.go"),
    Right("apiextensions.k8s.io", "customresourcedefinitions", False, "pkg/kube/kclient"),
)


@dataclass(frozen=True)
class RightCheck:
    """One SelfSubjectAccessReview's answer: whether the token may ``verb`` the ``right``'s resource."""

    right: Right
    verb: str
    allowed: bool
    reason: str = ""  # the authorizer's words, when it gave any


@dataclass(frozen=True)
class Attempt:
    """What trying one kubeconfig found; holds no credential.

    ``reason`` is one of :data:`REASONS`; ``detail`` a sentence (the operating system's or the API
    server's words); ``identity`` the user the server says the token is (else the token's unverified
    ``sub`` claim, with ``identity_source`` saying which); ``answered``: the server answered at all.
    """

    server: str | None
    reason: str
    detail: str = ""
    identity: str | None = None
    identity_source: str | None = None  # "SelfSubjectReview" or "token sub claim (not verified)"
    version: str | None = None
    auth: str = "token"
    token_expiry: dt.datetime | None = None
    answered: bool = False
    loopback: bool = False
    rights: tuple[RightCheck, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the token is valid and may do everything in :data:`READER_RIGHTS`."""
        return self.reason == "ok"

    @property
    def denied(self) -> list[RightCheck]:
        """The rights the server denied."""
        return [check for check in self.rights if not check.allowed]


class Target:
    """The parts of a kubeconfig's current context needed to reach its server; the token stays hidden.

    >>> target = read_target(b"current-context: c\\ncontexts: [{name: c, context: {cluster: c, user: c}}]\\n"
    ...                      b"clusters: [{name: c, cluster: {server: 'https://10.0.0.1:6443'}}]\\n"
    ...                      b"users: [{name: c, user: {token: s3cr3t-t0ken}}]")
    >>> target
    Target(server='https://10.0.0.1:6443', auth='token')
    """

    __slots__ = ("_token", "auth", "ca_data", "ca_file", "insecure", "server", "tls_server_name")

    def __init__(
        self,
        server: str | None,
        auth: str,
        token: str | None = None,
        ca_data: bytes | None = None,
        ca_file: str | None = None,
        insecure: bool = False,
        tls_server_name: str | None = None,
    ):
        self.server, self.auth, self._token = server, auth, token
        self.ca_data, self.ca_file, self.insecure, self.tls_server_name = (
            ca_data,
            ca_file,
            insecure,
            tls_server_name,
        )

    @property
    def token(self) -> str | None:
        """The bearer token (never shown: not in the repr)."""
        return self._token

    def __repr__(self) -> str:
        return f"Target(server={self.server!r}, auth={self.auth!r})"

    __str__ = __repr__

    def __reduce__(self) -> Any:  # never pickled (a snapshot, a process pool): the token would go along
        raise TypeError("a Target holds a credential and is not pickled")


def named_entries(entries: Any, key: str) -> dict[str, dict[str, Any]]:
    """``{name: entry[key]}`` for the well-formed entries of a kubeconfig list; others are skipped.

    >>> named_entries([{"name": "c1", "cluster": {"server": "https://x"}}, "junk"], "cluster")
    {'c1': {'server': 'https://x'}}
    """
    if not isinstance(entries, list):
        return {}
    return {
        str(entry.get("name")): entry[key]
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get(key), dict)
    }


def read_target(kubeconfig: bytes) -> Target:
    """The server, CA and credentials of a kubeconfig's current context, read in memory.

    A kubeconfig that does not parse gives a Target with no server and auth ``none``; nothing of it is
    quoted (it holds a token).
    """
    import yaml

    try:
        config = yaml.safe_load(kubeconfig)
    except (yaml.YAMLError, ValueError, UnicodeDecodeError):
        config = None
    if not isinstance(config, dict):
        return Target(None, "none")
    context = named_entries(config.get("contexts"), "context").get(str(config.get("current-context"))) or {}
    cluster = named_entries(config.get("clusters"), "cluster").get(str(context.get("cluster"))) or {}
    user = named_entries(config.get("users"), "user").get(str(context.get("user"))) or {}
    server = cluster.get("server")
    ca_data = None
    if isinstance(cluster.get("certificate-authority-data"), str):
        try:
            ca_data = base64.b64decode(cluster["certificate-authority-data"], validate=False)
        except (binascii.Error, ValueError):
            ca_data = b""
    token = user.get("token") if isinstance(user.get("token"), str) and user.get("token") else None
    if token:
        auth = "token"
    elif user.get("tokenFile"):
        auth = "token-file"
    elif user.get("client-certificate-data") or user.get("client-certificate"):
        auth = "client-certificate"
    elif user.get("exec"):
        auth = "exec"
    elif user.get("auth-provider"):
        auth = "auth-provider"
    else:
        auth = "none"
    return Target(
        server if isinstance(server, str) and server else None,
        auth,
        token,
        ca_data,
        cluster.get("certificate-authority")
        if isinstance(cluster.get("certificate-authority"), str)
        else None,
        cluster.get("insecure-skip-tls-verify") is True,
        cluster.get("tls-server-name") if isinstance(cluster.get("tls-server-name"), str) else None,
    )


def token_claims(token: str | None) -> dict[str, Any]:
    """A JWT's claims, decoded without verifying it ({} when it is not a JWT).

    >>> token_claims("x.eyJzdWIiOiAic3lzdGVtOmFub255bW91cyJ9.y")
    {'sub': 'system:anonymous'}
    """
    parts = (token or "").split(".")
    if len(parts) != 3:
        return {}
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


def token_expiry(token: str | None) -> dt.datetime | None:
    """The ``exp`` claim of a JWT, decoded without verifying it; None if it is not a JWT or has none.

    >>> token_expiry("x.eyJleHAiOiAwfQ.y")
    datetime.datetime(1970, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
    """
    return _expiry(token_claims(token))


def _expiry(claims: Mapping[str, Any]) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(int(claims["exp"]), tz=dt.UTC)
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


def is_loopback(server: str | None) -> bool:
    """Whether a server URL names this machine's loopback (127.0.0.0/8, ::1, localhost).

    >>> is_loopback("https://127.0.0.2:6443"), is_loopback("https://[::1]:6443"), is_loopback("https://10.0.0.1")
    (True, True, False)
    """
    host = (urlsplit(server or "").hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def classify_401(token: str | None, now: dt.datetime | None = None) -> str:
    """``token-expired`` when the token's own ``exp`` claim is past, else ``token-rejected``.

    >>> classify_401("x.eyJleHAiOiAxfQ.y"), classify_401("opaque-token")
    ('token-expired', 'token-rejected')
    """
    expiry = _expiry(token_claims(token))
    now = now or dt.datetime.now(dt.UTC)
    return "token-expired" if expiry is not None and expiry <= now else "token-rejected"


def _unverified_identity(token: str | None) -> str | None:
    sub = token_claims(token).get("sub")
    return sub if isinstance(sub, str) else None


def common_fields(target: Target) -> dict[str, Any]:
    """The fields of every Attempt for ``target``: its server, auth kind, token expiry, loopback or not."""
    return {
        "server": target.server,
        "auth": target.auth,
        "token_expiry": _expiry(token_claims(target.token)),
        "loopback": is_loopback(target.server),
    }


def finish(attempt: Attempt) -> Attempt:
    """A loopback server that could not be reached is ``server-loopback``; others are left as they are.

    >>> print(finish(Attempt("https://127.0.0.1:6443", "unreachable", "refused", loopback=True)).reason)
    server-loopback
    """
    if not attempt.loopback or attempt.reason != "unreachable":
        return attempt
    detail = f"server {attempt.server} is a loopback address: istiod in another cluster cannot reach it"
    return replace(attempt, reason="server-loopback", detail=f"{detail} (from here: {attempt.detail})")


def base_attempt(target: Target) -> Attempt | None:
    """The Attempt a target gets without asking its server (not tried, no server); None: ask it."""
    common = common_fields(target)
    if not target.server:
        return Attempt(reason="not-tried", detail="the kubeconfig names no server for its context", **common)
    scheme = urlsplit(target.server).scheme
    if scheme not in ("https", "http"):
        return Attempt(reason="not-tried", detail=f"server {target.server} is not an http(s) URL", **common)
    if target.auth != "token":
        why = {
            "client-certificate": "a client certificate: Python's ssl loads a private key only from a "
            "file, and meshnb never writes one",
            "token-file": "a token file on istiod's machine",
            "exec": "a credential plugin istiod runs",
            "auth-provider": "an auth provider istiod runs",
            "none": "no credentials",
        }.get(target.auth, target.auth)
        return Attempt(reason="not-tried", detail=f"not tried: the kubeconfig's user has {why}", **common)
    if target.ca_file and not target.ca_data:
        return Attempt(
            reason="not-tried",
            detail="not tried: its CA is a file on istiod's machine (certificate-authority), not in it",
            **common,
        )
    return None


# ------------------------------------------------------------------------------------------ real HTTP
class _Refused(Exception):
    """A transport failure, classified: ``reason`` and the operating system's or TLS's words."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _ssl_context(target: Target) -> Any:
    """An in-memory SSLContext: the kubeconfig's CA (or the system's), hostname checked unless told."""
    import ssl

    if target.insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if target.ca_data:
        try:
            return ssl.create_default_context(cadata=target.ca_data.decode("ascii", "replace"))
        except (ssl.SSLError, ValueError, TypeError) as exc:
            raise _Refused(
                "ca-mismatch", "the kubeconfig's certificate-authority-data is not a PEM CA"
            ) from exc
    return ssl.create_default_context()


def _why(exc: BaseException) -> tuple[str, str]:
    """(reason, the innermost error's own words) for a transport failure."""
    import ssl

    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, ssl.SSLCertVerificationError):
            return "ca-mismatch", f"TLS: certificate verify failed: {error.verify_message}"
        if isinstance(error, ssl.SSLError):
            return "unreachable", f"TLS: {error.reason or error.strerror or type(error).__name__}"
        if isinstance(error, TimeoutError):  # socket.timeout too
            return "unreachable", "timed out"
        if isinstance(error, OSError) and error.strerror:
            return "unreachable", error.strerror[:1].lower() + error.strerror[1:]
        reason = getattr(error, "reason", None)
        error = reason if isinstance(reason, BaseException) else error.__cause__ or error.__context__
    import urllib3

    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return "unreachable", "timed out"
    return "unreachable", type(exc).__name__


class _Http:
    """One connection pool to one server, every request within one overall deadline."""

    def __init__(self, target: Target, deadline: float):
        import urllib3

        url = urlsplit(target.server or "")
        try:
            host, port = url.hostname, url.port
        except ValueError:
            host = port = None
        if not host:
            raise _Refused("unreachable", f"server {target.server} has no valid host and port")
        self.deadline = deadline
        self.token = target.token
        kwargs: dict[str, Any] = {"retries": False, "maxsize": 1, "block": False}
        if url.scheme == "https":
            kwargs["ssl_context"] = _ssl_context(target)
            if target.tls_server_name:
                kwargs["server_hostname"] = target.tls_server_name
                kwargs["assert_hostname"] = target.tls_server_name
            if target.insecure:
                kwargs["assert_hostname"] = False
                kwargs["cert_reqs"] = "CERT_NONE"
            self.pool: Any = urllib3.HTTPSConnectionPool(host, port or 443, **kwargs)
        else:
            self.pool = urllib3.HTTPConnectionPool(host, port or 80, **kwargs)
        self.prefix = url.path.rstrip("/")

    def close(self) -> None:
        self.pool.close()

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> tuple[int, Any]:
        """(HTTP status, the answer's JSON or None); :class:`_Refused` if no answer came."""
        import urllib3

        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _Refused("unreachable", "timed out")
        headers = {"Accept": "application/json", "Authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            response = self.pool.urlopen(
                method,
                self.prefix + path,
                body=data,
                headers=headers,
                timeout=urllib3.Timeout(connect=remaining, read=remaining),
                preload_content=False,
                redirect=False,
            )
            try:
                raw = response.read(_MAX_ANSWER + 1)
            finally:
                response.release_conn()
        except Exception as exc:  # urllib3's and ssl's errors, each classified; no credential in them
            reason, detail = _why(exc)
            raise _Refused(reason, detail) from None
        try:
            doc = json.loads(raw) if raw and len(raw) <= _MAX_ANSWER else None
        except ValueError:
            doc = None
        return response.status, doc


def _status_message(doc: Any) -> str:
    return str(doc.get("message") or "")[:300] if isinstance(doc, dict) else ""


def try_kubeconfig(
    kubeconfig: bytes, *, timeout: float = TRY_TIMEOUT, now: dt.datetime | None = None
) -> Attempt:
    """Try a kubeconfig against its server over real HTTP, read-only, within ``timeout`` seconds in all.

    Never raises for what the server or the network does: every outcome is an :class:`Attempt`.
    """
    target = read_target(kubeconfig)
    early = base_attempt(target)
    if early is not None:
        return early
    common = common_fields(target)
    try:
        http = _Http(target, time.monotonic() + timeout)
    except _Refused as exc:
        return Attempt(reason=exc.reason, detail=exc.detail, **common)
    try:
        attempt = _scrubbed(finish(_ask(http, target, common, now)), target.token)
    finally:
        http.close()
    log.debug("tried the kubeconfig for %s: %s", attempt.server, attempt.reason)
    return attempt


def _scrubbed(attempt: Attempt, token: str | None) -> Attempt:
    """``attempt`` with the token blanked out of every text a server gave (one may echo what it got)."""
    if not token:
        return attempt

    def clean(text: str) -> str:
        for secret in {token, *(part for part in token.split(".") if len(part) >= 16)}:
            text = text.replace(secret, "<redacted>")
        return text

    rights = tuple(replace(check, reason=clean(check.reason)) for check in attempt.rights)
    return replace(attempt, detail=clean(attempt.detail), rights=rights)


def _ask(http: _Http, target: Target, common: dict[str, Any], now: dt.datetime | None) -> Attempt:
    def refused(exc: _Refused, answered: bool = False, **more: Any) -> Attempt:
        return Attempt(reason=exc.reason, detail=exc.detail, answered=answered, **{**common, **more})

    try:
        status, doc = http.call("GET", "/version")
    except _Refused as exc:
        return refused(exc)
    if status == 401:
        return Attempt(
            reason=classify_401(target.token, now),
            detail=f"HTTP 401 from GET /version: {_status_message(doc) or 'Unauthorized'}",
            answered=True,
            identity=_unverified_identity(target.token),
            identity_source="token sub claim (not verified)" if _unverified_identity(target.token) else None,
            **common,
        )
    version = doc.get("gitVersion") if status == 200 and isinstance(doc, dict) else None
    identity, source = None, None
    try:
        status, doc = http.call(
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
    except _Refused as exc:
        return refused(exc, True, version=version)
    if status == 401:
        return Attempt(
            reason=classify_401(target.token, now),
            detail=f"HTTP 401 from a SelfSubjectReview: {_status_message(doc) or 'Unauthorized'}",
            answered=True,
            version=version,
            **common,
        )
    if status in (200, 201) and isinstance(doc, dict):
        name = ((doc.get("status") or {}).get("userInfo") or {}).get("username")
        if isinstance(name, str):
            identity, source = name, "SelfSubjectReview"
    if identity is None and _unverified_identity(target.token):
        identity, source = _unverified_identity(target.token), "token sub claim (not verified)"
    checks = []
    for right in READER_RIGHTS:
        for verb in right.verbs:
            attributes = {"verb": verb, "group": right.group, "resource": right.resource}
            if right.namespace:
                attributes["namespace"] = right.namespace
            review = {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": attributes},
            }
            try:
                status, doc = http.call(
                    "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review
                )
            except _Refused as exc:
                return refused(exc, True, version=version, identity=identity, identity_source=source)
            if status == 401:
                return Attempt(
                    reason=classify_401(target.token, now),
                    detail="HTTP 401 from a SelfSubjectAccessReview",
                    answered=True,
                    version=version,
                    identity=identity,
                    identity_source=source,
                    **common,
                )
            result = (doc or {}).get("status") if isinstance(doc, dict) else None
            if status not in (200, 201) or not isinstance(result, dict):
                message = _status_message(doc) or f"HTTP {status}"
                checks.append(RightCheck(right, verb, False, f"the review was not answered: {message}"))
                continue
            checks.append(
                RightCheck(right, verb, result.get("allowed") is True, str(result.get("reason") or "")[:300])
            )
    return judged(
        Attempt(
            reason="ok",
            answered=True,
            version=version,
            identity=identity,
            identity_source=source,
            rights=tuple(checks),
            **common,
        )
    )


def judged(attempt: Attempt) -> Attempt:
    """An answered attempt's reason and detail from its rights: ``forbidden`` if any is denied.

    A loopback server that answered here keeps its reason and says in its detail that istiod in another
    cluster cannot reach it (the check makes that a warning).
    """
    who = attempt.identity or "identity unknown"
    denied: dict[str, list[str]] = {}
    for check in attempt.denied:
        denied.setdefault(check.right.name, []).append(check.verb)
    if denied and len(denied) == len({c.right.name for c in attempt.rights}):
        reason, detail = "forbidden", f"token valid ({who}), but it may read none of what istiod reads"
    elif denied:
        named = ", ".join(f"{' or '.join(verbs)} {name}" for name, verbs in denied.items())
        reason, detail = "forbidden", f"token valid ({who}), but cannot {named}"
    else:
        reason, detail = "ok", f"token valid ({who}); may list and watch everything istiod reads"
    if attempt.loopback:
        detail += (
            f"; but server {attempt.server} is a loopback address: it answered here, on this machine, "
            "and istiod in another cluster cannot reach it"
        )
    return replace(attempt, reason=reason, detail=detail)


def try_all(jobs: Iterable[T], attempt: Callable[[T], Attempt], *, max_workers: int = 8) -> list[Attempt]:
    """``attempt`` on every job (a kubeconfig, say) at once in a small pool, in order.

    Each attempt is bounded by its own timeout; an exception is a bug and propagates.

    >>> [a.reason for a in try_all([b"", b"x: 1"], try_kubeconfig)]
    ['not-tried', 'not-tried']
    """
    configs = list(jobs)
    if not configs:
        return []
    with concurrent.futures.ThreadPoolExecutor(min(max_workers, len(configs)), "meshnb-try") as pool:
        return list(pool.map(attempt, configs))
