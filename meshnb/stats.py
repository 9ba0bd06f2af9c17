"""Statistics for the version split: Wilson intervals, chi-square goodness of fit, split tables.

Pure functions, no scipy. The split of successful responses per source cluster is a multinomial
sample; each version's share gets a Wilson score interval, and the whole source is tested against
the expected split with Pearson's chi-square.

Example:
    >>> low, high = wilson_interval(50, 100)
    >>> round(low, 4), round(high, 4)
    (0.4038, 0.5962)
    >>> round(chi2_sf(3.841458820694124, 1), 6)
    0.05
    >>> chi2, dof, p = goodness_of_fit([60, 40], [0.5, 0.5])
    >>> chi2, dof, round(p, 6)
    (4.0, 1, 0.0455)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from meshnb.schemas import frame, validate

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["chi2_sf", "goodness_of_fit", "source_summary", "split_table", "wilson_interval"]

_EPS = 1e-15
_TINY = 1e-300
_MAX_ITER = 100_000


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def _wilson(successes: np.ndarray, n: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised Wilson bounds; n == 0 gives (0, 1), 0 and n successes give exact 0 and 1 ends."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    low = np.where(k == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(k == n, 1.0, np.clip(centre + half, 0.0, 1.0))
    return low, high


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``successes / n``; ``n == 0`` gives (0, 1).

    >>> tuple(round(b, 4) for b in wilson_interval(0, 10))
    (0.0, 0.2775)
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    low, high = _wilson(np.array([successes]), np.array([n]), _z(confidence))
    return float(low[0]), float(high[0])


def _log_gamma_prefactor(a: float, x: float) -> float:
    return a * math.log(x) - x - math.lgamma(a)


def _gamma_p_series(a: float, x: float) -> float:
    """Regularized lower incomplete gamma P(a, x) by its power series (good for x < a + 1)."""
    term = total = 1.0 / a
    denominator = a
    for _ in range(_MAX_ITER):
        denominator += 1
        term *= x / denominator
        total += term
        if abs(term) < abs(total) * _EPS:
            return total * math.exp(_log_gamma_prefactor(a, x))
    raise ArithmeticError(f"incomplete gamma series did not converge for a={a}, x={x}")


def _gamma_q_continued_fraction(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x) by Lentz's continued fraction (good for x >= a + 1)."""
    b = x + 1 - a
    c = 1 / _TINY
    d = 1 / b
    h = d
    for i in range(1, _MAX_ITER):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < _EPS:
            return h * math.exp(_log_gamma_prefactor(a, x))
    raise ArithmeticError(f"incomplete gamma continued fraction did not converge for a={a}, x={x}")


def chi2_sf(x: float, dof: int) -> float:
    """P(X >= x) for X chi-square with ``dof`` degrees of freedom: Q(dof/2, x/2).

    >>> round(chi2_sf(5.991464547107979, 2), 12)
    0.05
    """
    if dof < 1:
        raise ValueError(f"dof must be a positive integer, got {dof}")
    if math.isnan(x):
        return math.nan
    if x <= 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    a, half_x = dof / 2, x / 2
    if half_x < a + 1:
        return 1.0 - _gamma_p_series(a, half_x)
    return _gamma_q_continued_fraction(a, half_x)


def goodness_of_fit(observed: Sequence[int], expected_shares: Sequence[float]) -> tuple[float, int, float]:
    """Pearson chi-square of counts against expected shares: ``(chi2, dof, p_value)``.

    Shares are normalised to sum to 1. Categories expected at 0 and observed 0 times are dropped;
    dof is the number of categories with a positive expected share, minus 1.
    Any observation in a category expected at 0 is impossible under the expectation:
    ``(inf, dof, 0.0)``. With no observations or dof 0 there is nothing to test: ``(nan, dof, nan)``.

    >>> goodness_of_fit([10, 0], [1.0, 0.0])
    (nan, 0, nan)
    >>> goodness_of_fit([9, 1], [1.0, 0.0])
    (inf, 0, 0.0)
    """
    counts = np.asarray(observed, dtype=float)
    shares = np.asarray(expected_shares, dtype=float)
    if counts.shape != shares.shape or counts.ndim != 1:
        raise ValueError(f"observed and expected_shares differ in shape: {counts.shape}, {shares.shape}")
    if (counts < 0).any() or (shares < 0).any() or not shares.sum() > 0:
        raise ValueError("counts and shares must be non-negative and the shares must not all be 0")
    possible = shares > 0
    dof = int(possible.sum()) - 1
    if (counts[~possible] > 0).any():
        return math.inf, dof, 0.0
    n = counts.sum()
    if n == 0 or dof == 0:
        return math.nan, dof, math.nan
    expected = n * shares[possible] / shares.sum()
    chi2 = float((((counts[possible] - expected) ** 2) / expected).sum())
    return chi2, dof, chi2_sf(chi2, dof)


def _expected_shares(versions: list[str], expected: Mapping[str, float] | None) -> npt.NDArray[np.float64]:
    if not expected:
        return np.full(len(versions), 1 / len(versions)) if versions else np.zeros(0)
    weights = np.array([float(expected.get(version, 0.0)) for version in versions])
    if (weights < 0).any() or not weights.sum() > 0:
        raise ValueError(f"expected weights must be non-negative and not all 0, got {dict(expected)}")
    shares: npt.NDArray[np.float64] = weights / weights.sum()
    return shares


