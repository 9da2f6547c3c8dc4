"""The shape of the package: the layers of docs/architecture.md, no import cycles, every
module importable on its own.

docs/architecture.md, "Layers": imports point down its table. A cycle hidden behind a lazy
import inside a function, or behind ``if TYPE_CHECKING:``, is still a cycle (a reader
still needs both modules to read either), so the graph is read from the source: every
``import`` of a qxframe module, at any depth, ``TYPE_CHECKING`` blocks included.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "qxframe"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(_module_name(p) for p in PACKAGE.rglob("*.py"))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, *, type_checking: bool = True) -> set[str]:
    """The qxframe modules ``module`` imports (names resolved to modules), at any depth;
    ``type_checking``: those imported only for a type checker too."""
    path = PACKAGE.parent / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = PACKAGE.parent / module.replace(".", "/") / "__init__.py"
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child) and not type_checking:
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                found.add(base)
                found.update(f"{base}.{a.name}" for a in child.names)
            visit(child)

    visit(ast.parse(path.read_text()))
    return {name for name in found if name in MODULES and name != module}


ARCHITECTURE = PACKAGE.parent / "docs" / "architecture.md"
#: Subpackages whose row in the table names each of their modules.
LISTED_PACKAGES = ("actions", "delivery")


def _layers() -> list[tuple[str, set[str]]]:
    """The "Layers" table of docs/architecture.md, top to bottom: each row's layer and the
    names in its modules cell (``_client.py``, ``actions/``…)."""
    section = ARCHITECTURE.read_text().split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] not in ("layer", "---"):
            rows.append((cells[0], set(re.findall(r"`([\w./]+)`", cells[1]))))
    return rows


def _rows_of(module: str, rows: list[tuple[str, set[str]]]) -> list[int]:
    """The rows of the table that place ``module``."""
    parts = module.split(".")[1:]
    path = PACKAGE.joinpath(*parts)
    if not parts:
        wanted = {"__init__.py"}
    elif path.is_dir() or len(parts) > 1:  # a subpackage, or a module in one
        wanted = {parts[0] + "/"}
    else:
        wanted = {parts[0] + ".py"}
    found = [i for i, (_, names) in enumerate(rows) if wanted <= names]
    if len(parts) > 1 and parts[0] in LISTED_PACKAGES:  # its own name in that row too
        found = [i for i in found if parts[-1] + ".py" in rows[i][1]]
    return found


def test_every_module_is_in_one_layer_and_imports_point_down():
    """docs/architecture.md, "Layers": each module is in one row of the table, and imports
    only modules of its own row or of rows below (the sandbox, a program of its own, may
    import anything)."""
    rows = _layers()
    placed = {m: _rows_of(m, rows) for m in MODULES}
    assert {m: found for m, found in placed.items() if len(found) != 1} == {}
    row = {m: found[0] for m, found in placed.items()}
    sandbox = next(i for i, (layer, _) in enumerate(rows) if layer == "sandbox")
    upward = [
        f"{m} ({rows[row[m]][0]}) imports {t} ({rows[row[t]][0]})"
        for m in MODULES
        if row[m] != sandbox
        for t in sorted(_imports(m))
        if t != "qxframe" and row[t] < row[m]
    ]
    assert upward == []


def _cycles() -> list[list[str]]:
    graph = {m: _imports(m) for m in MODULES}
    # a package's __init__ re-exports its modules: an edge *into* it from its own
    # submodules is how Python always works, so only edges between modules count
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt in ("qxframe",) or (node.startswith(nxt + ".") and nxt in MODULES):
                continue  # a submodule importing its own package's namespace
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                dfs(nxt)
        stack.pop()
        state[node] = 2

    for module in MODULES:
        if module not in state:
            dfs(module)
    return cycles


def test_the_import_graph_has_no_cycle():
    assert _cycles() == []


def test_a_cycle_behind_type_checking_or_a_function_counts(tmp_path, monkeypatch):
    """The cycle check reads what it says it reads: a cycle made only of a
    ``TYPE_CHECKING`` import and a function-level import is found."""
    package = tmp_path / "qxframe"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "_a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from qxframe._b import B\n"
    )
    (package / "_b.py").write_text("def f():\n    from qxframe import _a\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", package)
    monkeypatch.setattr(sys.modules[__name__], "MODULES", ["qxframe", "qxframe._a", "qxframe._b"])
    assert _cycles() == [["qxframe._a", "qxframe._b", "qxframe._a"]]


#: Imports each module with no qxframe module loaded before it, in one interpreter: the
#: third-party libraries stay loaded between modules (importing them is what made one
#: interpreter per module take two minutes), qxframe's own modules never do, so an import
#: that works only after another qxframe module was loaded still fails here.
_IMPORT_EACH_ALONE = """
import importlib, sys, traceback
failures = []
for module in sys.argv[1:]:
    for loaded in [name for name in sys.modules if name.split(".")[0] == "qxframe"]:
        del sys.modules[loaded]
    try:
        importlib.import_module(module)
    except BaseException:
        failures.append(module + ": " + traceback.format_exc()[-400:])
