"""The ``heat`` member driver: the members are an ``OS::Heat::AutoScalingGroup``; Heat creates and deletes them.

Two modes:

* ``signal`` (``scale_out_url``, ``scale_in_url``): the URLs of two existing ``OS::Heat::ScalingPolicy``
  resources, each POSTed once per member of change (``desired - current`` times). The policies must be
  ``change_in_capacity`` +1 and -1 with ``cooldown: 0`` (Telescale holds the cooldown; Heat would silently
  swallow the signals of its own cooldown). A pre-signed ``alarm_url`` (EC2-signed, a ``Signature`` in its
  query) is posted without credentials, through the same allow-list as alarm webhooks; a ``signal_url`` gets
  the service user's Keystone token, and only when it lies on the catalog's Orchestration endpoint (the token
  never goes elsewhere). ``auth``: ``auto`` (decide by the URL), ``none`` or ``keystone``. Heat picks which
  members go on scale-in, and signals are not idempotent: an action retried after a crash may signal twice.
* ``stack`` (``stack_name``, ``stack_id``, ``parameter``): a PATCH of the stack (``existing`` parameters kept)
  setting the template parameter that holds the group's capacity, through the Orchestration endpoint of the
  Keystone catalog, then a poll of the stack until ``UPDATE_COMPLETE`` (the size is reached) or
  ``UPDATE_FAILED``. Setting a capacity twice is harmless, and a stack already at it is not updated again.

Neither mode knows individual members, so ``refresh`` answers None (autohealing does not apply).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session as ks_session

from telescale.alarming.notifiers.allowlist import AllowList
from telescale.alarming.notifiers.base import DeliveryFailed
from telescale.alarming.notifiers.http import WebhookSender
from telescale.redact import public_url
from telescale.scaling.drivers.base import ActuationFailed, DriverContext, DriverError, MemberDriver, Resized
from telescale.scaling.drivers.cloud import endpoint, failure, project_session
from telescale.scaling.drivers.options import Options
from telescale.scaling.model import Group, Member

LOG = logging.getLogger(__name__)

#: How long a stack that still shows its state from before an update is taken for one Heat has not touched yet.
STALE_FOR = 30.0
SIGNAL_OPTIONS = ("mode", "scale_out_url", "scale_in_url", "auth", "timeout")
STACK_OPTIONS = ("mode", "stack_name", "stack_id", "parameter", "timeout", "poll_interval", "update_timeout")


def is_presigned(url: str) -> bool:
    """Heat's ``alarm_url`` is EC2-signed: its query carries the ``Signature``."""
    return "Signature" in parse_qs(urlsplit(url).query)


def shown(url: str) -> str:
    """The URL as logs and errors show it: no user-info, and no query (an ``alarm_url``'s signature)."""
    base, _, query = public_url(url).partition("?")
    return f"{base}?…" if query else base


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80)


