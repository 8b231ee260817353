"""core is the domain: it must not know about Slack, HTTP or the bot layer."""

import ast
from pathlib import Path

FORBIDDEN = ("bot", "slack_bolt", "slack_sdk", "fastapi", "starlette", "uvicorn")
CORE = Path(__file__).resolve().parents[2] / "core"


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_imports_no_slack_http_or_bot():
    offenders = [
        f"{path.relative_to(CORE.parent)} imports {name}"
        for path in sorted(CORE.rglob("*.py"))
        for name in imported_modules(path)
        if name.split(".")[0] in FORBIDDEN
    ]
    assert not offenders, offenders


def test_the_check_sees_a_forbidden_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom slack_sdk.web import WebClient\n")
    assert "slack_sdk.web" in imported_modules(sample)


# --- no import cycles ------------------------------------------------------------------------

ROOT = CORE.parent
PACKAGES = ("bot", "core", "emulators")


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def dependencies(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports anywhere in its file (function-level imports
    included), each resolved to the longest module name that exists; its own parents excluded."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    wanted: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            wanted.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            wanted.add(base)
            wanted.update(f"{base}.{alias.name}" for alias in node.names)
    found = set()
    for module in wanted:
        while module and module not in modules:
            module = module.rsplit(".", 1)[0] if "." in module else ""
        if module and module != name and not name.startswith(module + "."):
            found.add(module)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles_in_core_bot_or_the_emulators():
    modules = project_modules()
    graph = {name: dependencies(name, path, modules) for name, path in modules.items()}
    assert cycles(graph) == []


def test_the_cycle_check_finds_a_cycle_through_a_function_level_import(tmp_path):
    (tmp_path / "a.py").write_text("import b\n")
    (tmp_path / "b.py").write_text("def f():\n    from c import x\n")
    (tmp_path / "c.py").write_text("from a import y\n")
    modules = {name: tmp_path / f"{name}.py" for name in "abc"}
    graph = {name: dependencies(name, path, modules) for name, path in modules.items()}
    assert cycles(graph) == [["a", "b", "c"]]
    graph["c"] = set()
    assert cycles(graph) == []


def test_the_emulators_stand_apart_from_the_bot():
    """The emulators play outside systems: they never import the bot, and of the bot only the
    sandbox command starts one."""
    modules = project_modules()
    offenders = [
        f"{name} imports {dep}"
        for name, path in modules.items()
        for dep in dependencies(name, path, modules)
        if (name.startswith("emulators") and dep.split(".")[0] == "bot")
        or (name.startswith("bot") and dep.startswith("emulators") and name != "bot.cli.sandbox")
    ]
    assert offenders == []
