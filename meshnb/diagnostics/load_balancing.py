"""Cross-cluster load balancing: the first step of Istio's multicluster troubleshooting guide.

The guide curls ``helloworld.sample:5000/hello`` ten times from the curl pod, one ``kubectl exec``
each, and looks for both ``v1`` and ``v2``. This check sends ``requests`` requests from the curl
pod of every cluster at once, many per exec (one ``curl`` with the URL repeated), parses every
response, and tests the split against the expected one.

>>> import meshnb
>>> finding = check_load_balancing(meshnb.simulate("missing-remote-secret"), requests=40)
>>> finding.status, finding.evidence["sources"]["status"].tolist()
('fail', ['fail', 'pass'])
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shlex
import time
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from meshnb.backends.base import Cluster, Mesh, Pod
from meshnb.diagnostics.by_hand import Hand
from meshnb.diagnostics.check import Check, Option
from meshnb.diagnostics.fanout import Progress, Report, describe, per_cluster, reason_of
from meshnb.diagnostics.finding import Finding, listed, reasons, verdict
from meshnb.diagnostics.modes import AMBIENT, pod_mode
from meshnb.errors import ExecError, MeshnbError, NotFound
from meshnb.names import validate_name, validate_path, validate_port, validate_selector
from meshnb.readers.curl import (
    CURL_WRITE_OUT,
    ERROR_KINDS,
    Transfer,
    classify_error,
    parse_curl_batch,
    parse_hello,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["SAMPLE_BYTES", "available_memory", "check_load_balancing", "curl_argv", "guide_steps"]

log = logging.getLogger("meshnb")

CHECK = "load-balancing"
#: p-value under which a split is called significantly different from the expected one.
ALPHA = 0.001
MAX_REQUESTS = 1_000_000
#: What one sample costs at the check's peak, with margin: benchmarks/bench_memory.py measures about
#: 95 bytes (the samples frame keeps 41 of them); the memory guard counts this many.
SAMPLE_BYTES = 150
_NAN = math.nan

GUIDE = "Istio's 'Troubleshooting Multicluster' guide"
STEP_CONNECTIVITY = (
    "Rule out the network (guide: 'Verify connectivity'): from a pod without a sidecar, curl the remote "
    "helloworld pod IP on port 5000, in both directions. If that fails, look at firewalls and routes, "
    "not at Istio."
)
STEP_LOCALITY = (
    "Check locality load balancing (guide: 'Locality load balancing'): if the clusters are in different "
    "regions or zones and a DestinationRule enables locality load balancing with outlier detection, "
    "traffic stays local by design."
)
STEP_TRUST = (
    "Check trust (guide: 'Trust configuration'): compare root-cert.pem of the cacerts secret in "
    "istio-system across clusters; they must share a root."
)


def _guide_steps(hand: Hand, clusters: Sequence[str]) -> tuple[str, str, str, str, str]:
    """The guide's steps after this one (network, locality, trust, endpoints, secrets) for ``clusters``."""
    ns, service = hand.options["namespace"], hand.options["service"]
    endpoints = [
        f"`{hand.istioctl(c, 'proxy-config', 'endpoint')} {hand.pod(c, ns, 'curl')}.{shlex.quote(ns)} "
        f"| grep {shlex.quote(service)}`"
        for c in clusters
    ]
    secrets = [
        f"`{hand.kubectl(c, '-n', 'istio-system', 'get', 'secrets', '-l', 'istio/multiCluster=true')}`"
        for c in clusters
    ]
    return (
        STEP_CONNECTIVITY,
        STEP_LOCALITY,
        STEP_TRUST,
        f"Check endpoint discovery (guide: 'Step-by-step diagnosis'): {', '.join(endpoints)} must list the "
        "remote cluster's east-west gateway; if only local endpoints are listed, the control plane cannot "
        "read the remote cluster.",
        f"Check the remote secrets: {', '.join(secrets)} must show one secret per other cluster whose data "
        "key is that cluster's name, and istiod's logs must not show 'Add cluster: create remote cluster "
        "failed'.",
    )


