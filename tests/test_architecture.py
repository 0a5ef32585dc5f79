"""The architecture, checked from the code (``ast``; nothing of tinygraph is imported).

(a) Imports flow one way, by rank: a module imports only modules of its own or a
    lower rank (RANKS). The facade ``tinygraph`` (tinygraph/__init__.py) may import
    anything and be imported only by FACADE_USERS.
(b) No module-level import cycle.
(c) No function over MAX_FUNCTION_LINES lines (def line to last line; methods and
    nested functions included, a nested one counted inside its parent too).
(d) No .py file over MAX_FILE_LINES lines.
(e) An import inside a function only for an OPTIONAL dependency.

Every rule holds for every file: there is no allowlist. Each failure names
file:line and the rule.
"""
import ast
import configparser
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import pytest

pytestmark = pytest.mark.single_backend

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 60
MAX_FILE_LINES = 600
CODE_DIRS = ("tinygraph", "ops", "layers", "backends", "examples")     # rules (c), (e)
SIZE_DIRS = CODE_DIRS + ("tests",)                                     # rule (d)
OPTIONAL = frozenset({"matplotlib", "tqdm", "cupy", "cupyx", "threadpoolctl", "torch", "jax",
                      "tensorflow", "keras", "h5py", "IPython", "numba"})

FACADE = "tinygraph"
# the facade imports every other tool, so only layers and the tools it does not
# import may import it back
FACADE_USERS = ("tinygraph.layers", "tinygraph.tools.demo", "tinygraph.tools.bench",
                "tinygraph.tools.cli")
# rank of each package (a module takes the rank of its longest matching prefix)
RANKS = {
    "tinygraph.ir": 0,
    "tinygraph.ops": 1,
    "tinygraph.autodiff": 2, "tinygraph.backends": 2,
    "tinygraph.compile": 3,
    "tinygraph.runtime": 4,
    "tinygraph.train": 5, "tinygraph.layers": 5,
    "tinygraph.tools": 6, "tinygraph.testing": 6, "tinygraph.__main__": 6,
}


# ---------------------------------------------------------------------- reading the code

@dataclass(frozen=True)
class Module:
    name: str           # dotted, as installed: tinygraph.ops.math
    path: str           # relative to the repository: ops/math.py
    is_package: bool


@dataclass(frozen=True)
class Import:
    line: int
    target: str         # a dotted module name (internal or not)
    in_function: bool


def package_dirs(setup_cfg):
    """setup.cfg's package_dir: {package: folder}."""
    cfg = configparser.ConfigParser()
    cfg.read_string(setup_cfg)
    pairs = (line.split("=", 1) for line in cfg["options"]["package_dir"].splitlines()
             if "=" in line)
    return {pkg.strip(): folder.strip() for pkg, folder in pairs}


def installed_modules(root, dirs):
    """Every importable module under the package folders, by dotted name."""
    modules = {}
    for pkg, folder in dirs.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = list(path.relative_to(root / folder).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            name = ".".join([pkg] + parts)
            if _under_other_package(name, pkg, dirs):
                continue
            modules[name] = Module(name, path.relative_to(root).as_posix(), is_package)
    return modules


def _under_other_package(name, pkg, dirs):
    """True when ``name`` belongs to a package that setup.cfg puts in another folder."""
    return any(other != pkg and other.startswith(pkg + ".") and
               (name == other or name.startswith(other + ".")) for other in dirs)


def imports_of(tree):
    """Every import statement as (node, inside a function?)."""
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append((child, in_function))
            visit(child, in_function or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))
    visit(tree, False)
    return found


def resolve(stmt, module, known):
    """The dotted modules an import statement brings in. ``from pkg import name`` is
    the module pkg.name when that exists, else pkg itself."""
    if isinstance(stmt, ast.Import):
        return [alias.name for alias in stmt.names]
    base = stmt.module or ""
    if stmt.level:
        parts = module.name.split(".")
        parts = parts if module.is_package else parts[:-1]
        parts = parts[:len(parts) - (stmt.level - 1)]
        base = ".".join(parts + ([stmt.module] if stmt.module else []))
    targets = []
    for alias in stmt.names:
        sub = f"{base}.{alias.name}"
        targets.append(sub if sub in known else base)
    return targets


def module_imports(module, tree, known):
    return [Import(stmt.lineno, target, in_function)
            for stmt, in_function in imports_of(tree)
            for target in resolve(stmt, module, known)]


def functions_of(tree):
    """Every def and async def as (qualified name, node), methods and nested ones included."""
    found = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((prefix + child.name, child))
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)
    visit(tree, "")
    return found


