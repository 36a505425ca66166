"""Package layers: every import inside bnn-hw goes one way, and no two layers import each other.

    bnn_hw.nn, errors, wire -> model file -> compiler -> hdl -> {sim, boards}, host code last

This is the data flow: a network trained with ``bnn_hw.nn`` is saved as a model file, the compiler
turns it into a plan (and its NumPy reference), the hdl package builds the plan's hardware, and sim
and boards simulate and build that hardware; the host code (protocol, host client, CLI) drives them.
No package imports one that stands after it. The compiler plans with the hardware's structure (how a
unit slices and banks, what a window generator buffers), so those facts are the compiler's
(``bnn_hw.compiler.microarch``) and the components import them from there; building an op's
hardware is hdl's (each component's module registers the builder of its ops,
``bnn_hw.hdl.registry``); a device's facts (its block RAM) are boards'.

A module may import only modules of its own or an earlier rank (:data:`RANKS`), sim and boards not
each other, and no two layers import each other (directly or round a longer loop). Every ``import``
and ``from ... import`` counts, the ones inside functions too: the modules' source is read with
:mod:`ast` (nothing is imported), relative imports resolved with the package-dir mapping of
``pyproject.toml``. :data:`KNOWN_EXCEPTIONS` names what is allowed against these rules; an entry
that no longer matches any import fails as well, so the list can only shrink. It is empty.
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOP = "bnn_hw"

#: The layers, by module or package (a package's subpackages are in its layer: ``bnn_hw.compiler``
#: holds ``bnn_hw.compiler.ops``). ``bnn_hw`` is the top package's ``__init__`` alone; a new module
#: in the top package needs a line here.
RANKS = {
    "bnn_hw.errors": 0, "bnn_hw.nn": 0, "bnn_hw.datasets": 0,
    "bnn_hw.wire": 0,                       # the UART protocol's bytes, for the gateware and the host
    "bnn_hw.intmath": 0,                    # integer helpers (ceil_div) every layer uses
    "bnn_hw.progress": 0,                   # progress bars on a terminal (training, simulation, builds)
    "bnn_hw.model_file": 1, "bnn_hw.training": 1,
    "bnn_hw.distillation": 1,               # teachers and soft-target losses, for the training loop
    "bnn_hw.onnx_import": 1,               # QONNX graphs to bnn-hw layers, like the model file
    "bnn_hw.compiler": 2,                   # the plan, and the hardware structure it plans with
    "bnn_hw.hdl": 3,                        # builds a plan's hardware
    "bnn_hw.sim": 4, "bnn_hw.boards": 4,    # simulate and build that hardware
    "bnn_hw.protocol": 5, "bnn_hw.host": 5, "bnn_hw.cli": 5, "bnn_hw": 5,
    "bnn_hw.brevitas_training": 5,          # the Brevitas examples' loop: trains, imports, measures
}

#: Layers of the same rank that must not import each other either.
APART = {frozenset({"bnn_hw.sim", "bnn_hw.boards"})}

#: (importing module or layer, imported module or layer) allowed against the rules for now.
KNOWN_EXCEPTIONS: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Import:
    importer: str      #: the importing module
    target: str        #: the imported module (or package)
    path: Path         #: the importing file, relative to the repository
    line: int
    code: str          #: the import statement as written

    def __str__(self):
        return f"{self.path}:{self.line}: {self.code}"


@cache
def package_dirs() -> dict[str, Path]:
    """bnn-hw's packages and their folders (``bnn_hw.hdl`` -> ``hdl/``), from ``pyproject.toml``."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = config["package-dir"]
    dirs = {}
    for package in config["packages"]:
        # a package without its own entry lies in its parent's folder
        parent = max((p for p in mapping if package == p or package.startswith(p + ".")), key=len)
        dirs[package] = ROOT / mapping[parent] / Path(*package[len(parent):].split(".")[1:])
    return dirs


@cache
def modules() -> dict[str, tuple[Path, bool]]:
    """Every module of bnn-hw: its dotted name -> (file, whether it is a package's ``__init__``)."""
    found = {}
    for package, folder in package_dirs().items():
        for path in sorted(folder.glob("*.py")):
            is_package = path.stem == "__init__"
            found[package if is_package else f"{package}.{path.stem}"] = (path, is_package)
    return found


