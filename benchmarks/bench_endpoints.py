"""Benchmark meshnb.readers.endpoints.read_endpoints on large inputs (a script, not a test).

Generates Envoy ``/clusters?format=json`` with 5,000 clusters x 10 hosts (50,000 hosts, shaped like
Envoy 1.40's output: zero values omitted, stats as strings) and a 50,000-row ``istioctl proxy-config
endpoint`` table, then times ``read_endpoints`` on each (best of 3) and measures its peak memory in a
fresh subprocess (tracemalloc peak of the call, and the process's peak RSS, reset before the call).

Targets: < 2 s and < 1 GB each. Exit status 1 if one is missed.

    .venv/bin/python benchmarks/bench_endpoints.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLUSTERS, HOSTS = 5_000, 10
TIME_TARGET_S = 2.0
MEMORY_TARGET_B = 1 << 30

_STATS = [
    {"name": "cx_connect_fail"},
    {"value": "4", "name": "cx_total"},
    {"name": "rq_error"},
    {"value": "4401", "name": "rq_success"},
    {"name": "rq_timeout"},
    {"value": "4401", "name": "rq_total"},
    {"type": "GAUGE", "value": "2", "name": "cx_active"},
    {"type": "GAUGE", "name": "rq_active"},
    {"type": "GAUGE", "name": "rq_pending_active"},
]


def envoy_json(clusters: int = CLUSTERS, hosts: int = HOSTS) -> str:
    """Envoy admin /clusters?format=json with ``clusters * hosts`` hosts."""
    statuses = []
    for c in range(clusters):
        name = f"outbound|{5000 + c % 100}||svc-{c}.ns-{c % 37}.svc.cluster.local"
        host_statuses = []
        for h in range(hosts):
            host: dict = {
                "address": {
                    "socket_address": {"address": f"10.{c // 250}.{c % 250}.{h + 1}", "port_value": 8080}
                },
                "stats": _STATS,
                "health_status": {"eds_health_status": "HEALTHY" if h % 7 else "UNHEALTHY"},
                "weight": 1,
                "locality": {"region": "us-east" if h % 2 else "us-west", "zone": "a" if h % 3 else "b"},
            }
            if h % 5 == 0:
                host["priority"] = 1
            if h % 11 == 0:
                host["health_status"]["failed_outlier_check"] = True
            host_statuses.append(host)
        statuses.append({"name": name, "host_statuses": host_statuses, "observability_name": name})
    return json.dumps({"cluster_statuses": statuses}, indent=2)


def istioctl_table(rows: int = CLUSTERS * HOSTS) -> str:
    """``istioctl proxy-config endpoint`` (live form) with ``rows`` rows."""
    lines = [f"{'ENDPOINT':<22}{'STATUS':<12}{'OUTLIER CHECK':<18}CLUSTER"]
    for i in range(rows):
        c, h = divmod(i, HOSTS)
        endpoint = f"10.{c // 250}.{c % 250}.{h + 1}:8080"
        status = "HEALTHY" if h % 7 else "UNHEALTHY"
        outlier = "FAILED" if h % 11 == 0 else "OK"
        cluster = f"outbound|{5000 + c % 100}||svc-{c}.ns-{c % 37}.svc.cluster.local"
        lines.append(f"{endpoint:<22}{status:<12}{outlier:<18}{cluster}")
    return "\n".join(lines) + "\n"


_CHILD = """
import resource, sys, tracemalloc
from meshnb.readers.endpoints import read_endpoints
import pandas  # imported before measuring: the call, not the import, is measured
text = open(sys.argv[1], encoding="utf-8").read()
try:  # reset the peak RSS (VmHWM) to now, so only the call counts (Linux >= 4.0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    def peak_rss():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
except OSError:
    def peak_rss():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
traced = sys.argv[2] == "traced"  # tracemalloc's own bookkeeping inflates RSS: measure them apart
if traced:
    tracemalloc.start()
df = read_endpoints(text)
peak = tracemalloc.get_traced_memory()[1] if traced else 0
print(len(df), peak, peak_rss())
"""


def measure(path: Path) -> tuple[float, int, int, int]:
    """(best of 3 seconds, rows, tracemalloc peak bytes, peak RSS bytes) of read_endpoints on ``path``."""
    from meshnb.readers.endpoints import read_endpoints

    text = path.read_text(encoding="utf-8")
    times = []
    rows = 0
    for _ in range(3):
        t0 = time.perf_counter()
        rows = len(read_endpoints(text))
        times.append(time.perf_counter() - t0)
    root = Path(__file__).resolve().parents[1]
    runs = {
        mode: subprocess.run(
            [sys.executable, "-c", _CHILD, str(path), mode],
            capture_output=True,
            text=True,
            check=True,
            cwd=root,
        ).stdout.split()
        for mode in ("traced", "rss")
    }
    return min(times), rows, int(runs["traced"][1]), int(runs["rss"][2])


def main() -> int:
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        inputs = {
            "envoy /clusters?format=json": (Path(tmp) / "clusters.json", envoy_json),
            "istioctl proxy-config endpoint table": (Path(tmp) / "table.txt", istioctl_table),
        }
        print(f"targets: < {TIME_TARGET_S:.1f} s (best of 3), < {MEMORY_TARGET_B / 2**30:.0f} GB peak")
        for label, (path, make) in inputs.items():
            path.write_text(make(), encoding="utf-8")
            best, rows, traced, rss = measure(path)
            ok = best < TIME_TARGET_S and traced < MEMORY_TARGET_B and rss < MEMORY_TARGET_B
            failed |= not ok
            print(
                f"{label:<38} {path.stat().st_size / 2**20:6.1f} MB input  {rows:>6} rows  "
                f"{best:6.3f} s  traced peak {traced / 2**20:7.1f} MB  process RSS {rss / 2**20:7.1f} MB  "
                f"{'ok' if ok else 'MISSED'}"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
