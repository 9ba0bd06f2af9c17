"""Figures for the version split: DataFrame in, plotly Figure out (pure, no cluster calls).

Colours are fixed per version name, so "v1" has the same colour in every figure: ``vN`` takes the
N-th colour of plotly's default palette, other names a colour picked by a stable hash, errors grey.
plotly is imported inside the functions, so importing this module is cheap.

JupyterLab's plotly renderer draws a figure as it is given, whatever JupyterLab's theme, so the
figures carry no theme of their own: their backgrounds are transparent (the page's shows through) and
their text and grid lines are a grey that reads on JupyterLab's light and dark backgrounds alike.

Example:
    >>> from meshnb.schemas import frame
    >>> split_figure(frame("split", [])).layout.annotations[0].text
    'No responses to show'
"""

from __future__ import annotations

import re
import zlib
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "balance_figure",
    "colour",
    "endpoints_figure",
    "sequence_figure",
    "split_figure",
    "timeline_figure",
]

# plotly's default qualitative palette ("Plotly"), inlined so picking a colour needs no import.
_PALETTE = (
    "#636EFA",
    "#EF553B",
    "#00CC96",
    "#AB63FA",
    "#FFA15A",
    "#19D3F3",
    "#FF6692",
    "#B6E880",
    "#FF97FF",
    "#FECB52",
)
_ERROR_COLOUR = "#7F7F7F"
# 4.0:1 on white and on JupyterLab Dark's #212121 (ipywidgets' tabs), 4.7:1 on its #111: the most a
# single grey reaches on all three
_TEXT_COLOUR = "#7F7F7F"
_GRID_COLOUR = "rgba(128, 128, 128, 0.3)"
_CLEAR = "rgba(0, 0, 0, 0)"
_ERROR = "error"
_NUMBERED = re.compile(r"^v(\d+)$")


def colour(version: str) -> str:
    """The colour a version (or failed requests, ``error``) has in every plot.

    >>> colour("v1") != colour("v2")
    True
    """
    if version == _ERROR:
        return _ERROR_COLOUR
    numbered = _NUMBERED.match(version)
    index = int(numbered.group(1)) - 1 if numbered else zlib.crc32(version.encode())
    return _PALETTE[index % len(_PALETTE)]


def _readable(figure: go.Figure) -> go.Figure:
    """Transparent backgrounds, grey text, grid and tool bar: readable on light and dark pages."""
    figure.update_layout(
        paper_bgcolor=_CLEAR,
        plot_bgcolor=_CLEAR,
        font_color=_TEXT_COLOUR,
        modebar={"bgcolor": _CLEAR, "color": _TEXT_COLOUR, "activecolor": _PALETTE[0]},
    )
    figure.update_xaxes(gridcolor=_GRID_COLOUR, zerolinecolor=_GRID_COLOUR)
    figure.update_yaxes(gridcolor=_GRID_COLOUR, zerolinecolor=_GRID_COLOUR)
    return figure


