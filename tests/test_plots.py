"""meshnb.plots: figure structure (traces, intervals, expected marks, labels) and the size bound."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from meshnb.plots import sequence_figure, split_figure
from meshnb.schemas import frame, validate
from meshnb.stats import source_summary, split_table

CLUSTER_OF = {"v1": "cluster1", "v2": "cluster2"}


def sample(source, seq, version=None):
    """One samples record: a success from ``version`` (served by its cluster), or an error."""
    return {
        "source_cluster": source,
        "source_pod": f"curl-{source}",
        "seq": seq,
        "url": "http://helloworld.sample:5000/hello",
        "http_status": 200 if version else None,
        "version": version,
        "instance": f"helloworld-{version}-0" if version else None,
        "dest_cluster": CLUSTER_OF.get(version),
        "error": None if version else "connection reset",
        "error_kind": None if version else "reset",
        "latency_ms": 2.0,
        "ts": pd.Timestamp("2025-01-01T00:00:00", tz="UTC") + pd.Timedelta(seconds=seq),
    }


@pytest.fixture
def samples():
    """cluster1: v1 v1 error v1 (stays home); cluster2: v1 v2 v2 error v2."""
    return frame(
        "samples",
        [
            *(sample("cluster1", i, v) for i, v in enumerate(["v1", "v1", None, "v1"])),
            *(sample("cluster2", i, v) for i, v in enumerate(["v1", "v2", "v2", None, "v2"])),
        ],
    )


def generated(n, seed=0):
    """n samples over two sources, v1/v2 at random, 2% errors (built with numpy, not records)."""
    rng = np.random.default_rng(seed)
    source = rng.integers(0, 2, n)
    version = np.array(["v1", "v2"], dtype=object)[rng.integers(0, 2, n)]
    version[rng.random(n) < 0.02] = None
    ok = pd.notna(version)
    df = pd.DataFrame(
        {
            "source_cluster": np.array(["cluster1", "cluster2"], dtype=object)[source],
            "source_pod": "curl-0",
            "seq": np.arange(n) // 2,
            "url": "http://helloworld.sample:5000/hello",
            "http_status": np.where(ok, 200, None),
            "version": version,
            "instance": version,
            "dest_cluster": pd.Series(version).map(CLUSTER_OF),
            "error": np.where(ok, None, "connection reset"),
            "error_kind": np.where(ok, None, "reset"),
            "latency_ms": 1.0,
            "ts": pd.Timestamp("2025-01-01", tz="UTC"),
        }
    )
    return validate("samples", df)


def bars(figure):
    return {trace.name: trace for trace in figure.data if trace.type == "bar"}


# --- split_figure ---------------------------------------------------------------------------------


def test_split_figure_a_trace_per_version(samples):
    figure = split_figure(split_table(samples))
    assert list(bars(figure)) == ["v1 (cluster1)", "v2 (cluster2)"]
    assert figure.layout.barmode == "stack"
    v1 = bars(figure)["v1 (cluster1)"]
    assert v1.orientation == "h"
    # cluster1: 3 of 3 answered by v1; cluster2: 1 of 4
    assert list(v1.x) == [1.0, 0.25]
    assert "customdata[0]} of %{customdata[1]}" in v1.hovertemplate
    assert "95% interval" in v1.hovertemplate
    assert "Wilson" in figure.layout.title.text


def test_split_figure_intervals_are_on_the_boundaries(samples):
    from meshnb.stats import wilson_interval

    figure = split_figure(split_table(samples))
    (observed,) = [t for t in figure.data if t.name.startswith("observed split")]
    # one boundary per bar (between v1 and v2): cluster1 3 of 3 -> 1.0, cluster2 1 of 4 -> 0.25
    assert list(observed.x) == [1.0, 0.25]
    low1, high1 = wilson_interval(3, 3)  # (0.4385, 1.0)
    low2, high2 = wilson_interval(1, 4)  # (0.0456, 0.6994)
    assert observed.error_x.arrayminus == pytest.approx([1.0 - low1, 0.25 - low2])
    assert observed.error_x.array == pytest.approx([high1 - 1.0, high2 - 0.25])
    assert figure.data.index(observed) > max(figure.data.index(b) for b in bars(figure).values())


def test_split_figure_marks_the_expected_split(samples):
    # weights 1:3 -> one boundary per bar at 0.25 (the last boundary, 1.0, is the bar's end)
    expected = [
        t
        for t in split_figure(split_table(samples, expected={"v1": 1, "v2": 3})).data
        if t.name == "expected split"
    ]
    assert [t.name for t in expected] == ["expected split"]
    assert list(expected[0].x) == [0.25, 0.25]
    # three versions expected equally: boundaries at 1/3 and 2/3
    three = split_table(samples, version_clusters={**CLUSTER_OF, "v3": "cluster3"})
    marks = next(t for t in split_figure(three).data if t.name == "expected split")
    assert list(marks.x) == pytest.approx([1 / 3, 2 / 3] * 2)


def test_split_figure_labels(samples):
    split = split_table(samples)
    labelled = bars(split_figure(split, source_summary(samples, split)))["v1 (cluster1)"]
    assert list(labelled.y) == ["cluster1 (4 requests, 1 error)", "cluster2 (5 requests, 1 error)"]
    plain = bars(split_figure(split))["v1 (cluster1)"]
    assert list(plain.y) == ["cluster1 (3 successful)", "cluster2 (4 successful)"]


def test_split_figure_colours_are_fixed_per_version(samples):
    both = bars(split_figure(split_table(samples)))
    only_v2 = frame("samples", [sample("cluster2", 0, "v2")])
    alone = bars(split_figure(split_table(only_v2)))
    assert alone["v2 (cluster2)"].marker.color == both["v2 (cluster2)"].marker.color
    assert both["v1 (cluster1)"].marker.color != both["v2 (cluster2)"].marker.color


def test_split_figure_draws_the_failed_share(samples):
    """A failed request takes its share of the bar, so a half-failed cluster does not look like 100 % v1."""
    from meshnb.stats import wilson_interval

    split = split_table(samples)
    figure = split_figure(split, source_summary(samples, split))
    drawn = bars(figure)
    assert list(drawn) == ["v1 (cluster1)", "v2 (cluster2)", "failed"]
    # cluster1: v1 v1 error v1 -> 3/4 v1, 1/4 failed; cluster2: v1 v2 v2 error v2 -> 1/5, 3/5, 1/5
    assert list(drawn["v1 (cluster1)"].x) == pytest.approx([3 / 4, 1 / 5])
    assert list(drawn["v2 (cluster2)"].x) == pytest.approx([0, 3 / 5])
    failed = drawn["failed"]
    assert list(failed.x) == pytest.approx([1 / 4, 1 / 5])
    assert [sum(bar.x[i] for bar in drawn.values()) for i in range(2)] == pytest.approx([1, 1])
    assert failed.marker.color == "#7F7F7F"  # grey, as errors everywhere else
    assert failed.customdata.tolist() == [[1, 4], [1, 5]]
    assert "failed" in failed.hovertemplate and "%{x:.1%}" in failed.hovertemplate
    assert "of all requests" in drawn["v1 (cluster1)"].hovertemplate
    # the boundary v1|v2 and its interval shrink with the successful part: 3 of 3 in 3/4, 1 of 4 in 4/5
    (observed,) = [t for t in figure.data if t.name.startswith("observed split")]
    assert list(observed.x) == pytest.approx([3 / 4, 1 / 5])
    (low1, high1), (low2, high2) = wilson_interval(3, 3), wilson_interval(1, 4)
    assert observed.error_x.arrayminus == pytest.approx([3 / 4 * (1 - low1), 4 / 5 * (1 / 4 - low2)])
    assert observed.error_x.array == pytest.approx([3 / 4 * (high1 - 1), 4 / 5 * (high2 - 1 / 4)])
    expected = next(t for t in figure.data if t.name == "expected split")
    assert list(expected.x) == pytest.approx([3 / 4 * 1 / 2, 4 / 5 * 1 / 2])
    assert figure.layout.xaxis.title.text == "share of requests"


def test_split_figure_all_failed_and_none_failed():
    records = [
        sample("cluster1", 0, "v1"),
        sample("cluster1", 1, "v2"),
        sample("cluster3", 0),
        sample("cluster3", 1),
    ]
    split = split_table(frame("samples", records))
    figure = split_figure(split, source_summary(frame("samples", records), split))
    assert list(bars(figure)["failed"].x) == [0, 1]
    expected = next(t for t in figure.data if t.name == "expected split")
    assert list(expected.y) == ["cluster1 (2 requests, 0 errors)"]  # no expected tick on cluster3's bar
    assert list(expected.x) == [0.5]
    healthy = frame("samples", [sample("cluster1", 0, "v1"), sample("cluster1", 1, "v2")])
    split = split_table(healthy)
    assert list(bars(split_figure(split, source_summary(healthy, split)))) == [
        "v1 (cluster1)",
        "v2 (cluster2)",
    ]


def test_split_figure_empty():
    figure = split_figure(frame("split", []))
    assert figure.data == ()
    assert figure.layout.annotations[0].text == "No responses to show"


def test_split_figure_nan_shares():
    # cluster3 only saw errors: its shares are NaN and its bar is empty, but the figure still renders
    samples = frame("samples", [sample("cluster1", 0, "v1"), sample("cluster3", 0)])
    figure = split_figure(split_table(samples))
    v1 = bars(figure)["v1 (cluster1)"]
    assert v1.x[0] == 1.0
    assert math.isnan(v1.x[1])
    json.loads(figure.to_json())


# --- sequence_figure ------------------------------------------------------------------------------


def test_sequence_figure_one_bin_per_request(samples):
    figure = sequence_figure(samples)
    traces = [(t.name, t.xaxis) for t in figure.data]
    # a subplot row per source, a trace per version then "error"
    assert traces == [(n, "x") for n in ("v1", "v2", "error")] + [(n, "x2") for n in ("v1", "v2", "error")]
    assert [t.showlegend for t in figure.data] == [True] * 3 + [False] * 3
    v1, _, error = figure.data[:3]
    assert list(v1.x) == [0, 1, 2, 3]
    assert list(v1.width) == [1, 1, 1, 1]
    assert list(v1.y) == [1, 1, 0, 1]
    assert list(error.y) == [0, 0, 1, 0]
    assert [a.text for a in figure.layout.annotations] == ["cluster1", "cluster2"]


def test_sequence_figure_bins_consecutive_requests():
    # 1001 requests, at most 100 bins: 11 requests a bin (ceil(1001 / 100)), ceil(1001 / 11) = 91 bins
    samples = frame("samples", [sample("cluster1", i, "v1" if i % 4 else "v2") for i in range(1001)])
    v1, v2 = sequence_figure(samples, max_bins=100).data
    assert len(v1.x) == 91
    assert sum(v1.customdata[:, 1]) == 1001
    assert list(v1.customdata[0]) == [8, 11, 0, 10]  # requests 0-10: v2 at 0, 4, 8
    assert list(v1.y + v2.y) == pytest.approx([1.0] * 91)
    # the last bin holds requests 990-1000
    assert (v1.x[-1], v1.width[-1]) == (995, 11)


def test_sequence_figure_colours_match_split_figure(samples):
    split_colours = {
        name.split()[0]: t.marker.color for name, t in bars(split_figure(split_table(samples))).items()
    }
    sequence_colours = {t.name: t.marker.color for t in sequence_figure(samples).data}
    assert {v: sequence_colours[v] for v in split_colours} == split_colours


def test_sequence_figure_empty():
    figure = sequence_figure(frame("samples", []))
    assert figure.data == ()
    assert figure.layout.annotations[0].text == "No requests to show"


@pytest.mark.parametrize("n", [1_000, 1_000_000])
def test_figures_do_not_grow_with_the_samples(n):
    samples = generated(n)
    split = split_table(samples)
    split_fig, sequence_fig = split_figure(split, source_summary(samples, split)), sequence_figure(samples)
    assert len(split_fig.to_json()) < 300_000
    assert len(sequence_fig.to_json()) < 300_000
    # 2 sources x (v1, v2, error) x at most 200 bins
    assert sum(len(trace.x) for trace in sequence_fig.data) <= 2 * 3 * 200


@pytest.fixture(scope="module")
def simulated():
    """The simulated mesh's samples at 100 and at 50,000 requests per cluster (100,000 in all), firewalled
    so that some requests fail."""
    import meshnb

    return {
        n: meshnb.check_load_balancing(meshnb.simulate("firewall"), requests=n).evidence["samples"]
        for n in (100, 50_000)
    }


def test_sequence_figure_at_100_requests_draws_each_request(simulated):
    samples = simulated[100]
    figure = sequence_figure(samples)
    for source, axis in (("cluster1", "x"), ("cluster2", "x2")):
        mine = samples[samples["source_cluster"] == source].sort_values("seq")
        outcomes = mine["version"].astype(object).where(mine["version"].notna(), "error")
        traces = {t.name: t for t in figure.data if t.xaxis == axis}
        assert set(outcomes) <= set(traces) == {"v1", "v2", "error"}
        for name, trace in traces.items():
            assert list(trace.x) == mine["seq"].tolist()  # a bar per request, at its own number
            assert set(trace.width) == {1}
            assert list(trace.y) == (outcomes == name).astype(float).tolist()  # 100 % of its one request


def test_sequence_figure_at_100_000_requests_stays_small(simulated):
    samples = simulated[50_000]
    assert len(samples) == 100_000
    figure = sequence_figure(samples, max_bins=200)
    # per source cluster and outcome (v1, v2, error) at most one bar per bin, 200 bins
    points = sum(len(trace.x) for trace in figure.data)
    assert points <= 2 * 3 * 200
    assert {w for trace in figure.data for w in trace.width} == {250}  # 50,000 / 200 requests a bar
    assert len(figure.to_json()) < 100_000


def _luminance(css):
    """WCAG relative luminance of '#rrggbb' or 'rgb(a)(r, g, b[, a])', and the colour's alpha."""
    if css.startswith("#"):
        channels, alpha = [int(css[i : i + 2], 16) for i in (1, 3, 5)], 1.0
    else:
        values = [float(v) for v in css[css.index("(") + 1 : -1].split(",")]
        channels, alpha = values[:3], values[3] if len(values) == 4 else 1.0
    linear = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2], alpha


