"""A live demonstration of cross-cluster load balancing, for people who do not read YAML.

Controls on the left set the simulated mesh (load-balancing policy, locality preference and failover,
pods per cluster, each fault); while *Send traffic* is on, every cluster's curl pod sends a batch of
requests through its sidecar every ``interval`` seconds, and the chart shows where they went beside
where the configuration says they should go, with a sentence on why. Changing a control starts a
new observation window: the expected split moves at once, the observed one follows.

Works without a browser: set controls, call :meth:`BalancingDemo.step`, read :meth:`BalancingDemo.table`.

>>> import meshnb
>>> demo = BalancingDemo(meshnb.simulate(), batch=20)
>>> demo.locality.value = "prefer-local"
>>> demo.step()
>>> table = demo.table().set_index(["source_cluster", "version"])
>>> table.loc[("cluster1", "v1"), ["observed", "expected"]].tolist()
[1.0, 1.0]
"""

from __future__ import annotations

import html
import logging
import threading
import time
from collections import Counter, deque

import ipywidgets as widgets

from meshnb.backends.sim import MAX_REPLICAS, POLICIES, Knobs, SimMesh
from meshnb.diagnostics.load_balancing import check_load_balancing
from meshnb.widgets.check_panel import STYLE, error_html
from meshnb.widgets.demo_story import why
from meshnb.widgets.viewer import Viewer

__all__ = ["BalancingDemo"]

log = logging.getLogger("meshnb")

ERROR = "error"  # the failed requests' row, as in meshnb.plots
POLICY_LABELS = {
    "LEAST_REQUEST": "Least request (Istio's default)",
    "ROUND_ROBIN": "Round robin",
    "RANDOM": "Random",
}
LOCALITY_LABELS = {
    "off": "Off: spread by weight",
    "prefer-local": "Prefer own zone, fail over",
    "distribute": "Distribute by percentage",
}
WIDE = {"width": "320px"}


#: What each data plane does with a request, in one sentence (the demo shows it under its switch).
DATA_PLANE_NOTES = {
    False: "Each pod's Envoy sidecar picks an endpoint by the load-balancing policy; another network is one "
    "endpoint, its east-west gateway, weighted by the pods behind it.",
    True: "No sidecars: each node's ztunnel picks at random, weighted by capacity (another network's pods "
    "are one endpoint whose capacity is their number); policy and locality settings do not apply.",
}


def _percentages(shares: dict[str, float]) -> str:
    return (
        " · ".join(f"{share:.0%} {'failed' if v == ERROR else v}" for v, share in shares.items() if share)
        or "—"
    )


