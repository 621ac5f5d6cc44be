"""The private-address guard (providers/addresses.py, used by providers/http.py for every hop): an explicit
deny list, with IPv4 unwrapped from IPv6 (issue 12, item 10). Each row: the address, and the words of the
refusal (None = allowed, with why it is public)."""

from __future__ import annotations

import ipaddress

import pytest
from taskcenter.providers import http

TABLE: list[tuple[str, str | None, str]] = [
    # IPv4 special-purpose ranges
    ("0.0.0.0", "'this network'", "0.0.0.0/8"),
    ("0.1.2.3", "'this network'", "0.0.0.0/8"),
    ("10.1.2.3", "private", "RFC 1918"),
    ("100.64.0.1", "carrier-grade NAT", "100.64.0.0/10, Python 3.11 says neither private nor global"),
    ("100.127.255.254", "carrier-grade NAT", "top of 100.64.0.0/10"),
    ("127.0.0.1", "loopback", "127.0.0.0/8"),
    ("169.254.169.254", "link-local", "cloud metadata"),
    ("172.31.255.1", "private", "RFC 1918"),
    ("192.0.0.170", "IETF protocol", "NAT64 discovery, 192.0.0.0/24"),
    ("192.0.2.10", "documentation", "TEST-NET-1"),
    ("192.88.99.1", "6to4 relay", "deprecated anycast"),
    ("192.168.1.1", "private", "RFC 1918"),
    ("198.18.0.1", "benchmarking", "198.18.0.0/15"),
    ("198.19.255.255", "benchmarking", "top of 198.18.0.0/15"),
    ("198.51.100.1", "documentation", "TEST-NET-2"),
    ("203.0.113.1", "documentation", "TEST-NET-3"),
    ("224.0.0.1", "multicast", "224.0.0.0/4"),
    ("240.0.0.1", "reserved", "240.0.0.0/4"),
    ("255.255.255.255", "reserved", "broadcast"),
    # IPv6 ranges
    ("::", "unspecified", "::/128"),
    ("::1", "loopback", "::1/128"),
    ("fe80::1", "link-local", "fe80::/10"),
    ("fe80::1%eth0", "link-local", "a zone does not change the address"),
    ("fec0::1", "site-local", "fec0::/10, Python 3.11 calls it global"),
    ("fc00::1", "unique-local", "fc00::/7"),
    ("fd00:ec2::254", "unique-local", "the EC2 metadata service over IPv6"),
    ("ff02::1", "multicast", "ff00::/8"),
    ("2001:db8::1", "documentation", "2001:db8::/32"),
    ("3fff::1", "documentation", "3fff::/20 (RFC 9637)"),
    ("100::1", "discard-only", "100::/64"),
    ("2001:2::1", "benchmarking", "2001:2::/48"),
    ("2001:10::1", "ORCHID", "deprecated"),
    ("5f00::1", "SRv6", "5f00::/16"),
    ("4000::1", "outside IPv6 global unicast", "not 2000::/3"),
    ("::10.0.0.1", "IPv4-compatible", "deprecated ::a.b.c.d"),
    ("::8.8.8.8", "IPv4-compatible", "deprecated even around a public address"),
    ("::ffff:0:10.0.0.1", "IPv4-translated", "SIIT ::ffff:0:a.b.c.d"),
    ("64:ff9b:1::1", "local-use NAT64", "64:ff9b:1::/48"),
    # IPv6 carrying an IPv4 address: the IPv4 address is checked too
    ("::ffff:127.0.0.1", "loopback address (IPv4-mapped", "mapped loopback"),
    ("::ffff:169.254.169.254", "link-local", "mapped metadata"),
    ("2002:a00:1::1", "private address (6to4", "6to4 around 10.0.0.1"),
    ("2002:7f00:1::", "loopback address (6to4", "6to4 around 127.0.0.1"),
    ("2002:a9fe:a9fe::1", "link-local", "6to4 around the metadata address"),
    ("2002:6440:1::1", "carrier-grade NAT", "6to4 around 100.64.0.1"),
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private address (Teredo client", "Teredo client 10.0.0.1"),
    ("2001:0:a00:1::1", "private address (Teredo server", "Teredo server 10.0.0.1"),
    ("64:ff9b::10.0.0.1", "private address (NAT64", "NAT64 around 10.0.0.1"),
    ("64:ff9b::127.0.0.1", "loopback address (NAT64", "NAT64 around 127.0.0.1"),
    # public: allowed
    ("8.8.8.8", None, "public IPv4"),
    ("93.184.216.34", None, "public IPv4"),
    ("100.63.255.255", None, "just below CGNAT"),
    ("100.128.0.0", None, "just above CGNAT"),
    ("2606:4700:4700::1111", None, "public IPv6"),
    ("2a00:1450:4001:80b::200e", None, "public IPv6"),
    ("::ffff:8.8.8.8", None, "mapped public IPv4 is that address"),
    ("64:ff9b::8.8.8.8", None, "NAT64 of a public address"),
    ("2002:808:808::1", None, "6to4 around the public 8.8.8.8"),
    ("2001:0:4136:e378:8000:63bf:3fff:f7f7", None, "Teredo: public server 65.54.227.120, public client 192.0.8.8"),
]


@pytest.mark.parametrize(("address", "words", "why"), TABLE, ids=[row[0] for row in TABLE])
def test_each_address_is_denied_or_allowed_for_its_reason(address: str, words: str | None, why: str) -> None:
    reason = http.refuse_reason(ipaddress.ip_address(address))  # what every hop of providers/http.py asks
    if words is None:
        assert reason is None, (address, why, reason)
    else:
        assert reason is not None and words in reason, (address, why, reason)


@pytest.mark.parametrize("address", ["fec0::1", "2002:a00:1::1", "100.64.0.1", "::ffff:0:10.0.0.1",
                                     "64:ff9b::10.0.0.1", "198.18.0.1", "2001:0:4136:e378:8000:63bf:f5ff:fffe"])
def test_outbound_http_refuses_them_as_literals_and_through_dns(address: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", "")
    with pytest.raises(http.UnsafeAddress):
        http.resolve_public(address, 443)

    def fake_dns(host: str, port: int, *args: object, **kwargs: object) -> list[tuple]:
        return [(10, 1, 6, "", (address, port, 0, 0))] if ":" in address else [(2, 1, 6, "", (address, port))]

    monkeypatch.setattr(http.socket, "getaddrinfo", fake_dns)
    with pytest.raises(http.UnsafeAddress):
        http.resolve_public("innocent.example.com", 443)
