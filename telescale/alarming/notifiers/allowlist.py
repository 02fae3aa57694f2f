"""Which addresses alarm actions may reach, so no alarm makes the server call its own internals.

Refused unless ``alarming.webhook_allowed_networks`` holds a CIDR covering them: loopback, link-local,
unspecified, multicast/broadcast and the cloud metadata services. Private networks (10/8, 192.168/16 …)
stay allowed, since OpenStack receivers such as Heat usually live there. The check is made on every
address a name resolves to (at creation by the API, and again by the dispatcher just before it connects,
to exactly the address it checked, so a DNS answer that changes in between cannot reach a refused one).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from telescale.redact import public_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Why each network is refused, most specific first (the first match names the reason).
REFUSED_NETWORKS: tuple[tuple[str, str], ...] = (
    ("169.254.169.254/32", "the cloud metadata address (OpenStack, AWS, GCP, Azure, Oracle)"),
    ("169.254.170.2/32", "the AWS ECS task metadata address"),
    ("fd00:ec2::254/128", "the AWS metadata address over IPv6"),
    ("100.100.100.200/32", "the Alibaba Cloud metadata address"),
    ("168.63.129.16/32", "the Azure platform (WireServer) address"),
    ("127.0.0.0/8", "a loopback address"),
    ("::1/128", "a loopback address"),
    ("169.254.0.0/16", "a link-local address"),
    ("fe80::/10", "a link-local address"),
    ("0.0.0.0/8", "an unspecified address"),
    ("::/128", "an unspecified address"),
    ("224.0.0.0/4", "a multicast address"),
    ("ff00::/8", "a multicast address"),
    ("255.255.255.255/32", "the broadcast address"),
)

#: Action schemes Telescale delivers; only the HTTP ones reach the network.
HTTP_SCHEMES = frozenset({"http", "https", "trust+http", "trust+https"})
SCHEMES = HTTP_SCHEMES | {"log", "telescale"}


class TargetRefused(ValueError):
    """An alarm action Telescale will not call (unsupported scheme, no host, or a refused address)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"alarm action {public_url(url)}: {reason}")
        self.url = public_url(url)
        self.reason = reason


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Read the setting's CIDRs, naming the one that is not a network."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ValueError(f"alarming.webhook_allowed_networks: {cidr!r} is not a CIDR network") from None
    return tuple(networks)


_REFUSED = tuple((ipaddress.ip_network(cidr), reason) for cidr, reason in REFUSED_NETWORKS)


class AllowList:
    """The refused networks minus the allowed ones, checked address by address."""

    def __init__(self, allowed_networks: Iterable[str] = ()) -> None:
        self.allowed = parse_networks(allowed_networks)

    def refusal(self, address: str) -> str | None:
        """Why ``address`` may not be called, or None when it may (IPv4-mapped IPv6 counts as IPv4)."""
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in network for network in self.allowed):
            return None
        for network, reason in _REFUSED:
            if ip in network:
                return f"{ip} is {reason}; alarming.webhook_allowed_networks must include it to allow it"
        return None

    def check_addresses(self, url: str, addresses: Sequence[str]) -> None:
        """Refuse the target when any of its addresses is refused (all of them may be connected to)."""
        for address in addresses:
            reason = self.refusal(address)
            if reason:
                raise TargetRefused(url, reason)


def split_target(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an HTTP action, refusing what is not one Telescale can call."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise TargetRefused(url, f"not a valid URL ({e})") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise TargetRefused(url, f"unsupported action scheme {scheme!r} (supported: {', '.join(sorted(SCHEMES))})")
    host = parts.hostname or ""
    if scheme in HTTP_SCHEMES and not host:
        raise TargetRefused(url, "the URL names no host")
    if scheme == "telescale" and not (host and parts.path.strip("/")):
        raise TargetRefused(url, "an internal action reads telescale://<kind>/<target>")
    return scheme, host, port or (443 if scheme.endswith("https") else 80)


def check_target(url: str, allowed_networks: Iterable[str]) -> None:
    """Refuse (``TargetRefused``) an action the dispatcher would refuse, as the API does at alarm creation.

    A name that does not resolve now is accepted: the dispatcher checks again before each attempt.
    Blocking (it may resolve a name): call it from a plain ``def`` handler.
    """
    scheme, host, port = split_target(url)
    if scheme not in HTTP_SCHEMES:
        return
    if is_ip_address(host):
        addresses = [host]
    else:
        try:
            addresses = [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
        except (OSError, UnicodeError):
            return
    AllowList(allowed_networks).check_addresses(url, addresses)


def is_ip_address(host: str) -> bool:
    """Whether ``host`` is an IP address (with an optional IPv6 zone), which needs no resolving."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True
