"""``trust+http(s)://``: the service user's token scoped to the alarm's trust, sent as ``X-Auth-Token``,
against a local Keystone token endpoint; the trust id never shows in logs, errors or history."""

from __future__ import annotations

import logging

import pytest

from tests.notifier_peers import Keystone, MemoryOutbox, Receiver, refused_port, run_once

TRUST = "7c5e8d40d24e4b0f8c1c2f5a9e3b61aa"
SERVICE = {"username": "aodh", "password": "service-secret", "user_domain_id": "default"}


def _credentials(keystone: Keystone, **extra: str) -> dict[str, str]:
    return {"auth_url": f"{keystone.url}/v3", **SERVICE, **extra}


def _trust_url(receiver: Receiver, userinfo: str = "") -> str:
    return receiver.url.replace("http://", f"trust+http://{userinfo}") + "/v1/signal?x=1"


def test_the_trust_becomes_a_token_sent_as_x_auth_token(caplog: pytest.LogCaptureFixture) -> None:
    outbox = MemoryOutbox()
    with Keystone({"aodh": "service-secret"}, {TRUST}) as keystone, Receiver() as receiver:
        nid = outbox.add(_trust_url(receiver), trust_id=TRUST)
        with caplog.at_level(logging.DEBUG):
            run_once(outbox, service_credentials=_credentials(keystone))
        (auth,) = keystone.wait_for(1)
        (request,) = receiver.wait_for(1)
    assert auth.path == "/v3/auth/tokens?nocatalog"
    assert auth.json() == {"auth": {
        "identity": {"methods": ["password"],
                     "password": {"user": {"name": "aodh", "password": "service-secret",
                                           "domain": {"id": "default"}}}},
        "scope": {"OS-TRUST:trust": {"id": TRUST}}}}
    (token,) = keystone.issued
    assert request.header("x-auth-token") == token
    assert request.path == "/v1/signal?x=1" and request.header("host") == f"127.0.0.1:{receiver.port}"
    assert request.header("authorization") is None and request.header("content-type") == "application/json"
    (attempt,) = outbox.attempts(nid)
    assert attempt.ok and attempt.url == _trust_url(receiver)
    assert TRUST not in caplog.text and token not in caplog.text


def test_aodhs_stored_form_keeps_the_trust_in_the_user_info() -> None:
    outbox = MemoryOutbox()
    with Keystone({"aodh": "service-secret"}, {TRUST}) as keystone, Receiver() as receiver:
        nid = outbox.add(_trust_url(receiver, f"{TRUST}:delete@"))
        run_once(outbox, service_credentials=_credentials(keystone))
        (auth,) = keystone.wait_for(1)
        (request,) = receiver.wait_for(1)
    assert auth.json()["auth"]["scope"] == {"OS-TRUST:trust": {"id": TRUST}}
    assert request.header("x-auth-token") in keystone.issued and request.header("authorization") is None
    assert outbox.attempts(nid)[0].ok and TRUST not in outbox.attempts(nid)[0].url


def test_a_token_is_reused_for_later_notifications_of_the_same_trust() -> None:
    outbox = MemoryOutbox()
    with Keystone({"aodh": "service-secret"}, {TRUST}) as keystone, Receiver() as receiver:
        outbox.add(_trust_url(receiver), trust_id=TRUST)
        outbox.add(_trust_url(receiver), trust_id=TRUST)
        run_once(outbox, service_credentials=_credentials(keystone))
        first, second = receiver.wait_for(2)
    assert len(keystone.requests) == 1
    assert first.header("x-auth-token") == second.header("x-auth-token")


@pytest.mark.parametrize("trusts, password", [(set(), "service-secret"), ({TRUST}, "wrong")])
def test_keystone_refusing_the_trust_fails_for_good_without_naming_it(trusts: set[str], password: str,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    outbox = MemoryOutbox()
    with Keystone({"aodh": "service-secret"}, trusts) as keystone, Receiver() as receiver:
        nid = outbox.add(_trust_url(receiver), trust_id=TRUST)
        with caplog.at_level(logging.DEBUG):
            run_once(outbox, service_credentials=_credentials(keystone, password=password))
        assert receiver.requests == []
    (attempt,) = outbox.attempts(nid)
    assert not attempt.ok and "Keystone refused a token for the alarm's trust" in (attempt.error or "")
    assert outbox.done(nid) and TRUST not in (attempt.error or "") and TRUST not in caplog.text


def test_an_unreachable_keystone_is_retried() -> None:
    outbox = MemoryOutbox()
    with refused_port() as port, Receiver() as receiver:
        nid = outbox.add(_trust_url(receiver), trust_id=TRUST)
        run_once(outbox, service_credentials={"auth_url": f"http://127.0.0.1:{port}/v3", **SERVICE})
        assert receiver.requests == []
    (attempt,) = outbox.attempts(nid)
    assert "no token from Keystone" in (attempt.error or "") and not outbox.done(nid)


def test_trust_actions_need_service_credentials() -> None:
    outbox = MemoryOutbox()
    with Receiver() as receiver:
        nid = outbox.add(_trust_url(receiver), trust_id=TRUST)
        run_once(outbox)
        assert receiver.requests == []
    assert "service_credentials.auth_url" in (outbox.attempts(nid)[0].error or "") and outbox.done(nid)


def test_a_trust_action_without_a_trust_fails_for_good() -> None:
    outbox = MemoryOutbox()
    nid = outbox.add("trust+http://127.0.0.1:9/hook")
    run_once(outbox, service_credentials={"auth_url": "http://127.0.0.1:9/v3", **SERVICE})
    assert outbox.attempts(nid)[0].error == "a trust+ action without a Keystone trust" and outbox.done(nid)


def test_the_trust_target_is_checked_against_the_allow_list() -> None:
    outbox = MemoryOutbox()
    with Keystone({"aodh": "service-secret"}, {TRUST}) as keystone, Receiver() as receiver:
        nid = outbox.add(_trust_url(receiver), trust_id=TRUST)
        # Keystone itself is the operator's setting; the alarm's URL is the user's and is checked.
        run_once(outbox, allowed_networks=[], service_credentials=_credentials(keystone))
        assert receiver.requests == []
    assert "loopback" in (outbox.attempts(nid)[0].error or "")


def test_a_pending_notification_does_not_show_its_trust() -> None:
    outbox = MemoryOutbox()
    outbox.add("trust+http://10.0.0.1/x", trust_id=TRUST)
    (notification,) = outbox.claim_notifications(1, 60)
    assert notification.trust_id == TRUST and TRUST not in repr(notification)
