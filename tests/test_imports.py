"""Who imports whom: no import circle anywhere (the cycleaug package, and the PBS scripts of profiles/abci,
which import their siblings by file), and the package's layers as pyproject.toml's import-linter contract
states them (stages never import each other; shared helpers import no stage; nothing imports the glue).

Each check is also run on a case built to break it, so that a passing check means something.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import grimp
from conftest import ROOT

PROFILE_SCRIPTS = ROOT / "profiles" / "abci"


def circles(imports: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm): every import circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in imports.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(imports):
        if module not in index:
            visit(module)
    return found


def package_imports(name: str, path: Path) -> dict[str, set[str]]:
    """Every module of package ``name`` found on ``path`` and the modules of the package it imports (grimp)."""
    sys.path.insert(0, str(path))
    try:
        graph = grimp.build_graph(name, cache_dir=None)
    finally:
        sys.path.remove(str(path))
    return {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}


def script_imports(folder: Path) -> dict[str, set[str]]:
    """The scripts of ``folder`` and the sibling scripts each imports (anywhere in it, functions included)."""
    names = {p.stem for p in folder.glob("*.py")}
    found = {}
    for path in folder.glob("*.py"):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module)
        found[path.stem] = imported & names
    return found


def test_the_package_has_no_import_circle():
    imports = package_imports("cycleaug", ROOT / "workflow")
    assert "cycleaug.cyclegan.train" in imports and "cycleaug.glue.cyclegan" in imports
    assert circles(imports) == []


def test_the_pbs_scripts_have_no_import_circle():
    imports = script_imports(PROFILE_SCRIPTS)
    assert {"pbs_submit", "pbs_status", "pbs_sidecar"} <= set(imports)
    assert circles(imports) == []


def test_a_circle_is_found(tmp_path):
    """The checks above on a package and a script folder that do have circles (a -> b -> a, c -> c alone)."""
    package = tmp_path / "circular"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from circular import b\n")
    (package / "b.py").write_text("def f():\n    from circular.a import x\n")
    (package / "c.py").write_text("import os\n")
    assert circles(package_imports("circular", tmp_path)) == [["circular.a", "circular.b"]]
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "one.py").write_text("import two\n")
    (scripts / "two.py").write_text("def g():\n    from one import h\n")
    assert circles(script_imports(scripts)) == [["one", "two"]]


def _lint_imports(config: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow")}
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [lint, "--no-cache", "--config", config], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_layer_contract_holds():
    proc = _lint_imports(ROOT / "pyproject.toml")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_a_broken_layer_contract_is_reported(tmp_path):
    """errors above atomic, when atomic imports errors: import-linter must say the contract is broken."""
    config = tmp_path / "contracts.toml"
    config.write_text(
        '[tool.importlinter]\nroot_package = "cycleaug"\n\n[[tool.importlinter.contracts]]\n'
        'name = "upside down"\ntype = "layers"\nlayers = ["cycleaug.errors", "cycleaug.atomic"]\n'
    )
    proc = _lint_imports(config)
    assert proc.returncode != 0 and "BROKEN" in proc.stdout
    assert "cycleaug.atomic -> cycleaug.errors" in proc.stdout