def _resolve(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The absolute module a ``from`` import names (relative ones resolved from ``importer``)."""
    if not node.level:
        return node.module
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[:len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


@cache
def imports() -> tuple[Import, ...]:
    """Every import of a bnn-hw module by a bnn-hw module, wherever in the file it stands."""
    known = modules()
    found = []
    for importer, (path, is_package) in known.items():
        source = path.read_text()
        for node in ast.walk(ast.parse(source, str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                module = _resolve(node, importer, is_package)
                # ``from package import submodule`` imports the submodule
                targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in known else module for a in node.names]
            else:
                continue
            for target in dict.fromkeys(targets):
                if target == TOP or target.startswith(TOP + "."):
                    found.append(Import(importer, target, path.relative_to(ROOT), node.lineno,
                                        ast.get_source_segment(source, node) or ast.unparse(node)))
    return tuple(found)


def layer(module: str) -> str | None:
    """The :data:`RANKS` entry ``module`` belongs to (None for a module without one)."""
    if module in RANKS:
        return module
    for name in sorted(RANKS, key=len, reverse=True):
        if name != TOP and module.startswith(name + "."):
            return name
    return None


def _covers(entry: str, module: str) -> bool:
    return module == entry or module.startswith(entry + ".")


def _excepted(item: Import) -> bool:
    return any(_covers(importer, item.importer) and _covers(target, item.target)
               for importer, target in KNOWN_EXCEPTIONS)


def wrong_way(item: Import) -> str | None:
    """Why ``item`` breaks the layers, or None."""
    mine, theirs = layer(item.importer), layer(item.target)
    if mine == theirs:
        return None
    if RANKS[theirs] > RANKS[mine]:
        return f"{mine} (rank {RANKS[mine]}) imports {theirs} of a later rank ({RANKS[theirs]})"
    if frozenset({mine, theirs}) in APART:
        return f"{mine} and {theirs} must not import each other"
    return None


def test_every_module_has_a_layer():
    assert len(modules()) > 50
    unranked = sorted(name for name in modules() if layer(name) is None)
    assert not unranked, f"modules without a rank in RANKS: {', '.join(unranked)}"
    unknown = sorted({i.target for i in imports() if i.target not in modules()} - {TOP})
    assert not unknown, f"imports of modules that do not exist: {', '.join(unknown)}"


def test_the_scan_sees_relative_lazy_and_absolute_imports():
    seen = {(i.importer, i.target) for i in imports()}
    assert ("bnn_hw.boards.build", "bnn_hw.hdl.pipeline") in seen           # from ..hdl.pipeline import
    assert ("bnn_hw.cli", "bnn_hw.boards.build") in seen                    # inside a function
    assert ("bnn_hw.hdl.uart_server", "bnn_hw.wire") in seen
    assert ("bnn_hw.boards", "bnn_hw.boards.board") in seen                  # from an __init__


def test_ranks_follow_the_data_flow():
    """bnn_hw.nn -> model file -> compiler -> hdl -> {sim, boards} -> host code, as the issue orders them."""
    flow = ["bnn_hw.nn", "bnn_hw.model_file", "bnn_hw.compiler", "bnn_hw.hdl", "bnn_hw.sim", "bnn_hw.cli"]
    assert [RANKS[name] for name in flow] == sorted({RANKS[name] for name in flow})
    assert RANKS["bnn_hw.sim"] == RANKS["bnn_hw.boards"] and frozenset({"bnn_hw.sim", "bnn_hw.boards"}) in APART


def test_imports_go_one_way():
    problems = [f"{item}  ({why})" for item in imports()
                if (why := wrong_way(item)) and not _excepted(item)]
    assert not problems, "imports against the package layers:\n" + "\n".join(problems)


def test_known_exceptions_still_exist():
    """An exception whose import is gone must leave :data:`KNOWN_EXCEPTIONS` (tighten the test)."""
    stale = [(importer, target) for importer, target in KNOWN_EXCEPTIONS
             if not any(_covers(importer, i.importer) and _covers(target, i.target) for i in imports())]
    assert not stale, f"KNOWN_EXCEPTIONS entries that match no import any more: {stale}"


def test_no_import_cycle_between_layers():
    graph: dict[str, set[str]] = {name: set() for name in RANKS}
    witness = {}
    for item in imports():
        mine, theirs = layer(item.importer), layer(item.target)
        if mine != theirs:
            graph[mine].add(theirs)
            witness.setdefault((mine, theirs), item)
    # depth-first search for a back edge; the cycle is the stack from the edge's target
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for successor in sorted(graph[node]):
            if state.get(successor) == "open":
                cycle = stack[stack.index(successor):] + [successor]
                edges = [witness[a, b] for a, b in zip(cycle, cycle[1:])]
                raise AssertionError("import cycle between layers " + " -> ".join(cycle) + ":\n"
                                     + "\n".join(map(str, edges)))
            if successor not in state:
                visit(successor)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