def _failing(sources: pd.DataFrame) -> list[str]:
    """The source clusters that failed or warned (else every one): those the guide's steps are about."""
    bad = sources[sources["status"].isin(["fail", "warn"])]
    return list((bad if len(bad) else sources)["source_cluster"])


def _hand(mesh: Mesh, namespace: str, service: str, sources: pd.DataFrame) -> Hand:
    """A Hand with each cluster's context and the curl pod the check used in it."""
    pods = {c: p for c, p in zip(sources["source_cluster"], sources["source_pod"], strict=True) if p}
    return Hand.of(mesh, {"namespace": namespace, "service": service}, pods)


def guide_steps(mesh: Mesh, finding: Finding) -> tuple[str, ...]:
    """The guide's steps after this one, as a failed load-balancing ``finding`` lists them when it runs alone.

    Triage, whose other checks walk them, puts the causes' own steps in their place.

    >>> import meshnb
    >>> mesh = meshnb.simulate("missing-remote-secret")
    >>> finding = check_load_balancing(mesh, requests=20)
    >>> set(guide_steps(mesh, finding)) <= set(finding.next_steps)
    True
    """
    sources = finding.evidence.get("sources")
    if sources is None:
        return ()
    hand = _hand(mesh, finding.details["namespace"], finding.details["service"], sources)
    return _guide_steps(hand, _failing(sources))


def available_memory(proc: str = "/proc", cgroup: str = "/sys/fs/cgroup") -> int | None:
    """Bytes of memory this process can still take, or None if the machine does not say.

    The kernel's MemAvailable (``/proc/meminfo``; else ``os.sysconf``'s available pages), and no
    more than this process's cgroup v2 limit leaves (a container's or a notebook server's limit, which
    MemAvailable does not show), counting its reclaimable page cache as free.
    """
    found = []
    try:
        with open(f"{proc}/meminfo") as meminfo:
            found += [int(line.split()[1]) * 1024 for line in meminfo if line.startswith("MemAvailable:")]
    except (OSError, ValueError, IndexError):
        pass
    if not found:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    try:
        with open(f"{proc}/self/cgroup") as own:
            path = next(line.split(":", 2)[2].strip() for line in own if line.startswith("0::"))
        with open(f"{cgroup}{path}/memory.max") as limit_file:
            limit = limit_file.read().strip()
        if limit != "max":
            with open(f"{cgroup}{path}/memory.current") as current_file:
                used = int(current_file.read())
            with open(f"{cgroup}{path}/memory.stat") as stat:
                cache = sum(int(line.split()[1]) for line in stat if line.startswith("inactive_file "))
            found.append(max(0, int(limit) - used + cache))
    except (OSError, ValueError, IndexError, StopIteration):
        pass
    return min(found) if found else None


def _check_memory(requests: int, clusters: int) -> None:
    """Refuse, before sending anything, a sample bigger than the memory the machine can give."""
    available = available_memory()
    needed = requests * clusters * SAMPLE_BYTES
    if available is None or needed <= available:
        return
    fits = available // (clusters * SAMPLE_BYTES)
    how = (
        f"use requests={fits} or fewer, or sample fewer clusters at once (a mesh of fewer contexts)"
        if fits >= 1
        else "sample fewer clusters at once (a mesh of fewer contexts)"
    )
    raise ValueError(
        f"requests={requests} from each of {clusters} clusters is {requests * clusters:,} samples, about "
        f"{needed / 2**30:.1f} GiB at peak ({SAMPLE_BYTES} bytes a sample), more than the "
        f"{available / 2**30:.1f} GiB of memory this machine has available: sample less: {how}"
    )


