"""docs/security.md maps each safeguard to the test that proves it: every test it names exists."""

from __future__ import annotations

import ast
import re

from service.settings import ROOT

DOC = (ROOT / "docs" / "security.md").read_text()
NAMED = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", DOC)


def _tests_in(path: str) -> set[str]:
    tree = ast.parse((ROOT / path).read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_every_test_the_security_doc_names_exists():
    assert len(NAMED) > 40
    missing = [f"{path}::{name}" for path, name in NAMED if name not in _tests_in(path)]
    assert missing == []


def test_every_row_names_a_test_or_says_it_is_a_gap():
    rows = [line for line in DOC.splitlines() if line.startswith("| ") and "---" not in line]
    body = [row for row in rows if not row.startswith(("| safeguard", "| risk"))]
    assert body and all("::" in row or "**gap**" in row for row in body)
