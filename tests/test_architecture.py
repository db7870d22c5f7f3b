"""The import graph of the project's packages: ``core`` stands on nothing of the project, no package
but the HTTP face reaches up into ``spatial_api``, and no two packages import each other, even
through others. Every import counts: at module level or inside a function, ``importlib`` and
``__import__`` calls, and ``"package.module:attr"`` strings handed to uvicorn and the like."""

from __future__ import annotations

import ast
import re
import warnings
from collections import defaultdict
from pathlib import Path

import networkx as nx
import pytest

from tests.conftest import ROOT

FOUNDATION = "core"
FACE = "spatial_api"
NOT_PACKAGES = {"tests", "bench", "scripts", "node_modules", "viewer", "styles", "test-artifacts"}

# "package.module:attribute", as uvicorn, entry points and plugin lists take modules by name
MODULE_ATTR = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")

# package -> imported package -> the places ("file:line") that import it
Graph = dict[str, dict[str, list[str]]]


def project_packages(root: Path = ROOT) -> set[str]:
    """The top-level folders holding Python source (namespace packages included)."""
    return {
        path.name
        for path in root.iterdir()
        if path.is_dir()
        and not path.name.startswith(".")
        and path.name not in NOT_PACKAGES
        and next(path.rglob("*.py"), None) is not None
    }


def imported_modules(source: str, module: str) -> list[tuple[str, int]]:
    """Every module ``source`` (the text of ``module``) imports: (dotted name, line)."""
    found: list[tuple[str, int]] = []
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the importing module's package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                found.append((f"{base}.{node.module}" if node.module else base, node.lineno))
            elif node.module:
                found.append((node.module, node.lineno))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            callee = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if callee in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append((node.args[0].value, node.lineno))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and MODULE_ATTR.fullmatch(node.value):
            found.append((node.value.split(":", 1)[0], node.lineno))
    return found


def import_graph(root: Path = ROOT) -> Graph:
    """Which project package imports which, from the source of every package."""
    packages = project_packages(root)
    graph: Graph = {package: defaultdict(list) for package in packages}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root)
            module = ".".join(relative.with_suffix("").parts)
            for name, line in imported_modules(path.read_text(encoding="utf-8"), module):
                target = name.split(".", 1)[0]
                if target in packages and target != package:
                    graph[package][target].append(f"{relative}:{line}")
    return graph


def violations(graph: Graph) -> list[str]:
    """What the graph breaks of the layering: one line per broken rule, naming the places."""
    found = []
    for target, places in sorted(graph.get(FOUNDATION, {}).items()):
        found.append(f"{FOUNDATION} imports {target} ({', '.join(places)}): the foundation imports no project package")
    for package, imports in sorted(graph.items()):
        if package != FACE and FACE in imports:
            found.append(f"{package} imports {FACE} ({', '.join(imports[FACE])}): only the HTTP face may")
    digraph = nx.DiGraph((a, b) for a, imports in graph.items() for b in imports)
    cycles = [c[c.index(min(c)) :] + c[: c.index(min(c))] for c in nx.simple_cycles(digraph)]
    found += [f"package cycle: {' -> '.join([*cycle, cycle[0]])}" for cycle in sorted(cycles)]
    return found


def test_the_packages_import_one_way():
    graph = import_graph()
    assert {FOUNDATION, FACE, "gis", "bim_ingest", "tiles", "sample_models"} <= graph.keys()
    assert violations(graph) == []
    # the face does stand on the domain packages (the graph is read, not empty)
    assert {"core", "gis", "bim_ingest", "tiles"} <= set(graph[FACE])


