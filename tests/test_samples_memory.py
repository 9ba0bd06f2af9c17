"""The samples table stays small: compact dtypes, no Python object per request, the same results as the
record-per-request code it replaced, and a memory guard that refuses a sample the machine cannot hold."""

from __future__ import annotations

import io
import time
import tracemalloc
from array import array

import numpy as np
import pandas as pd
import pytest

import meshnb
from meshnb.diagnostics import load_balancing as lb
from meshnb.diagnostics.finding import Finding
from meshnb.readers.curl import classify_error, parse_curl_batch, parse_hello
from meshnb.schemas import CATEGORY, SCHEMAS, frame, validate

CATEGORY_COLUMNS = [c for c, t in SCHEMAS["samples"].items() if t == CATEGORY]
URL = "http://helloworld.sample:5000/hello"
STR = pd.Index([], dtype=str).dtype

#: name -> (simulate() arguments, check arguments)
CASES = {
    "healthy": ({"scenario": "healthy", "seed": 3}, {"requests": 300}),
    "healthy-3-clusters": ({"scenario": "healthy", "seed": 5, "clusters": 3}, {"requests": 200}),
    "firewall": ({"scenario": "firewall", "seed": 1}, {"requests": 60}),
    "trust-mismatch-no-retries": (
        {"scenario": "trust-mismatch", "seed": 2, "retries": 0, "hide_tls_reason": False},
        {"requests": 150},
    ),
    "missing-remote-secret": ({"scenario": "missing-remote-secret", "seed": 0}, {"requests": 200}),
    "locality-prefer-local": ({"scenario": "locality-prefer-local", "seed": 7}, {"requests": 250}),
    "weighted": ({"scenario": "healthy", "seed": 9}, {"requests": 400, "expected": {"v1": 3, "v2": 1}}),
}

# Computed with the record-per-request code, before the samples went column-wise (batch_size=70):
# name -> (status, {source: (status, requests, ok, errors, versions, p_value)}, {source/version: count},
# number of next steps). They depend on the simulated mesh's random draws: if sim.py changes those,
# regenerate them (and check the change is the mesh's, not the check's).
EXPECTED = {
    "healthy": (
        "pass",
        {
            "cluster1": ("pass", 300, 300, 0, "v1,v2", 0.729034489538804),
            "cluster2": ("pass", 300, 300, 0, "v1,v2", 0.9080725552559752),
        },
        {"cluster1/v1": 153, "cluster1/v2": 147, "cluster2/v1": 149, "cluster2/v2": 151},
        0,
    ),
    "healthy-3-clusters": (
        "pass",
        {
            "cluster1": ("pass", 200, 200, 0, "v1,v2,v3", 0.47001061473053807),
            "cluster2": ("pass", 200, 200, 0, "v1,v2,v3", 0.8065414401773269),
            "cluster3": ("pass", 200, 200, 0, "v1,v2,v3", 0.37531109885139946),
        },
        {
            "cluster1/v1": 73,
            "cluster1/v2": 68,
            "cluster1/v3": 59,
            "cluster2/v1": 71,
            "cluster2/v2": 64,
            "cluster2/v3": 65,
            "cluster3/v1": 68,
            "cluster3/v2": 58,
            "cluster3/v3": 74,
        },
        0,
    ),
    "firewall": (
        "fail",
        {
            "cluster1": ("fail", 60, 27, 33, "v1", 2.0345546145444297e-07),
            "cluster2": ("fail", 60, 34, 26, "v2", 5.5112072519899645e-09),
        },
        {"cluster1/v1": 27, "cluster1/v2": 0, "cluster2/v1": 0, "cluster2/v2": 34},
        6,
    ),
    "trust-mismatch-no-retries": (
        "fail",
        {
            "cluster1": ("fail", 150, 77, 73, "v1", 1.709579587599126e-18),
            "cluster2": ("fail", 150, 73, 77, "v2", 1.2964983720780154e-17),
        },
        {"cluster1/v1": 77, "cluster1/v2": 0, "cluster2/v1": 0, "cluster2/v2": 73},
        6,
    ),
    "missing-remote-secret": (
        "fail",
        {
            "cluster1": ("fail", 200, 200, 0, "v1", 2.0884875837625685e-45),
            "cluster2": ("pass", 200, 200, 0, "v1,v2", 0.2578990352923397),
        },
        {"cluster1/v1": 200, "cluster1/v2": 0, "cluster2/v1": 108, "cluster2/v2": 92},
        5,
    ),
    "locality-prefer-local": (
        "fail",
        {
            "cluster1": ("fail", 250, 250, 0, "v1", 2.5968070393401966e-56),
            "cluster2": ("fail", 250, 250, 0, "v2", 2.5968070393401966e-56),
        },
        {"cluster1/v1": 250, "cluster1/v2": 0, "cluster2/v1": 0, "cluster2/v2": 250},
        5,
    ),
    "weighted": (
        "warn",
        {
            "cluster1": ("warn", 400, 400, 0, "v1,v2", 5.071413724892436e-32),
            "cluster2": ("warn", 400, 400, 0, "v1,v2", 7.6437583856311165e-31),
        },
        {"cluster1/v1": 198, "cluster1/v2": 202, "cluster2/v1": 200, "cluster2/v2": 200},
        1,
    ),
}