def _contrast(a, b):
    high, low = sorted([_luminance(a)[0], _luminance(b)[0]], reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_helper():
    assert _contrast("#000000", "#ffffff") == pytest.approx(21)
    assert _contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # WebAIM's checker: 4.48:1
    assert _luminance("rgba(0, 0, 0, 0)") == (0, 0)


def _all_figures(samples):
    from meshnb.plots import balance_figure, endpoints_figure, timeline_figure

    split = split_table(samples)
    shares = pd.DataFrame(
        {
            "source_cluster": ["c1"],
            "version": ["v1"],
            "dest_cluster": ["c1"],
            "observed": [1.0],
            "expected": [1.0],
        }
    )
    history = pd.DataFrame(
        {"source_cluster": ["c1"], "seconds": [0.5], "remote_share": [0.0], "expected_remote": [0.0]}
    )
    return {
        "split": split_figure(split, source_summary(samples, split)),
        "empty split": split_figure(frame("split", [])),
        "sequence": sequence_figure(samples),
        "balance": balance_figure(shares, history),
        "endpoints": endpoints_figure(frame("endpoints", [])),
        "timeline": timeline_figure(samples, frame("istiod_events", [])),
    }


def test_figures_read_on_light_and_dark_pages(samples):
    """JupyterLab's plotly renderer takes the figure as it is in either theme: the figure's background
    must let the page's through and its text must read on white (Light), on #111 and on #212121 (JupyterLab
    Dark's notebook and ipywidgets' tabs)."""
    for name, figure in _all_figures(samples).items():
        layout, template = figure.layout, figure.layout.template.layout
        for background in ("paper_bgcolor", "plot_bgcolor"):
            assert _luminance(layout[background] or template[background] or "#ffffff")[1] == 0, (
                name,
                background,
            )
        text = layout.font.color or template.font.color or "#444444"  # plotly.js's default
        for page in ("#ffffff", "#111111", "#212121"):
            assert _contrast(text, page) >= 4.0, (name, text, page)
        # nothing overrides that colour for titles, legends or annotations (subplot titles)
        assert layout.title.font.color is None and layout.legend.font.color is None, name
        assert all(note.font.color is None for note in layout.annotations), name
        assert layout.modebar.color is not None, name  # plotly.js derives it from the clear background


def test_simulated_events_and_requests_share_one_time_line():
    """The simulated istiods' log was dated days before the requests: a one-second run drew a four-day
    axis. Their events now come shortly before the scenario's requests."""
    import meshnb
    from meshnb.plots import timeline_figure

    report = meshnb.triage(meshnb.simulate("remote-secret-revoked-token"))
    samples = report.findings["load-balancing"].evidence["samples"]
    events = report.findings["remote-secrets"].evidence["istiod_events"]
    assert len(events) and len(samples)
    times = [*events["ts"], *samples["ts"]]
    assert max(times) - min(times) < pd.Timedelta(minutes=2)
    assert events["ts"].max() < samples["ts"].min()  # istiod started, then the checks ran
    xs = [x for trace in timeline_figure(samples, events).data for x in trace.x]
    assert max(xs) - min(xs) < pd.Timedelta(minutes=2)
