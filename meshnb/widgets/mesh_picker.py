"""Pointing the panels at a mesh without code: the simulated one, or contexts picked from a kubeconfig.

The picker reads the contexts of a kubeconfig (``$KUBECONFIG`` or ``~/.kube/config`` unless another
path is typed), lets several be selected and each be given the cluster name Istio knows it by (the
name of its remote secret), connects, asks every API server for its version, and hands the new mesh
to the panels it drives. A failure says why and leaves the panels on the mesh they had.

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "config"
>>> _ = path.write_text(
...     "clusters: [{name: a, cluster: {server: 'https://127.0.0.1:1'}}]\\n"
...     "users: [{name: a, user: {token: t}}]\\n"
...     "contexts: [{name: kind-east, context: {cluster: a, user: a}},"
...     " {name: kind-west, context: {cluster: a, user: a}}]\\n"
... )
>>> picker = MeshPicker(kubeconfig=str(path))
>>> picker.contexts.options
('kind-east', 'kind-west')
>>> picker.contexts.value = ("kind-east", "kind-west")
>>> picker.names["kind-east"].value = "cluster1"
>>> picker.pairs()
{'cluster1': 'kind-east', 'kind-west': 'kind-west'}
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from typing import Protocol

import ipywidgets as widgets

from meshnb.backends import kube, open_mesh
from meshnb.backends.base import Mesh
from meshnb.backends.kubeconfig import kubeconfig_path, read_kubeconfig
from meshnb.diagnostics.fanout import per_cluster
from meshnb.errors import ConfigError, MeshnbError
from meshnb.names import validate_cluster_name
from meshnb.widgets.check_panel import STYLE
from meshnb.widgets.simulator import ScenarioPicker

__all__ = ["MeshPicker"]

SIMULATED, REAL = "simulated", "kube"
_ALERT = '<span role="alert" style="color:#cf222e">✖ {}</span>'


class Driven(Protocol):
    """A panel the picker drives: it is handed each new mesh."""

    def set_mesh(self, mesh: Mesh) -> None:
        """Work on ``mesh`` from now on."""


def _answer(version: str | MeshnbError) -> str:
    """What a cluster's API server said to ``/version``, as a line for the picker."""
    if isinstance(version, MeshnbError):
        return f"✖ not reached: {html.escape(str(version))}"
    return f"✔ API server {html.escape(version)}"


