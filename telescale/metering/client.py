"""The agent's HTTP client of the Telescale API: base URL, authentication headers, one connection pool.

`Outcome` sorts every answer into what the publisher does next: done, retry later (the API is away or
failing: connection errors, 5xx, 429, 401 with renewable credentials), or reject (any other 4xx: the
request itself is wrong and sending it again would not help).
"""

from __future__ import annotations

import asyncio
import base64
import enum
import logging
from typing import Any

import httpx
import orjson

from telescale.metering.config import Api, Auth

LOG = logging.getLogger(__name__)


class Outcome(enum.Enum):
    DONE = "done"
    RETRY = "retry"
    REJECT = "reject"


def classify(status: int) -> Outcome:
    if status < 400:
        return Outcome.DONE
    if status >= 500 or status in (401, 408, 429):
        return Outcome.RETRY
    return Outcome.REJECT


def describe(response: httpx.Response) -> str:
    """The API's own words for a failure (Gnocchi's ``description``, Aodh's ``faultstring``) or the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict):
        for key in ("description", "faultstring", "detail", "message"):
            if key in body:
                return str(body[key])[:500]
    return str(body)[:500]


class ApiClient:
    """Requests to the API with the configured credentials (Keystone tokens renewed when they expire)."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.http = httpx.AsyncClient(base_url=api.url, timeout=api.timeout)
        self._keystone: Any = None

    async def close(self) -> None:
        await self.http.aclose()

    async def _headers(self) -> dict[str, str]:
        auth: Auth = self.api.auth
        if auth.mode == "basic":
            token = base64.b64encode(f"{auth.user}:{auth.password}".encode()).decode()
            return {"Authorization": f"Basic {token}"}
        if auth.mode == "noauth":
            headers = {"X-User-Id": auth.user_id or "", "X-Roles": auth.roles}
            if auth.project_id:
                headers["X-Project-Id"] = auth.project_id
            return headers
        if auth.token:
            return {"X-Auth-Token": auth.token}
        return await asyncio.to_thread(self._keystone_headers)

    def _keystone_headers(self) -> dict[str, str]:
        if self._keystone is None:
            from keystoneauth1 import session
            from keystoneauth1.identity import v3

            self._keystone = session.Session(auth=v3.Password(**dict(self.api.auth.keystone)))
        return self._keystone.get_auth_headers()

    async def request(self, method: str, path: str, body: Any = None,
                      params: dict[str, str] | None = None) -> httpx.Response:
        """One request; raises `httpx.TransportError` when the API cannot be reached."""
        headers = await self._headers()
        headers["Accept"] = "application/json"
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
        response = await self.http.request(method, path, content=content, headers=headers, params=params)
        if response.status_code == 401 and self._keystone is not None:
            self._keystone.invalidate()
        return response
