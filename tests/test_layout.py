"""The package's layout as its architecture: one subpackage per concern, small modules, imports at the top
of each module (but where a reason is written down below), and no import circles."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "deblur_utils"
MAX_LINES = 400
SUBPACKAGES = {"cli", "data", "evaluation", "networks", "params", "report", "runtime", "steps", "training"}
# Imports inside a function, each for a reason: a heavy or optional import the module's other users must
# not pay for.
INNER_IMPORTS = {
    # notebook 01's worker processes import the package (and so numerics) without torch
    ("runtime.numerics", "cpu_threads"): {"torch"},
    # IPython is there only in a Jupyter kernel
    ("report.plots", "_sharp_inline_figures"): {"IPython", "matplotlib_inline.backend_inline"},
    # the embedded photos' packages, imported where a photo is asked for (notebook 01's workers need neither)
    ("data.embedded", "photo_path"): {"skimage", "matplotlib"},
    # OpenCV, optional (requirements.txt installs it, the package does not require it): 16-bit colour PNGs
    ("data.imageio", "read_deep"): {"cv2"},
}


def modules() -> dict:
    out = {}
    for path in ROOT.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        out[name.removesuffix(".__init__") if name != "__init__" else ""] = path
    return out


def _targets(module: str, path: Path, node) -> list[str]:
    """The package's modules an import statement names (relative imports resolved)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif node.level:
        base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
        target = ".".join(p for p in [*base, node.module or ""] if p)
        names = [f"{target}.{a.name}".strip(".") for a in node.names] + [target]
    else:
        names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return [n.removeprefix("deblur_utils").lstrip(".") for n in names
            if n.startswith("deblur_utils") or not isinstance(node, ast.Import) and node.level]


def test_the_package_is_its_subpackages_each_of_small_modules():
    found = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert found == SUBPACKAGES
    assert {p.name for p in ROOT.glob("*.py")} == {"__init__.py", "__main__.py"}
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_imports_sit_at_the_top_but_for_the_reasons_written_down():
    inner = {}
    for name, path in modules().items():
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    if isinstance(node, ast.Import):
                        inner.setdefault((name, fn.name), set()).update(a.name for a in node.names)
                    elif isinstance(node, ast.ImportFrom):
                        inner.setdefault((name, fn.name), set()).add("." * node.level + (node.module or ""))
    assert inner == INNER_IMPORTS


def test_no_module_imports_itself_through_others():
    mods = modules()
    edges = {}
    for name, path in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                deps |= {t for t in _targets(name, path, node) if t in mods and t != name}
        edges[name] = deps
    state, cycles = {}, []

    def visit(m, stack):
        if state.get(m) == "open":
            cycles.append(stack[stack.index(m):] + [m])
            return
        if state.get(m) == "done":
            return
        state[m] = "open"
        for t in edges[m]:
            visit(t, stack + [m])
        state[m] = "done"

    for m in mods:
        visit(m, [])
    assert not cycles, cycles