class MeshPicker(widgets.VBox):
    """Choose the mesh: the simulated one (``backend`` ``sim`` or ``lab``) or kubeconfig contexts.

    The arguments are the notebooks' parameters (see :func:`meshnb.open_mesh`); ``contexts`` (a list,
    or ``{cluster name: context}``) connects at once. :attr:`mesh` is the mesh chosen now; panels
    given to :meth:`drive` follow every change.
    """

    def __init__(
        self,
        backend: str = "sim",
        *,
        scenario: str = "healthy",
        seed: int = 0,
        contexts: Sequence[str] | Mapping[str, str] | None = None,
        kubeconfig: str | None = None,
    ):
        self._driven: list[Driven] = []
        self._simulated: Mesh | None = None
        self._real: kube.KubeMesh | None = None
        self._backend, self._scenario, self._seed = ("sim" if backend == "kube" else backend), scenario, seed
        label = "Lab (real Envoys)" if self._backend == "lab" else "Simulated mesh"
        self.source = widgets.ToggleButtons(
            options=[(label, SIMULATED), ("Real clusters (kubeconfig)", REAL)],
            value=REAL if contexts is not None or backend == "kube" else SIMULATED,
            description="Mesh",
            style={**STYLE, "button_width": "auto"},  # the fixed default width cuts the labels
        )
        self.kubeconfig = widgets.Text(
            value=kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config",
            description="Kubeconfig",
            placeholder="path; several joined by " + os.pathsep,
            style=STYLE,
            layout={"width": "min(100%, 40em)"},
        )
        self.load_button = widgets.Button(description="Read contexts", icon="refresh")
        self.load_button.on_click(lambda _button: self.load())
        self.contexts = widgets.SelectMultiple(description="Contexts", style=STYLE, rows=4)
        self.contexts.layout = {"width": "min(100%, 40em)"}
        self.contexts.observe(lambda _change: self._show_names(), names="value")
        self.names: dict[str, widgets.Text] = {}
        self.names_box = widgets.VBox()
        self.connect_button = widgets.Button(
            description="Connect", button_style="primary", icon="plug", disabled=True,
            tooltip="Open the selected contexts and point the panels at them",
        )  # fmt: skip
        self.connect_button.on_click(lambda _button: self.connect())
        self.message = widgets.HTML()
        self.message.add_class("meshnb-picker-message")
        self.real_box = widgets.VBox(
            [
                widgets.HBox([self.kubeconfig, self.load_button], layout={"flex_flow": "row wrap"}),
                self.contexts,
                widgets.HTML(
                    "<i>Cluster names, as Istio knows them (the data key of their remote secret):</i>"
                ),
                self.names_box,
                self.connect_button,
            ]
        )
        self.simulated_box = widgets.VBox()
        super().__init__([self.source, self.simulated_box, self.real_box, self.message])
        self.add_class("meshnb-mesh-picker")
        self.source.observe(self._source_changed, names="value")
        if contexts is not None:
            pairs = kube.context_pairs(contexts)
            self.load(select=pairs)
            self._real = kube.connect(pairs, kubeconfig)
            self.mesh: Mesh = self._real
        else:
            if any(os.path.isfile(os.path.expanduser(p)) for p in self.kubeconfig.value.split(os.pathsep)):
                self.load()
            self.mesh = self._simulated_mesh()
        self._show_source()

    @property
    def simulated(self) -> bool:
        """Whether :attr:`mesh` is the simulated mesh (or the lab)."""
        return self.mesh is self._simulated

    def drive(self, *panels: Driven) -> MeshPicker:
        """Hand every later change of mesh to ``panels``; returns the picker (for a cell's last line)."""
        self._driven += panels
        return self

    def load(self, select: Mapping[str, str] | None = None) -> list[str]:
        """Read the contexts of the kubeconfig path; ``select`` (cluster name -> context) selects some."""
        try:
            found = read_kubeconfig(kubeconfig_path(self.kubeconfig.value.strip())).contexts
        except MeshnbError as exc:
            self.message.value = _ALERT.format(html.escape(str(exc)))
            return []
        self.contexts.options = found
        if select:
            self.contexts.value = tuple(c for c in select.values() if c in found)
            for cluster, context in select.items():
                if context in self.names:
                    self.names[context].value = cluster
        self.message.value = (
            f"{len(found)} context(s) in <code>{html.escape(self.kubeconfig.value)}</code>"
            if found
            else _ALERT.format(f"no contexts in {html.escape(self.kubeconfig.value)}")
        )
        return found

    def pairs(self) -> dict[str, str]:
        """The selected contexts by the cluster names typed for them; raises ConfigError on a bad name."""
        pairs: dict[str, str] = {}
        for context in self.contexts.value:
            name = validate_cluster_name(self.names[context].value.strip())
            if name in pairs:
                raise ConfigError(
                    f"cluster name {name!r} is given to two contexts, {pairs[name]!r} and {context!r}"
                )
            pairs[name] = context
        return pairs

    def connect(self) -> kube.KubeMesh | None:
        """Connect to the selected contexts, say what each API server answered, hand the mesh on."""
        try:
            pairs = self.pairs()
            mesh = kube.connect(pairs, self.kubeconfig.value.strip())
        except MeshnbError as exc:
            self.message.value = _ALERT.format(html.escape(str(exc)))
            return None
        self.connect_button.description, self.connect_button.disabled = "Connecting…", True
        try:
            versions = per_cluster(mesh, lambda name, _cluster, _report: mesh.clusters[name].version())
        finally:
            self.connect_button.description, self.connect_button.disabled = "Connect", False
        self.message.value = "<br>".join(
            f"<b>{html.escape(name)}</b> (context {html.escape(context)}): {_answer(versions[name])}"
            for name, context in pairs.items()
        )
        previous, self._real = self._real, mesh
        self._use(mesh)
        if previous is not None:
            previous.close()
        return mesh

    # -- internals ------------------------------------------------------------------------------------
    def _simulated_mesh(self) -> Mesh:
        if self._simulated is None:
            self._simulated = open_mesh(self._backend, scenario=self._scenario, seed=self._seed)
            self.simulated_box.children = [ScenarioPicker(self._simulated)]  # type: ignore[arg-type]
        return self._simulated

    def _use(self, mesh: Mesh) -> None:
        self.mesh = mesh
        for panel in self._driven:
            panel.set_mesh(mesh)

    def _show_source(self) -> None:
        real = self.source.value == REAL
        self.real_box.layout.display = None if real else "none"
        self.simulated_box.layout.display = "none" if real else None

    def _source_changed(self, change: dict) -> None:
        self._show_source()
        if change["new"] == SIMULATED:
            self._use(self._simulated_mesh())
        elif self._real is not None:
            self._use(self._real)

    def _show_names(self) -> None:
        for context in self.contexts.value:
            if context not in self.names:
                self.names[context] = widgets.Text(
                    value=context, description=context, style=STYLE, layout={"width": "min(100%, 40em)"}
                )
        self.names_box.children = [self.names[c] for c in self.contexts.value]
        self.connect_button.disabled = not self.contexts.value
