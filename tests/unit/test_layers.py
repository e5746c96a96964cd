"""The layers of ARCHITECTURE.md, held by a test: the pure domain imports no layer above
it, the API needs no workflow code (it may be deployed apart from the workers), and a
workflow module stays small enough to hold only its wiring."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported(path: Path) -> set[str]:
    """The top-level packages a module imports, wherever in the module it does."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("escrow", {"workflows", "activities", "api"}), ("api", {"workflows"}), ("workflows", {"api"})],
)
def test_a_layer_imports_nothing_above_it(package: str, forbidden: set[str]) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported(path) & forbidden)
        for path in (ROOT / package).rglob("*.py")
        if imported(path) & forbidden
    }
    assert offenders == {}


def test_no_workflow_module_is_over_500_lines() -> None:
    sizes = {path.name: len(path.read_text().splitlines()) for path in (ROOT / "workflows").glob("*.py")}
    assert sizes and {name: n for name, n in sizes.items() if n > 500} == {}


def test_the_checks_see_an_offending_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from workflows.milestone import MilestoneWorkflow\n")
    assert "workflows" in imported(module)