def test_every_kind_of_import_is_seen():
    source = """
import core.db
from gis import crs
from . import sibling
from ..other import thing


def later():
    from tiles.build import build_layer
    import importlib

    importlib.import_module("bim_ingest.review.service")
    __import__("sample_models")
    uvicorn.run("spatial_api.app:create_app", factory=True)
    return "a docstring mentioning spatial_api.app is no import", "ratio 3:2"
"""
    names = sorted(name for name, _ in imported_modules(source, "pkg.sub.module"))
    assert names == sorted(
        [
            "core.db",
            "gis",
            "pkg.sub",
            "pkg.other",
            "tiles.build",
            "importlib",
            "bim_ingest.review.service",
            "sample_models",
            "spatial_api.app",
        ]
    )


def test_a_new_violation_fails_the_check():
    """Each rule, broken once in a made-up graph, is reported (and the clean graph is not)."""
    clean: Graph = {
        "core": {},
        "gis": {"core": ["gis/a.py:1"]},
        "tiles": {"core": ["tiles/a.py:1"], "gis": ["tiles/a.py:2"]},
        "bim_ingest": {"core": ["bim_ingest/a.py:1"], "gis": ["bim_ingest/a.py:2"]},
        "spatial_api": {"core": ["spatial_api/a.py:1"], "tiles": ["spatial_api/a.py:2"]},
    }
    assert violations(clean) == []

    def broken(package: str, target: str) -> list[str]:
        graph = {name: dict(imports) for name, imports in clean.items()}
        graph[package][target] = [f"{package}/new.py:9"]
        return violations(graph)

    assert broken("core", "gis") == [
        "core imports gis (core/new.py:9): the foundation imports no project package",
        "package cycle: core -> gis -> core",
    ]
    assert broken("tiles", "spatial_api") == [
        "tiles imports spatial_api (tiles/new.py:9): only the HTTP face may",
        "package cycle: spatial_api -> tiles -> spatial_api",
    ]
    assert broken("gis", "bim_ingest") == ["package cycle: bim_ingest -> gis -> bim_ingest"]
    assert broken("gis", "tiles") == ["package cycle: gis -> tiles -> gis"]
    # a longer cycle, through a third package
    three = {name: dict(imports) for name, imports in clean.items()}
    three["gis"] = {"tiles": ["gis/b.py:1"]}
    three["tiles"] = {"bim_ingest": ["tiles/b.py:1"]}
    assert violations(three) == ["package cycle: bim_ingest -> gis -> tiles -> bim_ingest"]


def test_the_graph_is_read_from_the_files(tmp_path):
    """A package written to disk with a function-level import of the face is caught."""
    for package, text in {
        "core": "import os\n",
        "gis": "def f():\n    import core.db\n",
        "tiles": "def g():\n    uvicorn.run('spatial_api.app:create_app')\n",
        "spatial_api": "from tiles import build\n",
    }.items():
        (tmp_path / package).mkdir()
        (tmp_path / package / "mod.py").write_text(text)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("import spatial_api\n")
    graph = import_graph(tmp_path)
    assert set(graph) == {"core", "gis", "tiles", "spatial_api"}
    assert violations(graph) == [
        "tiles imports spatial_api (tiles/mod.py:2): only the HTTP face may",
        "package cycle: spatial_api -> tiles -> spatial_api",
    ]


def test_deprecations_in_the_projects_modules_are_errors():
    """pyproject's filterwarnings: a deprecation raised in a project module fails the test run, one
    raised in a library's stays a warning."""
    with pytest.raises(DeprecationWarning):
        warnings.warn_explicit("old call", DeprecationWarning, "gis/crs.py", 1, module="gis.crs", registry={})
    with warnings.catch_warnings(record=True):
        warnings.warn_explicit("old call", DeprecationWarning, "lib.py", 1, module="somelib.core", registry={})


def test_the_readme_diagram_is_the_import_graph():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    diagram = readme.split("```mermaid", 1)[1].split("```", 1)[0]
    drawn = set(re.findall(r"^\s*(\w+) --> (\w+)\s*$", diagram, flags=re.MULTILINE))
    imported = {(package, target) for package, imports in import_graph().items() for target in imports}
    assert drawn == imported
