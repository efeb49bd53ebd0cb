"""Where a channel's URL may point: the guard against using previewd to reach its own network (SSRF).

A URL is refused unless every address its host resolves to is globally routable and none is one of
this host's own: loopback, link-local (cloud metadata at 169.254.169.254), private ranges, shared
address space (100.64/10), unspecified, multicast and reserved addresses are all refused. The operator
allows them with PREVIEWD_NOTIFICATIONS_ALLOW_PRIVATE=true (receivers on their own network).

Checked when the channel is saved and again at every send, on the addresses the send then connects to
(`pinned_request`): a name that resolved to a public address at save time and to 127.0.0.1 now (DNS
rebinding) is refused, and the connection goes to the very address that was checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import psutil

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}


class AddressRefused(ValueError):
    """The URL is malformed, or names an address the guard refuses. Its message is ours, safe to show."""


@dataclass(frozen=True)
class Target:
    """A URL and the address checked for it: the request goes to `address`, naming `host`."""

    url: str
    scheme: str
    host: str
    port: int
    address: str


def parse(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, or AddressRefused saying what is wrong."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise AddressRefused("is not a valid URL") from None
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise AddressRefused("must be an http:// or https:// URL")
    if parts.username or parts.password:
        raise AddressRefused("must not contain a user name or password")
    # An international name in its ASCII form (IDNA): what DNS is asked, and what the Host header
    # and the TLS server name must carry (httpx refuses non-ASCII header values with an exception
    # that is none of ours, so the send failed for an hour instead of working).
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise AddressRefused("names a host that is not a valid domain name") from None
    return parts.scheme, host, port or DEFAULT_PORTS[parts.scheme]


def own_addresses() -> set[IPAddress]:
    """Every address of this host's interfaces (a public one included: it is previewd itself)."""
    found: set[IPAddress] = set()
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family in (socket.AF_INET, socket.AF_INET6):
                try:
                    found.add(ipaddress.ip_address(address.address.split("%")[0]))
                except ValueError:
                    continue
    return found


# IPv6 prefixes whose last 32 bits are an IPv4 address the packet ends up at: NAT64 (RFC 6052's
# well-known prefix and RFC 8215's local one) and the deprecated IPv4-compatible ::a.b.c.d. Python
# 3.11's is_global calls 64:ff9b::7f00:1 and 2002:7f00:1:: global although they reach 127.0.0.1
# through a NAT64 gateway or a 6to4 relay.
EMBEDDING_V4 = [ipaddress.IPv6Network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "::/96")]


def embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64, IPv4-compatible), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's address; the server's is a relay
    if any(address in network for network in EMBEDDING_V4) and int(address) & 0xFFFFFFFF > 0xFFFF:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: IPAddress, own: set[IPAddress]) -> str | None:
    """Why the guard refuses `address`, or None."""
    if isinstance(address, ipaddress.IPv6Address) and (v4 := embedded_v4(address)) is not None:
        address = v4
    if address.is_loopback:
        return "is a loopback address"
    if address.is_link_local:
        return "is a link-local address"
    if address.is_unspecified or address.is_multicast:
        return "is not a unicast address"
    if not address.is_global or address.is_reserved:
        return "is a private or reserved address"
    if address in own:
        return "is one of this host's own addresses"
    return None


async def resolve(url: str, *, allow_private: bool) -> Target:
    """The URL's host resolved, every address checked; the Target to connect to."""
    scheme, host, port = parse(url)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise AddressRefused("names a host that does not resolve") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise AddressRefused("names a host that does not resolve")
    if not allow_private:
        own = own_addresses()
        for address in addresses:
            if (why := refusal(address, own)) is not None:
                # The address itself is not told: the caller learns no more than "refused".
                raise AddressRefused(f"points at an address previewd does not send to (it {why})")
    return Target(url=url.strip(), scheme=scheme, host=host, port=port, address=str(addresses[0]))


def pinned_url(target: Target) -> tuple[str, dict[str, str], dict[str, str]]:
    """The URL with its host replaced by the checked address, the Host header and (https) the TLS
    server name, so the connection goes where the guard looked and the certificate is still checked
    against the host's name."""
    parts = urlsplit(target.url)
    literal = f"[{target.address}]" if ":" in target.address else target.address
    netloc = f"{literal}:{target.port}"
    url = parts._replace(netloc=netloc).geturl()
    default = DEFAULT_PORTS[target.scheme] == target.port
    host_header = target.host if default else f"{target.host}:{target.port}"
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return url, {"Host": host_header}, extensions
