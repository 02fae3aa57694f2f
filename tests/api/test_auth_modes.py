"""Authentication modes and the policy file: how identities are read and how rules can be changed."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import fixtures
import pytest
from keystonemiddleware import fixture as ks_fixture

from telescale import config
from telescale.api.app import create_app
from telescale.api.keystone import carried_headers
from tests.api.conftest import make_client

ALICE = {"x-user-id": "alice", "x-project-id": "p-a", "x-roles": "member"}


def test_noauth_takes_identity_from_headers(tmp_path: Path) -> None:
    with make_client(tmp_path, overrides=("api.auth_mode=noauth",)) as client:
        created = client.post("/v1/metric", json={"archive_policy_name": "low"}, headers=ALICE)
        assert created.status_code == 201, created.text
        body = created.json()
        assert (body["creator"], body["created_by_user_id"], body["created_by_project_id"]) == \
            ("alice:p-a", "alice", "p-a")
        anonymous = client.get("/v1/metric", headers={"authorization": ""})
        assert anonymous.status_code == 401 and "X-User-Id" in anonymous.text


def test_basic_mode_admin_is_the_user_named_admin(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        assert client.get("/v1/status").status_code == 200
        foobar = {"authorization": "basic Zm9vYmFyOg=="}
        assert client.get("/v1/status", headers=foobar).status_code == 403
        # noauth headers mean nothing in basic mode
        assert client.get("/v1/status", headers={**foobar, "x-roles": "admin"}).status_code == 403


def test_policy_file_overrides_a_rule(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text('"get status": "role:observer or role:admin"\n')
    with make_client(tmp_path, overrides=("api.auth_mode=noauth", f"api.policy_file={json.dumps(str(policy))}")) as c:
        assert c.get("/v1/status", headers={**ALICE, "x-roles": "observer"}).status_code == 200
        assert c.get("/v1/status", headers=ALICE).status_code == 403


def test_bad_auth_settings_fail_at_start(tmp_path: Path) -> None:
    settings = config.load(environ={}, overrides=["api.auth_mode=none"])
    with pytest.raises(ValueError, match="api.auth_mode must be one of"):
        create_app(settings, None)  # type: ignore[arg-type]
    settings = config.load(environ={}, overrides=[f"api.policy_file={json.dumps(str(tmp_path / 'missing.yaml'))}"])
    with pytest.raises(ValueError, match="does not exist"):
        create_app(settings, None)  # type: ignore[arg-type]


@pytest.fixture
def keystone_client(tmp_path: Path) -> Iterator[tuple]:
    with fixtures.Fixture() as holder:
        tokens = holder.useFixture(ks_fixture.AuthTokenFixture())
        tokens.add_token_data(token_id="tok-alice", user_id="alice", project_id="p-a", role_list=["member"])
        overrides = ("api.auth_mode=keystone", "keystone_authtoken.www_authenticate_uri=http://keystone.test:5000")
        with make_client(tmp_path, overrides=overrides) as client:
            yield client, {"authorization": ""}


def test_keystone_refuses_requests_without_a_valid_token(keystone_client: tuple) -> None:
    client, no_basic = keystone_client
    forged = client.get("/v1/metric", headers={**no_basic, **ALICE, "x-roles": "admin"})
    assert forged.status_code == 401
    assert "keystone.test:5000" in forged.headers.get("www-authenticate", "")
    assert client.get("/v1/metric", headers={**no_basic, "x-auth-token": "nope"}).status_code == 401
    assert client.get("/healthcheck", headers=no_basic).status_code in (200, 204)


def test_keystone_leaves_the_api_description_and_docs_open(keystone_client: tuple) -> None:
    client, no_basic = keystone_client
    docs = client.get("/docs", headers=no_basic)
    assert docs.status_code == 200
    assert client.get("/openapi.json", headers=no_basic).status_code == 200
    assert client.get("/docs/static/swagger-ui.css", headers=no_basic).status_code == 200
    assert client.get("/docs/../v1/metric", headers=no_basic).status_code in (401, 404)


def test_keystone_identity_comes_from_the_token_not_from_forged_headers(keystone_client: tuple) -> None:
    client, no_basic = keystone_client
    headers = {**no_basic, "x-auth-token": "tok-alice", "x-project-id": "p-admin", "x-roles": "admin"}
    created = client.post("/v1/metric", json={"archive_policy_name": "low"}, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["creator"] == "alice:p-a"
    assert client.get("/v1/status", headers=headers).status_code == 403


def test_carried_headers_apply_removals_and_additions() -> None:
    original = [(b"x-auth-token", b"t"), (b"x-roles", b"forged"), (b"content-type", b"application/json")]
    before = {"HTTP_X_AUTH_TOKEN": "t", "HTTP_X_ROLES": "forged", "CONTENT_TYPE": "application/json"}
    after = {"HTTP_X_AUTH_TOKEN": "t", "HTTP_X_ROLES": "member", "HTTP_X_PROJECT_ID": "p",
             "CONTENT_TYPE": "application/json"}
    carried = dict(carried_headers(original, before, after))
    assert carried == {b"x-auth-token": b"t", b"x-roles": b"member", b"x-project-id": b"p",
                       b"content-type": b"application/json"}


def test_policy_file_edits_are_picked_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from telescale.api import policy as policy_module

    monkeypatch.setattr(policy_module, "RELOAD_INTERVAL", 0.0)
    policy = tmp_path / "policy.yaml"
    policy.write_text('"get status": "role:admin"\n')
    with make_client(tmp_path, overrides=("api.auth_mode=noauth", f"api.policy_file={json.dumps(str(policy))}")) as c:
        observer = {**ALICE, "x-roles": "observer"}
        assert c.get("/v1/status", headers=observer).status_code == 403
        policy.write_text('"get status": "role:observer"\n')
        os.utime(policy, (time.time() + 5, time.time() + 5))  # a new mtime even on a coarse clock
        assert c.get("/v1/status", headers=observer).status_code == 200