def _empty(title: str, note: str) -> go.Figure:
    import plotly.graph_objects as go

    figure = go.Figure(layout={"title": {"text": title}, "xaxis": {"visible": False}})
    figure.update_yaxes(visible=False)
    figure.add_annotation(text=note, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    return _readable(figure)


def _source_labels(split: pd.DataFrame, sources: pd.DataFrame | None) -> dict[str, str]:
    names = sorted(split["source_cluster"].dropna().unique())
    if sources is None:
        totals = split.groupby("source_cluster")["total"].first()
        return {name: f"{name} ({totals[name]} successful)" for name in names}
    rows = sources.set_index("source_cluster")
    labels = {}
    for name in names:
        requests, errors = (
            (rows.at[name, "requests"], rows.at[name, "errors"]) if name in rows.index else (0, 0)
        )
        labels[name] = f"{name} ({requests} requests, {errors} error{'' if errors == 1 else 's'})"
    return labels


def _failures(names: list[str], sources: pd.DataFrame | None) -> pd.DataFrame:
    """Per source cluster (indexed by ``names``): its ``errors``, ``requests`` and ``failed`` share."""
    if sources is None:
        rows = pd.DataFrame({"errors": 0, "requests": 0}, index=names)
    else:
        rows = sources.set_index("source_cluster")[["errors", "requests"]].reindex(names, fill_value=0)
    return rows.assign(failed=(rows["errors"] / rows["requests"].where(rows["requests"] > 0)).fillna(0.0))


def _add_observed_boundaries(
    figure: go.Figure, split: pd.DataFrame, labels: dict[str, str], confidence: float
) -> None:
    """Whiskers on the boundaries between segments: the Wilson interval of the cumulative share.

    The boundary after the k-th version sits at the share of the first k versions, so its interval is
    that of the cumulative count (for two versions: the interval of v1's share); both are scaled by the
    share of requests ``answered``. Drawn as its own trace after the bars, so no segment hides it.
    """
    from meshnb.stats import wilson_interval

    cumulative = split.assign(
        cum_count=split.groupby("source_cluster")["count"].cumsum(),
        last=~split["source_cluster"].duplicated(keep="last"),
    )
    inner = cumulative[~cumulative["last"] & (cumulative["total"] > 0)]
    answered = inner["answered"].to_numpy()
    x = inner["cum_count"].to_numpy() / inner["total"].to_numpy() * answered
    pairs = zip(inner["cum_count"], inner["total"], strict=True)
    bounds = [wilson_interval(int(count), int(total), confidence) for count, total in pairs]
    low, high = (np.array(bounds).reshape(-1, 2) * answered[:, None]).T
    figure.add_scatter(
        name=f"observed split ({confidence:.0%} interval)",
        mode="markers",
        y=inner["source_cluster"].map(labels),
        x=x,
        marker={"symbol": "diamond", "size": 9, "color": "#222", "line": {"width": 1, "color": "white"}},
        error_x={
            "type": "data",
            "array": high - x,
            "arrayminus": x - low,
            "color": "#222",
            "thickness": 2,
            "width": 6,
        },
        hovertemplate="%{y}<br>observed boundary at %{x:.1%}<extra></extra>",
    )


def split_figure(
    split: pd.DataFrame, sources: pd.DataFrame | None = None, confidence: float = 0.95
) -> go.Figure:
    """Stacked horizontal bars of the ``split`` frame: which version answered each source cluster.

    One bar per source cluster and one trace per version; diamonds with whiskers mark each observed
    boundary between segments with its Wilson interval, black ticks the expected boundaries.
    ``sources`` (the ``sources`` frame) adds request and error counts to the bar labels, and the failed
    requests as a grey segment "failed": the bars are then shares of all requests, the versions' part
    of a bar being the split of the successful responses.

    >>> from meshnb.stats import split_table
    >>> from meshnb.schemas import frame
    >>> row = dict(source_pod="curl-0", url="u", http_status=200, instance="i", error=None,
    ...            error_kind=None, latency_ms=1.0, ts=None, seq=0, source_cluster="cluster1")
    >>> samples = frame("samples", [dict(row, version=v, dest_cluster=c)
    ...                             for v, c in [("v1", "cluster1"), ("v2", "cluster2")]])
    >>> [trace.name for trace in split_figure(split_table(samples)).data]
    ['v1 (cluster1)', 'v2 (cluster2)', 'observed split (95% interval)', 'expected split']
    """
    import plotly.graph_objects as go

    level = f"{confidence:.0%}"
    unit = "share of successful responses" if sources is None else "share of requests"
    title = (
        f"Which version answered each source cluster ({unit})"
        f"<br><sup>diamonds and whiskers: observed boundary with its {level} Wilson interval; "
        "black ticks: expected split</sup>"
    )
    if split.empty:
        return _empty(title, "No responses to show")
    labels = _source_labels(split, sources)
    order = list(labels.values())
    failures = _failures(list(labels), sources)
    split = split.sort_values(["source_cluster", "version"])
    split = split.assign(answered=1 - split["source_cluster"].map(failures["failed"]))
    figure = go.Figure()
    hover = ["count", "total", "ci_low", "ci_high", "expected_share", "share"]
    for version, rows in split.groupby("version", sort=True):
        dest = rows["dest_cluster"].dropna()
        figure.add_bar(
            name=f"{version} ({dest.iloc[0]})" if len(dest) else str(version),
            orientation="h",
            y=rows["source_cluster"].map(labels),
            x=rows["share"] * rows["answered"],
            marker_color=colour(version),
            customdata=rows[hover].to_numpy(float),
            hovertemplate=(
                f"%{{y}} → {version}<br>%{{customdata[0]}} of %{{customdata[1]}} successful"
                f" = %{{customdata[5]:.1%}}<br>{level} interval"
                " %{customdata[2]:.1%} – %{customdata[3]:.1%}<br>expected %{customdata[4]:.1%}"
                f"{'' if sources is None else '<br>%{x:.1%} of all requests'}<extra></extra>"
            ),
        )
    if failures["errors"].any():
        figure.add_bar(
            name="failed",
            orientation="h",
            y=order,
            x=failures["failed"],
            marker_color=colour(_ERROR),
            customdata=failures[["errors", "requests"]].to_numpy(float),
            hovertemplate="%{y} → failed<br>%{customdata[0]} of %{customdata[1]} requests = %{x:.1%}"
            "<extra></extra>",
        )
    _add_observed_boundaries(figure, split, labels, confidence)
    boundaries = split.assign(boundary=split.groupby("source_cluster")["expected_share"].cumsum())
    boundaries = boundaries[(boundaries["boundary"] < 1 - 1e-9) & (boundaries["answered"] > 0)]
    figure.add_scatter(
        name="expected split",
        mode="markers",
        y=boundaries["source_cluster"].map(labels),
        x=boundaries["boundary"] * boundaries["answered"],
        marker={
            "symbol": "line-ns-open",
            "size": 36,
            "color": "black",
            "line": {"width": 3, "color": "black"},
        },
        hovertemplate="%{y}<br>expected boundary at %{x:.1%}<extra></extra>",
    )
    figure.update_layout(
        title={"text": title},
        barmode="stack",
        height=160 + 70 * len(order),
        legend={"title": {"text": "version (cluster)"}, "traceorder": "normal"},
        xaxis={"range": [0, 1.02], "tickformat": ".0%", "title": {"text": unit}},
        yaxis={"categoryorder": "array", "categoryarray": order, "autorange": "reversed"},
    )
    return _readable(figure)


def balance_figure(shares: pd.DataFrame, history: pd.DataFrame) -> go.Figure:
    """The live demo's figure: where each cluster's requests go, observed beside expected, and over time.

    ``shares``: one row per (``source_cluster``, ``version``) with ``observed`` and ``expected`` shares
    of all requests and the version's ``dest_cluster``; the version ``"error"`` holds failed requests.
    ``history``: ``source_cluster``, ``seconds`` (since the traffic started), ``remote_share`` and
    ``expected_remote`` (share of a batch's requests answered by another cluster). The traces depend
    only on the versions and sources of ``shares``, so a figure widget can take a newer figure's data
    trace by trace.

    >>> shares = pd.DataFrame({"source_cluster": ["c1", "c1"], "version": ["v1", "error"],
    ...     "dest_cluster": ["c1", None], "observed": [0.9, 0.1], "expected": [1.0, 0.0]})
    >>> history = pd.DataFrame({"source_cluster": ["c1"], "seconds": [0.5], "remote_share": [0.0],
    ...     "expected_remote": [0.0]})
    >>> [trace.name for trace in balance_figure(shares, history).data]
    ['v1 (c1)', 'failed', 'from c1', 'from c1: expected']
    """
    from plotly.subplots import make_subplots

    figure = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.58, 0.42],
        horizontal_spacing=0.14,
        subplot_titles=("Where each cluster's requests go", "Share answered by another cluster"),
    )
    sources = list(dict.fromkeys(shares["source_cluster"]))
    rows = [f"{source} {kind}" for source in sources for kind in ("observed", "expected")]
    for version, rows_of_version in shares.groupby("version", sort=False):
        part = rows_of_version.set_index("source_cluster").reindex(sources)
        x = np.column_stack([part["observed"], part["expected"]]).ravel()
        dest = rows_of_version["dest_cluster"].dropna()
        figure.add_bar(
            name="failed"
            if version == _ERROR
            else f"{version} ({dest.iloc[0]})"
            if len(dest)
            else str(version),
            orientation="h",
            y=rows,
            x=x,
            text=[f"{share:.0%}" if share >= 0.06 else "" for share in np.nan_to_num(x)],
            textposition="inside",
            insidetextanchor="middle",
            marker={
                "color": colour(str(version)),
                "opacity": [1.0, 0.5] * len(sources),
                "pattern": {"shape": ["", "/"] * len(sources)},
            },
            hovertemplate="%{y} → " + str(version) + ": %{x:.1%}<extra></extra>",
            row=1,
            col=1,
        )
    for index, source in enumerate(sources):
        part = history[history["source_cluster"] == source]
        line_colour = _PALETTE[(index + 4) % len(_PALETTE)]
        figure.add_scatter(
            name=f"from {source}",
            x=part["seconds"],
            y=part["remote_share"],
            mode="lines+markers",
            line={"color": line_colour},
            hovertemplate=f"from {source} at %{{x:.1f}} s: %{{y:.0%}} answered elsewhere<extra></extra>",
            row=1,
            col=2,
        )
        figure.add_scatter(
            name=f"from {source}: expected",
            x=part["seconds"],
            y=part["expected_remote"],
            mode="lines",
            line={"color": line_colour, "dash": "dash"},
            hovertemplate=f"from {source} at %{{x:.1f}} s: %{{y:.0%}} expected elsewhere<extra></extra>",
            row=1,
            col=2,
        )
    figure.update_layout(
        barmode="stack",
        height=140 + 70 * len(rows),
        margin={"t": 60},
        legend={"orientation": "h", "y": -0.15, "traceorder": "normal"},
        uirevision="meshnb-demo",  # keep the user's zoom and legend clicks across updates
    )
    figure.update_xaxes(range=[0, 1], tickformat=".0%", row=1, col=1)
    figure.update_yaxes(categoryorder="array", categoryarray=rows, autorange="reversed", row=1, col=1)
    figure.update_yaxes(range=[-0.02, 1.02], tickformat=".0%", row=1, col=2)
    figure.update_xaxes(title={"text": "seconds of traffic"}, rangemode="tozero", row=1, col=2)
    return _readable(figure)


