"""meshnb.stats against values worked out by hand (the arithmetic is in the comments).

z for 95% is the 0.975 normal quantile, 1.959963984540054, so z**2 = 3.841458820694124.
"""

import math

import pandas as pd
import pytest

from meshnb.schemas import SCHEMAS, frame
from meshnb.stats import chi2_sf, goodness_of_fit, source_summary, split_table, wilson_interval

Z2 = 3.841458820694124
REL = 1e-10


def sample(source, seq, version=None, dest=None, *, status=None, error=None):
    """One samples record; a success when ``version`` is given, an error otherwise."""
    return {
        "source_cluster": source,
        "source_pod": f"curl-{source}",
        "seq": seq,
        "url": "http://helloworld.sample:5000/hello",
        "http_status": status if status is not None else (200 if version else None),
        "version": version,
        "instance": f"helloworld-{version}-0" if version else None,
        "dest_cluster": dest,
        "error": error if error is not None else (None if version else "connection reset"),
        "error_kind": None if version else "reset",
        "latency_ms": 1.5,
        "ts": pd.Timestamp("2025-01-01T00:00:00", tz="UTC") + pd.Timedelta(seconds=seq),
    }


@pytest.fixture
def samples():
    """cluster1 only reaches v1 (3 ok, 1 error); cluster2 reaches v1 once and v2 three times, 1 503."""
    return frame(
        "samples",
        [
            sample("cluster1", 0, "v1", "cluster1"),
            sample("cluster1", 1, "v1", "cluster1"),
            sample("cluster1", 2),
            sample("cluster1", 3, "v1", "cluster1"),
            sample("cluster2", 0, "v1", "cluster1"),
            sample("cluster2", 1, "v2", "cluster2"),
            sample("cluster2", 2, "v2", "cluster2"),
            sample("cluster2", 3, status=503, error="no healthy upstream"),
            sample("cluster2", 4, "v2", "cluster2"),
        ],
    )


def rows(split):
    return {(r.source_cluster, r.version): r for r in split.itertuples()}


# --- Wilson ---------------------------------------------------------------------------------------


def test_wilson_half_of_a_hundred():
    # p = 0.5, n = 100: denom = 1 + z²/n = 1.0384145882069413
    # centre = (p + z²/2n) / denom = 0.5 (symmetric)
    # half = z * sqrt(p(1-p)/n + z²/4n²) / denom = 1.959964 * sqrt(0.0025 + 0.0000960365) / 1.0384146
    #      = 1.959964 * 0.0509513147 / 1.0384146 = 0.0961684696
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.4038315303659957, rel=REL)
    assert high == pytest.approx(0.5961684696340044, rel=REL)


def test_wilson_none_and_all_of_ten():
    # k = 0: low = 0; high = (z²/2n + z*sqrt(z²/4n²)) / (1 + z²/n) = (z²/n) / (1 + z²/n)
    #      = 0.3841458820694124 / 1.3841458820694124 = 0.27753279986288915
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.27753279986288915), rel=REL)
    # k = n mirrors k = 0: (1 - 0.2775328, 1)
    assert wilson_interval(10, 10) == pytest.approx((1 - 0.27753279986288915, 1.0), rel=REL)
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == 1.0


def test_wilson_other_confidence():
    # 99%: z = 2.5758293035489, z² = 6.634896601021211; 0 of 10: 0.66348966 / 1.66348966 = 0.3988540933
    assert wilson_interval(0, 10, confidence=0.99)[1] == pytest.approx(0.39885409330490795, rel=REL)


def test_wilson_no_trials_and_bad_input():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(11, 10)
    with pytest.raises(ValueError):
        wilson_interval(1, 10, confidence=1.0)


# --- chi-square survival function -----------------------------------------------------------------


def test_chi2_sf_critical_values():
    # 3.841458820694124 = z(0.975)² is the 95% critical value with 1 dof
    assert chi2_sf(3.841458820694124, 1) == pytest.approx(0.05, rel=REL)
    # with 2 dof sf(x) = exp(-x/2), so the critical value is -2 ln 0.05 = 5.991464547107979
    assert chi2_sf(5.991464547107979, 2) == pytest.approx(0.05, rel=REL)


@pytest.mark.parametrize("dof", [1, 2, 3, 10, 100])
def test_chi2_sf_of_zero_and_infinity(dof):
    assert chi2_sf(0.0, dof) == 1.0
    assert chi2_sf(math.inf, dof) == 0.0
    assert math.isnan(chi2_sf(math.nan, dof))


@pytest.mark.parametrize("x", [1e-8, 0.5, 1.0, 2.0, 3.0, 7.5, 20.0, 60.0, 100.0, 700.0])
def test_chi2_sf_closed_forms(x):
    # dof 1: sf = erfc(sqrt(x/2)); dof 2: exp(-x/2); dof 3: erfc(sqrt(x/2)) + sqrt(2x/pi) exp(-x/2);
    # dof 4: exp(-x/2) (1 + x/2)
    assert chi2_sf(x, 1) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=REL)
    assert chi2_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=REL)
    three = math.erfc(math.sqrt(x / 2)) + math.sqrt(2 * x / math.pi) * math.exp(-x / 2)
    assert chi2_sf(x, 3) == pytest.approx(three, rel=REL)
    assert chi2_sf(x, 4) == pytest.approx(math.exp(-x / 2) * (1 + x / 2), rel=REL)


