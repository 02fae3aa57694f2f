"""``trust+http(s)://`` actions in ``keystone`` mode: the API makes one Keystone trust per alarm, as Aodh does.

The trustor is the caller (its own token, validated by keystonemiddleware — its test fixture stands in for the
token check), the trustee the service user of ``service_credentials``, on the caller's project with its roles,
impersonating, without expiry. A PUT keeps the trust while a trust action remains and deletes it after; a
DELETE deletes it (a refusal is logged, not fatal). The local Keystone (``tests.notifier_peers.Keystone``)
answers ``/v3/auth/tokens`` and ``/v3/OS-TRUST/trusts`` as the Identity v3 API reference documents, and the
requests it receives are asserted. End to end, the stored trust is the one whose token the notifier sends;
no answer, history entry or log line ever shows a trust id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fixtures
import pytest
from fastapi.testclient import TestClient
from keystonemiddleware import fixture as ks_fixture

from telescale.alarming.notifiers import Dispatcher
from telescale.indexer import Indexer
from tests.api.conftest import make_client
from tests.notifier_peers import PAYLOAD, Keystone, MemoryOutbox, Receiver, UserToken, refused_port, run_once

SERVICE = {"aodh": "service-secret"}
PEOPLE = {
    "alice": UserToken("u-alice", "p-a", ("member", "reader")),
    "bob": UserToken("u-bob", "p-a", ("member", "reader")),  # alice's project, not her trusts
    "carol": UserToken("u-carol", "p-a", ("member", "reader"), restricted=True),  # an application credential
}
HOOK = "trust+http://heat.example.com/v1/signal/abc?x=1"
EVENT = {"type": "event", "event_rule": {"event_type": "compute.instance.*"}}


@pytest.fixture
def tokens() -> Iterator[None]:
    """keystonemiddleware's token check knows each person's token (``token-<name>``)."""
    with fixtures.Fixture() as holder:
        tokens = holder.useFixture(ks_fixture.AuthTokenFixture())
        for name, person in PEOPLE.items():
            tokens.add_token_data(token_id=f"token-{name}", user_id=person.user_id, project_id=person.project_id,
                                  role_list=list(person.roles))
        yield


@pytest.fixture
def keystone() -> Iterator[Keystone]:
    with Keystone(SERVICE, tokens={f"token-{name}": person for name, person in PEOPLE.items()}) as peer:
        yield peer


@contextlib.contextmanager
def server(path: Path, credentials: dict[str, Any], *, mode: str = "keystone",
           indexer_url: str = "") -> Iterator[TestClient]:
    overrides = [f"api.auth_mode={mode}", "keystone_authtoken.www_authenticate_uri=http://keystone.invalid:5000",
                 "keystone_authtoken.delay_auth_decision=false", 'alarming.webhook_allowed_networks=["127.0.0.0/8"]',
                 *(f"service_credentials.{key}={json.dumps(value)}" for key, value in credentials.items())]
    path.mkdir(parents=True, exist_ok=True)
    with make_client(path, indexer_url, tuple(overrides)) as client:
        yield client
        client.app.state.services.close()


def service_credentials(keystone: Keystone | Receiver, **extra: Any) -> dict[str, Any]:
    """Keystone's URL as operators write it (no ``/v3``), and the service user."""
    return {"auth_url": keystone.url, "username": "aodh", "password": "service-secret", **extra}


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path: Path, tokens: None, keystone: Keystone) -> Iterator[TestClient]:
    url = request.getfixturevalue("postgresql_migrated_url") if request.param == "postgresql" else ""
    with server(tmp_path, service_credentials(keystone), indexer_url=url) as client:
        yield client


def call(client: TestClient, who: str, method: str, path: str, body: Any = None) -> Any:
    headers = {"authorization": "", "accept": "application/json", "x-auth-token": f"token-{who}"}
    if who not in PEOPLE:  # noauth mode
        headers = {"authorization": "", "x-user-id": f"u-{who}", "x-project-id": "p-a", "x-roles": "member"}
    return client.request(method, path, headers=headers, json=body)


def ok(client: TestClient, who: str, method: str, path: str, body: Any = None) -> Any:
    r = call(client, who, method, path, body)
    assert r.status_code < 300, (method, path, r.status_code, r.text)
    return r.json() if r.content else None


def indexer(client: TestClient) -> Indexer:
    return client.app.state.services.indexer


def _uuid(alarm_id: str) -> uuid.UUID:
    return uuid.UUID(alarm_id)


