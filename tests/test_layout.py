"""The dependency direction of the packages, read from the code (every import, also inside functions).

* ``spiking`` (Brian2 and torch models) imports neither ``bridge`` nor ``scenarios``;
* ``bridge`` (conversion and SRC) may use ``spiking``, never ``scenarios``;
* inside ``scenarios``: ``runs`` (result files, statistics, the grid runner) uses no other
  sub-package; ``ann`` uses ``runs``; ``experiments`` use ``ann`` and ``runs``; ``figures``
  read saved results with ``runs`` (and the pure metrics of ``ann``), never an experiment;
  ``bench`` measures library code, not commands; ``commands`` may use everything, but not
  each other (except their shared helpers in ``scenarios.commands.common``);
* no import cycle between modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("spiking", "bridge", "scenarios")

#: package prefix -> prefixes it must not import
FORBIDDEN = {
    "spiking": ("bridge", "scenarios"),
    "bridge": ("scenarios",),
    "scenarios.runs": ("scenarios.ann", "scenarios.experiments", "scenarios.figures", "scenarios.bench",
                       "scenarios.commands", "scenarios.cli"),
    "scenarios.ann": ("scenarios.experiments", "scenarios.figures", "scenarios.bench", "scenarios.commands",
                      "scenarios.cli"),
    "scenarios.experiments": ("scenarios.figures", "scenarios.bench", "scenarios.commands", "scenarios.cli"),
    "scenarios.figures": ("scenarios.experiments", "scenarios.bench", "scenarios.commands", "scenarios.cli"),
    "scenarios.bench": ("scenarios.figures", "scenarios.commands", "scenarios.cli"),
    "scenarios.commands": ("scenarios.cli",),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Project modules that ``name`` imports anywhere in its file (resolved to known modules)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def add(target: str) -> None:
        # the longest known module that target names (a module, or a name inside one)
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for alias in node.names:
                add(f"{mod}.{alias.name}" if f"{mod}.{alias.name}" in known else mod)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {name: _imports(name, path, known) for name, path in mods.items()}


def _forbidden_for(module: str) -> tuple[str, ...]:
    rules = [prefix for prefix in FORBIDDEN if module == prefix or module.startswith(prefix + ".")]
    return FORBIDDEN[max(rules, key=len)] if rules else ()


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_the_graph_is_read(graph):
    # the walk sees real edges (guards against a test that passes because it reads nothing)
    assert "spiking.network" in graph and "spiking.params" in graph["spiking.network"]
    assert "bridge.convert" in graph["bridge.src"]


def test_dependency_direction(graph):
    bad = [f"{m} imports {t}" for m, targets in sorted(graph.items()) for t in sorted(targets)
           if any(_under(t, f) for f in _forbidden_for(m))]
    assert not bad, "imports against the dependency direction:\n" + "\n".join(bad)


def test_commands_do_not_import_each_other(graph):
    bad = [f"{m} imports {t}" for m, targets in sorted(graph.items()) if _under(m, "scenarios.commands")
           for t in sorted(targets) if _under(t, "scenarios.commands")
           and t not in ("scenarios.commands", "scenarios.commands.common")]
    assert not bad, "\n".join(bad)


def test_no_import_cycles(graph):
    # package __init__ modules are left out: a package importing its own submodules is no cycle
    nodes = {m for m in graph if not (ROOT / Path(*m.split(".")) / "__init__.py").exists()}
    edges = {m: {t for t in graph[m] if t in nodes} for m in nodes}
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def strongconnect(v):  # Tarjan's algorithm, iterative enough for this graph's depth
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            strongconnect(v)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_a_forbidden_import_would_be_caught(tmp_path):
    # the rule check itself: a bridge module importing scenarios is reported
    src = tmp_path / "bridge"
    src.mkdir()
    (src / "x.py").write_text("def f():\n    from scenarios.runs import results\n")
    found = _imports("bridge.x", src / "x.py", {"bridge.x", "scenarios.runs", "scenarios.runs.results"})
    assert found == {"scenarios.runs.results"}
    assert any(_under(t, f) for t in found for f in _forbidden_for("bridge.x"))


def test_commands_hold_no_model_rule_or_protocol():
    """A command module parses, calls and saves: it defines no class (a model, a rule, a config or a
    protocol would be one) except the command line's own types in ``commands.common``: its exceptions
    and argparse helpers."""
    found = []
    for path in sorted((ROOT / "scenarios" / "commands").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ClassDef):
                cli_type = any((isinstance(b, ast.Name) and b.id.endswith(("Error", "Exception")))
                               or (isinstance(b, ast.Attribute) and isinstance(b.value, ast.Name)
                                   and b.value.id == "argparse") for b in node.bases)
                if not (path.name == "common.py" and cli_type):
                    found.append(f"{path.name}:{node.lineno} class {node.name}")
    assert not found, found