def rank_of(name):
    """(rank, package) for a module name, or None when no package of RANKS holds it."""
    best = max((pkg for pkg in RANKS if name == pkg or name.startswith(pkg + ".")),
               key=len, default=None)
    return None if best is None else (RANKS[best], best)


def is_internal(name):
    return name == FACADE or name.startswith(FACADE + ".")


def may_import_facade(name):
    return any(name == user or name.startswith(user + ".") for user in FACADE_USERS)


# ---------------------------------------------------------------------- the rules

def direction_violations(modules, trees):
    """Rule (a): the rank of every internal import."""
    out = []
    for name, module in sorted(modules.items()):
        if name == FACADE:
            continue
        mine = rank_of(name)
        if mine is None:
            out.append(f"{module.path}:1: (a) import direction: module {name} has no rank "
                       "(add its package to RANKS)")
            continue
        for imp in module_imports(module, trees[name], modules):
            if not is_internal(imp.target):
                continue
            where = f"{module.path}:{imp.line}: (a) import direction:"
            if imp.target not in modules:
                out.append(f"{where} {name} imports {imp.target}, which does not exist")
            elif imp.target == FACADE:
                if not may_import_facade(name):
                    out.append(f"{where} {name} imports the facade {FACADE}; only "
                               f"{', '.join(FACADE_USERS)} may")
            elif rank_of(imp.target) is not None and rank_of(imp.target)[0] > mine[0]:
                theirs = rank_of(imp.target)
                out.append(f"{where} {name} ({mine[1]}, rank {mine[0]}) imports "
                           f"{imp.target} ({theirs[1]}, rank {theirs[0]})")
    return out


def import_graph(modules, trees):
    """Module-level imports between internal modules, each edge with its line."""
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, module in modules.items():
        for imp in module_imports(module, trees[name], modules):
            if not imp.in_function and imp.target in modules:
                graph.add_edge(name, imp.target, line=imp.line)
    return graph


def cycle_violations(modules, trees):
    """Rule (b): one cycle named per strongly connected group of modules."""
    graph = import_graph(modules, trees)
    out = []
    groups = [g for g in nx.strongly_connected_components(graph)
              if len(g) > 1 or graph.has_edge(next(iter(g)), next(iter(g)))]
    for group in sorted(groups, key=sorted):
        cycle = nx.find_cycle(graph.subgraph(group))
        steps = [f"{modules[a].path}:{graph.edges[a, b]['line']} imports {b}" for a, b in cycle]
        first = steps[0].split(" imports ")[0]
        out.append(f"{first}: (b) import cycle among {len(group)} modules: " + "; ".join(steps))
    return out


def function_violations(path, tree):
    """Rule (c)."""
    return [f"{path}:{node.lineno}: (c) function {qualname} is "
            f"{node.end_lineno - node.lineno + 1} lines (at most {MAX_FUNCTION_LINES})"
            for qualname, node in functions_of(tree)
            if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]


def file_size_violations(path, text):
    """Rule (d)."""
    n = len(text.splitlines())
    return [f"{path}:1: (d) file is {n} lines (at most {MAX_FILE_LINES})"] if n > MAX_FILE_LINES \
        else []


def late_import_violations(path, tree):
    """Rule (e)."""
    out = []
    for stmt, in_function in imports_of(tree):
        if not in_function:
            continue
        names = [a.name for a in stmt.names] if isinstance(stmt, ast.Import) else \
            [None if stmt.level else stmt.module]
        bad = [n or "." * stmt.level + (stmt.module or "") for n in names
               if n is None or n.split(".")[0] not in OPTIONAL]
        if bad:
            out.append(f"{path}:{stmt.lineno}: (e) import inside a function of "
                       f"{', '.join(bad)} (only OPTIONAL dependencies may be imported late)")
    return out


# ---------------------------------------------------------------------- the repository

def _parse(path):
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


@pytest.fixture(scope="module")
def modules():
    return installed_modules(ROOT, package_dirs((ROOT / "setup.cfg").read_text()))


@pytest.fixture(scope="module")
def trees(modules):
    return {name: _parse(ROOT / m.path) for name, m in modules.items()}


def _files(dirs):
    return sorted(p for d in dirs for p in (ROOT / d).rglob("*.py"))


def _report(violations):
    return "\n" + "\n".join(violations)


def test_imports_flow_one_way_by_rank(modules, trees):
    violations = direction_violations(modules, trees)
    assert not violations, _report(violations)


def test_no_module_level_import_cycle(modules, trees):
    violations = cycle_violations(modules, trees)
    assert not violations, _report(violations)


