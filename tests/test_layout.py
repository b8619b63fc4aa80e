"""The package layout holds: no import cycles, stages import only downstream, small modules."""

from __future__ import annotations

import ast
from pathlib import Path

from digest.settings import REPO_ROOT

PACKAGE = REPO_ROOT / "digest"
MAX_LINES = 400
# Each stage may import itself and the stages before it, never one after it.
STAGES = ["text", "paths", "dates", "network", "keys", "setting_checks", "settings", "i18n",
          "tokens", "store", "content", "render", "issue", "delivery", "audience", "bounces",
          "scheduler", "demo", "web", "cli"]


def module_name(path: Path) -> str:
    """`digest/delivery/run.py` -> `digest.delivery.run` (packages by their __init__)."""
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of the package, migrations' scripts aside (Alembic loads those)."""
    return {module_name(p): p for p in PACKAGE.rglob("*.py") if "versions" not in p.parts}


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The digest modules `path` imports anywhere in its body (lazy imports count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in known else node.module)
    return {m for m in found if m in known}


def graph() -> dict[str, set[str]]:
    """Module -> the digest modules it imports."""
    known = modules()
    return {name: imports(path, known) - {name} for name, path in known.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path of module names, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def stage_of(module: str) -> int | None:
    """The rank of the stage a module belongs to (None: the package itself)."""
    parts = module.split(".")
    return STAGES.index(parts[1]) if len(parts) > 1 and parts[1] in STAGES else None


def test_the_package_has_no_import_cycle() -> None:
    assert find_cycle(graph()) is None, " -> ".join(find_cycle(graph()) or [])


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    edges = graph()
    edges["digest.store.models"] = edges["digest.store.models"] | {"digest.web.app"}
    cycle = find_cycle(edges)
    assert cycle is not None and cycle[0] == cycle[-1]


def test_every_stage_imports_only_itself_and_earlier_stages() -> None:
    upward = [f"{m} -> {d}" for m, deps in graph().items() for d in deps
              if (a := stage_of(m)) is not None and (b := stage_of(d)) is not None and b > a]
    assert upward == []


def test_every_stage_is_known_to_the_layering_rule() -> None:
    tops = {module_name(p).split(".")[1] for p in PACKAGE.glob("*") if
            (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}
    assert tops - set(STAGES) <= {"locale"}


def test_no_module_is_over_the_size_limit() -> None:
    big = {name: n for name, path in modules().items()
           if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert big == {}
