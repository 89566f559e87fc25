"""The top-level packages import one way only (ARCHITECTURE.md): protocol <- vdlt <- node_agent <- harness."""
from __future__ import annotations

import ast

from tests.conftest import REPO

# Who may import whom: a package may import those below it, never those above.
LAYERS = ("protocol", "vdlt", "node_agent", "harness")


def imported_packages(package: str) -> dict[str, set[str]]:
    """For each module of ``package``, the top-level packages of ours it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(REPO))] = names & set(LAYERS)
    return found


def test_packages_import_only_those_below_them() -> None:
    wrong = []
    for level, package in enumerate(LAYERS):
        above = set(LAYERS[level + 1:])
        for module, names in imported_packages(package).items():
            if names & above:
                wrong.append(f"{module} imports {', '.join(sorted(names & above))}")
    assert wrong == []


def test_one_module_opens_a_state_stream() -> None:
    opening = [str(path.relative_to(REPO)) for package in LAYERS for path in (REPO / package).rglob("*.py")
               if "_pb2" not in path.name and ".WatchState(" in path.read_text()]
    assert opening == ["protocol/state_stream.py"]
