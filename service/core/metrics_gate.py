"""Who may read `/metrics` (the API's and the worker's): an operator's bearer token and/or a
list of client networks. Pure: the API route and the worker's metrics server both ask it.

Metrics carry no personal data, but route names, volumes and error classes still tell an
outsider how the service is used, so outside development an unrestricted `/metrics` is
refused rather than served.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    """The allowed networks; ValueError names the entry that is not a CIDR block."""
    parsed = []
    for cidr in cidrs:
        try:
            parsed.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError as exc:
            raise ValueError(f"{cidr!r} is not an IP network (e.g. 10.0.0.0/8)") from exc
    return tuple(parsed)


@dataclass(frozen=True)
class Refusal:
    status: int  # 401: no or wrong token; 403: not from an allowed network, or unrestricted
    detail: str


@dataclass(frozen=True)
class MetricsGate:
    token: str
    allow: tuple[Network, ...]
    open_when_unrestricted: bool  # development and tests

    @classmethod
    def of(cls, token: str, allow: tuple[str, ...], *, relaxed: bool) -> MetricsGate:
        return cls(token, networks(allow), relaxed)

    def refusal(self, client_address: str | None, authorization: str | None) -> Refusal | None:
        """Why this caller may not read the metrics, or None. Every restriction that is set
        must pass."""
        if not self.token and not self.allow:
            if self.open_when_unrestricted:
                return None
            return Refusal(
                403, "Metrics are not served until ALLIANCE_METRICS_TOKEN or _ALLOW is set."
            )
        if self.allow and not self._allowed(client_address):
            return Refusal(403, "Metrics are not served to this network.")
        if self.token and not self._bearer_matches(authorization):
            return Refusal(401, "Metrics need the operator's bearer token.")
        return None

    def _allowed(self, client_address: str | None) -> bool:
        try:
            address = ipaddress.ip_address((client_address or "").split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.allow)

    def _bearer_matches(self, authorization: str | None) -> bool:
        scheme, _, offered = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(offered.strip().encode(), self.token.encode())
