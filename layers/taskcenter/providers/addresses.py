"""Which IP addresses outbound HTTP may contact (docs/decisions.md, "Outbound HTTP and upstream
errors").

An explicit deny list of networks, not `ipaddress`'s `is_private` / `is_global` flags: Python 3.11's
flags let site-local `fec0::/10`, 6to4 `2002::/16` around a private IPv4, CGNAT `100.64.0.0/10` and
others through, and their meaning changes between Python releases. IPv6 addresses that carry an IPv4
address (IPv4-mapped, NAT64, 6to4, Teredo) are unwrapped and the IPv4 address is checked too. Outside
the lists, IPv6 must be global unicast (`2000::/3`); the IANA special-purpose registries are the source.
"""

from __future__ import annotations

import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_net = ipaddress.ip_network

# IANA IPv4 special-purpose registry (RFC 6890 and successors): nothing here is a public web server.
DENIED_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_net("0.0.0.0/8"), "'this network' address"),
    (_net("10.0.0.0/8"), "private address"),
    (_net("100.64.0.0/10"), "carrier-grade NAT (shared) address"),
    (_net("127.0.0.0/8"), "loopback address"),
    (_net("169.254.0.0/16"), "link-local address (cloud metadata)"),
    (_net("172.16.0.0/12"), "private address"),
    (_net("192.0.0.0/24"), "IETF protocol assignment address"),
    (_net("192.0.2.0/24"), "documentation address"),
    (_net("192.31.196.0/24"), "AS112 address"),
    (_net("192.52.193.0/24"), "AMT address"),
    (_net("192.88.99.0/24"), "6to4 relay anycast address"),
    (_net("192.168.0.0/16"), "private address"),
    (_net("192.175.48.0/24"), "AS112 address"),
    (_net("198.18.0.0/15"), "benchmarking address"),
    (_net("198.51.100.0/24"), "documentation address"),
    (_net("203.0.113.0/24"), "documentation address"),
    (_net("224.0.0.0/4"), "multicast address"),
    (_net("240.0.0.0/4"), "reserved address"),  # includes the broadcast 255.255.255.255
)

# IANA IPv6 special-purpose registry; the order puts the most telling reason first (:: before ::/96).
DENIED_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_net("::/128"), "unspecified address"),
    (_net("::1/128"), "loopback address"),
    (_net("::/96"), "IPv4-compatible address (deprecated)"),
    (_net("::ffff:0:0:0/96"), "IPv4-translated address"),
    (_net("64:ff9b:1::/48"), "local-use NAT64 address"),
    (_net("100::/64"), "discard-only address"),
    (_net("2001:2::/48"), "benchmarking address"),
    (_net("2001:10::/28"), "ORCHID address"),
    (_net("2001:20::/28"), "ORCHIDv2 address"),
    (_net("2001:db8::/32"), "documentation address"),
    (_net("3fff::/20"), "documentation address"),
    (_net("5f00::/16"), "SRv6 SID address"),
    (_net("fc00::/7"), "unique-local (private) address"),
    (_net("fe80::/10"), "link-local address"),
    (_net("fec0::/10"), "site-local address (deprecated)"),
    (_net("ff00::/8"), "multicast address"),
)

NAT64 = _net("64:ff9b::/96")  # RFC 6052 well-known prefix: the last 32 bits are the IPv4 address
GLOBAL_UNICAST = _net("2000::/3")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address carries, each with the mechanism's name."""
    found: list[tuple[str, ipaddress.IPv4Address]] = []
    if ip.ipv4_mapped is not None:
        found.append(("IPv4-mapped", ip.ipv4_mapped))
    if ip in NAT64:
        found.append(("NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
    if ip.sixtofour is not None:
        found.append(("6to4", ip.sixtofour))
    if ip.teredo is not None:
        server, client = ip.teredo
        found += [("Teredo server", server), ("Teredo client", client)]
    return found


def _listed(ip: IPAddress) -> str | None:
    table = DENIED_V4 if isinstance(ip, ipaddress.IPv4Address) else DENIED_V6
    for network, reason in table:
        if ip in network:
            return reason
    return None


def refuse_reason(ip: IPAddress) -> str | None:
    """Why we must not contact `ip` (e.g. "loopback address"), or None when it is a public address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(int(ip))  # a zone (fe80::1%eth0) does not change what the address is
    reason = _listed(ip)
    if reason or isinstance(ip, ipaddress.IPv4Address):
        return reason
    carried = embedded_ipv4(ip)
    for how, inner in carried:
        inner_reason = _listed(inner)
        if inner_reason:
            return f"{inner_reason} ({how} IPv6 address)"
    if ip.ipv4_mapped is not None or ip in NAT64:
        return None  # it is that (public) IPv4 address
    if ip not in GLOBAL_UNICAST:
        return "address outside IPv6 global unicast (2000::/3)"
    return None


METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data", "instance-data.ec2.internal"}


def refuse_reason_without_dns(host: str) -> str | None:
    """Why a host would be refused whatever DNS says, or None: a cloud metadata name, `localhost`, or an IP
    literal the deny list refuses, written canonically or in a legacy IPv4 form getaddrinfo also reads
    (`127.1`, `2130706433`, `0x7f000001`). The admin refuses such a channel URL when it is set."""
    name = host.lower().rstrip(".")
    if name in METADATA_HOSTS:
        return "cloud metadata host"
    if name == "localhost" or name.endswith(".localhost"):
        return "loopback address"
    try:
        literal = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        try:
            literal = ipaddress.ip_address(socket.inet_aton(name))
        except (OSError, ValueError):
            return None
    return refuse_reason(literal)
