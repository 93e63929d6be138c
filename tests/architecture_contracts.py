"""Two import-linter contract types for rules the built-in ones cannot state (DESIGN §2).

- `commits`: only one module commits (the unit of work); others call `uow.commit()`.
- `own_models`: a feature's use-cases reach another feature's rows only through that feature's
  services, never its models (models may relate to each other; the HTTP ring may name them).

Registered in pyproject.toml (`contract_types`); `lint-imports` runs them with the others.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

from grimp import ImportGraph
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


class OnlyUnitOfWorkCommits(Contract):
    package = fields.StringField()
    allowed = fields.ListField(subfield=fields.StringField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        allowed = set(self.allowed)  # type: ignore[arg-type]
        found = [
            (module, line)
            for module in sorted(graph.find_descendants(str(self.package)))
            if module not in allowed
            for line in _commit_calls(module)
        ]
        return ContractCheck(kept=not found, metadata={"found": found})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for module, line in check.metadata["found"]:
            output.print_error(f"{module}:{line} calls .commit(); commit through service.db.uow")
            output.new_line()


class OwnModelsOnly(Contract):
    features = fields.ListField(subfield=fields.StringField())
    # Module names inside a feature that may name any feature's models.
    outer = fields.ListField(subfield=fields.StringField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        features = set(self.features)  # type: ignore[arg-type]
        outer = set(self.outer)  # type: ignore[arg-type]
        found = []
        for importer in sorted(graph.modules):
            owner, part = _feature_and_part(importer, features)
            if owner is None or part in outer:
                continue
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                other, other_part = _feature_and_part(imported, features)
                if other not in (None, owner) and other_part == "models":
                    found.append((importer, imported))
        return ContractCheck(kept=not found, metadata={"found": found})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for importer, imported in check.metadata["found"]:
            output.print_error(f"{importer} imports {imported}: go through that feature's service")
            output.new_line()


def _feature_and_part(module: str, features: set[str]) -> tuple[str | None, str | None]:
    """`service.couples.models` → (`service.couples`, `models`)."""
    parts = module.split(".")
    feature = ".".join(parts[:2])
    if feature not in features or len(parts) < 3:
        return None, None
    return feature, parts[2]


def _commit_calls(module: str) -> list[int]:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return []
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "commit"
        and not (isinstance(node.func.value, ast.Name) and node.func.value.id == "uow")
    ]
