"""Benchmark: analysis, plots and snapshots of 1,000,000 samples, and triage of 10 clusters in parallel.

- split statistics of 1,000,000 samples (best of 3; target < 0.5 s), and the JSON size of every
  figure (target < 300 KB at any sample count: shown at 10,000 and 1,000,000);
- a snapshot holding 1,000,000 samples: save and load time, file size, and the samples equal after;
- triage of 10 simulated clusters, every API call a modelled 50 ms round trip: the sum of the
  per-cluster times (each cluster's calls, timed) over the wall time (target >= 5x).

Prints figures and ratios; exits 1 if a target is missed.

    python benchmarks/bench_triage.py [--samples 1000000] [--clusters 10] [--rtt 0.05]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

import meshnb
from meshnb import plots
from meshnb.diagnostics.diagnosis import Diagnosis
from meshnb.diagnostics.finding import Finding
from meshnb.diagnostics.report import Report
from meshnb.schemas import frame, validate
from meshnb.stats import split_table

TARGET_SPLIT_S, TARGET_FIGURE_KB, TARGET_PARALLEL = 0.5, 300, 5.0


def samples(count: int, seed: int = 0) -> pd.DataFrame:
    """``count`` synthetic samples from 2 source clusters: v1/v2 about half each, 1% errors."""
    rng = np.random.default_rng(seed)
    source = rng.integers(1, 3, count)
    version = rng.integers(1, 3, count)
    failed = rng.random(count) < 0.01
    start = pd.Timestamp("2026-11-28T09:00:00Z")
    table = pd.DataFrame(
        {
            "source_cluster": np.char.add("cluster", source.astype(str)),
            "source_pod": np.char.add("curl-", source.astype(str)),
            "seq": np.arange(count) // 2 + 1,
            "url": "http://helloworld.sample:5000/hello",
            "http_status": np.where(failed, 503, 200),
            "version": np.where(failed, None, np.char.add("v", version.astype(str))),
            "instance": np.where(failed, None, np.char.add("helloworld-v", version.astype(str))),
            "dest_cluster": np.where(failed, None, np.char.add("cluster", version.astype(str))),
            "error": np.where(failed, "upstream connect error or disconnect/reset before headers", None),
            "error_kind": np.where(failed, "reset", None),
            "latency_ms": rng.lognormal(1.0, 0.35, count),
            "ts": start + pd.to_timedelta(np.arange(count) * 2, unit="ms"),
        }
    )
    return validate("samples", table)


def best_of(runs: int, work) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return min(times), result


def figure_kb(count: int) -> dict[str, float]:
    table = samples(count)
    split = split_table(table)
    events = frame("istiod_events", [])
    figures = {
        "split": plots.split_figure(split),
        "sequence": plots.sequence_figure(table),
        "timeline": plots.timeline_figure(table, events),
    }
    return {name: len(figure.to_json().encode()) / 1024 for name, figure in figures.items()}


def snapshot(table: pd.DataFrame) -> tuple[float, float, float, bool]:
    finding = Finding(
        "load-balancing", "pass", "synthetic", evidence={"samples": table, "split": split_table(table)}
    )
    report = Report({"load-balancing": finding}, Diagnosis(), {"clusters": ["cluster1", "cluster2"]})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.meshnb"
        save_s, _ = best_of(1, lambda: report.save(path))
        size_mb = path.stat().st_size / 1e6
        load_s, loaded = best_of(1, lambda: meshnb.load(path))
    same = loaded.findings["load-balancing"].evidence["samples"].equals(table)
    return save_s, load_s, size_mb, same


class Timed:
    """A cluster whose every call is timed, per cluster (what its work would cost on its own)."""

    def __init__(self, cluster, spent: dict[str, float], lock: threading.Lock):
        self._cluster, self._spent, self._lock = cluster, spent, lock

    def __getattr__(self, name):
        attr = getattr(self._cluster, name)
        if not callable(attr):
            return attr

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                with self._lock:
                    self._spent[self._cluster.name] += time.perf_counter() - started

        return timed


def parallel_triage(clusters: int, rtt: float, requests: int) -> tuple[float, float, str]:
    mesh = meshnb.simulate(clusters=clusters, rtt=rtt)
    spent: dict[str, float] = defaultdict(float)
    lock = threading.Lock()
    mesh.clusters = {name: Timed(cluster, spent, lock) for name, cluster in mesh.clusters.items()}
    started = time.perf_counter()
    report = meshnb.triage(mesh, requests=requests)
    return time.perf_counter() - started, sum(spent.values()), report.status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--clusters", type=int, default=10)
    parser.add_argument("--rtt", type=float, default=0.05, help="modelled seconds per API call")
    args = parser.parse_args()

    table = samples(args.samples)
    split_s, _ = best_of(3, lambda: split_table(table))
    print(
        f"{args.samples:,} samples: split statistics {split_s:.3f} s (best of 3; target < {TARGET_SPLIT_S} s)"
    )
    sizes = {count: figure_kb(count) for count in (10_000, args.samples)}
    for count, kb in sizes.items():
        shown = ", ".join(f"{name} {size:.0f} KB" for name, size in kb.items())
        print(f"  figure JSON at {count:>9,} samples: {shown} (target < {TARGET_FIGURE_KB} KB each)")
    save_s, load_s, size_mb, same = snapshot(table)
    print(
        f"snapshot of {args.samples:,} samples: save {save_s:.2f} s, load {load_s:.2f} s, {size_mb:.1f} MB, "
        f"samples equal after load: {same}"
    )
    parallel_triage(2, 0.0, 10)  # warm up: imports, certificates
    wall, serial, status = parallel_triage(args.clusters, args.rtt, 100)
    ratio = serial / wall
    print(
        f"triage of {args.clusters} clusters, {args.rtt * 1000:.0f} ms per API call: wall {wall:.2f} s, "
        f"sum of per-cluster times {serial:.2f} s: {ratio:.1f}x (target >= {TARGET_PARALLEL:.0f}x; {status})"
    )
    missed = [
        name
        for name, ok in (
            ("split statistics", split_s < TARGET_SPLIT_S),
            ("figure size", all(size < TARGET_FIGURE_KB for kb in sizes.values() for size in kb.values())),
            ("snapshot round trip", same),
            ("parallel triage", ratio >= TARGET_PARALLEL),
        )
        if not ok
    ]
    print("targets: all met" if not missed else f"targets MISSED: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