def mesh_of(name):
    return meshnb.simulate(**CASES[name][0])


def run(name, **extra):
    return meshnb.check_load_balancing(mesh_of(name), batch_size=70, **CASES[name][1], **extra)


def reference_samples(mesh, requests, batch_size=70):
    """The samples as the check built them before: one dict per request, then a frame of strings."""
    records, members = [], {}
    for name, cluster in mesh.clusters.items():
        pod = lb._source_pod(name, cluster, "sample", "app=curl")
        members.update(
            {p.name: (p.labels.get("version"), name) for p in cluster.list_pods("sample", "app=helloworld")}
        )
        done = 0
        while done < requests:
            count = min(batch_size, requests - done)
            started = time.time()
            result = cluster.exec(
                "sample", pod.name, lb.curl_argv(URL, count, 2.0), container=pod.default_container
            )
            elapsed = 0.0
            for t in parse_curl_batch(result.stdout)[:count]:
                elapsed += t.seconds or 0.0
                kind = classify_error(t.http_status, t.body, t.curl_exit, t.curl_error)
                hello = parse_hello(t.body) if kind is None else None
                error = None
                if kind is not None:
                    error = (t.curl_error or t.body.strip() or f"HTTP {t.http_status}")[:500]
                done += 1
                records.append(
                    {
                        "source_cluster": name,
                        "source_pod": pod.name,
                        "seq": done,
                        "url": URL,
                        "http_status": t.http_status,
                        "version": hello[0] if hello else None,
                        "instance": hello[1] if hello else None,
                        "dest_cluster": None,
                        "error": error,
                        "error_kind": kind,
                        "latency_ms": None if t.seconds is None else t.seconds * 1000.0,
                        "ts": started + elapsed,
                    }
                )
    raw = pd.DataFrame.from_records(records, columns=list(SCHEMAS["samples"]))
    raw["dest_cluster"] = raw["instance"].map({k: v[1] for k, v in members.items()})
    return raw.astype({c: "string" for c in CATEGORY_COLUMNS} | {"http_status": "Int64", "latency_ms": float})


# --- the same results as before --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_results_are_those_of_the_record_per_request_code(name):
    finding = run(name)
    status, sources, split, steps = EXPECTED[name]
    assert finding.status == status
    got = {
        r["source_cluster"]: (r["status"], r["requests"], r["ok"], r["errors"], r["versions"], r["p_value"])
        for r in finding.evidence["sources"].to_dict("records")
    }
    assert got.keys() == sources.keys()
    for source, (*fields, p_value) in sources.items():
        assert list(got[source][:-1]) == fields
        assert got[source][-1] == pytest.approx(p_value, rel=1e-9)
    table = finding.evidence["split"]
    assert dict(zip(table["source_cluster"] + "/" + table["version"], table["count"], strict=True)) == split
    assert len(finding.next_steps) == steps


@pytest.mark.parametrize("name", ["healthy-3-clusters", "firewall", "trust-mismatch-no-retries"])
def test_samples_are_those_the_records_gave(name):
    samples = run(name).evidence["samples"]
    want = reference_samples(mesh_of(name), CASES[name][1]["requests"])
    got = samples.astype({c: "string" for c in CATEGORY_COLUMNS})
    pd.testing.assert_frame_equal(got.drop(columns="ts"), want.drop(columns="ts"))
    assert samples["ts"].notna().all()  # ts is wall-clock time, not compared


