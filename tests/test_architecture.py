"""The import graph of meshnb/: layers that only import downwards, and no cycles.

Every module under meshnb/ is parsed (never imported) and every import in it counts: at the top, inside
functions, under ``if TYPE_CHECKING:``, relative ones, and ``importlib.import_module("meshnb....")`` with
a literal name; docstrings (doctests) do not. ``from pkg import name`` imports ``pkg.name`` when that is a
module, else ``pkg`` (its ``__init__.py``).

The layers, lowest first: a module may import modules of its own layer or a lower one. The package
``meshnb`` itself (meshnb/__init__.py) is above them all and may import anything; no other module may
import it (``import meshnb``, ``from meshnb import name`` where ``name`` is not a module): import the
module that defines the name. A new module joins by being added to one layer in ``LAYERS``.
"""

from __future__ import annotations

import ast
import itertools
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP = "meshnb"


@dataclass(frozen=True)
class Layer:
    name: str
    modules: frozenset[str] = frozenset()  # these modules
    packages: frozenset[str] = frozenset()  # these packages and everything under them
    may_not_import: frozenset[str] = frozenset()  # lower layers that are still out of bounds

    def holds(self, module: str) -> bool:
        return module in self.modules or any(
            module == package or module.startswith(package + ".") for package in self.packages
        )


#: Lowest first: a layer's rank is its place here.
LAYERS = (
    Layer(
        "core",
        modules=frozenset(
            {
                "meshnb.errors",
                "meshnb.names",
                "meshnb.files",
                "meshnb.schemas",
                "meshnb.version",
                "meshnb.clean_save",
            }
        ),
    ),
    Layer("backends", packages=frozenset({"meshnb.backends"})),
    Layer(
        "readers",
        modules=frozenset({"meshnb.stats"}),
        packages=frozenset({"meshnb.readers"}),
        may_not_import=frozenset({"backends"}),  # parsers of text: core and each other only
    ),
    Layer("diagnostics", packages=frozenset({"meshnb.diagnostics"})),
    Layer("plots", modules=frozenset({"meshnb.plots"})),
    Layer(
        "front",
        modules=frozenset({"meshnb.panels", "meshnb.cli", "meshnb.html_report", "meshnb.__main__"}),
        packages=frozenset({"meshnb.widgets"}),
    ),
)


