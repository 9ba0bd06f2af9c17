"""Benchmark: memory per sample of the load-balancing check, at peak, on the simulated mesh.

Each size runs in a fresh interpreter: it imports meshnb, builds the simulated mesh and runs a tiny
check (so every lazy import is done), reads its resident set (the baseline), runs
``check_load_balancing(mesh, requests=R)`` on ``C`` clusters, and reads the peak resident set
(``ru_maxrss``). The figure is (peak - baseline) / samples, with samples = C x R: what the samples
cost, not the interpreter, pandas or the mesh. The gross figure (peak / samples, the baseline
included) is printed beside it. Target: at most 150 bytes per sample at every size.

Prints figures and ratios; exits 1 if a target is missed.

    python benchmarks/bench_memory.py [--sizes 2x100000,20x100000] [--batch-size 1000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

TARGET_BYTES_PER_SAMPLE = 150.0


def _rss_bytes() -> int:
    """This process's resident set now (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize()
    except OSError:
        return 0


def child(clusters: int, requests: int, batch_size: int) -> None:
    """One measurement, in this (fresh) process; prints one JSON line."""
    import meshnb

    mesh = meshnb.simulate(clusters=clusters)
    meshnb.check_load_balancing(mesh, requests=10, batch_size=batch_size)  # lazy imports, certificates
    baseline = _rss_bytes()
    started = time.perf_counter()
    finding = meshnb.check_load_balancing(mesh, requests=requests, batch_size=batch_size)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    samples = finding.evidence["samples"]
    print(
        json.dumps(
            {
                "samples": len(samples),
                "baseline": baseline,
                "peak": peak,
                "seconds": elapsed,
                "status": finding.status,
                "frame_bytes": int(samples.memory_usage(deep=True).sum()),
            }
        )
    )


def measure(clusters: int, requests: int, batch_size: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", f"{clusters}x{requests}", "--batch-size", str(batch_size)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _size(text: str) -> tuple[int, int]:
    clusters, _, requests = text.partition("x")
    return int(clusters), int(requests)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="2x100000,20x100000",
        help="comma-separated CLUSTERSxREQUESTS (requests per source cluster)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=100, help="requests per curl exec (the check's default)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*_size(args.child), args.batch_size)
        return 0

    missed = []
    print(f"load-balancing check on the simulated mesh, {args.batch_size} requests per exec")
    for clusters, requests in map(_size, args.sizes.split(",")):
        started = time.perf_counter()
        got = measure(clusters, requests, args.batch_size)
        wall = time.perf_counter() - started
        n = got["samples"]
        net = (got["peak"] - got["baseline"]) / n
        gross = got["peak"] / n
        print(
            f"  {n:>9,} samples ({clusters} clusters x {requests:,}): {net:6.1f} bytes/sample at peak "
            f"above the baseline (target <= {TARGET_BYTES_PER_SAMPLE:.0f}); {gross:6.1f} with it; "
            f"frame {got['frame_bytes'] / n:5.1f} bytes/sample; peak {got['peak'] / 2**20:,.0f} MiB, "
            f"baseline {got['baseline'] / 2**20:,.0f} MiB; check {got['seconds']:.1f} s "
            f"({got['seconds'] / n * 1e6:.1f} us/sample), run {wall:.1f} s ({got['status']})"
        )
        if net > TARGET_BYTES_PER_SAMPLE:
            missed.append(f"{n:,} samples")
    print("targets: all met" if not missed else f"targets MISSED: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
