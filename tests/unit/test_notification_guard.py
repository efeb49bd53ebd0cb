"""The address guard: which addresses a notification URL may reach, checked at save and at send, and
the request pinned to the address that was checked."""

from __future__ import annotations

import ipaddress

import pytest

from config import Settings
from models.notifications import ChannelKind
from notifications import address_guard
from notifications.channels import target_problem
from notifications.messages import notice_for
from notifications.senders import Channel, Refused, deliver
from tests.integration.notification_receivers import HttpReceiver
from tests.integration.system import free_port
from workflows.notification_io import EventKind, PreviewEvent

REFUSED = [
    "127.0.0.1", "127.8.9.10", "::1", "169.254.169.254", "fe80::1", "10.1.2.3", "172.16.0.1",
    "192.168.1.1", "100.64.0.1", "0.0.0.0", "::", "224.0.0.1", "::ffff:127.0.0.1", "fc00::1",
    # IPv4 inside IPv6: IPv4-compatible, NAT64 (both prefixes), 6to4, Teredo; all reach 127.0.0.1 or
    # the metadata address through a gateway, and Python 3.11 calls most of them global.
    "::7f00:1", "64:ff9b::7f00:1", "64:ff9b:1::a9fe:a9fe", "2002:7f00:1::", "2002:a9fe:a9fe::1",
    "2001:0:4136:e378:8000:63bf:80ff:fffe",
]  # fmt: skip


def settings(allow: bool) -> Settings:
    return Settings(previewd_notifications_allow_private=allow, previewd_smtp_host=None)


@pytest.mark.parametrize("text", REFUSED)
def test_non_public_addresses_are_refused(text: str) -> None:
    assert address_guard.refusal(ipaddress.ip_address(text), set()) is not None


@pytest.mark.parametrize("text", ["93.184.216.34", "2606:4700::1111", "8.8.8.8"])
def test_public_addresses_pass_unless_they_are_this_hosts_own(text: str) -> None:
    address = ipaddress.ip_address(text)
    assert address_guard.refusal(address, set()) is None
    assert address_guard.refusal(address, {address}) == "is one of this host's own addresses"


def test_this_hosts_interfaces_are_known() -> None:
    assert ipaddress.ip_address("127.0.0.1") in address_guard.own_addresses()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.com/x", "must be an http:// or https:// URL"),
        ("https://user:pw@example.com/x", "must not contain a user name or password"),
        ("https://example.com:99999/x", "is not a valid URL"),
        ("not a url", "must be an http:// or https:// URL"),
    ],
)
def test_malformed_urls_say_what_is_wrong(url: str, problem: str) -> None:
    with pytest.raises(address_guard.AddressRefused, match=problem):
        address_guard.parse(url)


async def test_a_name_resolving_to_loopback_is_refused_at_save_unless_allowed() -> None:
    url = f"http://localhost:{free_port()}/hook"
    problem = await target_problem(ChannelKind.WEBHOOK, url, settings(allow=False))
    assert problem is not None and "loopback" in problem and "127.0.0.1" not in problem
    assert await target_problem(ChannelKind.WEBHOOK, url, settings(allow=True)) is None
    slack = await target_problem(ChannelKind.SLACK, "http://hooks.slack.com/x", settings(allow=False))
    assert slack is not None and "Slack" in slack


async def test_a_loopback_receiver_is_never_sent_to_without_the_setting() -> None:
    receiver = HttpReceiver(free_port()).start()
    event = PreviewEvent(event_id="e-1", kind=EventKind.READY, project_id="p", pr_number=3, sha="a" * 40)
    notice = notice_for(event, repository="o/r", github_url="https://github.com", base_url="https://pvd")
    channel = Channel(kind=ChannelKind.WEBHOOK, target=receiver.url, signing_secret="s3cret")
    try:
        with pytest.raises(Refused, match="loopback"):
            await deliver(channel, notice, settings(allow=False))
        assert receiver.received == [] and receiver.bad_signatures == []
        await deliver(channel, notice, settings(allow=True))  # the same receiver, allowed: it gets it
        assert [r.headers["x-previewd-delivery"] for r in receiver.received] == ["e-1"]
    finally:
        receiver.stop()


def test_the_request_goes_to_the_checked_address_naming_the_host() -> None:
    target = address_guard.Target(
        url="https://hooks.example.com/services/T0/B0/xyz?a=1", scheme="https", host="hooks.example.com",
        port=443, address="2606:4700::1111",
    )  # fmt: skip
    url, headers, extensions = address_guard.pinned_url(target)
    assert url == "https://[2606:4700::1111]:443/services/T0/B0/xyz?a=1"
    assert headers == {"Host": "hooks.example.com"}
    assert extensions == {"sni_hostname": "hooks.example.com"}


def test_an_international_host_is_asked_for_and_named_in_its_ascii_form() -> None:
    assert address_guard.parse("https://bücher.example/hook") == ("https", "xn--bcher-kva.example", 443)
    with pytest.raises(address_guard.AddressRefused, match="not a valid domain name"):
        address_guard.parse("https://" + "a" * 64 + ".example/hook")  # a label longer than DNS allows