def split_table(
    samples: pd.DataFrame,
    expected: Mapping[str, float] | None = None,
    version_clusters: Mapping[str, str] | None = None,
    confidence: float = 0.95,
    expected_by_source: Mapping[str, Mapping[str, float]] | None = None,
) -> pd.DataFrame:
    """The ``split`` frame: per source cluster and version, the share of successful responses.

    Successful responses are rows with a ``version``. Every version known (seen anywhere, or a key
    of ``expected`` or ``version_clusters``) gets a row for every source cluster, with count 0 if
    that source never reached it. ``expected`` maps version -> weight (normalised; versions left out
    are expected at 0); without it all known versions are expected equally; ``expected_by_source``
    gives a source cluster weights of its own (an ambient client's, by capacity). ``dest_cluster`` comes
    from ``version_clusters`` or else the cluster that most often served the version in ``samples``.
    A source with no successful response has total 0, share NaN and the interval (0, 1).

    >>> from meshnb.schemas import frame
    >>> row = dict(source_pod="curl-0", url="http://helloworld:5000/hello", http_status=200,
    ...            instance="helloworld-v1-0", error=None, error_kind=None, latency_ms=1.0, ts=None)
    >>> s = frame("samples", [dict(row, source_cluster="cluster1", seq=i, version="v1",
    ...                            dest_cluster="cluster1") for i in range(3)])
    >>> split_table(s, version_clusters={"v1": "cluster1", "v2": "cluster2"})[["version", "count", "share"]]
      version  count  share
    0      v1      3    1.0
    1      v2      0    0.0
    """
    # observed=True: the samples' strings are categoricals (meshnb.schemas), count only what occurs
    by_dest = samples.groupby(
        ["source_cluster", "version", "dest_cluster"], dropna=False, observed=True
    ).size()
    by_dest = by_dest[by_dest.index.get_level_values("version").notna()]
    sources = sorted(samples["source_cluster"].dropna().unique())
    version_clusters = dict(version_clusters or {})
    expected_by_source = dict(expected_by_source or {})
    versions = sorted(
        set(by_dest.index.get_level_values("version"))
        | set(version_clusters)
        | set(expected or {})
        | {version for weights in expected_by_source.values() for version in weights}
    )

    index = pd.MultiIndex.from_product([sources, versions], names=["source_cluster", "version"])
    counts = by_dest.groupby(level=["source_cluster", "version"], observed=True).sum()
    counts = counts.reindex(index, fill_value=0)
    per_version = by_dest.groupby(level=["version", "dest_cluster"], observed=True).sum()
    seen_dest = {
        version: dest for version, dest in per_version.sort_values(kind="stable").index if pd.notna(dest)
    }
    dest = {version: version_clusters.get(version, seen_dest.get(version)) for version in versions}

    count = counts.to_numpy(dtype="int64")
    total = np.repeat(count.reshape(len(sources), len(versions)).sum(axis=1), len(versions))
    low, high = _wilson(count, total, _z(confidence))
    with np.errstate(divide="ignore", invalid="ignore"):
        share = count / total
    split = pd.DataFrame(
        {
            "source_cluster": index.get_level_values("source_cluster"),
            "version": index.get_level_values("version"),
            "dest_cluster": [dest[version] for version in index.get_level_values("version")],
            "count": count,
            "total": total,
            "share": share,
            "ci_low": low,
            "ci_high": high,
            "expected_share": np.concatenate(
                [_expected_shares(versions, expected_by_source.get(source, expected)) for source in sources]
            )
            if sources
            else np.zeros(0),
        }
    )
    return validate("split", split)


def source_summary(samples: pd.DataFrame, split: pd.DataFrame) -> pd.DataFrame:
    """The ``sources`` frame: per source cluster, requests, errors, remote share and the fit test.

    ``ok`` counts responses with a version; ``remote_share`` is the share of them answered by a
    ``dest_cluster`` other than the source; chi2/dof/p_value test the source's version counts
    against ``expected_share`` (see :func:`goodness_of_fit`). ``source_pod`` lists the pods used;
    ``status`` and ``detail`` are left empty for the diagnostic to fill.

    >>> from meshnb.schemas import frame
    >>> summary = source_summary(frame("samples", []), frame("split", []))
    >>> list(summary.columns)[:5], len(summary)
    (['source_cluster', 'source_pod', 'requests', 'ok', 'errors'], 0)
    """
    per_pod = samples.groupby(["source_cluster", "source_pod"], dropna=False, observed=True).agg(
        requests=("seq", "size"), ok=("version", "count")
    )
    per_source = per_pod.groupby(level="source_cluster", observed=True).sum()
    pods = per_pod.index.to_frame(index=False).dropna()
    pods = pods.groupby("source_cluster", observed=True)["source_pod"].agg(
        lambda names: ",".join(sorted(names))
    )
    rows = []
    for source, counts in per_source.iterrows():
        own = split[split["source_cluster"] == source]
        reached = own[own["count"] > 0]
        remote = reached["dest_cluster"].notna() & (reached["dest_cluster"] != source)
        chi2, dof, p_value = (
            goodness_of_fit(own["count"].tolist(), own["expected_share"].tolist())
            if len(own)
            else (math.nan, 0, math.nan)
        )
        rows.append(
            {
                "source_cluster": source,
                "source_pod": pods.get(source, ""),
                "requests": counts["requests"],
                "ok": counts["ok"],
                "errors": counts["requests"] - counts["ok"],
                "versions": ",".join(sorted(reached["version"])),
                "remote_share": reached.loc[remote, "count"].sum() / counts["ok"]
                if counts["ok"]
                else math.nan,
                "chi2": chi2,
                "dof": dof,
                "p_value": p_value,
                "status": "",
                "reason": "",
                "detail": "",
            }
        )
    return frame("sources", rows)
