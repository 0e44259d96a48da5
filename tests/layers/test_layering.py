"""The three layers, bottom to top: the domain (cxgov: charter, policy, connectors and systems of record, audit,
drills) -> Temporal (workflows, activities, worker) -> interfaces (client, CLI, HTTP API, MCP, console, embedded stack and its dev server, schedules, demo).
No module imports a layer above its own, including imports inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INTERFACES = (
    "cxgov.cli",
    "cxgov.commands",
    "cxgov.stack",
    "cxgov.devserver",
    "cxgov.client",
    "cxgov.schedules",
    "cxgov.demo",
    "cxgov.api",
    "cxgov.mcp",
    "cxgov.console",
)
TEMPORAL = ("workflows", "activities", "worker")


def layer(module: str) -> int:
    """0 domain, 1 Temporal, 2 interfaces."""
    if any(module == name or module.startswith(name + ".") for name in INTERFACES):
        return 2
    if any(module == name or module.startswith(name + ".") for name in TEMPORAL):
        return 1
    return 0


def modules() -> list[tuple[str, Path]]:
    found = []
    for package in ("cxgov", *TEMPORAL):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found.append((".".join(parts[:-1] if parts[-1] == "__init__" else parts), path))
    return found


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {name for name in names if name.split(".")[0] in ("cxgov", *TEMPORAL)}


@pytest.mark.parametrize(("module", "path"), modules(), ids=[name for name, _ in modules()])
def test_no_module_imports_a_layer_above_its_own(module: str, path: Path) -> None:
    upward = sorted(name for name in imported(path) if layer(name) > layer(module))
    assert upward == [], f"{module} (layer {layer(module)}) imports {upward}"


def test_no_code_outside_the_sandbox_names_it() -> None:
    """The built-in sandbox is one system of record among others: only the interfaces that exist for it (the
    `sandbox` commands, the demo) and the default binding's factory path name it."""
    allowed = {"cxgov.commands.sandbox", "cxgov.demo"}
    naming = [
        module
        for module, path in modules()
        if not module.startswith("cxgov.sandbox") and module not in allowed
        if any(name.startswith("cxgov.sandbox") for name in imported(path))
    ]
    assert naming == []
