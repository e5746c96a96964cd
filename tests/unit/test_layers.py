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


# What the workflow sandbox would have refused in workflow code, before the worker
# passed `workflows` through it (worker.WORKFLOW_RUNNER, for memory): a clock, chance,
# threads, files or the network outside Temporal's deterministic versions.
NOT_IN_WORKFLOWS = {"datetime.now", "datetime.utcnow", "date.today", "time.time", "time.monotonic", "time.sleep"}
NOT_IMPORTED_BY_WORKFLOWS = {"random", "uuid", "threading", "socket", "subprocess", "httpx", "sqlalchemy", "os"}


def calls(path: Path) -> set[str]:
    """`a.b(...)` calls of a module, as `a.b`."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if isinstance(node.func.value, ast.Name):
                found.add(f"{node.func.value.id}.{node.func.attr}")
    return found


def test_workflow_code_uses_no_clock_chance_or_io_of_its_own() -> None:
    """Workflow modules use workflow.now(), workflow.uuid4(), workflow.random() and
    activities; the sandbox no longer checks them at run time, this does."""
    offenders = {
        path.name: sorted((calls(path) & NOT_IN_WORKFLOWS) | (imported(path) & NOT_IMPORTED_BY_WORKFLOWS))
        for path in (ROOT / "workflows").glob("*.py")
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_workflow_check_sees_what_it_forbids(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import random\nfrom datetime import datetime\n\ndef f():\n    return datetime.now(), random.random()\n"
    )
    assert calls(bad) & NOT_IN_WORKFLOWS == {"datetime.now"}
    assert imported(bad) & NOT_IMPORTED_BY_WORKFLOWS == {"random"}