# ------------------------------------------------------------------------------------- the real tree
def modules_of(root: Path = ROOT) -> dict[str, Path]:
    """Every module under ``root/meshnb`` by dotted name (a package by its ``__init__.py``, or by its
    folder when it has none)."""
    found: dict[str, Path] = {}
    for path in sorted((root / TOP).rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
        folder = path.parent
        while folder != root and not (folder / "__init__.py").exists():  # a namespace package
            found.setdefault(".".join(folder.relative_to(root).parts), folder)
            folder = folder.parent
    return found


def _in_meshnb(name: str) -> bool:
    return name == TOP or name.startswith(TOP + ".")


def imports_of(module: str, path: Path, known: Iterable[str]) -> dict[str, int]:
    """The meshnb modules ``module`` imports, each with the line of its first import."""
    if path.is_dir():
        return {}
    known = set(known)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: dict[str, int] = {}

    def add(target: str, line: int) -> None:
        if _in_meshnb(target) and target != module:
            found.setdefault(target, line)

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                add(submodule if submodule in known else source, node.lineno)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            add(node.args[0].value, node.lineno)
    return found


def import_graph(root: Path = ROOT) -> tuple[dict[str, dict[str, int]], dict[str, Path]]:
    modules = modules_of(root)
    return {module: imports_of(module, path, modules) for module, path in modules.items()}, modules


# ------------------------------------------------------------------------------------------- checks
def _line(graph: Mapping[str, Iterable[str]], source: str, target: str) -> str:
    imports = graph[source]
    return f" (line {imports[target]})" if isinstance(imports, Mapping) else ""


def layer_problems(
    graph: Mapping[str, Iterable[str]],
    layers: tuple[Layer, ...] = LAYERS,
    files: Mapping[str, Path] | None = None,
) -> list[str]:
    """What breaks the layering in ``graph`` (module -> the modules it imports, or -> {module: line})."""
    problems = []
    where: dict[str, Layer] = {}
    rank = {layer.name: i for i, layer in enumerate(layers)}
    names = ", ".join(rank)
    for module in sorted(graph):
        if module == TOP:
            continue
        holding = [layer for layer in layers if layer.holds(module)]
        file = f"{files[module].relative_to(ROOT)}: " if files and module in files else ""
        if not holding:
            problems.append(
                f"{file}{module} is in no layer: add it to one of LAYERS ({names}) in "
                "tests/test_architecture.py"
            )
        elif len(holding) > 1:
            problems.append(
                f"{file}{module} is in {len(holding)} layers ({', '.join(h.name for h in holding)})"
            )
        else:
            where[module] = holding[0]
    for source in sorted(where):
        layer = where[source]
        for target in sorted(graph[source]):
            at = _line(graph, source, target)
            if target == TOP:
                problems.append(
                    f"{source}{at} imports the package meshnb itself (`import meshnb` or `from meshnb import "
                    "name`): import the module that defines the name"
                )
                continue
            if target not in graph:
                problems.append(f"{source}{at} imports {target}, which is not a module under meshnb/")
                continue
            other = where.get(target)
            if other is None:
                continue  # reported above: in no layer
            if rank[other.name] > rank[layer.name]:
                problems.append(
                    f"{source} ({layer.name}, rank {rank[layer.name]}){at} imports {target} ({other.name}, "
                    f"rank {rank[other.name]}): upwards; a module may import only its own layer or lower ones"
                )
            elif other.name in layer.may_not_import:
                problems.append(
                    f"{source} ({layer.name}){at} imports {target} ({other.name}): {layer.name} may not "
                    f"import {other.name}"
                )
    return problems


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Import cycles of ``graph``: per module on a cycle, the shortest cycle through it (each cycle once,
    starting at its smallest module)."""
    edges = {
        module: sorted(t for t in targets if t in graph and t != module) for module, targets in graph.items()
    }
    found: dict[tuple[str, ...], list[str]] = {}
    for start in sorted(edges):
        previous: dict[str, str] = {}
        queue = deque([start])
        while queue:  # breadth first from start, until an arrow leads back to it
            node = queue.popleft()
            if start in edges[node]:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                path.reverse()
                smallest = path.index(min(path))
                cycle = path[smallest:] + path[:smallest]
                found.setdefault(tuple(cycle), [*cycle, cycle[0]])
                break
            for target in edges[node]:
                if target not in previous and target != start:
                    previous[target] = node
                    queue.append(target)
    return [found[key] for key in sorted(found)]


def cycle_problems(graph: Mapping[str, Iterable[str]]) -> list[str]:
    return [
        "cycle: "
        + " -> ".join(f"{a}{_line(graph, a, b)}" for a, b in itertools.pairwise(cycle))
        + f" -> {cycle[-1]}"
        for cycle in cycles(graph)
    ]


def check_graph(graph: Mapping[str, Iterable[str]], layers: tuple[Layer, ...] = LAYERS) -> list[str]:
    return layer_problems(graph, layers) + cycle_problems(graph)


# -------------------------------------------------------------------------------------------- tests
def test_every_module_is_in_one_layer_and_imports_only_downwards():
    graph, files = import_graph()
    assert len(graph) > 40 and "meshnb.readers.endpoints" in graph
    problems = layer_problems(graph, files=files)
    assert not problems, f"{len(problems)} layering problems:\n" + "\n".join(problems)


def test_no_import_cycles():
    graph, _ = import_graph()
    problems = cycle_problems(graph)
    assert not problems, f"{len(problems)} import cycles:\n" + "\n".join(problems)


def test_the_checks_report_an_upward_arrow_and_a_cycle_usefully():
    graph = {
        "meshnb": {"meshnb.errors", "meshnb.plots"},
        "meshnb.errors": set(),
        "meshnb.names": {"meshnb.errors"},
        "meshnb.readers.curl": {"meshnb.errors", "meshnb.diagnostics.trust", "meshnb.backends.base"},
        "meshnb.backends.base": {"meshnb.errors"},
        "meshnb.diagnostics.trust": {"meshnb.readers.curl", "meshnb"},
        "meshnb.plots": {"meshnb.diagnostics.trust"},
        "meshnb.gadgets": set(),
    }
    problems = check_graph(graph)
    assert problems == [
        "meshnb.gadgets is in no layer: add it to one of LAYERS (core, backends, readers, diagnostics, "
        "plots, front) in tests/test_architecture.py",
        "meshnb.diagnostics.trust imports the package meshnb itself (`import meshnb` or `from meshnb import "
        "name`): import the module that defines the name",
        "meshnb.readers.curl (readers) imports meshnb.backends.base (backends): readers may not import "
        "backends",
        "meshnb.readers.curl (readers, rank 2) imports meshnb.diagnostics.trust (diagnostics, rank 3): "
        "upwards; a module may import only its own layer or lower ones",
        "cycle: meshnb -> meshnb.plots -> meshnb.diagnostics.trust -> meshnb",
        "cycle: meshnb.diagnostics.trust -> meshnb.readers.curl -> meshnb.diagnostics.trust",
    ]
    # with the lines of the imports, as the real tree gives them
    lined = {m: dict.fromkeys(targets, 7) for m, targets in graph.items()}
    assert "meshnb.readers.curl (readers, rank 2) (line 7) imports meshnb.diagnostics.trust" in "\n".join(
        check_graph(lined)
    )


def test_imports_are_read_as_python_resolves_them(tmp_path):
    package = tmp_path / "meshnb"
    (package / "readers").mkdir(parents=True)
    (package / "space").mkdir()  # no __init__.py: a namespace package
    for name in ("__init__", "errors", "hidden", "plots", "readers/__init__", "readers/curl", "space/thing"):
        (package / f"{name}.py").write_text("")
    (package / "readers" / "certs.py").write_text(
        '"""\n>>> import meshnb.hidden\n"""\n'
        "from typing import TYPE_CHECKING\n"
        "from . import curl\n"
        "from .. import errors\n"
        "from meshnb import plots, __version__\n"
        "if TYPE_CHECKING:\n"
        "    from meshnb.space import thing\n"
        "def f():\n"
        "    import importlib\n"
        "    importlib.import_module('meshnb.readers')\n"
        "    from meshnb.space.thing import x\n"
    )
    modules = modules_of(tmp_path)
    assert sorted(modules) == [
        "meshnb",
        "meshnb.errors",
        "meshnb.hidden",
        "meshnb.plots",
        "meshnb.readers",
        "meshnb.readers.certs",
        "meshnb.readers.curl",
        "meshnb.space",
        "meshnb.space.thing",
    ]
    assert modules["meshnb.space"] == package / "space"
    found = imports_of("meshnb.readers.certs", modules["meshnb.readers.certs"], modules)
    assert found == {
        "meshnb.readers.curl": 5,
        "meshnb.errors": 6,
        "meshnb.plots": 7,
        "meshnb": 7,
        "meshnb.space.thing": 9,
        "meshnb.readers": 12,
    }