def curl_argv(url: str, count: int, max_time: float) -> list[str]:
    """The argv of one batched curl: ``count`` requests to ``url``, each followed by a marker line.

    >>> curl_argv("http://helloworld.sample:5000/hello", 2, 2.0)[:4]
    ['curl', '-s', '--max-time', '2.0']
    """
    return ["curl", "-s", "--max-time", str(max_time), "--write-out", CURL_WRITE_OUT, *([url] * count)]


#: One outcome of a request: (http_status, version, instance, error, error_kind).
_Outcome = tuple[int | None, str | None, str | None, str | None, str | None]
#: Bodies longer than this are classified each time, not remembered (the error kept is cut to 500).
_MEMO_BODY = 1_000
_MEMO_SIZE = 4_096


@dataclass
class _Sampled:
    """One source cluster's samples as they arrive, column-wise.

    Per request an outcome code and two floats in compact arrays (about 20 bytes), each distinct outcome
    once; no object per request.
    """

    pod: Pod
    url: str
    members: dict[str, tuple[str | None, str]]  # instance -> (version, cluster)
    error: MeshnbError | None = None
    codes: array = field(default_factory=lambda: array("i"))  # index into outcomes, per request
    seconds: array = field(default_factory=lambda: array("d"))  # curl's time_total (NaN if none)
    ts: array = field(default_factory=lambda: array("d"))  # when it ended, seconds since the epoch
    outcomes: list[_Outcome] = field(default_factory=list)
    _code: dict[_Outcome, int] = field(default_factory=dict)
    _seen: dict[tuple, int] = field(default_factory=dict)  # a response already classified -> code

    def __len__(self) -> int:
        return len(self.codes)

    def add(self, transfers: list[Transfer], started: float) -> None:
        """Append a batch of transfers: each is classified once per distinct response."""
        codes, seconds, ts, seen = self.codes, self.seconds, self.ts, self._seen
        elapsed = 0.0
        for transfer in transfers:
            key = (transfer.http_status, transfer.body, transfer.curl_exit, transfer.curl_error)
            code = seen.get(key)
            if code is None:
                code = self._classify(transfer)
                if len(transfer.body) <= _MEMO_BODY and len(seen) < _MEMO_SIZE:
                    seen[key] = code
            codes.append(code)
            time_total = transfer.seconds
            seconds.append(_NAN if time_total is None else time_total)
            elapsed += time_total or 0.0
            ts.append(started + elapsed)

    def _classify(self, transfer: Transfer) -> int:
        kind = classify_error(transfer.http_status, transfer.body, transfer.curl_exit, transfer.curl_error)
        hello = parse_hello(transfer.body) if kind is None else None
        error = None
        if kind is not None:
            error = (transfer.curl_error or transfer.body.strip() or f"HTTP {transfer.http_status}")[:500]
        outcome = (
            transfer.http_status,
            hello[0] if hello else None,
            hello[1] if hello else None,
            error,
            kind,
        )
        code = self._code.get(outcome)
        if code is None:
            code = self._code[outcome] = len(self.outcomes)
            self.outcomes.append(outcome)
        return code

    def release(self) -> None:
        """Drop the columns (once they are in the samples frame)."""
        self.codes, self.seconds, self.ts = array("i"), array("d"), array("d")


def capacity_weights(members: Mapping[str, tuple[str | None, str]]) -> dict[str, float]:
    """The weight ztunnel gives each version: its pods' number, wherever they run.

    ztunnel picks an endpoint at random weighted by capacity: a pod of its own network counts 1, and
    the pods of a service on a remote network are one split-horizon endpoint whose capacity is their
    number, so each pod weighs the same from every cluster. ``members``: pod -> (version, cluster).

    >>> capacity_weights({"hw-v1-a": ("v1", "c1"), "hw-v2-a": ("v2", "c2"), "hw-v2-b": ("v2", "c2")})
    {'v1': 1.0, 'v2': 2.0}
    """
    weights: dict[str, float] = {}
    for version, _cluster in members.values():
        if version:
            weights[version] = weights.get(version, 0.0) + 1.0
    return dict(sorted(weights.items()))