print("\\n".join(failures))
sys.exit(1 if failures else 0)
"""


def test_every_module_imports_alone():
    importable = [m for m in MODULES if m != "qxframe.__main__"]  # that one runs the CLI
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_EACH_ALONE, *importable], capture_output=True, text=True
    )
    assert (done.returncode, done.stdout) == (0, "\n"), done.stderr[-2000:]


#: The skins: the CLI and the widgets (each a package: its modules are skins too).
SKINS = ("qxframe.cli", "qxframe.widgets")
#: What the skins may import of the library besides one another: the public names, the
#: public error module, and the one internal entry documented for them.
SKIN_MAY_IMPORT = {"qxframe", "qxframe.exceptions", "qxframe._skins"}


def test_the_skins_import_the_public_library_and_one_internal_entry():
    """docs/architecture.md, "Layers": the CLI and the widgets are skins over the public
    library; what else they use is ``qxframe._skins``, and nothing else is private to them."""
    skins = [m for m in MODULES if m in SKINS or m.startswith(tuple(s + "." for s in SKINS))]
    assert len(skins) > 3
    beyond = {
        f"{m} imports {t}"
        for m in skins
        for t in _imports(m)
        if t not in SKIN_MAY_IMPORT and t not in skins
    }
    assert beyond == set()


STATUS_WORDS = ("success", "invalid", "failed", "dry_run", "skipped", "not_sent", "outcome_unknown")
#: The same words in another vocabulary, each with its reason.
ALLOWED = {
    ("exceptions.py", "outcome_unknown"): "OutcomeUnknownError owns its error code",
    ("widgets/_push.py", "success"): "ipywidgets' bar_style",
    ("widgets/_push.py", "failed"): "the progress bar's final state and its label",
    ("widgets/_preview.py", "failed"): "the progress bar's final state",
    ("actions/_registry.py", "dry_run"): "the keyword argument dry_run= of every action",
}


def test_statuses_are_named_in_one_place():
    """docs/architecture.md, "The results frame": the status vocabulary is ``Status`` (and
    ``OUTCOME_UNKNOWN``) in ``_results``; code elsewhere names them, never spells them.
    Docstrings and comments may; the sandbox is a server with its own vocabulary."""
    spelled = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith("_sandbox/") or relative == "_results.py":
            continue
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and node.value in STATUS_WORDS
                and id(node) not in docstrings
                and (relative, node.value) not in ALLOWED
            ):
                spelled.append(f"{relative}:{node.lineno} {node.value!r}")
    assert spelled == []


def test_the_readme_layout_names_every_module():
    """A new module is documented where a newcomer looks first (README, "Layout")."""
    readme = (PACKAGE.parent / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("```")[1]
    missing = []
    for path in PACKAGE.rglob("*.py"):
        name = path.name if path.parent == PACKAGE else path.stem
        if path.name == "__init__.py" and path.parent != PACKAGE:
            continue
        if name.startswith("_ep_"):
            name = "_ep_*"
        if name not in layout:
            missing.append(path.relative_to(PACKAGE).as_posix())
    assert missing == []
