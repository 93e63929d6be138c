"""Prometheus metrics, defined once. Labels carry routes and outcomes, never personal data."""

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "alliance_http_requests_total",
    "HTTP requests by route and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "alliance_http_request_seconds", "HTTP request latency by route", ["method", "route"]
)
