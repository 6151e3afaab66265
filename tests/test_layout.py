"""The package's layout: one room per concern, no import cycles, no oversized module, notebooks as views."""
import ast
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lab"
MAX_LINES = 360  # "no module over ~350 lines"
# Data wrangling and chart building belong in lab/, not in a notebook's cells.
WRANGLING = re.compile(r"\bpd\.|\balt\.|\bnp\.|\.(groupby|unstack|pivot\w*|melt|merge|rename|assign|query|loc|iloc|"
                       r"sort_values|drop|astype|apply|agg|round)\b|^\s*(for|while|def|class)\b", re.M)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _target(name: str) -> str:
    """The module an imported dotted name lives in (``lab.models.NAMES`` -> ``lab.models``)."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imports(module: str) -> set[str]:
    """The lab modules ``module`` imports anywhere in its body (inside functions too)."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            found |= {_target(a.name) for a in node.names if a.name.split(".")[0] == "lab"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "lab":
            found |= {_target(f"{node.module}.{a.name}") for a in node.names}
    return found - {module}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for succ in sorted(graph[node]):
            if state.get(succ) == "open":
                return stack[stack.index(succ):] + [succ]
            if succ not in state and (found := visit(succ)):
                return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_import_graph_of_lab_has_no_cycle():
    graph = {m: imports(m) for m in MODULES}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_oversized(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[module].relative_to(ROOT)}: {lines} lines; split it by concern"


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebooks_are_views(notebook):
    """Parameters, one or two calls into lab, display: no wrangling, loops or chart building in the cells."""
    cells = [c for c in nbformat.read(notebook, as_version=4).cells
             if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])]
    for cell in cells:
        assert not WRANGLING.search(cell.source), f"{notebook.name}: move this into lab/:\n{cell.source}"


def test_architecture_names_every_module_and_only_existing_ones():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    rooms = text.split("## The rooms", 1)[1].split("## ", 1)[0]
    cells = [row.split("|")[2] for row in rooms.splitlines() if row.startswith("|") and "---" not in row][1:]
    named = {name for cell in cells for name in re.findall(r"`(\w+/?)`", cell)}
    modules = {m.split(".")[1] + ("/" if m.count(".") > 1 or MODULES[m].name == "__init__.py" else "")
               for m in MODULES if m.count(".") >= 1}
    assert modules <= named, f"ARCHITECTURE.md lacks {sorted(modules - named)}"
    assert {n for n in named if not n.endswith("/")} <= {m.rstrip("/") for m in modules}, "names a module that is gone"