class HeatDriver(MemberDriver):
    kind = "heat"
    tracks_members = False

    def __init__(self, options: Mapping[str, Any], context: DriverContext) -> None:
        super().__init__(options, context)
        self.credentials = dict(context.settings.service_credentials)
        self._session: ks_session.Session | None = None
        self._sender: WebhookSender | None = None

    @classmethod
    def validate(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        mode = options.get("mode") if isinstance(options, Mapping) else None
        if mode is None and isinstance(options, Mapping):  # the mode the other options belong to
            mode = "signal" if {"scale_out_url", "scale_in_url", "auth"} & set(options) else "stack"
        if mode == "signal":
            read = Options(cls.kind, options, SIGNAL_OPTIONS)
            read.choice("mode", ("signal", "stack"), "signal")
            read.url("scale_out_url")
            read.url("scale_in_url")
            read.choice("auth", ("auto", "none", "keystone"), "auto")
            read.number("timeout", 30.0, above=True)
            return read.out
        read = Options(cls.kind, options, STACK_OPTIONS)
        read.choice("mode", ("signal", "stack"), "stack")
        for key in ("stack_name", "stack_id"):
            value = read.string(key, required=True)
            if value is not None and "/" in value:
                raise DriverError(f"member_driver.{key} must not contain '/' (it is one segment of the stack's URL)")
        read.string("parameter", "capacity")
        read.number("timeout", 30.0, above=True)
        read.number("poll_interval", 2.0, above=True)
        read.number("update_timeout", 600.0, above=True)
        return read.out

    # -- Keystone, in a thread --------------------------------------------------------------------------------

    def _keystone(self) -> ks_session.Session:
        if self._session is None:
            self._session = project_session(self.credentials, self.options["timeout"])
        return self._session

    def _request(self, method: str, url: str, body: Any = None) -> tuple[int, Any]:
        """One authenticated call (blocking); (status, decoded JSON body or None)."""
        session = self._keystone()
        try:
            response = session.request(url, method, json=body, raise_exc=False,
                                       headers={"Accept": "application/json"})
        except ks_exceptions.ClientException as e:
            raise failure("Heat", e) from None
        try:
            data = response.json() if response.content else None
        except ValueError:
            data = None
        if response.status_code in (401, 403):
            raise ActuationFailed(f"Heat refused the service credentials on {method} {url} "
                                  f"(HTTP {response.status_code})", retry=False)
        return response.status_code, data

    # -- resize -------------------------------------------------------------------------------------------------

    async def resize(self, group: Group, members: Sequence[Member], desired: int, remove: Sequence[Member],
                     reason: str) -> Resized:
        if self.options["mode"] == "signal":
            return await self._signal(group, desired, reason)
        return await self._update_stack(group, desired, reason)

    async def _signal(self, group: Group, desired: int, reason: str) -> Resized:
        steps = desired - group.current_size
        url = self.options["scale_out_url"] if steps > 0 else self.options["scale_in_url"]
        details = {"current": "alarm", "previous": "ok", "reason": reason, "telescale_group_id": str(group.id),
                   "desired_capacity": desired}
        for done in range(abs(steps)):
            try:
                await self._post_signal(url, details)
            except ActuationFailed as e:
                # The signals sent so far took effect: the scaler learns the size reached.
                raise ActuationFailed(f"{e} (after {done} of {abs(steps)} signals)", retry=e.retry) from None
        LOG.info("group %s: %d signal(s) sent to %s: %s", group.id, abs(steps), shown(url), reason)
        return Resized(current_size=desired, members=None)

    async def _post_signal(self, url: str, details: Mapping[str, Any]) -> None:
        auth = self.options["auth"]
        if auth == "none" or (auth == "auto" and is_presigned(url)):
            if self._sender is None:
                allowed = self.context.settings.alarming.webhook_allowed_networks
                self._sender = WebhookSender(AllowList(allowed), self.options["timeout"], user_agent="telescale-scaler")
            try:
                await self._sender.post(url, json.dumps(details).encode(), {"content-type": "application/json"})
            except DeliveryFailed as e:
                raise ActuationFailed(f"Heat signal {shown(url)}: {e}", retry=e.retry) from None
            return
        await asyncio.to_thread(self._post_authenticated_signal, url, details)

    def _post_authenticated_signal(self, url: str, details: Mapping[str, Any]) -> None:
        heat = endpoint(self._keystone(), self.credentials, "orchestration")
        if origin(url) != origin(heat):
            raise ActuationFailed(f"Heat signal {shown(url)} is not on the catalog's Orchestration endpoint "
                                  f"({shown(heat)}); Telescale sends its Keystone token only there (use the "
                                  "policy's alarm_url, or auth: none)", retry=False)
        status, body = self._request("POST", url, details)
        if not 200 <= status < 300:
            raise ActuationFailed(f"Heat answered {status} to the signal {shown(url)}: {_message(body)}",
                                  retry=status >= 500 or status == 429)

    def _stack_url(self) -> str:
        heat = endpoint(self._keystone(), self.credentials, "orchestration")
        return f"{heat}/stacks/{quote(self.options['stack_name'], safe='')}/{quote(self.options['stack_id'], safe='')}"

    def _stack(self, url: str) -> dict[str, Any]:
        status, body = self._request("GET", url)
        if status == 404:
            raise ActuationFailed(f"Heat has no stack {self.options['stack_name']}/{self.options['stack_id']}",
                                  retry=False)
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("stack"), dict):
            raise ActuationFailed(f"Heat answered {status} to GET of the stack: {_message(body)}",
                                  retry=status >= 500 or status == 429)
        return body["stack"]

    async def _settled(self, url: str, deadline: float, before: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The stack once no action is in progress on it (one left by a crashed attempt included).

        With ``before`` (the stack as it was before an update), a stack that still shows that old state is not
        settled: Heat may answer the update before it marks the stack ``UPDATE_IN_PROGRESS``.
        """
        since = time.monotonic()
        while True:
            stack = await asyncio.to_thread(self._stack, url)
            status = str(stack.get("stack_status", ""))
            stale = (before is not None and time.monotonic() - since < STALE_FOR
                     and all(stack.get(k) == before.get(k) for k in ("stack_status", "updated_time", "parameters")))
            if not status.endswith("_IN_PROGRESS") and not stale:
                return stack
            if time.monotonic() >= deadline:
                raise ActuationFailed(f"stack {self.options['stack_name']} still {status} after "
                                      f"{self.options['update_timeout']:g} s", retry=True)
            await asyncio.sleep(self.options["poll_interval"])

    async def _update_stack(self, group: Group, desired: int, reason: str) -> Resized:
        url = await asyncio.to_thread(self._stack_url)
        parameter = self.options["parameter"]
        deadline = time.monotonic() + self.options["update_timeout"]
        stack = await self._settled(url, deadline)
        current = (stack.get("parameters") or {}).get(parameter)
        if str(current) == str(desired) and str(stack.get("stack_status", "")).endswith("_COMPLETE"):
            LOG.info("group %s: stack %s already has %s=%d", group.id, self.options["stack_name"], parameter, desired)
            return Resized(current_size=desired, members=None)
        status, body = await asyncio.to_thread(self._request, "PATCH", url, {"parameters": {parameter: desired}})
        if status not in (200, 202):
            raise ActuationFailed(f"Heat answered {status} to the update of stack {self.options['stack_name']}: "
                                  f"{_message(body)}", retry=status >= 500 or status in (409, 429))
        LOG.info("group %s: stack %s updated with %s=%d: %s", group.id, self.options["stack_name"], parameter,
                 desired, reason)
        stack = await self._settled(url, deadline, before=stack)
        state = stack.get("stack_status")
        if state == "UPDATE_COMPLETE":
            return Resized(current_size=desired, members=None)
        raise ActuationFailed(f"stack {self.options['stack_name']} is {state}: "
                              f"{stack.get('stack_status_reason') or 'no reason given'}", retry=False)

    async def aclose(self) -> None:
        if self._sender is not None:
            await self._sender.aclose()
        if self._session is not None:
            session, self._session = self._session, None
            await asyncio.to_thread(session.session.close)


def _message(body: Any) -> str:
    """Heat's error body: ``{"code", "title", "explanation", "error": {"message", "type"}}``."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if body.get("explanation"):
            return str(body["explanation"])
    return "no explanation"