# --- compact dtypes ------------------------------------------------------------------------------


def test_the_samples_frame_is_compact():
    samples = meshnb.check_load_balancing(meshnb.simulate("firewall"), requests=5000).evidence["samples"]
    assert len(samples) == 10_000
    for column in CATEGORY_COLUMNS:
        dtype = samples[column].dtype
        assert isinstance(dtype, pd.CategoricalDtype), column
        assert dtype.categories.dtype == STR
        assert list(dtype.categories) == sorted(dtype.categories)
        assert samples[column].cat.codes.dtype == np.int8, column
    assert samples["error"].notna().any() and samples["version"].notna().any()
    bytes_per_row = samples.memory_usage(deep=True).sum() / len(samples)
    assert bytes_per_row < 45, bytes_per_row  # was about 200 with a string per row and column


def test_validate_keeps_categoricals_and_does_not_copy_them():
    samples = meshnb.check_load_balancing(meshnb.simulate("firewall"), requests=20_000).evidence["samples"]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        again = validate("samples", samples)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert peak / len(samples) < 4  # no column is copied, none becomes a string per row
    pd.testing.assert_frame_equal(again, samples)
    for column in CATEGORY_COLUMNS:
        assert isinstance(again[column].dtype, pd.CategoricalDtype)
        assert np.shares_memory(again[column].array.codes, samples[column].array.codes)


def test_validate_makes_categories_canonical_however_the_frame_was_built():
    samples = run("trust-mismatch-no-retries").evidence["samples"]
    as_strings = validate("samples", samples.astype({c: object for c in CATEGORY_COLUMNS}))
    pd.testing.assert_frame_equal(as_strings, samples)
    shuffled = samples.copy()
    for column in CATEGORY_COLUMNS:  # categories out of order and unused ones: the same table
        categories = [*reversed(samples[column].cat.categories), "never-seen"]
        shuffled[column] = samples[column].cat.set_categories(categories)
    pd.testing.assert_frame_equal(validate("samples", shuffled), samples)
    subset = validate("samples", samples[samples["error_kind"].isna()])
    assert list(subset["error"].cat.categories) == []
    assert subset["error"].cat.categories.dtype == STR


def test_samples_survive_parquet_and_json():
    for name in ("healthy", "firewall"):
        samples = run(name).evidence["samples"]
        buffer = io.BytesIO()
        samples.to_parquet(buffer, index=False)
        loaded = validate("samples", pd.read_parquet(io.BytesIO(buffer.getvalue())))
        pd.testing.assert_frame_equal(loaded, samples)
        finding = Finding.from_json(Finding("load-balancing", "pass", "", {"samples": samples}).to_json())
        pd.testing.assert_frame_equal(finding.evidence["samples"], samples)
    empty = frame("samples", [])
    buffer = io.BytesIO()
    empty.to_parquet(buffer, index=False)
    pd.testing.assert_frame_equal(validate("samples", pd.read_parquet(io.BytesIO(buffer.getvalue()))), empty)


# --- no Python object per request ------------------------------------------------------------------


def sample_one_cluster(requests):
    mesh = meshnb.simulate()
    return lb._sample_cluster(
        "cluster1",
        mesh.clusters["cluster1"],
        lambda done, total: None,
        namespace="sample",
        service="helloworld",
        url=URL,
        requests=requests,
        batch_size=500,
        max_time=2.0,
        source_selector="app=curl",
    )


def test_samples_are_kept_in_arrays_not_objects():
    sample_one_cluster(100)  # the first use builds the mesh's certificates and caches
    tracemalloc.start()
    try:
        small_before = tracemalloc.get_traced_memory()[0]
        small = sample_one_cluster(2_000)
        small_kept = tracemalloc.get_traced_memory()[0] - small_before
        big_before = tracemalloc.get_traced_memory()[0]
        big = sample_one_cluster(40_000)
        big_kept = tracemalloc.get_traced_memory()[0] - big_before
    finally:
        tracemalloc.stop()
    assert len(big) == 40_000
    for column in (big.codes, big.seconds, big.ts):
        assert isinstance(column, array) and len(column) == 40_000
    assert len(big.outcomes) <= 10 and len(big.outcomes) == len(small.outcomes)  # one per distinct answer
    per_extra_sample = (big_kept - small_kept) / 38_000
    assert per_extra_sample < 30, per_extra_sample  # 20 bytes of arrays; a dict per request was ~700


