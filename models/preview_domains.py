"""A project's preview domain on Fly: previews served at `{app}.{domain}`, and the DNS records that
make Fly's certificate for that name issue.

Fly issues a certificate for a hostname once the hostname points at the app (a CNAME to the app's own
`{app}.fly.dev`, or A/AAAA records to its addresses), or once `_acme-challenge.{hostname}` is a CNAME
to the target Fly names (DNS-01, which also works before any traffic reaches Fly). Each PR has an
app of its own, so the operator adds a record per preview name, or delegates the names at once (see
README, "Custom domains").
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

import idna
from publicsuffixlist import PublicSuffixList

# A label of a hostname (RFC 1123), as ASCII: letters, digits, inner hyphens, at most 63.
_LABEL = re.compile(r"\A(?!-)[a-z0-9-]{1,63}(?<!-)\Z")
# `{app}.{domain}` must fit in a hostname's 253 characters with an app name of up to 63.
MAX_DOMAIN_LENGTH = 253 - 64
# Let's Encrypt (Fly's CA) refuses a name of more than 10 labels; the app name is one of them.
MAX_DOMAIN_LABELS = 10 - 1


@cache
def _suffixes() -> PublicSuffixList:
    # The list the package ships (no download), private suffixes included: fly.dev, github.io.
    return PublicSuffixList()


def normalize_domain(value: str) -> tuple[str | None, str | None]:
    """(the domain as stored, None) or (None, why it is not one). Empty means no domain. Unicode names
    are stored in their ASCII (IDNA) form, the one DNS and certificates use."""
    text = value.strip().lower().rstrip(".")
    if not text:
        return None, None
    if any(ch in text for ch in "/:@ *\\") or any(ord(ch) < 0x21 for ch in text):
        return None, "must be a bare domain such as previews.example.com (no scheme, port, path or *)"
    try:
        ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        return None, "must be a domain name, not an IP address"
    try:
        ascii_name = idna.encode(text, uts46=True).decode()
    except idna.IDNAError:
        return None, "is not a valid domain name"
    labels = ascii_name.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return None, "must be a domain of at least two labels (letters, digits and inner hyphens)"
    if len(ascii_name) > MAX_DOMAIN_LENGTH:
        return None, f"must be at most {MAX_DOMAIN_LENGTH} characters, to leave room for the app name"
    if len(labels) > MAX_DOMAIN_LABELS:
        return None, (
            f"must have at most {MAX_DOMAIN_LABELS} labels: Let's Encrypt issues certificates for "
            "names of at most 10, the app name included"
        )
    if labels[-1].isdigit():
        # No top-level domain is all digits (RFC 3696); such a name is an address mistyped.
        return None, "must end in a top-level domain, not a number"
    if _suffixes().is_public(ascii_name):
        # `{app}.fly.dev`, `{app}.co.uk`: names of other people's apps and sites, not the project's.
        return None, "must be a domain of yours, not a public suffix such as fly.dev or co.uk"
    return ascii_name, None


@dataclass(frozen=True)
class DnsRecord:
    type: str
    name: str
    value: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def pointing_record(hostname: str, edge_host: str) -> DnsRecord:
    """The record that sends `hostname` to the app's own edge name (`{app}.fly.dev`): a CNAME, or an
    A/AAAA record where the edge is an address."""
    try:
        address = ipaddress.ip_address(edge_host)
    except ValueError:
        return DnsRecord("CNAME", hostname, edge_host)
    return DnsRecord("AAAA" if address.version == 6 else "A", hostname, edge_host)


def records_from_fly(hostname: str, requirements: dict[str, Any]) -> list[DnsRecord]:
    """The records Fly's CertificateDetail.dns_requirements names for `hostname` (an object whose
    keys the contract leaves open; `cname`, `a`, `aaaa` and `acme_challenge` are read when there):
    the one that points the name at the app (a CNAME, else A/AAAA records), then the
    `_acme-challenge` CNAME that lets Fly validate it by DNS."""
    records = []
    if isinstance(cname := requirements.get("cname"), str) and cname:
        records.append(DnsRecord("CNAME", hostname, cname))
    else:
        for kind in ("a", "aaaa"):
            values = requirements.get(kind)
            for value in values if isinstance(values, list) else []:
                records.append(DnsRecord(kind.upper(), hostname, str(value)))
    challenge = requirements.get("acme_challenge")
    if isinstance(challenge, dict) and challenge.get("name") and challenge.get("target"):
        records.append(DnsRecord("CNAME", str(challenge["name"]), str(challenge["target"])))
    return records