def test_chi2_sf_far_tail():
    # sf(100, 1) = erfc(sqrt(50)) ~ 2.1e-23; sf(1000, 2) = exp(-500) ~ 7.1e-218
    assert chi2_sf(100.0, 1) == pytest.approx(math.erfc(math.sqrt(50)), rel=REL)
    assert chi2_sf(1000.0, 2) == pytest.approx(math.exp(-500), rel=1e-9)


@pytest.mark.parametrize("x", [120.0, 180.0, 200.0, 202.0, 250.0, 400.0])
def test_chi2_sf_many_dof(x):
    # even dof 2k: sf(x) = exp(-x/2) * sum_{i<k} (x/2)^i / i!  (a Poisson cdf), summed in log space
    k, half = 100, x / 2
    poisson = math.fsum(math.exp(i * math.log(half) - half - math.lgamma(i + 1)) for i in range(k))
    assert chi2_sf(x, 2 * k) == pytest.approx(poisson, rel=1e-9)


def test_chi2_sf_rejects_bad_dof():
    with pytest.raises(ValueError):
        chi2_sf(1.0, 0)


# --- goodness of fit ------------------------------------------------------------------------------


def test_goodness_of_fit_two_versions():
    # 60/40 against 50/50: expected 50, 50; chi2 = 10²/50 + 10²/50 = 4; dof 1; p = erfc(sqrt(2))
    chi2, dof, p = goodness_of_fit([60, 40], [0.5, 0.5])
    assert (chi2, dof) == (4.0, 1)
    assert p == pytest.approx(0.045500263896358396, rel=REL)


def test_goodness_of_fit_normalises_weights():
    # weights 1:1:2 -> 0.25, 0.25, 0.5 of 100 = 25, 25, 50
    # chi2 = 5²/25 + 5²/25 + 0²/50 = 1 + 1 + 0 = 2; dof 2; p = exp(-2/2) = exp(-1)
    chi2, dof, p = goodness_of_fit([30, 20, 50], [1, 1, 2])
    assert (chi2, dof) == (pytest.approx(2.0), 2)
    assert p == pytest.approx(0.36787944117144233, rel=REL)


def test_goodness_of_fit_drops_versions_expected_and_seen_never():
    # [50, 50, 0] against [.5, .5, 0]: the third category is dropped, a perfect fit with dof 1
    assert goodness_of_fit([50, 50, 0], [0.5, 0.5, 0.0]) == (0.0, 1, 1.0)


def test_goodness_of_fit_impossible_observation():
    # 5 responses from a version expected never: the expectation is refuted outright
    assert goodness_of_fit([50, 45, 5], [0.5, 0.5, 0.0]) == (math.inf, 1, 0.0)


def test_goodness_of_fit_nothing_to_test():
    chi2, dof, p = goodness_of_fit([10], [1.0])
    assert (math.isnan(chi2), dof, math.isnan(p)) == (True, 0, True)
    chi2, dof, p = goodness_of_fit([0, 0], [0.5, 0.5])
    assert (math.isnan(chi2), dof, math.isnan(p)) == (True, 1, True)


@pytest.mark.parametrize(
    ("observed", "shares"), [([1, 2], [1.0]), ([-1, 2], [0.5, 0.5]), ([1, 2], [0.0, 0.0])]
)
def test_goodness_of_fit_rejects_bad_input(observed, shares):
    with pytest.raises(ValueError):
        goodness_of_fit(observed, shares)


# --- split_table ----------------------------------------------------------------------------------


def test_split_table_counts_only_successes(samples):
    split = split_table(samples, version_clusters={"v1": "cluster1", "v2": "cluster2"})
    assert dict(split.dtypes.astype(str)) == SCHEMAS["split"]
    assert list(zip(split["source_cluster"], split["version"], strict=True)) == [
        ("cluster1", "v1"),
        ("cluster1", "v2"),
        ("cluster2", "v1"),
        ("cluster2", "v2"),
    ]
    assert split["count"].tolist() == [3, 0, 1, 3]
    # errors are left out of the totals: cluster1 sent 4 (3 ok), cluster2 sent 5 (4 ok)
    assert split["total"].tolist() == [3, 3, 4, 4]
    assert split["share"].tolist() == [1.0, 0.0, 0.25, 0.75]
    assert split["expected_share"].tolist() == [0.5] * 4
    assert split["dest_cluster"].tolist() == ["cluster1", "cluster2", "cluster1", "cluster2"]


