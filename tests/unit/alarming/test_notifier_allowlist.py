"""Which alarm actions are refused: loopback, link-local, metadata and unspecified addresses unless allowed."""

from __future__ import annotations

import pytest

from telescale.alarming.notifiers import AllowList, TargetRefused, check_target


@pytest.mark.parametrize("url, reason", [
    ("http://127.0.0.1:8080/hook", "127.0.0.1 is a loopback address"),
    ("http://127.8.9.10/hook", "loopback"),
    ("http://[::1]:8080/hook", "::1 is a loopback address"),
    ("http://169.254.169.254/latest/meta-data/", "the cloud metadata address"),
    ("http://169.254.170.2/v2/credentials", "ECS task metadata"),
    ("http://[fd00:ec2::254]/latest/meta-data/", "the AWS metadata address over IPv6"),
    ("http://100.100.100.200/latest/meta-data/", "Alibaba Cloud"),
    ("http://169.254.1.1/", "a link-local address"),
    ("http://[fe80::1]/", "a link-local address"),
    ("http://0.0.0.0:8041/", "an unspecified address"),
    ("http://[::]:8041/", "an unspecified address"),
    ("http://[::ffff:127.0.0.1]/", "127.0.0.1 is a loopback address"),  # IPv4-mapped IPv6 is IPv4
    ("http://[::ffff:169.254.169.254]/", "metadata"),
    ("https://127.0.0.1/", "loopback"),
    ("trust+http://127.0.0.1/", "loopback"),
    ("http://localhost:8041/", "loopback"),  # a name is judged by what it resolves to
])
def test_internal_addresses_are_refused_by_default(url: str, reason: str) -> None:
    with pytest.raises(TargetRefused) as refused:
        check_target(url, [])
    assert reason in str(refused.value)
    assert "alarming.webhook_allowed_networks" in str(refused.value)


@pytest.mark.parametrize("url", [
    "http://10.0.0.5:8004/v1/signal", "https://192.168.1.10/hook", "http://172.16.0.1/", "http://203.0.113.7/",
    "http://[2001:db8::1]/hook", "log://", "telescale://scaling/5d0a7c1e", "trust+https://198.51.100.1/x",
])
def test_ordinary_and_non_network_actions_pass(url: str) -> None:
    check_target(url, [])


def test_a_setting_cidr_allows_what_the_default_refuses() -> None:
    check_target("http://127.0.0.1:8080/hook", ["127.0.0.0/8"])
    check_target("http://[::ffff:127.0.0.1]/", ["127.0.0.0/8"])
    check_target("http://169.254.169.254/", ["169.254.169.254/32"])
    with pytest.raises(TargetRefused, match="loopback"):
        check_target("http://[::1]/", ["127.0.0.0/8"])  # the allowance is exactly the CIDR given
    with pytest.raises(TargetRefused, match="metadata"):
        check_target("http://169.254.169.254/", ["127.0.0.0/8"])


def test_one_refused_address_refuses_a_name() -> None:
    allow = AllowList([])
    allow.check_addresses("http://ok.example/", ["203.0.113.7", "2001:db8::1"])
    with pytest.raises(TargetRefused, match="169.254.169.254 is the cloud metadata address"):
        allow.check_addresses("http://mixed.example/", ["203.0.113.7", "169.254.169.254"])


def test_refusals_never_show_credentials_from_the_url() -> None:
    with pytest.raises(TargetRefused) as refused:
        check_target("trust+http://0f4b8e2a9c1d:delete@127.0.0.1:8080/hook", [])
    assert "0f4b8e2a9c1d" not in str(refused.value) and "delete" not in str(refused.value)
    assert refused.value.url == "trust+http://127.0.0.1:8080/hook"


@pytest.mark.parametrize("url, message", [
    ("zaqar://?queue_name=q", "unsupported action scheme 'zaqar'"),
    ("ftp://10.0.0.1/x", "unsupported action scheme 'ftp'"),
    ("http:///hook", "names no host"),
    ("http://10.0.0.1:99999/", "not a valid URL"),
    ("telescale://scaling", "telescale://<kind>/<target>"),
])
def test_malformed_or_unsupported_actions_are_refused(url: str, message: str) -> None:
    with pytest.raises(TargetRefused, match=message):
        check_target(url, [])


def test_a_setting_entry_that_is_not_a_network_is_named() -> None:
    with pytest.raises(ValueError, match="alarming.webhook_allowed_networks: '127.0.0.300/8'"):
        AllowList(["127.0.0.300/8"])