def stored_trust(client: TestClient, alarm_id: str) -> str | None:
    alarm = indexer(client).get_alarm(_uuid(alarm_id), project=None)
    assert alarm is not None
    return alarm.trust_id


def alarm(name: str, *actions: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, **EVENT, "alarm_actions": list(actions), **extra}


def faultstring(response: Any) -> str:
    return response.json()["error_message"]["faultstring"]


# --- creation: one trust per alarm, from the caller to the service user ---------------------------------------

def test_creating_an_alarm_makes_one_trust_from_the_caller_to_the_service_user(api: TestClient,
                                                                              keystone: Keystone) -> None:
    created = ok(api, "alice", "POST", "/v2/alarms",
                 alarm("cpu", HOOK, "trust+https://heat.example.com/other", ok_actions=[HOOK]))
    (request,) = keystone.requests_to("POST", "/v3/OS-TRUST/trusts")
    assert request.header("x-auth-token") == "token-alice"  # the caller acts as the trustor, with its own token
    assert request.json() == {"trust": {"trustor_user_id": "u-alice", "trustee_user_id": "u-aodh",
                                        "project_id": "p-a", "impersonation": True,
                                        "roles": [{"name": "member"}, {"name": "reader"}]}}
    # The trustee's id came from the service user's own (unscoped) sign-in.
    (sign_in,) = keystone.requests_to("POST", "/v3/auth/tokens")
    assert sign_in.json()["auth"]["identity"]["password"]["user"]["name"] == "aodh"
    assert "scope" not in sign_in.json()["auth"]
    (trust_id,) = keystone.created
    assert stored_trust(api, created["alarm_id"]) == trust_id
    assert created["alarm_actions"] == [HOOK, "trust+https://heat.example.com/other"]
    assert created["ok_actions"] == [HOOK]  # no trust id in any URL


def test_the_service_user_signs_in_once(api: TestClient, keystone: Keystone) -> None:
    first = ok(api, "alice", "POST", "/v2/alarms", alarm("one", HOOK))
    second = ok(api, "bob", "POST", "/v2/alarms", alarm("two", HOOK))
    assert len(keystone.requests_to("POST", "/v3/auth/tokens")) == 1
    assert [r.json()["trust"]["trustor_user_id"] for r in keystone.requests_to("POST", "/v3/OS-TRUST/trusts")] == \
        ["u-alice", "u-bob"]
    assert stored_trust(api, first["alarm_id"]) != stored_trust(api, second["alarm_id"])


def test_alarms_without_trust_actions_ask_keystone_nothing(api: TestClient, keystone: Keystone) -> None:
    created = ok(api, "alice", "POST", "/v2/alarms", alarm("plain", "http://heat.example.com/x"))
    assert keystone.requests == [] and stored_trust(api, created["alarm_id"]) is None


def test_a_caller_supplied_trust_id_stays_refused(api: TestClient, keystone: Keystone) -> None:
    for action in ("trust+http://0f4b8e2a9c1d:delete@heat.example.com/x", "trust+https://someone@h/x"):
        r = call(api, "alice", "POST", "/v2/alarms", alarm("forged", action))
        assert r.status_code == 400 and faultstring(r) == "trust URL cannot contain a trust ID."
    assert keystone.requests == [] and ok(api, "alice", "GET", "/v2/alarms") == []


# --- replacement and deletion ------------------------------------------------------------------------------------

def test_a_put_keeps_the_trust_while_a_trust_action_remains_then_deletes_it(api: TestClient,
                                                                           keystone: Keystone) -> None:
    alarm_id = ok(api, "alice", "POST", "/v2/alarms", alarm("cpu", HOOK))["alarm_id"]
    (trust_id,) = keystone.created
    ok(api, "alice", "PUT", f"/v2/alarms/{alarm_id}", alarm("cpu", "trust+https://heat.example.com/moved"))
    assert len(keystone.requests_to("POST", "/v3/OS-TRUST/trusts")) == 1  # no second trust
    assert stored_trust(api, alarm_id) == trust_id
    ok(api, "alice", "PUT", f"/v2/alarms/{alarm_id}", alarm("cpu", "http://heat.example.com/plain"))
    (deleted,) = keystone.requests_to("DELETE", "/v3/OS-TRUST/trusts/")
    assert deleted.path == f"/v3/OS-TRUST/trusts/{trust_id}" and deleted.header("x-auth-token") == "token-alice"
    assert trust_id not in keystone.trusts and stored_trust(api, alarm_id) is None
    # A trust action again: a new trust.
    ok(api, "alice", "PUT", f"/v2/alarms/{alarm_id}", alarm("cpu", HOOK))
    assert len(keystone.created) == 2 and stored_trust(api, alarm_id) in keystone.trusts