def test_split_table_source_reaching_only_its_own_version(samples):
    got = rows(split_table(samples))
    # 3 of 3: low = 1 / (1 + z²/3) = 3 / 6.841458820694124 = 0.4385029682449546, high = 1
    assert (got["cluster1", "v1"].ci_low, got["cluster1", "v1"].ci_high) == pytest.approx(
        (0.4385029682449546, 1.0), rel=REL
    )
    # 0 of 3 is still a row: low = 0, high = (z²/3) / (1 + z²/3) = 0.5614970317550454
    never = got["cluster1", "v2"]
    assert (never.count, never.total, never.share) == (0, 3, 0.0)
    assert (never.ci_low, never.ci_high) == pytest.approx((0.0, 0.5614970317550454), rel=REL)
    # the Wilson bounds of the other rows come from the same formula
    assert (got["cluster2", "v1"].ci_low, got["cluster2", "v1"].ci_high) == pytest.approx(
        wilson_interval(1, 4), rel=REL
    )


def test_split_table_dest_cluster_from_samples(samples):
    # without version_clusters the cluster that served each version in the samples is used
    split = split_table(samples)
    assert split["dest_cluster"].tolist() == ["cluster1", "cluster2", "cluster1", "cluster2"]


def test_split_table_expected_weights(samples):
    # weights 1:3 -> 0.25 / 0.75
    split = split_table(samples, expected={"v1": 1, "v2": 3})
    assert split["expected_share"].tolist() == [0.25, 0.75, 0.25, 0.75]
    # versions left out of `expected` are expected at 0
    split = split_table(samples, expected={"v1": 2})
    assert split["expected_share"].tolist() == [1.0, 0.0, 1.0, 0.0]


def test_split_table_known_but_unseen_version(samples):
    split = split_table(samples, version_clusters={"v1": "cluster1", "v2": "cluster2", "v3": "cluster3"})
    v3 = split[split["version"] == "v3"]
    assert v3["count"].tolist() == [0, 0]
    assert v3["dest_cluster"].tolist() == ["cluster3", "cluster3"]
    # equal expectation over the three known versions
    assert split["expected_share"].tolist() == pytest.approx([1 / 3] * 6)


def test_split_table_na_handling():
    # a 200 without a version counts as an error; a version with an unknown dest_cluster still counts;
    # a source with only errors gets rows with total 0, share NaN and the interval (0, 1)
    samples = frame(
        "samples",
        [
            sample("cluster1", 0, "v1", None),
            sample("cluster1", 1, None, None, status=200),
            sample("cluster3", 0),
            sample("cluster3", 1),
        ],
    )
    got = rows(split_table(samples))
    assert set(got) == {("cluster1", "v1"), ("cluster3", "v1")}
    assert (got["cluster1", "v1"].count, got["cluster1", "v1"].total) == (1, 1)
    assert pd.isna(got["cluster1", "v1"].dest_cluster)
    lonely = got["cluster3", "v1"]
    assert (lonely.count, lonely.total, lonely.ci_low, lonely.ci_high) == (0, 0, 0.0, 1.0)
    assert math.isnan(lonely.share)


def test_split_table_empty():
    split = split_table(frame("samples", []))
    assert split.empty
    assert list(split.columns) == list(SCHEMAS["split"])


# --- source_summary -------------------------------------------------------------------------------


def test_source_summary(samples):
    split = split_table(samples, version_clusters={"v1": "cluster1", "v2": "cluster2"})
    summary = source_summary(samples, split).set_index("source_cluster")
    assert dict(source_summary(samples, split).dtypes.astype(str)) == SCHEMAS["sources"]
    one, two = summary.loc["cluster1"], summary.loc["cluster2"]
    assert (one.source_pod, one.requests, one.ok, one.errors, one.versions) == (
        "curl-cluster1",
        4,
        3,
        1,
        "v1",
    )
    assert (two.requests, two.ok, two.errors, two.versions) == (5, 4, 1, "v1,v2")
    # cluster1 stayed home; cluster2 got 1 of its 4 answers from cluster1
    assert (one.remote_share, two.remote_share) == (0.0, 0.25)
    # cluster1: [3, 0] against 1.5, 1.5: chi2 = 1.5²/1.5 * 2 = 3; p = erfc(sqrt(1.5))
    assert (one.chi2, one.dof) == (3.0, 1)
    assert one.p_value == pytest.approx(0.08326451666355043, rel=REL)
    # cluster2: [1, 3] against 2, 2: chi2 = 1/2 + 1/2 = 1; p = erfc(sqrt(0.5))
    assert (two.chi2, two.dof) == (1.0, 1)
    assert two.p_value == pytest.approx(0.31731050786291404, rel=REL)
    assert (one.status, one.detail) == ("", "")


def test_source_summary_source_with_only_errors():
    samples = frame("samples", [sample("cluster1", 0, "v1", "cluster1"), sample("cluster3", 0)])
    summary = source_summary(samples, split_table(samples)).set_index("source_cluster")
    lonely = summary.loc["cluster3"]
    assert (lonely.requests, lonely.ok, lonely.errors, lonely.versions) == (1, 0, 1, "")
    assert math.isnan(lonely.remote_share)
    assert math.isnan(lonely.p_value)