def _bins(samples: pd.DataFrame, max_bins: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bins of consecutive requests per source: their spans and their counts per outcome.

    Spans are (source_cluster, first, last, requests) and counts per outcome a column per version, then
    "error"; one row per bin, in seq order.
    """
    source, sources = pd.factorize(samples["source_cluster"], sort=True)
    version = samples["version"]
    if isinstance(version.dtype, pd.CategoricalDtype) and _ERROR not in version.cat.categories:
        version = version.cat.add_categories([_ERROR])  # the samples' strings are categoricals
    outcome, outcomes = pd.factorize(version.fillna(_ERROR), sort=True)
    seq = samples["seq"].to_numpy()
    order = np.lexsort((seq, source))
    order = order[source[order] >= 0]
    source, outcome, seq = source[order], outcome[order], seq[order]
    per_source = np.bincount(source, minlength=len(sources))
    requests_per_bin = -(-per_source // max_bins)  # ceil, at least 1: every source has a request
    rank = np.arange(len(source)) - (np.cumsum(per_source) - per_source)[source]
    key = source * max_bins + rank // requests_per_bin[source]
    new_bin = np.diff(key, prepend=-1) != 0
    starts, lasts = np.flatnonzero(new_bin), np.flatnonzero(np.diff(key, append=-1) != 0)
    counts = np.bincount(
        (np.cumsum(new_bin) - 1) * len(outcomes) + outcome, minlength=len(starts) * len(outcomes)
    )
    counts = pd.DataFrame(counts.reshape(len(starts), len(outcomes)), columns=list(outcomes))
    spans = pd.DataFrame(
        {
            "source_cluster": np.asarray(sources, dtype=object)[key[starts] // max_bins],
            "first": seq[starts],
            "last": seq[lasts],
            "requests": lasts - starts + 1,
        }
    )
    columns = [name for name in counts.columns if name != _ERROR] + [_ERROR] * (_ERROR in counts.columns)
    return spans, counts[columns]


def sequence_figure(samples: pd.DataFrame, max_bins: int = 200) -> go.Figure:
    """Request-by-request view: per source cluster, the share of each version (and errors) over time.

    Consecutive requests (by ``seq``) are grouped into at most ``max_bins`` bins per source cluster,
    one request per bin when there are few enough, so the figure's size does not grow with the samples.

    >>> from meshnb.schemas import frame
    >>> sequence_figure(frame("samples", [])).layout.annotations[0].text
    'No requests to show'
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    title = "Which version answered, request by request (share per bin of consecutive requests)"
    if max_bins < 1:
        raise ValueError(f"max_bins must be at least 1, got {max_bins}")
    spans, counts = _bins(samples, max_bins)
    if spans.empty:
        return _empty(title, "No requests to show")
    sources = list(spans["source_cluster"].unique())
    figure = make_subplots(
        rows=len(sources),
        cols=1,
        shared_xaxes=True,
        subplot_titles=sources,
        vertical_spacing=min(0.08, 0.3 / len(sources)),
    )
    for row, source in enumerate(sources, start=1):
        mine = (spans["source_cluster"] == source).to_numpy()
        span = spans[mine]
        for outcome, count in counts[mine].items():
            figure.add_trace(
                go.Bar(
                    name=outcome,
                    legendgroup=outcome,
                    showlegend=row == 1,
                    marker_color=colour(outcome),
                    marker_line_width=0,
                    x=(span["first"] + span["last"]) / 2,
                    width=span["last"] - span["first"] + 1,
                    y=count / span["requests"],
                    customdata=np.column_stack([count, span["requests"], span["first"], span["last"]]),
                    hovertemplate=(
                        f"{source}: requests %{{customdata[2]}}–%{{customdata[3]}}<br>{outcome}"
                        " %{customdata[0]} of %{customdata[1]} = %{y:.0%}<extra></extra>"
                    ),
                ),
                row=row,
                col=1,
            )
        figure.update_yaxes(range=[0, 1], tickformat=".0%", row=row, col=1)
    figure.update_xaxes(title_text="request number (seq)", row=len(sources), col=1)
    figure.update_layout(title={"text": title}, barmode="stack", bargap=0, height=140 + 160 * len(sources))
    return _readable(figure)


def endpoints_figure(endpoints: pd.DataFrame) -> go.Figure:
    """What each cluster's proxy holds for the service: endpoint weight by destination cluster.

    The weights are stacked per source cluster, with the priority in the hover (a missing remote cluster
    shows as a gap).

    >>> from meshnb.schemas import frame
    >>> endpoints_figure(frame("endpoints", [])).layout.annotations[0].text
    'No endpoints to show'
    """
    import plotly.graph_objects as go

    title = "Endpoints each cluster's proxy holds (weight by destination cluster)"
    if endpoints.empty:
        return _empty(title, "No endpoints to show")
    table = endpoints.assign(
        dest=endpoints["dest_cluster"].astype("string").fillna("unknown"),
        weight=endpoints["weight"].fillna(1).astype(float),
    )
    grouped = table.groupby(["source_cluster", "dest"], sort=True).agg(
        weight=("weight", "sum"), endpoints=("address", "count"), priority=("priority", "min")
    )
    figure = go.Figure()
    for index, dest in enumerate(grouped.index.get_level_values("dest").unique()):
        part = grouped.xs(dest, level="dest")
        figure.add_trace(
            go.Bar(
                name=dest,
                orientation="h",
                y=list(part.index),
                x=part["weight"],
                marker_color=_PALETTE[index % len(_PALETTE)],
                customdata=np.column_stack([part["endpoints"], part["priority"].fillna(0)]),
                hovertemplate=(
                    f"%{{y}} → {dest}: weight %{{x}}, %{{customdata[0]}} endpoint(s), "
                    "priority %{customdata[1]}<extra></extra>"
                ),
            )
        )
    figure.update_layout(
        title={"text": title},
        barmode="stack",
        xaxis_title="total endpoint weight",
        legend_title_text="destination cluster",
        height=160 + 60 * grouped.index.get_level_values("source_cluster").nunique(),
    )
    return _readable(figure)


def timeline_figure(samples: pd.DataFrame, events: pd.DataFrame, max_points: int = 500) -> go.Figure:
    """When things happened: istiod's remote-cluster events and each source cluster's requests.

    Requests show as successes and errors per time bin, at most ``max_points`` bins per source and
    outcome.

    >>> from meshnb.schemas import frame
    >>> timeline_figure(frame("samples", []), frame("istiod_events", [])).layout.annotations[0].text
    'Nothing to show'
    """
    import plotly.graph_objects as go

    title = "Timeline: istiod's remote-cluster events and the requests sent"
    if samples.empty and events.empty:
        return _empty(title, "Nothing to show")
    figure = go.Figure()
    if not samples.empty:
        outcome = samples["error_kind"].astype("string").fillna("ok")
        start, end = samples["ts"].min(), samples["ts"].max()
        width = max((end - start) / max_points, pd.Timedelta(milliseconds=1))
        binned = (
            samples.assign(outcome=outcome, bin=start + ((samples["ts"] - start) // width) * width)
            .groupby(["source_cluster", "outcome", "bin"], observed=True)
            .size()
            .rename("requests")
            .reset_index()
        )
        for (source, kind), part in binned.groupby(["source_cluster", "outcome"], sort=True):
            figure.add_trace(
                go.Scatter(
                    name=f"requests from {source}: {kind}",
                    mode="markers",
                    x=part["bin"],
                    y=[f"requests from {source}"] * len(part),
                    marker={
                        "size": 6 + 2 * np.log1p(part["requests"]),
                        "color": colour(kind if kind != "ok" else "v1"),
                    },
                    customdata=part["requests"],
                    hovertemplate=f"%{{x}}: %{{customdata}} {kind}<extra></extra>",
                )
            )
    if not events.empty:
        for level, part in events.groupby(events["level"].astype("string").fillna("info"), sort=True):
            figure.add_trace(
                go.Scatter(
                    name=f"istiod {level}",
                    mode="markers",
                    x=part["ts"],
                    y=[f"istiod {c}" for c in part["cluster"]],
                    marker={"symbol": "x" if level == "error" else "circle", "size": 10,
                            "color": "#cf222e" if level == "error" else "#57606a"},
                    text=(part["event"] + " " + part["remote_cluster"].fillna("")).str.strip(),
                    hovertemplate="%{x}: %{text}<extra></extra>",
                )
            )  # fmt: skip
    figure.update_layout(title={"text": title}, xaxis_title="time (UTC)", height=320)
    return _readable(figure)