def test_a_put_adding_a_trust_action_makes_the_trust(api: TestClient, keystone: Keystone) -> None:
    alarm_id = ok(api, "alice", "POST", "/v2/alarms", alarm("cpu", "http://heat.example.com/x"))["alarm_id"]
    ok(api, "bob", "PUT", f"/v2/alarms/{alarm_id}", alarm("cpu", HOOK))
    (trust_id,) = keystone.created
    assert keystone.created[trust_id]["trustor_user_id"] == "u-bob"  # whoever adds the action delegates
    assert stored_trust(api, alarm_id) == trust_id


def test_deleting_the_alarm_deletes_its_trust(api: TestClient, keystone: Keystone) -> None:
    alarm_id = ok(api, "alice", "POST", "/v2/alarms", alarm("cpu", HOOK))["alarm_id"]
    (trust_id,) = keystone.created
    assert call(api, "alice", "DELETE", f"/v2/alarms/{alarm_id}").status_code == 204
    (deleted,) = keystone.requests_to("DELETE", "/v3/OS-TRUST/trusts/")
    assert deleted.path == f"/v3/OS-TRUST/trusts/{trust_id}" and deleted.header("x-auth-token") == "token-alice"
    assert trust_id not in keystone.trusts


def test_a_trust_keystone_will_not_delete_is_logged_not_fatal(api: TestClient, keystone: Keystone,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    alarm_id = ok(api, "alice", "POST", "/v2/alarms", alarm("cpu", HOOK))["alarm_id"]
    (trust_id,) = keystone.created
    with caplog.at_level(logging.DEBUG):
        # Bob may delete the alarm (same project), but Keystone lets only the trustor delete the trust.
        assert call(api, "bob", "DELETE", f"/v2/alarms/{alarm_id}").status_code == 204
    assert trust_id in keystone.trusts
    assert f"could not delete the Keystone trust of alarm {alarm_id}: Keystone refused (HTTP 403)" in caplog.text
    assert trust_id not in caplog.text
    assert call(api, "alice", "GET", f"/v2/alarms/{alarm_id}").status_code == 404


def test_an_alarm_over_quota_leaves_no_trust_behind(api: TestClient, keystone: Keystone) -> None:
    indexer(api).set_quotas("p-a", {"alarms": 0})  # what an admin sets with POST /v2/quotas
    r = call(api, "alice", "POST", "/v2/alarms", alarm("cpu", HOOK))
    assert r.status_code == 403 and "quota" in faultstring(r).lower()
    (trust_id,) = keystone.created
    assert trust_id not in keystone.trusts  # made, then deleted when the alarm was refused


def test_a_put_retries_over_an_evaluation_made_while_keystone_answered(api: TestClient, keystone: Keystone) -> None:
    alarm_id = ok(api, "alice", "POST", "/v2/alarms", alarm("cpu", "http://heat.example.com/x"))["alarm_id"]
    _fire_on_create(api, keystone, alarm_id)
    assert ok(api, "alice", "PUT", f"/v2/alarms/{alarm_id}", alarm("cpu", HOOK))["alarm_actions"] == [HOOK]
    (trust_id,) = keystone.created
    assert stored_trust(api, alarm_id) == trust_id and trust_id in keystone.trusts
    history = ok(api, "alice", "GET", f"/v2/alarms/{alarm_id}/history")
    assert [h["type"] for h in history][:2] == ["rule change", "state transition"]  # the PUT came second


def test_a_put_racing_another_trust_change_is_a_409_and_leaves_no_trust(api: TestClient, keystone: Keystone) -> None:
    alarm_id = ok(api, "alice", "POST", "/v2/alarms", alarm("cpu", "http://heat.example.com/x"))["alarm_id"]
    # Another PUT stores its own trust while Keystone makes this one.
    keystone.on_create = lambda _: indexer(api).update_alarm(_uuid(alarm_id), {"trust_id": "the-other-put"},
                                                             project=None)
    r = call(api, "alice", "PUT", f"/v2/alarms/{alarm_id}", alarm("cpu", HOOK))
    assert r.status_code == 409 and faultstring(r) == (
        f"Alarm {alarm_id} was changed by another request meanwhile: read it again and retry")
    (trust_id,) = keystone.created
    assert trust_id not in keystone.trusts and stored_trust(api, alarm_id) == "the-other-put"


# --- Keystone refusing, failing, absent ---------------------------------------------------------------------------

def test_keystone_refusing_the_caller_is_a_403_naming_the_action(api: TestClient, keystone: Keystone) -> None:
    r = call(api, "carol", "POST", "/v2/alarms", alarm("cpu", "http://heat.example.com/x", HOOK))
    assert r.status_code == 403, r.text
    assert faultstring(r) == (
        f"alarm_actions: cannot create the Keystone trust of {HOOK}: Keystone refused (HTTP 403): You are not "
        "authorized to perform the requested action: Using method 'application_credential' is not allowed for "
        "managing trusts.")
    assert ok(api, "alice", "GET", "/v2/alarms") == []  # nothing stored
    alarm_id = ok(api, "carol", "POST", "/v2/alarms", alarm("plain", "http://heat.example.com/x"))["alarm_id"]
    r = call(api, "carol", "PUT", f"/v2/alarms/{alarm_id}", alarm("plain", ok_actions=[HOOK]))
    assert r.status_code == 403 and faultstring(r).startswith(f"ok_actions: cannot create the Keystone trust of {HOOK}")
    assert ok(api, "carol", "GET", f"/v2/alarms/{alarm_id}")["ok_actions"] == []  # unchanged


@contextlib.contextmanager
def _failing_keystone(kind: str) -> Iterator[dict[str, Any]]:
    """Service credentials for a Keystone that is absent, down, broken, slow, or refuses the service user."""
    if kind == "unset":
        yield {}
    elif kind == "down":
        with refused_port() as port:
            yield {"auth_url": f"http://127.0.0.1:{port}", "username": "aodh", "password": "service-secret"}
    elif kind == "broken":
        with Receiver((500,)) as broken:
            yield service_credentials(broken)
    elif kind == "slow":
        with Receiver(hold=True) as slow:
            yield service_credentials(slow, timeout=0.3)
    else:
        with Keystone(SERVICE) as keystone:
            yield service_credentials(keystone, password="wrong")


@pytest.mark.parametrize("kind, status, message", [
    ("unset", 503, "this server sets no service_credentials.auth_url (Keystone), which trust+ actions need"),
    ("down", 503, "cannot connect to Keystone"),
    ("broken", 503, "the service user of service_credentials cannot sign in to Keystone (HTTP 500)"),
    ("slow", 503, "Keystone did not answer within 0.3 s"),
    ("wrong password", 503, "the service user of service_credentials cannot sign in to Keystone (HTTP 401)"),
])
def test_keystone_failing_is_a_5xx_naming_the_action(tmp_path: Path, tokens: None, kind: str, status: int,
                                                     message: str) -> None:
    with _failing_keystone(kind) as credentials, server(tmp_path, credentials) as client:
        r = call(client, "alice", "POST", "/v2/alarms", alarm("cpu", HOOK))
        assert r.status_code == status, r.text
        assert faultstring(r) == f"alarm_actions: cannot create the Keystone trust of {HOOK}: {message}"
        assert ok(client, "alice", "GET", "/v2/alarms") == []


# --- end to end, and what is never shown -------------------------------------------------------------------------

def _deliver(client: TestClient) -> None:
    """One pass of the notifier as the server builds it (its settings), over the real outbox."""
    async def go() -> None:
        async with Dispatcher.from_settings(indexer(client), client.app.state.settings) as dispatcher:
            await dispatcher.run_once()

    asyncio.run(go())


def _fire(client: TestClient, alarm_id: str) -> None:
    """What the evaluator commits on a transition: the new state and one outbox row per alarm action."""
    stored = indexer(client).get_alarm(_uuid(alarm_id), project=None)
    assert stored is not None
    notifications = [(action, {**PAYLOAD, "alarm_name": stored.name}) for action in stored.alarm_actions]
    assert indexer(client).record_state(stored.alarm_id, stored.version, "alarm", PAYLOAD["reason"],
                                        PAYLOAD["reason_data"], datetime.now(UTC), notifications)


def _fire_on_create(client: TestClient, keystone: Keystone, alarm_id: str) -> None:
    """The evaluator records a transition while Keystone is making a trust (the alarm's version moves)."""
    keystone.on_create = lambda _: _fire(client, alarm_id)


def test_the_notifier_presents_the_trust_the_api_made_and_no_answer_shows_it(
        api: TestClient, keystone: Keystone, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with Receiver() as heat:
        action = heat.url.replace("http://", "trust+http://") + "/v1/signal?x=1"
        alarm_id = ok(api, "alice", "POST", "/v2/alarms", alarm("cpu", action, severity="moderate"))["alarm_id"]
        (trust_id,) = keystone.created
        ok(api, "alice", "PUT", f"/v2/alarms/{alarm_id}", alarm("cpu", action, description="renamed"))
        _fire(api, alarm_id)
        _deliver(api)
        (signal,) = heat.wait_for(1)
    assert keystone.issued[signal.header("x-auth-token")] == trust_id  # the token is scoped to the API's trust
    (scoped,) = [r for r in keystone.requests_to("POST", "/v3/auth/tokens") if "scope" in r.json()["auth"]]
    assert scoped.json()["auth"]["scope"] == {"OS-TRUST:trust": {"id": trust_id}}
    assert signal.path == "/v1/signal?x=1" and signal.json()["alarm_id"] == alarm_id

    query = {"filter": json.dumps({"=": {"name": "cpu"}})}
    answers = [
        ok(api, "alice", "GET", f"/v2/alarms/{alarm_id}"),
        ok(api, "alice", "GET", "/v2/alarms"),
        ok(api, "alice", "GET", f"/v2/alarms/{alarm_id}/history"),
        ok(api, "alice", "POST", "/v2/query/alarms", query),
        ok(api, "alice", "POST", "/v2/query/alarms/history", {"filter": json.dumps({"=": {"alarm_id": alarm_id}})}),
        ok(api, "alice", "PUT", f"/v2/alarms/{alarm_id}/state", "ok"),
        ok(api, "alice", "GET", f"/v2/alarms/{alarm_id}/state"),
    ]
    history = answers[2]
    assert {"creation", "rule change", "state transition", "action"} <= {h["type"] for h in history}
    assert all(trust_id not in json.dumps(a) for a in answers)
    ok(api, "alice", "DELETE", f"/v2/alarms/{alarm_id}")
    after = ok(api, "alice", "GET", f"/v2/alarms/{alarm_id}/history")
    assert after[0]["type"] == "deletion" and trust_id not in json.dumps(after)
    assert trust_id not in caplog.text


def test_a_deleted_alarms_trust_gives_no_more_tokens(api: TestClient, keystone: Keystone) -> None:
    """A notification still queued when its alarm is deleted can no longer act for the trustor."""
    alarm_id = ok(api, "alice", "POST", "/v2/alarms", alarm("cpu", HOOK))["alarm_id"]
    trust_id = stored_trust(api, alarm_id)
    ok(api, "alice", "DELETE", f"/v2/alarms/{alarm_id}")
    outbox = MemoryOutbox()
    with Receiver() as heat:
        nid = outbox.add(heat.url.replace("http://", "trust+http://") + "/x", trust_id=trust_id)
        run_once(outbox, service_credentials=service_credentials(keystone))
        assert heat.requests == []
    assert "Keystone refused a token for the alarm's trust (HTTP 404)" in (outbox.attempts(nid)[0].error or "")


# --- the other auth modes: no caller token, no trust --------------------------------------------------------------

def test_without_keystone_auth_the_action_is_kept_without_a_trust(tmp_path: Path, keystone: Keystone) -> None:
    with server(tmp_path, service_credentials(keystone), mode="noauth") as client, Receiver() as heat:
        action = heat.url.replace("http://", "trust+http://") + "/v1/signal"
        alarm_id = ok(client, "dave", "POST", "/v2/alarms", alarm("cpu", action))["alarm_id"]
        ok(client, "dave", "PUT", f"/v2/alarms/{alarm_id}", alarm("cpu", action, description="again"))
        assert keystone.requests == [] and stored_trust(client, alarm_id) is None
        _fire(client, alarm_id)
        _deliver(client)
        assert heat.requests == []
        attempts = [h for h in ok(client, "dave", "GET", f"/v2/alarms/{alarm_id}/history") if h["type"] == "action"]
        assert [json.loads(h["detail"])["error"] for h in attempts] == ["a trust+ action without a Keystone trust"]
        assert call(client, "dave", "DELETE", f"/v2/alarms/{alarm_id}").status_code == 204
        assert keystone.requests == []