def test_no_function_over_budget():
    violations = [v for p in _files(CODE_DIRS)
                  for v in function_violations(p.relative_to(ROOT).as_posix(), _parse(p))]
    assert not violations, _report(violations)


def test_no_file_over_budget():
    violations = [v for p in _files(SIZE_DIRS)
                  for v in file_size_violations(p.relative_to(ROOT).as_posix(),
                                                p.read_text(encoding="utf-8"))]
    assert not violations, _report(violations)


def test_imports_inside_functions_only_for_optional_dependencies():
    violations = [v for p in _files(CODE_DIRS)
                  for v in late_import_violations(p.relative_to(ROOT).as_posix(), _parse(p))]
    assert not violations, _report(violations)


def test_setup_cfg_installs_every_package(modules):
    """A non-editable ``pip install .`` installs only the packages setup.cfg lists."""
    cfg = configparser.ConfigParser()
    cfg.read_string((ROOT / "setup.cfg").read_text())
    listed = {line.strip() for line in cfg["options"]["packages"].splitlines() if line.strip()}
    packages = {name for name, m in modules.items() if m.is_package}
    assert packages <= listed, f"packages missing from setup.cfg: {sorted(packages - listed)}"


# ---------------------------------------------------------------------- the checker itself

def test_every_package_folder_is_read(modules):
    for pkg in ("tinygraph.ir", "tinygraph.ops", "tinygraph.layers", "tinygraph.backends",
                "tinygraph.tools"):
        assert pkg in modules and modules[pkg].is_package
    assert modules["tinygraph.ops"].path == "ops/__init__.py"
    assert modules[FACADE].path == "tinygraph/__init__.py"


def _fake(name, is_package=False):
    return Module(name, name.replace(".", "/") + ".py", is_package)


def test_relative_and_from_imports_resolve_to_modules():
    known = {"tinygraph.ops", "tinygraph.ops.math", "tinygraph.ir", "tinygraph"}
    tree = ast.parse("from .math import exp\nfrom . import math\nfrom .. import ir\n"
                     "from tinygraph import ops, Tensor\nimport numpy as np\n")
    got = [i.target for i in module_imports(_fake("tinygraph.ops.reduce"), tree, known)]
    assert got == ["tinygraph.ops.math", "tinygraph.ops.math", "tinygraph.ir",
                   "tinygraph.ops", "tinygraph", "numpy"]
    inside = ast.parse("from .math import exp\n")
    assert [i.target for i in module_imports(_fake("tinygraph.ops", True), inside, known)] \
        == ["tinygraph.ops.math"]


def test_checker_finds_each_kind_of_violation():
    long_body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    tree = ast.parse(f"class A:\n    def f(self):\n        import numpy\n"
                     f"        import matplotlib.pyplot\n        from . import math\n"
                     f"def g():\n{long_body}\n")
    assert [v.split(": ", 1)[0] for v in late_import_violations("m.py", tree)] == \
        ["m.py:3", "m.py:5"]
    assert [v.split(" is ")[0] for v in function_violations("m.py", tree)] == \
        ["m.py:6: (c) function g"]
    assert file_size_violations("m.py", "x\n" * (MAX_FILE_LINES + 1))
    assert rank_of("tinygraph.ops.math") == (1, "tinygraph.ops")
    assert rank_of("tinygraph.tools.viz")[0] > rank_of("tinygraph.layers.rnn")[0]


def test_checker_finds_cycles_and_upward_imports():
    modules = {m.name: m for m in (_fake("tinygraph.ops.a"), _fake("tinygraph.ops.b"),
                                   _fake("tinygraph.ir.c"), _fake("tinygraph.train.d"),
                                   _fake("tinygraph.layers.e"), _fake(FACADE, True))}
    trees = {"tinygraph.ops.a": ast.parse("from . import b\n"),
             "tinygraph.ops.b": ast.parse("from .a import x\n"),
             "tinygraph.ir.c": ast.parse("def f():\n    from tinygraph.ops import a\n"),
             "tinygraph.train.d": ast.parse("import tinygraph\n"),
             "tinygraph.layers.e": ast.parse("import tinygraph as tg\n"),
             FACADE: ast.parse("from tinygraph.ops import a\n")}
    cycles = cycle_violations(modules, trees)
    assert len(cycles) == 1 and "(b) import cycle among 2 modules" in cycles[0]
    upward = direction_violations(modules, trees)
    assert [v.split(": (a)")[0] for v in upward] == ["tinygraph/ir/c.py:2",
                                                     "tinygraph/train/d.py:1"]
