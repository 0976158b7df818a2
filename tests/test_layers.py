"""The import contract: thinkgate's layers only point down. Every import in the package (module level and
inside functions) is read from the source; a module may import its own package, or a package of a lower
layer, and nothing else of thinkgate's."""

import ast
import sys
from pathlib import Path

import thinkgate

PACKAGE = Path(thinkgate.__file__).parent
# bottom to top; each entry is one layer, the packages (or top-level modules) in it
LAYERS = [
    ("errors", "process"),  # the errors everyone raises; process-wide tuning, for entry points
    ("types",),  # plain data: requests, results, sampling
    ("verify", "tasks", "formats"),  # answer checks, task families, model families' chat formats
    ("backends", "scoring", "confidence"),  # what writes tokens; what rows are scored by; an answer's confidence
    ("roster",),  # the named models a gate runs (one, or several for two-model strategies and routing)
    ("routers",),  # routers the route strategy loads
    ("strategies",),  # how thinking is steered
    ("policy",),  # which strategy serves a request, from its thinking controls
    ("streaming",),  # any strategy streamed
    ("gate",),  # the one call every face makes
    ("bench", "server", "train"),  # drivers: evaluation and calibration, the HTTP server, training
    ("cli",),  # the entry point
    ("__main__",),  # python -m thinkgate
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def area(module: str) -> str:
    """`thinkgate.backends.hf` -> `backends`; `thinkgate.gate` -> `gate`; `thinkgate` -> ``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imports() -> list[tuple[str, int, str]]:
    """(module, line, imported module) for every import of a thinkgate module in the package."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        package = module if rel.name == "__init__" else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                    if not node.module:  # `from . import x`: the names are modules of the package
                        found += [(module, node.lineno, f"{target}.{a.name}") for a in node.names]
                        continue
                else:
                    target = node.module or ""
                if target.split(".")[0] == "thinkgate":
                    found.append((module, node.lineno, target))
            elif isinstance(node, ast.Import):
                found += [(module, node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "thinkgate"]
    return found


def test_every_package_has_a_layer():
    areas = {area(m) for m, _, _ in imports()} | {area(t) for _, _, t in imports()}
    assert areas - {""} <= set(RANK), f"not in LAYERS: {sorted(areas - {''} - set(RANK))}"


def test_imports_only_point_down():
    upward = [f"{m}:{line} imports {t} ({area(m)} is layer {RANK[area(m)]}, {area(t)} is layer {RANK[area(t)]})"
              for m, line, t in imports() if area(m) and area(t) and area(t) != area(m)
              and RANK[area(t)] >= RANK[area(m)]]
    assert not upward, "imports that run up or sideways:\n" + "\n".join(upward)


def test_the_contract_catches_an_upward_import(tmp_path, monkeypatch):
    """The check itself: a backend that imports the gate is reported."""
    fake = tmp_path / "thinkgate"
    (fake / "backends").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "backends" / "__init__.py").write_text("")
    (fake / "backends" / "x.py").write_text("def f():\n    from ..gate import Gate\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    found = imports()
    assert ("thinkgate.backends.x", 2, "thinkgate.gate") in found
    assert RANK[area("thinkgate.gate")] > RANK[area("thinkgate.backends.x")]
