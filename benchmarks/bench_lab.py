"""Benchmark: the lab's start-to-ready time, and requests per second through it while sampling.

- start to ready: ``meshnb.lab()`` returns once all four Envoys run their configuration and the
  helloworld servers listen (target < 3 s, every one of ``--starts`` starts);
- requests per second of the load-balancing check (``--requests`` per source cluster, batched curl
  through the real sidecar Envoy, gateway mTLS, helloworld servers), beside the simulated mesh's
  (the same check and parsing on modelled traffic), and their ratio.

Prints figures and ratios; exits 1 if a target is missed.

    python benchmarks/bench_lab.py [--starts 5] [--requests 2000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import meshnb
from meshnb.diagnostics.load_balancing import check_load_balancing

TARGET_START_S = 3.0


def rate(mesh, requests: int) -> tuple[float, str]:
    started = time.perf_counter()
    finding = check_load_balancing(mesh, requests=requests)
    elapsed = time.perf_counter() - started
    return requests * len(mesh.clusters) / elapsed, finding.status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()

    starts = []
    for _ in range(args.starts):
        began = time.perf_counter()
        mesh = meshnb.lab()
        starts.append(time.perf_counter() - began)
        mesh.close()
    slowest = max(starts)
    ok_start = slowest < TARGET_START_S
    print(
        f"lab start to ready, {args.starts} starts: median {statistics.median(starts):.2f} s, "
        f"max {slowest:.2f} s (target < {TARGET_START_S:.0f} s; {'pass' if ok_start else 'MISSED'})"
    )

    with meshnb.lab() as lab:
        lab_rate, lab_status = rate(lab, args.requests)
    sim_rate, sim_status = rate(meshnb.simulate(), args.requests)
    print(
        f"load-balancing check, {args.requests} requests from each of 2 clusters: "
        f"lab {lab_rate:,.0f} req/s ({lab_status}), simulated mesh {sim_rate:,.0f} req/s ({sim_status}); "
        f"lab/sim = {lab_rate / sim_rate:.2f}"
    )
    ok_status = {lab_status, sim_status} <= {
        "pass",
        "warn",
    }  # every request answered (warn: a split off by chance)
    if not ok_status:
        print("requests failed on a healthy mesh: the rates are not comparable")
    print("targets: all met" if ok_start and ok_status else "targets: MISSED")
    return 0 if ok_start and ok_status else 1


if __name__ == "__main__":
    sys.exit(main())