def _source_pod(cluster_name: str, cluster: Cluster, namespace: str, selector: str) -> Pod:
    pods = cluster.list_pods(namespace, selector)
    running = [p for p in pods if p.phase == "Running" and p.ready] or [
        p for p in pods if p.phase == "Running"
    ]
    if not running:
        found = f"found {len(pods)} pod(s), none Running" if pods else "found none"
        raise NotFound(
            cluster_name,
            f"no Running source pod with labels {selector} in namespace {namespace} ({found}); "
            "deploy Istio's curl sample there (samples/curl/curl.yaml)",
        )
    return sorted(running, key=lambda p: p.name)[0]


def _sample_cluster(
    name: str,
    cluster: Cluster,
    report: Report,
    *,
    namespace: str,
    service: str,
    url: str,
    requests: int,
    batch_size: int,
    max_time: float,
    source_selector: str,
) -> _Sampled:
    pod = _source_pod(name, cluster, namespace, source_selector)
    members = {
        p.name: (p.labels.get("version"), name) for p in cluster.list_pods(namespace, f"app={service}")
    }
    sampled = _Sampled(pod=pod, url=url, members=members)
    report(0, requests)
    while len(sampled) < requests:
        count = min(batch_size, requests - len(sampled))
        started = time.time()
        try:
            result = cluster.exec(
                namespace,
                pod.name,
                curl_argv(url, count, max_time),
                container=pod.default_container,  # the pod is at hand: no read of it per batch
                timeout=count * max_time + 15.0,
            )
            transfers = parse_curl_batch(result.stdout)
        except MeshnbError as exc:
            sampled.error = exc
            break
        if not transfers and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip()[:300]
            sampled.error = ExecError(name, f"curl in pod {pod.name} exited {result.returncode}: {detail}")
            break
        sampled.add(transfers[:count], started)
        if len(transfers) < count:
            sampled.error = ExecError(
                name, f"curl in pod {pod.name} returned {len(transfers)} of {count} responses (cut short)"
            )
            break
        report(len(sampled), requests)
    return sampled


def _timestamps(seconds: np.ndarray, chunk: int = 1 << 16) -> pd.Series:
    """Seconds since the epoch as UTC timestamps rounded to the microsecond (NaN is NaT).

    They are converted a chunk at a time: pandas' conversion of floats takes about 70 bytes a row while
    it works.
    """
    import numpy as np
    import pandas as pd

    ns = np.empty(len(seconds), dtype=np.int64)
    for start in range(0, len(seconds), chunk):
        part = pd.to_datetime(seconds[start : start + chunk], unit="s", utc=True).round("us")
        ns[start : start + chunk] = part.as_unit("ns").asi8
    return pd.Series(ns.view("datetime64[ns]"), copy=False).dt.tz_localize("UTC")


