"""``lib`` never imports ``plugins`` or ``faceswap_original``, at any depth (function-level
imports included): the statement of ``lib/__init__.py``."""
from __future__ import annotations

import ast
from pathlib import Path

_LIB = Path(__file__).parents[2] / "lib"


def test_lib_imports_neither_plugins_nor_the_application() -> None:
    offenders = []
    for path in sorted(_LIB.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders.extend(f"{path.relative_to(_LIB.parent)}:{node.lineno} {name}"
                             for name in names
                             if name.split(".")[0] in ("plugins", "faceswap_original"))
    assert offenders == []
