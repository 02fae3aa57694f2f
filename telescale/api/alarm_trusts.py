"""The Keystone trust of an alarm with ``trust+http(s)://`` actions, as the ``/v2/alarms`` handlers manage it.

Only in ``keystone`` mode is there a caller token (``X-Auth-Token``, validated by keystonemiddleware) to create
a trust with: the trustor is the caller (``X-User-Id``), on its project (``X-Project-Id``) with its roles
(``X-Roles``, as the token lists them). In the other modes the action is stored without a trust, and its
delivery fails with "a trust+ action without a Keystone trust", recorded in the alarm's history.

Keystone's refusals of the caller become Aodh-shaped errors naming the action: its 401 a 401, its other 4xx a
403; Keystone failing or not answering, refusing the service user, or no ``service_credentials``: a 503. A
trust that cannot be deleted is logged (by alarm id, never by trust id) and does not fail the request.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import Request

from telescale.alarming.definitions import trust_action
from telescale.alarming.trusts import TrustFailed, Trusts
from telescale.api.aodh_access import AodhCaller
from telescale.api.errors import ApiError

LOG = logging.getLogger(__name__)


def trusts(request: Request) -> Trusts:
    """The application's trust client, built once from ``service_credentials``."""
    state = request.app.state
    if getattr(state, "alarm_trusts", None) is None:
        state.alarm_trusts = Trusts(state.settings.service_credentials)
    return state.alarm_trusts


def caller_token(request: Request) -> str | None:
    """The caller's own Keystone token: only ``keystone`` mode has one (validated before any handler runs)."""
    if request.app.state.settings.api.auth_mode != "keystone":
        return None
    return request.headers.get("x-auth-token") or None


def _status(error: TrustFailed) -> int:
    if error.refused:
        return 401 if error.keystone_status == 401 else 403
    return 503


def create_trust(request: Request, caller: AodhCaller, fields: Mapping[str, Any]) -> str | None:
    """A new trust from the caller for the alarm in ``fields``; None without a trust action or a caller token."""
    found = trust_action(fields)
    token = caller_token(request)
    if found is None or token is None:
        return None
    field, action = found
    roles = list(dict.fromkeys(r.strip() for r in request.headers.get("x-roles", "").split(",") if r.strip()))
    if not caller.project_id:
        raise ApiError(403, f"{field}: {action} needs a Keystone trust, which only a project-scoped token can "
                            "create")
    try:
        return trusts(request).create(token, caller.user_id, caller.project_id, roles)
    except TrustFailed as e:
        raise ApiError(_status(e), f"{field}: cannot create the Keystone trust of {action}: {e}") from None


def release_trust(request: Request, alarm_id: uuid.UUID, trust_id: str | None) -> None:
    """Delete a trust the alarm no longer uses, with the caller's token; a failure is only logged."""
    if trust_id is None:
        return
    token = caller_token(request)
    if token is None:
        LOG.warning("alarm %s no longer uses its Keystone trust, which this auth mode cannot delete (no caller "
                    "token): delete it in Keystone", alarm_id)
        return
    try:
        if not trusts(request).delete(token, trust_id):
            LOG.info("the Keystone trust of alarm %s was already deleted", alarm_id)
    except TrustFailed as e:
        LOG.warning("could not delete the Keystone trust of alarm %s: %s; delete it in Keystone", alarm_id, e)
