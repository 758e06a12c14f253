"""Where tenant requests may go (SSRF, SPEC section 5).

Checked on the resolved address at connect time, by a TCPConnector that vets every
address it is about to connect to (literal or resolved, cached or fresh), so DNS
rebinding cannot slip through and a refused destination gets zero bytes.

Always refused: link-local (169.254.0.0/16, fe80::/10) and cloud metadata addresses
(fd00:ec2::254, 100.100.100.200), including IPv4 embedded in IPv6 (mapped, 6to4,
Teredo, NAT64) and numeric spellings (decimal, hex, octal, short forms). In
multi-tenant mode every non-global address (loopback, private, CGNAT, reserved,
multicast, unspecified) is refused too, unless UPSTREAM_ALLOW_PRIVATE=1 or the URL's
host is in UPSTREAM_ALLOWED_HOSTS.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Sequence
from typing import Any

import aiohttp

from proxy.errors import UpstreamForbiddenError
from proxy.throttled_log import RateLimitedLog

log = logging.getLogger("proxy.upstream")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_ALWAYS = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
    ipaddress.ip_network("fd00:ec2::254/128"),
    ipaddress.ip_network("100.100.100.200/32"),
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def forbidden_destination() -> UpstreamForbiddenError:
    """The error for a refused destination: it names no host or address."""
    return UpstreamForbiddenError("The upstream destination is not allowed.")


class DestinationPolicy:
    def __init__(
        self,
        *,
        strict: bool,
        allow_private: bool = False,
        allowed_hosts: frozenset[str] = frozenset(),
        warnings: RateLimitedLog | None = None,
    ) -> None:
        """`warnings`: the app's rate-limited upstream warnings (one line per host per
        interval); a policy of its own when not given."""
        self._strict = strict and not allow_private
        self._allowed_hosts = allowed_hosts
        self._warnings = warnings if warnings is not None else RateLimitedLog(log)

    def check_host(self, host: str) -> None:
        """Refuse numeric IPv4 spellings that are not the canonical dotted quad."""
        if ":" in host:
            return
        try:
            packed = socket.inet_aton(host)
        except OSError:
            return  # a name: checked once resolved
        if socket.inet_ntoa(packed) != host:
            self._refuse(host, host, "non-canonical numeric address")

    def check(self, host: str, address: str) -> None:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            self._refuse(host, address, "unparseable address")
        for candidate in (ip, *_embedded_ipv4(ip)):
            if any(candidate in net for net in _ALWAYS):
                self._refuse(host, address, "link-local or metadata address")
        if not self._strict or host.lower() in self._allowed_hosts:
            return
        for candidate in (ip, *_embedded_ipv4(ip)):
            if not candidate.is_global or candidate.is_multicast:
                self._refuse(host, address, "non-public address")

    def _refuse(self, host: str, address: str, why: str) -> None:
        self._warnings.warning(
            f"refused:{host}", "upstream destination refused", host=host, address=address, why=why
        )
        raise forbidden_destination()


def _embedded_ipv4(ip: IPAddress) -> Sequence[ipaddress.IPv4Address]:
    if not isinstance(ip, ipaddress.IPv6Address):
        return ()
    found = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


class GuardedConnector(aiohttp.TCPConnector):
    """A TCPConnector that vets each address before connecting to it.

    `_resolve_host` is aiohttp's (private) step that turns a URL host into the
    addresses it connects to; it is the one place that sees IP literals (which
    bypass the resolver) and resolved names alike. Pinned by `aiohttp<4` and
    covered by tests/upstream/test_guard.py.
    """

    def __init__(self, policy: DestinationPolicy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._policy = policy

    async def _resolve_host(self, host: str, port: int, traces: Any = None) -> Any:
        self._policy.check_host(host)
        results = await super()._resolve_host(host, port, traces)
        for result in results:
            self._policy.check(host, result["host"])
        return results
