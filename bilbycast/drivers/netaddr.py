"""Socket-address parsing and the edge port-conflict rule (node-protocol.md §7.9).

Kept separate from the edge driver because relay and gateway validation need the same address
syntax checks, and the topology layer wants the same notion of "wildcard" and "multicast".
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

# RFC 1123 host names; nodes accept them for caller-side addresses (e.g. relay.example.com:4433).
_HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                          r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


@dataclass(frozen=True)
class SocketAddr:
    host: str          # IP literal (without brackets) or host name
    port: int
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None  # None for host names

    @property
    def is_wildcard(self) -> bool:
        return self.ip is not None and self.ip.is_unspecified

    @property
    def is_multicast(self) -> bool:
        return self.ip is not None and self.ip.is_multicast

    @property
    def is_loopback(self) -> bool:
        return self.ip is not None and self.ip.is_loopback

    def __str__(self) -> str:
        host = f"[{self.host}]" if self.ip is not None and self.ip.version == 6 else self.host
        return f"{host}:{self.port}"


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not isinstance(text, str):
        return None
    candidate = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        return None


def is_hostname(text: str) -> bool:
    return isinstance(text, str) and bool(_HOSTNAME_RE.match(text))


def parse_socket_addr(text: object, *, allow_hostname: bool = True) -> SocketAddr | None:
    """Parse `ip:port`, `[v6]:port` or `host:port`; None when it is not a socket address."""
    if not isinstance(text, str) or not text or len(text) > 2048:
        return None
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            return None
        ip = parse_ip(host)
        if ip is None or ip.version != 6:
            return None
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or not host or ":" in host:   # a bare IPv6 literal needs brackets
            return None
        ip = parse_ip(host)
        if ip is None:
            if not allow_hostname or not is_hostname(host) or host.replace(".", "").isdigit():
                return None
    if not port_text.isdigit() or len(port_text) > 5:
        return None
    port = int(port_text)
    if port > 65535:
        return None
    return SocketAddr(host=host, port=port, ip=ip)


@dataclass(frozen=True)
class Bind:
    """One socket a node would bind, with where it comes from (for messages and pointers)."""
    protocol: str          # "UDP" or "TCP", as the edge spells it in port-conflict messages
    addr: SocketAddr
    owner: str             # e.g. "input srt-in", "server"
    pointer: str           # JSON pointer of the address field inside the checked document

    def conflicts_with(self, other: "Bind") -> bool:
        """§7.9: same port and protocol, and either side a wildcard or the same IP.

        Port 0 (ephemeral) and multicast groups never conflict: many receivers may join one
        group on one port.
        """
        if self.protocol != other.protocol or self.addr.port != other.addr.port:
            return False
        if self.addr.port == 0 or self.addr.is_multicast or other.addr.is_multicast:
            return False
        if self.addr.is_wildcard or other.addr.is_wildcard:
            return True
        if self.addr.ip is not None and other.addr.ip is not None:
            return self.addr.ip == other.addr.ip
        return self.addr.host.lower() == other.addr.host.lower()


def conflict_message(new: Bind, existing: Bind) -> str:
    # Same wording as the edge (§5.6: "error starts with `Port conflict:`").
    return (f"Port conflict: {new.protocol} {new.addr} is already bound by {existing.owner} "
            f"({existing.protocol} {existing.addr})")


def find_conflicts(candidates: list[Bind], existing: list[Bind]) -> list[tuple[Bind, Bind]]:
    """Pairs (candidate, existing) that collide; candidates are also checked among themselves."""
    found: list[tuple[Bind, Bind]] = []
    for index, bind in enumerate(candidates):
        for other in existing:
            if bind.conflicts_with(other):
                found.append((bind, other))
                break
        else:
            for other in candidates[:index]:
                if other.owner != bind.owner and bind.conflicts_with(other):
                    found.append((bind, other))
                    break
    return found