def _samples_frame(sampled: Mapping[str, _Sampled], members: Mapping[str, tuple[str | None, str]]):
    """The samples frame from every cluster's columns, built once.

    Each cluster's columns are released as they are copied in; category columns come from the few
    distinct outcomes, never a string per row.
    """
    import numpy as np
    import pandas as pd

    from meshnb.schemas import categorical, frame, validate

    parts = [(name, s) for name, s in sampled.items() if len(s)]
    if not parts:
        return frame("samples", [])
    lengths = np.array([len(s) for _, s in parts])
    total = int(lengths.sum())
    outcomes: dict[_Outcome, int] = {}  # every cluster's outcomes, numbered anew
    code = np.empty(total, dtype=np.int32)
    latency = np.empty(total, dtype=np.float64)
    ts = np.empty(total, dtype=np.float64)
    seq = np.empty(total, dtype=np.int64)
    start = 0
    for _, s in parts:
        end = start + len(s)
        renumber = np.array([outcomes.setdefault(o, len(outcomes)) for o in s.outcomes], dtype=np.int32)
        code[start:end] = renumber[np.frombuffer(s.codes, dtype=np.intc)]
        np.multiply(np.frombuffer(s.seconds, dtype=np.float64), 1000.0, out=latency[start:end])
        ts[start:end] = np.frombuffer(s.ts, dtype=np.float64)
        seq[start:end] = np.arange(1, end - start + 1)
        s.release()
        start = end
    table = list(outcomes)
    status = np.array([-1 if o[0] is None else o[0] for o in table], dtype=np.int64)[code]
    instances = [o[2] for o in table]
    dest = {instance: cluster for instance, (_, cluster) in members.items()}
    source = np.repeat(np.arange(len(parts)), lengths)
    raw = pd.DataFrame(
        {
            "source_cluster": categorical(source, [name for name, _ in parts]),
            "source_pod": categorical(source, [s.pod.name for _, s in parts]),
            "seq": seq,
            "url": categorical(source, [s.url for _, s in parts]),
            "http_status": pd.arrays.IntegerArray(status, status < 0),
            "version": categorical(code, [o[1] for o in table]),
            "instance": categorical(code, instances),
            "dest_cluster": categorical(code, [dest.get(i) if i is not None else None for i in instances]),
            "error": categorical(code, [o[3] for o in table]),
            "error_kind": categorical(code, [o[4] for o in table]),
            "latency_ms": latency,
            "ts": _timestamps(ts),
        },
        copy=False,
    )
    return validate("samples", raw)


def _verdicts(
    sources: pd.DataFrame,
    sampled: Mapping[str, _Sampled | MeshnbError],
    version_clusters: Mapping[str, str],
) -> pd.DataFrame:
    """Set status and detail per source cluster, and add an error row for each cluster not sampled."""
    import pandas as pd

    from meshnb.schemas import validate

    rows = sources.set_index("source_cluster", drop=False)
    out = []
    for name, outcome in sampled.items():
        error = outcome if isinstance(outcome, MeshnbError) else outcome.error
        if name not in rows.index:
            out.append(
                {
                    **{c: float("nan") for c in ("remote_share", "chi2", "p_value")},
                    "dof": pd.NA,
                    "source_cluster": name,
                    "source_pod": "" if isinstance(outcome, MeshnbError) else outcome.pod.name,
                    "requests": 0,
                    "ok": 0,
                    "errors": 0,
                    "versions": "",
                    "status": "error",
                    "reason": reason_of(error) if error else "error",
                    "detail": describe(error) if error else "no requests were sent",
                }
            )
            continue
        assert isinstance(outcome, _Sampled)  # a cluster with rows was sampled
        row = rows.loc[name].to_dict()
        row["source_pod"] = outcome.pod.name
        remote_versions = sorted(v for v, c in version_clusters.items() if c != name)
        reached = [v for v in str(row["versions"]).split(",") if v]
        if error is not None:
            row["status"], row["detail"] = "error", f"{describe(error)} (after {row['requests']} requests)"
            row["reason"] = reason_of(error)
        elif row["ok"] == 0:
            row["status"], row["detail"] = "fail", f"all {row['requests']} requests failed"
            row["reason"] = "all-requests-failed"
        elif remote_versions and not set(reached) & set(remote_versions):
            local = sorted(v for v, c in version_clusters.items() if c == name)
            row["status"], row["reason"] = "fail", "only-local-versions"
            row["detail"] = (
                f"only {', '.join(reached)} answered (the local {'/'.join(local) or 'versions'}); "
                f"never {', '.join(remote_versions)} from the other cluster(s)"
            )
        elif row["errors"] > 0:
            row["status"], row["reason"] = "warn", "some-requests-failed"
            row["detail"] = f"{row['errors']} of {row['requests']} requests failed"
        elif pd.notna(row["p_value"]) and row["p_value"] < ALPHA:
            row["status"], row["reason"] = "warn", "unexpected-split"
            row["detail"] = f"split differs from the expected one (chi-square p={row['p_value']:.2g})"
        else:
            row["status"], row["detail"] = "pass", f"{row['versions']} answered; split as expected"
            row["reason"] = "ok"
        if pod_mode(outcome.pod) == AMBIENT:
            row["detail"] += " (an ambient client: ztunnel's choice)"
        out.append(row)
    return validate("sources", pd.DataFrame(out, columns=list(sources.columns)))


