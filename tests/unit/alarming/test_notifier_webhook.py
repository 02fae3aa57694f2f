"""``http(s)://`` actions: Aodh's exact request, to the address that was checked, TLS as Aodh configures it."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from tests.notifier_peers import MemoryOutbox, Receiver, make_tls_files, resolver_for, run_once

# What Aodh 23's notifier posted for this transition (captured from the real aodh-notifier).
AODH_ALARM_ID = uuid.UUID("ee28ed15-55c7-444a-89f3-0dff40787963")
AODH_PAYLOAD = {
    "alarm_name": "cpu_hi-\u00e9", "severity": "low", "previous": "insufficient data", "current": "alarm",
    "reason": "Transition to alarm due to 1 samples outside threshold, most recent: 100.0",
    "reason_data": {"type": "threshold", "disposition": "outside", "count": 1, "most_recent": 100.0},
}
AODH_BODY = (b'{"alarm_name": "cpu_hi-\\u00e9", "alarm_id": "ee28ed15-55c7-444a-89f3-0dff40787963", '
             b'"severity": "low", "previous": "insufficient data", "current": "alarm", "reason": "Transition to '
             b'alarm due to 1 samples outside threshold, most recent: 100.0", "reason_data": {"type": "threshold", '
             b'"disposition": "outside", "count": 1, "most_recent": 100.0}}')


def test_the_request_is_aodhs_byte_for_byte() -> None:
    outbox = MemoryOutbox()
    with Receiver() as receiver:
        nid = outbox.add(f"{receiver.url}/hook?aodh-alarm-ssl-verify=0", AODH_PAYLOAD, alarm_id=AODH_ALARM_ID)
        assert run_once(outbox) == 1
        (request,) = receiver.wait_for(1)
    assert request.method == "POST" and request.path == "/hook?aodh-alarm-ssl-verify=0"  # query kept, as Aodh
    assert request.body == AODH_BODY
    assert request.header("content-type") == "application/json"
    assert request.header("content-length") == str(len(AODH_BODY))
    assert request.header("host") == f"127.0.0.1:{receiver.port}"
    assert re.fullmatch(r"req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}",
                        request.header("x-openstack-request-id") or "")
    assert request.header("x-auth-token") is None and request.header("authorization") is None
    (attempt,) = outbox.attempts(nid)
    assert (attempt.ok, attempt.status, attempt.error) == (True, 200, None)
    assert attempt.url == f"{receiver.url}/hook?aodh-alarm-ssl-verify=0" and attempt.duration > 0


def test_each_attempt_has_its_own_request_id() -> None:
    outbox = MemoryOutbox()
    with Receiver((503,)) as receiver:
        outbox.add(receiver.url)
        run_once(outbox)
        run_once(outbox)
        first, second = receiver.wait_for(2)
    assert first.header("x-openstack-request-id") != second.header("x-openstack-request-id")
    # ... but one notification id, so that a receiver can drop a redelivery (at-least-once delivery)
    assert first.header("x-telescale-notification-id") == second.header("x-telescale-notification-id")
    assert first.header("x-telescale-notification-id")
    assert first.body == second.body


def test_user_info_is_sent_as_basic_auth_and_never_shown() -> None:
    outbox = MemoryOutbox()
    with Receiver() as receiver:
        nid = outbox.add(receiver.url.replace("http://", "http://hooker:s3cret@") + "/in")
        run_once(outbox)
        (request,) = receiver.wait_for(1)
    assert request.header("authorization") == "Basic aG9va2VyOnMzY3JldA=="  # as requests does for Aodh
    (attempt,) = outbox.attempts(nid)
    assert attempt.ok and "s3cret" not in attempt.url and "hooker" not in attempt.url


def test_the_checked_address_is_the_one_connected_to_with_the_original_host() -> None:
    outbox, lookups = MemoryOutbox(), []
    with Receiver() as receiver:
        nid = outbox.add(f"http://hooks.example.test:{receiver.port}/alarm")
        run_once(outbox, resolver=resolver_for({"hooks.example.test": ["127.0.0.1"]}, lookups))
        (request,) = receiver.wait_for(1)
    assert lookups == ["hooks.example.test"]  # one resolution, then the connection goes to its answer
    assert request.header("host") == f"hooks.example.test:{receiver.port}"
    assert outbox.attempts(nid)[0].url == f"http://hooks.example.test:{receiver.port}/alarm"


@pytest.mark.parametrize("addresses", [["127.0.0.1"], ["203.0.113.7", "127.0.0.1"], ["169.254.169.254"]])
def test_a_name_resolving_to_a_refused_address_is_not_called(addresses: list[str]) -> None:
    outbox = MemoryOutbox()
    with Receiver() as receiver:
        nid = outbox.add(f"http://rebind.example.test:{receiver.port}/")
        run_once(outbox, allowed_networks=[], resolver=resolver_for({"rebind.example.test": addresses}))
        assert receiver.requests == []
    (attempt,) = outbox.attempts(nid)
    assert not attempt.ok and "alarming.webhook_allowed_networks" in (attempt.error or "")
    assert outbox.done(nid)  # refused for good, not retried


def test_a_name_that_does_not_resolve_is_retried() -> None:
    outbox = MemoryOutbox()
    nid = outbox.add("http://gone.example.test/hook")
    run_once(outbox, resolver=resolver_for({}))
    (attempt,) = outbox.attempts(nid)
    assert "cannot resolve gone.example.test" in (attempt.error or "")
    assert not outbox.done(nid) and len(outbox.retry_times(nid)) == 1


def test_a_redirect_is_not_followed() -> None:
    outbox = MemoryOutbox()
    with Receiver() as elsewhere, Receiver((302,), location=f"{elsewhere.url}/x") as receiver:
        nid = outbox.add(receiver.url)
        run_once(outbox)
        receiver.wait_for(1)
        assert elsewhere.requests == []
    (attempt,) = outbox.attempts(nid)
    assert (attempt.ok, attempt.status) == (False, 302) and "redirects are not followed" in (attempt.error or "")
    assert outbox.done(nid)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory):
    return make_tls_files(Path(tmp_path_factory.mktemp("tls")), "hooks.example.test")


def _https(outbox: MemoryOutbox, receiver: Receiver, query: str = "") -> int:
    return outbox.add(f"https://hooks.example.test:{receiver.port}/alarm{query}")


def test_https_verifies_the_named_host_through_the_pinned_address(tls) -> None:
    outbox = MemoryOutbox()
    with Receiver(tls=tls.server_context()) as receiver:
        nid = _https(outbox, receiver)
        run_once(outbox, resolver=resolver_for({"hooks.example.test": ["127.0.0.1"]}),
                 ssl_context=tls.client_context())
        (request,) = receiver.wait_for(1)
    assert outbox.attempts(nid)[0].ok
    assert request.sni == "hooks.example.test" and request.header("host") == f"hooks.example.test:{receiver.port}"


def test_https_to_an_untrusted_certificate_fails_and_is_retried(tls) -> None:
    outbox = MemoryOutbox()
    with Receiver(tls=tls.server_context()) as receiver:
        nid = _https(outbox, receiver)
        explicit = _https(outbox, receiver, "?aodh-alarm-ssl-verify=1")
        run_once(outbox, resolver=resolver_for({"hooks.example.test": ["127.0.0.1"]}))
        assert receiver.requests == []
    for n in (nid, explicit):
        (attempt,) = outbox.attempts(n)
        assert not attempt.ok and "CERTIFICATE_VERIFY_FAILED" in (attempt.error or "")
        assert len(outbox.retry_times(n)) == 1


def test_aodh_alarm_ssl_verify_0_skips_the_certificate_check(tls) -> None:
    outbox = MemoryOutbox()
    with Receiver(tls=tls.server_context()) as receiver:
        nid = _https(outbox, receiver, "?aodh-alarm-ssl-verify=1&aodh-alarm-ssl-verify=0")  # the last one wins
        run_once(outbox, resolver=resolver_for({"hooks.example.test": ["127.0.0.1"]}))
        (request,) = receiver.wait_for(1)
    assert outbox.attempts(nid)[0].ok
    assert request.path == "/alarm?aodh-alarm-ssl-verify=1&aodh-alarm-ssl-verify=0"


def test_a_malformed_ssl_verify_value_fails_for_good(tls) -> None:
    outbox = MemoryOutbox()
    nid = outbox.add("https://hooks.example.test/alarm?aodh-alarm-ssl-verify=maybe")
    run_once(outbox, resolver=resolver_for({"hooks.example.test": ["127.0.0.1"]}))
    (attempt,) = outbox.attempts(nid)
    assert "aodh-alarm-ssl-verify must be 0 or 1, not 'maybe'" in (attempt.error or "") and outbox.done(nid)


def test_the_next_checked_address_is_tried_when_one_refuses_the_connection() -> None:
    outbox, lookups = MemoryOutbox(), []
    with Receiver() as receiver:  # listens on 127.0.0.1 only: 127.0.0.2 refuses
        nid = outbox.add(f"http://two.example.test:{receiver.port}/")
        literal = outbox.add(f"{receiver.url}/literal")
        run_once(outbox, resolver=resolver_for({"two.example.test": ["127.0.0.2", "127.0.0.1"]}, lookups))
        receiver.wait_for(2)
    assert outbox.attempts(nid)[0].ok and outbox.attempts(literal)[0].ok
    assert lookups == ["two.example.test"]  # an address in the URL is not looked up


def test_an_unparsable_action_fails_for_good() -> None:
    outbox = MemoryOutbox()
    nid = outbox.add("http://[::1/hook")
    run_once(outbox)
    (attempt,) = outbox.attempts(nid)
    assert attempt.error.startswith("not a valid action URL") and outbox.done(nid)
    assert attempt.url == "http://[::1/hook"
