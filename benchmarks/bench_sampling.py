"""Benchmark: batched sampling vs the guide's one-exec-per-request loop, and `import meshnb` time.

Each exec on the simulated mesh waits a modelled API round trip (default 50 ms), as a real
`kubectl exec` does. Prints figures and ratios; exits 1 if a target is missed.

    python benchmarks/bench_sampling.py [--requests 1000] [--rtt 0.05]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import meshnb

TARGET_CALLS, TARGET_TIME, TARGET_IMPORT_S = 50.0, 20.0, 0.5


def sample(requests: int, rtt: float, batch_size: int) -> tuple[int, float, str]:
    mesh = meshnb.simulate(rtt=rtt)
    started = time.perf_counter()
    finding = meshnb.check_load_balancing(mesh, requests=requests, batch_size=batch_size)
    elapsed = time.perf_counter() - started
    return sum(c.calls["exec"] for c in mesh.clusters.values()), elapsed, finding.status


def import_seconds(runs: int = 7) -> float:
    """Median wall time of a fresh `python -c "import meshnb"` minus that of an empty interpreter."""

    def median_of(code: str) -> float:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    return median_of("import meshnb") - median_of("pass")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per source cluster")
    parser.add_argument("--rtt", type=float, default=0.05, help="modelled seconds per exec round trip")
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args()

    sample(10, 0.0, 10)  # warm up: first use imports pandas and builds certificates
    batched_calls, batched_s, status_a = sample(args.requests, args.rtt, args.batch_size)
    guide_calls, guide_s, status_b = sample(args.requests, args.rtt, 1)
    call_ratio, time_ratio = guide_calls / batched_calls, guide_s / batched_s
    imported = import_seconds()

    print(f"{args.requests} requests per source cluster, 2 clusters, {args.rtt * 1000:.0f} ms per exec")
    print(
        f"  batched ({args.batch_size}/exec): {batched_calls:6d} exec calls {batched_s:8.2f} s  ({status_a})"
    )
    print(f"  one exec per request:  {guide_calls:6d} exec calls {guide_s:8.2f} s  ({status_b})")
    print(f"  exec calls: {call_ratio:.0f}x fewer (target >= {TARGET_CALLS:.0f}x)")
    print(f"  wall time:  {time_ratio:.0f}x less (target >= {TARGET_TIME:.0f}x)")
    target_ms = TARGET_IMPORT_S * 1000
    print(f"import meshnb: {imported * 1000:.0f} ms above an empty interpreter (target < {target_ms:.0f} ms)")
    missed = [
        name
        for name, ok in (
            ("exec calls", call_ratio >= TARGET_CALLS),
            ("wall time", time_ratio >= TARGET_TIME),
            ("import time", imported < TARGET_IMPORT_S),
        )
        if not ok
    ]
    print("targets: all met" if not missed else f"targets MISSED: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
