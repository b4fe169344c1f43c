"""The package's dependencies point one way (issue: decide, then apply; folders that follow the
data flow). Read from the source with ast, so a new import that breaks the rule fails here."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "monitor"


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """{module: project modules it imports}, at any depth in the file (lazy imports count)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if "versions" in path.parts:
            continue
        module = _module(path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                targets.add(target)  # and `from package import module` names the module too
                targets.update(f"{target}.{a.name}" for a in node.names if _is_module(f"{target}.{a.name}"))
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[module] = {t for t in targets if t == "monitor" or t.startswith("monitor.")} - {module}
    return graph


def _is_module(name: str) -> bool:
    path = PACKAGE.parent / Path(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules along it, or None (a depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_import_cycle():
    assert _cycle(_imports()) is None


def test_the_cycle_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def _outside(graph: dict[str, set[str]], prefix: str, allowed: tuple[str, ...]) -> dict[str, set[str]]:
    return {module: {t for t in targets if not t.startswith(allowed) and t != "monitor"}
            for module, targets in graph.items() if module.startswith(prefix)
            and {t for t in targets if not t.startswith(allowed) and t != "monitor"}}


def test_the_store_imports_only_the_plain_data_and_the_errors():
    graph = _imports()
    assert _outside(graph, "monitor.store", ("monitor.store", "monitor.model", "monitor.errors")) == {}


def test_model_imports_nothing_of_the_project():
    assert _imports()["monitor.model"] == set()


def test_alerts_classify_ingest_and_settings_never_import_the_pipeline_or_the_daemon():
    graph = _imports()
    for stage in ("monitor.alerts", "monitor.classify", "monitor.ingest", "monitor.settings", "monitor.store"):
        for module, targets in graph.items():
            if module.startswith(stage):
                assert not {t for t in targets if t.startswith(("monitor.pipeline", "monitor.daemon",
                                                                "monitor.cli", "monitor.tools"))}, module


def test_the_running_monitor_does_not_import_the_offline_tools():
    graph = _imports()
    running = ("monitor.pipeline", "monitor.incidents", "monitor.alerts", "monitor.daemon", "monitor.store",
               "monitor.classify", "monitor.ingest", "monitor.settings")
    for module, targets in graph.items():
        if module.startswith(running):
            assert not {t for t in targets if t.startswith("monitor.tools")}, module


def test_every_project_import_names_a_module_that_exists():
    missing = {module: sorted(t for t in targets if not _is_module(t))
               for module, targets in _imports().items()}
    assert {module: targets for module, targets in missing.items() if targets} == {}