class BalancingDemo(widgets.HBox):
    """Controls for ``mesh`` and a live chart of where each cluster's requests go, observed and expected."""

    def __init__(
        self,
        mesh: SimMesh,
        *,
        batch: int = 20,
        interval: float = 0.5,
        history: int = 120,
        viewer_timeout: float = 10.0,
    ):
        import plotly.graph_objects as go

        self.mesh = mesh
        self.interval = interval
        self.viewer_timeout = viewer_timeout  # no page for this long: traffic stops (a tab was closed)
        self.viewer = Viewer()
        self.sources = list(mesh.clusters)
        self.version_clusters = mesh.versions
        self.versions = [*self.version_clusters, ERROR]
        self.batches = 0
        self.error: BaseException | None = None
        self._counts: dict[str, Counter[str]] = {source: Counter() for source in self.sources}
        self._history: deque[dict] = deque(maxlen=history * len(self.sources))
        self._started: float | None = None  # when the first batch went out
        self._window = 0  # bumped by every change: a batch sampled under older settings is dropped
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

        self._configuration(mesh.knobs)
        self._faults(mesh.knobs)
        self.batch = widgets.IntSlider(value=batch, min=5, max=200, step=5, description="Requests per batch")
        self.running = widgets.ToggleButton(
            value=False,
            description="Send traffic",
            icon="play",
            button_style="primary",
            tooltip="Start or pause",
        )
        self.running.add_class("meshnb-demo-run")
        self.reset_button = widgets.Button(
            description="Start over", icon="refresh", tooltip="Clear what was seen"
        )
        self.status = widgets.HTML("<i>Paused. Press <b>Send traffic</b>.</i>")
        self.status.add_class("meshnb-status-line")
        self.headline = widgets.HTML()
        self.headline.add_class("meshnb-demo-headline")
        self.story = widgets.HTML()
        self.story.add_class("meshnb-demo-why")
        self._render_lock = threading.Lock()
        self.figure = go.FigureWidget(self._figure(self.table()))

        controls = [
            self.data_plane,
            self.policy,
            self.locality,
            self.outlier,
            self.keep_local,
            self.same_zone,
            *self.replicas.values(),
        ]
        for control in [*controls, *self.faults.values()]:
            control.style = STYLE
            control.layout = WIDE
            control.observe(self._on_change, names="value")
        self.running.observe(self._on_running, names="value")
        self.reset_button.on_click(lambda _button: self.reset())
        self.batch.style = STYLE

        def section(title: str, children: list) -> widgets.VBox:
            return widgets.VBox([widgets.HTML(f"<b>{html.escape(title)}</b>"), *children])

        left = widgets.VBox(
            [
                section(
                    "Traffic", [widgets.HBox([self.running, self.reset_button]), self.batch, self.status]
                ),
                section("Configuration", [controls[0], self.data_plane_note, *controls[1:]]),
                section("Faults", list(self.faults.values())),
            ],
            layout={"width": "340px", "flex": "0 0 340px"},
        )
        backend = widgets.HTML(f"<i>Traffic through {html.escape(mesh.kind)}.</i>")
        right = widgets.VBox(
            [backend, self.headline, self.figure, self.story, self.viewer], layout={"flex": "1 1 auto"}
        )
        super().__init__([left, right])
        self.add_class("meshnb-panel")
        self.add_class("meshnb-demo")
        self._sync_controls()
        self.mesh.set(**self._knobs())  # the mesh is what the page shows
        self._tell()
        self._render()

    # ---- the mesh's settings ----

    def _configuration(self, knobs: Knobs) -> None:
        """The controls of what is configured: data plane, policy, locality, outlier detection, pods."""
        self.data_plane = widgets.ToggleButtons(
            options=[("Sidecars", False), ("Ambient", True)],
            value=knobs.ambient,
            description="Data plane",
            tooltips=["An Envoy sidecar in every pod", "No sidecars: a ztunnel on every node"],
        )
        self.data_plane.add_class("meshnb-demo-data-plane")
        self.data_plane.disabled = not getattr(self.mesh, "ambient_capable", True)  # the lab: sidecars only
        self.data_plane_note = widgets.HTML()
        self.data_plane_note.add_class("meshnb-demo-data-plane-note")
        self.policy = widgets.Dropdown(
            options=[(POLICY_LABELS[p], p) for p in POLICIES],
            value=knobs.lb_policy,
            description="Load balancing",
        )
        locality = "off"
        if knobs.locality_lb:
            locality = "distribute" if knobs.locality_distribute is not None else "prefer-local"
        self.locality = widgets.Dropdown(
            options=[(label, key) for key, label in LOCALITY_LABELS.items()],
            value=locality,
            description="Locality",
        )
        self.outlier = widgets.Checkbox(
            value=knobs.outlier_detection, description="Outlier detection", indent=False
        )
        self.keep_local = widgets.IntSlider(
            value=80 if knobs.locality_distribute is None else knobs.locality_distribute,
            min=0,
            max=100,
            step=5,
            description="Kept in own region %",
        )
        self.same_zone = widgets.Checkbox(
            value=knobs.same_locality, description="All clusters in one zone", indent=False
        )
        self.replicas = {
            cluster: widgets.IntSlider(
                value=knobs.replicas.get(cluster, 1),
                min=0,
                max=MAX_REPLICAS,
                description=f"{cluster} pods ({version})",
            )
            for version, cluster in self.version_clusters.items()
        }

    def _faults(self, knobs: Knobs) -> None:
        """A checkbox per fault of the simulated mesh."""
        first, last = self.sources[0], self.sources[-1]
        self.faults = {
            "firewall": widgets.Checkbox(description="Firewall between the networks"),
            "trust_mismatch": widgets.Checkbox(description=f"{last} trusts a different root"),
            "missing_remote_secret": widgets.Checkbox(description=f"{first} lacks its remote secret"),
            "remote_secret_wrong_key": widgets.Checkbox(
                description=f"{first}'s remote secret: wrong data key"
            ),
            **{
                f"dead:{version}": widgets.Checkbox(
                    description=f"{version} is down (its pods refuse connections)"
                )
                for version in self.version_clusters
            },
        }
        for name, box in self.faults.items():
            box.indent = False
            box.value = bool(getattr(knobs, name, None)) or name.removeprefix("dead:") in knobs.dead_versions

    def _knobs(self) -> dict[str, object]:
        locality = self.locality.value
        first = self.sources[0]
        return {
            "ambient": self.data_plane.value,
            "lb_policy": self.policy.value,
            "locality_lb": locality != "off",
            "outlier_detection": self.outlier.value,
            "locality_distribute": self.keep_local.value if locality == "distribute" else None,
            "same_locality": self.same_zone.value,
            "replicas": {cluster: slider.value for cluster, slider in self.replicas.items()},
            "firewall": self.faults["firewall"].value,
            "trust_mismatch": self.faults["trust_mismatch"].value,
            "missing_remote_secret": (first,) if self.faults["missing_remote_secret"].value else (),
            "remote_secret_wrong_key": (first,) if self.faults["remote_secret_wrong_key"].value else (),
            "dead_versions": tuple(v for v in self.version_clusters if self.faults[f"dead:{v}"].value),
        }

    def _sync_controls(self) -> None:
        ambient = bool(self.data_plane.value)
        self.data_plane_note.value = f"<i>{html.escape(DATA_PLANE_NOTES[ambient])}</i>"
        for control in (self.policy, self.locality, self.outlier):  # Envoy's settings: ztunnel reads none
            control.disabled = ambient
        self.keep_local.disabled = ambient or self.locality.value != "distribute"

    def _on_change(self, change: dict) -> None:
        if change["owner"] is self.locality and change["new"] == "prefer-local":
            self.outlier.value = True  # Istio applies locality failover only with outlier detection
        self._sync_controls()
        self.mesh.set(**self._knobs())
        self._tell()
        self.reset()

    def reset(self) -> None:
        """Start a new observation window (what was seen before no longer counts)."""
        with self._lock:
            self._window += 1
            for counts in self._counts.values():
                counts.clear()
        self._render()

    # ---- traffic ----

    def step(self) -> None:
        """Send one batch from every cluster's curl pod and show where the requests went."""
        window = self._window
        finding = check_load_balancing(self.mesh, requests=self.batch.value, batch_size=self.batch.value)
        samples = finding.evidence["samples"]
        errors = finding.evidence["sources"].query("status == 'error'")
        with self._lock:
            if window != self._window:  # settings changed while the batch was out: it shows the old ones
                return
            self.batches += 1
            self._started = self._started or time.monotonic()
            for source, rows in samples.groupby("source_cluster"):
                outcome = (
                    rows["version"].astype("string").where(rows["error_kind"].isna(), ERROR).fillna(ERROR)
                )
                self._counts[source].update(outcome.tolist())
                remote = (rows["dest_cluster"].notna() & (rows["dest_cluster"] != source)).mean()
                self._history.append(
                    {
                        "source_cluster": source,
                        "seconds": round(time.monotonic() - self._started, 2),
                        "remote_share": float(remote),
                        "expected_remote": self._expected_remote(source),
                    }
                )
        self.status.value = (
            f"{'Sending' if self.running.value else 'Paused'}: batch {self.batches}, "
            f"{self.batch.value} requests per cluster"
        )
        if len(errors):
            said = "; ".join(f"{row.source_cluster}: {row.detail}" for row in errors.itertuples())
            self.status.value += "<br>" + html.escape(said)
        self._render()

    def _expected_remote(self, source: str) -> float:
        expected = self.mesh.expected_split(source)
        return sum(share for v, share in expected.items() if self.version_clusters.get(v) != source)

    def start(self) -> None:
        """Send a batch every ``interval`` seconds in a background thread until :meth:`stop`."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="meshnb-demo", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sending (waits for the batch in flight)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.viewer.last_seen is not None and not self.viewer.seen_within(self.viewer_timeout):
                log.info("demo: no page has shown it for %g s: traffic stops", self.viewer_timeout)
                self.running.value = False  # stops this loop
                self.status.value = "<i>Paused: the page showing the demo was closed.</i>"
                return
            try:
                self.step()
            except Exception as exc:  # shown, never lost in a thread
                log.exception("demo batch failed")
                self.error = exc
                self.status.value = error_html(exc)
                self.running.value = False
                return
            self._stop.wait(self.interval)

    def _on_running(self, change: dict) -> None:
        self.running.icon = "pause" if change["new"] else "play"
        self.running.description = "Pause" if change["new"] else "Send traffic"
        if change["new"]:
            self.error = None
            self.start()
        else:
            self.stop()
            if self.error is None:
                self.status.value = f"Paused after batch {self.batches}."

    # ---- what is shown ----

    def table(self):
        """Observed (since the last change) and expected share of each source's requests per version.

        Columns: source_cluster, version ("error": failed), dest_cluster, observed, expected, count, total.
        """
        import pandas as pd

        rows = []
        with self._lock:
            counts = {source: dict(counter) for source, counter in self._counts.items()}
        for source in self.sources:
            expected = self.mesh.expected_split(source)
            total = sum(counts[source].values())
            for version in self.versions:
                count = counts[source].get(version, 0)
                rows.append(
                    {
                        "source_cluster": source,
                        "version": version,
                        "dest_cluster": self.version_clusters.get(version),
                        "observed": count / total if total else 0.0,
                        "expected": expected.get(version, 0.0),
                        "count": count,
                        "total": total,
                    }
                )
        return pd.DataFrame(rows)

    def _figure(self, table):
        import pandas as pd

        from meshnb.plots import balance_figure

        with self._lock:
            history = pd.DataFrame(
                list(self._history), columns=["source_cluster", "seconds", "remote_share", "expected_remote"]
            )
        return balance_figure(table, history)

    def _tell(self) -> None:
        """Why traffic goes where it goes: it changes with the settings, not with each batch."""
        self.story.value = "".join(
            f"<p><b>Why, from {html.escape(source)}</b></p><ul>"
            + "".join(f"<li>{html.escape(sentence)}</li>" for sentence in why(self.mesh, source))
            + "</ul>"
            for source in self.sources
        )

    def _render(self) -> None:
        with self._render_lock:  # the traffic thread and a control change may both render
            self._render_locked()

    def _render_locked(self) -> None:
        table = self.table()
        lines = []
        for source, rows in table.groupby("source_cluster", sort=False):
            total = int(rows["total"].iloc[0])
            observed = dict(zip(rows["version"], rows["observed"], strict=True))
            expected = dict(zip(rows["version"], rows["expected"], strict=True))
            seen = f"{_percentages(observed)} of {total} requests" if total else "no requests yet"
            lines.append(
                f"<b>From {html.escape(source)}</b>: expected {html.escape(_percentages(expected))}; "
                f"observed {html.escape(seen)}"
            )
        self.headline.value = "<br>".join(lines)
        fresh = self._figure(table)
        with self.figure.batch_update():
            for trace, new in zip(self.figure.data, fresh.data, strict=True):
                trace.update(x=new.x, y=new.y, text=new.text)