def _next_steps(status: str, sources: pd.DataFrame, samples: pd.DataFrame, hand: Hand) -> list[str]:
    if status == "pass":
        return []
    network, locality, trust, endpoints, secrets = _guide_steps(hand, _failing(sources))
    steps = []
    kinds = set(samples["error_kind"].dropna())
    if kinds:
        described = "; ".join(f"{k}: {ERROR_KINDS.get(k, k)}" for k in sorted(kinds))
        steps.append(f"Look at the failed requests in the samples table ({described}).")
    if "error" in set(sources["status"]):
        steps.append(
            "A cluster could not be sampled: check the kubeconfig context, that its API server answers, "
            "that you may exec into pods in the namespace, and that the curl sample runs there."
        )
    if "fail" in set(sources["status"]) or kinds & {
        "tls",
        "connect_failure",
        "connect_timeout",
        "timeout",
        "refused",
    }:
        if kinds & {"tls", "connect_failure"}:
            steps.append(trust)
        steps += [network, locality]
        if not kinds & {"tls"}:
            steps.append(trust)
        steps += [endpoints, secrets]
    elif status == "warn" and not kinds:
        steps.append(
            "The split differs from the expected one: check endpoint weights and locality settings "
            f"({locality})"
        )
    return steps


def _headline(sources: pd.DataFrame) -> str:
    """One sentence: which source clusters have the worst status, and what it means."""
    said = []
    for reason, names in reasons(sources, "source_cluster").items():
        one, who = len(names) == 1, listed(names)
        if reason == "only-local-versions":
            said.append(
                f"{who} reaches only its own version: no cross-cluster traffic from it"
                if one
                else f"{who} reach only their own version: no cross-cluster traffic"
            )
        elif reason == "all-requests-failed":
            said.append(f"every request from {who} failed")
        elif reason == "some-requests-failed":
            said.append(f"some requests from {who} failed")
        elif reason == "unexpected-split":
            said.append(f"{who} {'sees' if one else 'see'} a split unlike the expected one")
        else:
            said.append(f"{who} could not be sampled ({reason})")
    return ", and ".join(said)