def test_the_frame_is_built_once_and_the_columns_released():
    sampled = {"cluster1": sample_one_cluster(300)}
    samples = lb._samples_frame(sampled, sampled["cluster1"].members)
    assert len(samples) == 300 and samples["seq"].tolist() == list(range(1, 301))
    assert len(sampled["cluster1"]) == 0


# --- the memory guard ------------------------------------------------------------------------------


def test_the_guard_refuses_a_sample_beyond_the_memory_and_says_how_to_sample_less(monkeypatch):
    monkeypatch.setattr(lb, "available_memory", lambda: 100 * 2**20)
    mesh = meshnb.simulate()
    with pytest.raises(ValueError, match="sample less") as refused:
        meshnb.check_load_balancing(mesh, requests=1_000_000)
    message = str(refused.value)
    fits = 100 * 2**20 // (2 * lb.SAMPLE_BYTES)
    assert f"use requests={fits} or fewer" in message
    assert "requests=1000000 from each of 2 clusters is 2,000,000 samples" in message
    assert "fewer clusters" in message and "0.1 GiB" in message and "GiB at peak" in message
    assert all(cluster.calls["exec"] == 0 for cluster in mesh.clusters.values())  # nothing was sent
    assert meshnb.check_load_balancing(mesh, requests=fits).status == "pass"  # what it suggests runs


def test_the_guard_counts_every_cluster_and_lets_unknown_memory_pass(monkeypatch):
    monkeypatch.setattr(lb, "available_memory", lambda: 1000 * lb.SAMPLE_BYTES)
    with pytest.raises(ValueError, match="use requests=333 or fewer"):
        meshnb.check_load_balancing(meshnb.simulate(clusters=3), requests=400)
    monkeypatch.setattr(lb, "available_memory", lambda: lb.SAMPLE_BYTES)
    with pytest.raises(ValueError, match=r"sample less: sample fewer clusters") as refused:
        meshnb.check_load_balancing(meshnb.simulate(), requests=1)
    assert "use requests=" not in str(refused.value)
    monkeypatch.setattr(lb, "available_memory", lambda: None)
    assert meshnb.check_load_balancing(meshnb.simulate(), requests=20).status == "pass"


def test_available_memory_reads_meminfo_and_the_cgroup_limit(tmp_path):
    proc, cgroup = tmp_path / "proc", tmp_path / "cgroup"
    (proc / "self").mkdir(parents=True)
    (proc / "meminfo").write_text("MemTotal:  8000000 kB\nMemFree:  1000 kB\nMemAvailable:  4000000 kB\n")
    (proc / "self" / "cgroup").write_text("0::/user.slice/jupyter\n")
    assert lb.available_memory(str(proc), str(cgroup)) == 4_000_000 * 1024  # no cgroup files: MemAvailable
    limited = cgroup / "user.slice" / "jupyter"
    limited.mkdir(parents=True)
    (limited / "memory.max").write_text("max\n")
    assert lb.available_memory(str(proc), str(cgroup)) == 4_000_000 * 1024
    (limited / "memory.max").write_text(f"{2 << 30}\n")
    (limited / "memory.current").write_text(f"{1 << 30}\n")
    (limited / "memory.stat").write_text(f"anon 1\ninactive_file {256 << 20}\nactive_file 5\n")
    assert lb.available_memory(str(proc), str(cgroup)) == (1 << 30) + (256 << 20)  # the limit is less
    (proc / "meminfo").unlink()  # no meminfo: os.sysconf's figure, still capped by the cgroup
    assert lb.available_memory(str(proc), str(cgroup)) <= (1 << 30) + (256 << 20)
    real = lb.available_memory()
    assert real is None or real > 0


def test_sample_bytes_covers_a_measured_peak_with_margin():
    # benchmarks/bench_memory.py measures the peak (about 95 bytes a sample at 200,000 and 2,000,000);
    # the guard counts at most the ceiling and at least the frame's own 41 bytes with room.
    assert 100 <= lb.SAMPLE_BYTES <= 150
