"""How a check is declared: its name, function, options, tables and panel, in one place.

Each check module ends with a ``CHECK_SPEC`` (a :class:`Check`); :mod:`meshnb.diagnostics.registry`
lists them in the guide's order, and the command line, triage, the notebook panels and the package's
exports are all built from that list.

>>> spec = Check("toy", lambda mesh, progress=None: None, "a toy", options=(Option("service", "helloworld"),))
>>> spec.export, spec.panel_name, spec.options[0].flag
('check_toy', 'ToyPanel', '--service')
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshnb.diagnostics.by_hand import Hand

__all__ = ["GUIDE_URL", "Check", "Option", "TriageSettings", "anchor"]

#: Istio's "Troubleshooting Multicluster" guide, whose steps the checks are.
GUIDE_URL = "https://istio.io/latest/docs/ops/diagnostic-tools/multicluster/"


def anchor(heading: str) -> str:
    """The anchor istio.io gives a heading of its pages: lower case, words joined by ``-``.

    >>> anchor("Step-by-step Diagnosis"), anchor("Connectivity and firewall issues")
    ('step-by-step-diagnosis', 'connectivity-and-firewall-issues')
    """
    return "-".join(re.sub(r"[^\w\s-]", "", heading.lower()).split())


@dataclass(frozen=True)
class Option:
    """One option of a check: a keyword argument of its function, a CLI flag, a panel control.

    The default's type says what it is: ``bool`` a switch (``--flag``, a checkbox), ``int`` a number
    (between ``minimum`` and ``maximum``), ``str`` a text.
    """

    name: str
    default: str | int | bool
    help: str = ""
    label: str = ""  # the panel's label; default: the name, capitalised
    minimum: int | None = None
    maximum: int | None = None

    @property
    def flag(self) -> str:
        """The command line's flag: ``--namespace``."""
        return "--" + self.name.replace("_", "-")

    @property
    def description(self) -> str:
        """The panel's label."""
        return self.label or self.name.replace("_", " ").capitalize()


@dataclass(frozen=True)
class TriageSettings:
    """What triage was asked for, for each check to take what concerns it (see :attr:`Check.in_triage`)."""

    allow_changes: bool = False
    requests: int = 100


def _nothing(_settings: TriageSettings) -> Mapping[str, Any]:
    return {}


@dataclass(frozen=True)
class Check:
    """A check, declared once.

    ``function(mesh, **options, progress=...)`` returns its Finding. ``tables`` are the evidence
    tables the command line prints, with their columns (none: all). ``verdicts`` names the per-cluster
    table (with ``status``, ``reason`` and ``detail`` columns) and its cluster column. ``panel`` is the
    ``"module:Class"`` of a custom notebook panel (in :mod:`meshnb.widgets`); without one, a panel is
    made from the options and tables. ``in_triage`` gives the keyword arguments triage passes; each
    check named in ``needs`` runs before this one in triage, and its Finding is passed as the keyword
    argument of its name (``endpoints=...``), so what one check read is not read again. ``by_hand``
    gives the kubectl and istioctl commands that gather the same evidence by hand
    (:mod:`meshnb.diagnostics.by_hand`). ``guide`` is the heading of the guide's section the check
    follows (:data:`GUIDE_URL`), as the guide writes it; ``docs``, the address of another page of
    Istio's docs for a check the guide has no section for (ambient mode).
    """

    name: str
    function: Callable[..., Any]
    help: str
    options: tuple[Option, ...] = ()
    tables: tuple[tuple[str, tuple[str, ...]], ...] = ()
    verdicts: tuple[str, str] = ("clusters", "cluster")
    title: str = ""
    panel: str | None = None
    in_triage: Callable[[TriageSettings], Mapping[str, Any]] = field(default=_nothing)
    needs: tuple[str, ...] = ()
    by_hand: Callable[[Hand], Iterable[str]] | None = None
    guide: str = ""
    docs: str = ""

    @property
    def export(self) -> str:
        """The name ``meshnb`` exports its function as: ``check_load_balancing``."""
        return "check_" + self.name.replace("-", "_")

    @property
    def panel_name(self) -> str:
        """The name of its panel in :mod:`meshnb.panels`: ``LoadBalancingPanel``."""
        return "".join(part.capitalize() for part in self.name.split("-")) + "Panel"

    @property
    def guide_url(self) -> str:
        """The address of the guide's section (``""`` without one).

        >>> Check("toy", print, "a toy", guide="Trust Configuration").guide_url
        'https://istio.io/latest/docs/ops/diagnostic-tools/multicluster/#trust-configuration'
        """
        if self.docs:
            return self.docs
        return f"{GUIDE_URL}#{anchor(self.guide)}" if self.guide else ""

    @property
    def keyword(self) -> str:
        """The keyword argument a check that ``needs`` this one receives its Finding as."""
        return self.name.replace("-", "_")
