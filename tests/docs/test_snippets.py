"""Every ```python block of README.md and docs/*.md runs as written: one test per block, id ``file:line``.

Each block runs in a fresh namespace with the working directory set to a temporary folder, so files it writes
land there. What a block may add to process-wide state (registered agents, architectures or rewards, entries of
sys.path, modules it wrote and imported) is undone after it, so blocks and the rest of the suite do not see each
other's additions. Blocks that must not run are fenced as ```bash or ```text instead.

docs/own_loop.md's block also runs in tests/agents/test_extras.py, which checks its printed output; it is cheap
(tiny preset), so it runs here too.
"""
from __future__ import annotations

import importlib
import re
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# an opening fence at the start of a line, the block, and the next closing fence at the start of a line
PYTHON_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def python_blocks():
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in PYTHON_BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1  # the line of the opening fence
            name = page.relative_to(ROOT).as_posix()
            yield pytest.param(name, line, match.group(1), id=f"{name}:{line}")


BLOCKS = list(python_blocks())


def test_the_pages_have_python_blocks():
    pages = {block.values[0] for block in BLOCKS}
    assert {"README.md", "docs/api.md", "docs/extending.md"} <= pages, pages


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """cwd in tmp_path; registries, sys.path and sys.modules restored afterwards."""
    from agents.registry import AGENTS
    from spark_env.models.registry import ARCHITECTURES
    from spark_env.rewards import REWARDS

    registries = [(registry, dict(registry)) for registry in (AGENTS, ARCHITECTURES, REWARDS)]
    path, modules = list(sys.path), set(sys.modules)
    monkeypatch.chdir(tmp_path)
    importlib.invalidate_caches()
    yield tmp_path
    for registry, saved in registries:
        registry.clear()
        registry.update(saved)
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        module_file = getattr(sys.modules[name], "__file__", None) or ""
        if module_file.startswith(str(tmp_path)):
            del sys.modules[name]
    importlib.invalidate_caches()


@pytest.mark.parametrize(("page", "line", "code"), BLOCKS)
def test_python_block_runs(page, line, code, isolated):
    # pad with blank lines so that a traceback names the page's own line numbers
    source = "\n" * line + code
    # a module of its own, as a script would have, so that classes and dataclasses defined in a block resolve
    # their module; dont_inherit: this file's __future__ imports must not change how the block compiles
    module = types.ModuleType("__doc_snippet__")
    module.__file__ = str(ROOT / page)
    sys.modules[module.__name__] = module
    try:
        exec(compile(source, str(ROOT / page), "exec", dont_inherit=True), module.__dict__)
    finally:
        sys.modules.pop(module.__name__, None)