def check_load_balancing(
    mesh: Mesh,
    namespace: str = "sample",
    service: str = "helloworld",
    port: int = 5000,
    path: str = "/hello",
    requests: int = 100,
    *,
    expected: Mapping[str, float] | None = None,
    batch_size: int = 100,
    max_time: float = 2.0,
    source_selector: str = "app=curl",
    progress: Progress | None = None,
) -> Finding:
    """Send ``requests`` requests from every cluster's curl pod and check that every version answers.

    ``expected`` maps versions to weights (default: equal, and for an ambient client by capacity, see
    :func:`capacity_weights`; ``details["modes"]`` says which mode each cluster's client is in).
    ``batch_size`` requests go in one exec
    (1 reproduces the guide's one-exec-per-request loop). ``progress(cluster, done, total)`` is
    called on the caller's thread. Evidence: ``samples``, ``split`` and ``sources`` DataFrames.

    >>> import meshnb
    >>> check_load_balancing(meshnb.simulate(), requests=50).status
    'pass'
    """
    from meshnb import stats

    validate_name(namespace, "namespace")
    validate_name(service, "service")
    validate_port(port)
    validate_path(path)
    validate_selector(source_selector)
    if isinstance(requests, bool) or not isinstance(requests, int) or not 1 <= requests <= MAX_REQUESTS:
        raise ValueError(f"requests must be an int from 1 to {MAX_REQUESTS}, not {requests!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, not {batch_size!r}")
    if not 0 < max_time <= 300:
        raise ValueError(f"max_time must be in (0, 300] seconds, not {max_time!r}")
    _check_memory(requests, len(mesh.clusters))
    url = f"http://{service}.{namespace}:{port}{path}"
    log.info("load-balancing: %d requests to %s from %d clusters", requests, url, len(mesh.clusters))

    outcomes = per_cluster(
        mesh,
        lambda name, cluster, report: _sample_cluster(
            name,
            cluster,
            report,
            namespace=namespace,
            service=service,
            url=url,
            requests=requests,
            batch_size=batch_size,
            max_time=max_time,
            source_selector=source_selector,
        ),
        progress,
    )
    members = {k: v for o in outcomes.values() if isinstance(o, _Sampled) for k, v in o.members.items()}
    version_clusters = {version: cluster for version, cluster in members.values() if version}
    samples = _samples_frame({n: o for n, o in outcomes.items() if isinstance(o, _Sampled)}, members)
    modes = {name: pod_mode(o.pod) for name, o in outcomes.items() if isinstance(o, _Sampled)}
    by_capacity = {} if expected is not None else capacity_weights(members)
    split = stats.split_table(
        samples,
        expected=expected,
        version_clusters=version_clusters,
        expected_by_source={name: by_capacity for name, mode in modes.items() if mode == AMBIENT},
    )
    sources = _verdicts(stats.source_summary(samples, split), outcomes, version_clusters)

    status, summary = verdict(sources, key="source_cluster")
    if status == "pass":
        summary = (
            f"every cluster reaches {', '.join(sorted(version_clusters))}: cross-cluster load balancing works"
        )
        ambient = [name for name, mode in modes.items() if mode == AMBIENT]
        if ambient:
            summary += f" (ambient in {listed(ambient)}: ztunnel picks by capacity)"
    return Finding(
        check=CHECK,
        status=status,
        summary=summary,
        headline=summary if status == "pass" else _headline(sources),
        evidence={"sources": sources, "split": split, "samples": samples},
        next_steps=_next_steps(status, sources, samples, _hand(mesh, namespace, service, sources)),
        details={
            "namespace": namespace,
            "service": service,
            "port": port,
            "path": path,
            "requests": requests,
            "url": url,
            "versions": version_clusters,
            "modes": modes,
            "guide": GUIDE,
        },
    )


def _by_hand(hand: Hand) -> list[str]:
    """The guide's loop: curl the service ten times from each cluster's curl pod."""
    o = hand.options
    url = f"{o['service']}.{o['namespace']}:{o['port']}{o['path']}"
    return [
        f"for i in $(seq 10); do {hand.kubectl(cluster, '-n', o['namespace'], 'exec', '-c', 'curl')} "
        f"{hand.pod(cluster, o['namespace'], 'curl')} -- curl -sS {shlex.quote(url)}; done"
        for cluster in hand.contexts
    ]


CHECK_SPEC = Check(
    CHECK,
    check_load_balancing,
    "curl the service from every cluster's curl pod and check that every version answers",
    options=(
        Option("service", "helloworld"),
        Option("namespace", "sample"),
        Option("port", 5000, minimum=1, maximum=65535),
        Option("path", "/hello"),
        Option(
            "requests",
            100,
            help="requests per cluster (default: %(default)s)",
            label="Requests per cluster",
            minimum=1,
            maximum=100_000,
        ),
    ),
    tables=(
        (
            "sources",
            (
                "source_cluster",
                "source_pod",
                "requests",
                "ok",
                "errors",
                "versions",
                "status",
                "reason",
                "detail",
            ),
        ),
    ),
    verdicts=("sources", "source_cluster"),
    title="Cross-cluster load balancing",
    guide="Cross-Cluster Load Balancing",
    panel="meshnb.widgets.load_balancing:LoadBalancingPanel",
    in_triage=lambda settings: {"requests": settings.requests},
    by_hand=_by_hand,
)
