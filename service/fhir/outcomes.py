"""FHIR documents around resources: OperationOutcome (every error), searchset Bundles and
transaction-response Bundles. Pure: standard library only."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# HTTP status → OperationOutcome.issue.code (the required IssueType value set).
ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    412: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "processing",
    429: "throttled",
}


@dataclass(frozen=True)
class Issue:
    """One problem: what went wrong and, where known, where (a FHIRPath expression)."""

    diagnostics: str
    code: str = "invalid"
    expression: tuple[str, ...] = ()
    severity: str = "error"


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [_issue(issue) for issue in issues]}


def outcome_for_status(status: int, diagnostics: str, expression: tuple[str, ...] = ()) -> dict:
    code = ISSUE_CODES.get(status, "exception" if status >= 500 else "invalid")
    return operation_outcome([Issue(diagnostics, code, expression)])


def _issue(issue: Issue) -> dict[str, Any]:
    body: dict[str, Any] = {
        "severity": issue.severity,
        "code": issue.code,
        "diagnostics": issue.diagnostics,
    }
    if issue.expression:
        body["expression"] = list(issue.expression)
    return body


def searchset(
    resources: Iterable[Mapping[str, Any]], base: str, self_url: str, next_url: str | None
) -> dict[str, Any]:
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }


def transaction_response(results: Iterable[tuple[str, str | None]]) -> dict[str, Any]:
    """One entry per request entry, in order: (status line, location)."""
    return {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [
            {"response": {"status": status} | ({"location": where} if where else {})}
            for status, where in results
        ],
    }
