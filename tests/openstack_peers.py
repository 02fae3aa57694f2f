"""A local stand-in for the few OpenStack APIs the heat and nova member drivers call (no OpenStack runs here).

One ``http.server`` on a free loopback port (the notifier tests' ``Keystone`` peer, extended) answers as the
OpenStack API reference documents each call, with the shapes of the reference's examples:

* Identity v3 (docs.openstack.org/api-ref/identity/v3): ``GET /v3`` (version discovery, "Show API version
  details"), ``POST /v3/auth/tokens`` ("Password authentication with scoped authorization": 201, the token in
  ``X-Subject-Token``, the body's ``catalog`` listing identity, compute, orchestration, image and network
  endpoints, all on this server); trust-scoped tokens as the notifier peer answers them.
* Orchestration v1 (api-ref/orchestration/v1): "Show stack details" ``GET /v1/{tenant_id}/stacks/{stack_name}/
  {stack_id}``, "Update stack (PATCH)" on the same path (202, parameters merged with the existing ones, the
  stack goes ``UPDATE_IN_PROGRESS`` then ``UPDATE_COMPLETE`` or ``UPDATE_FAILED``; 409 while an action is in
  progress), "Send a signal to a resource" ``POST …/resources/{resource_name}/signal`` (200, no body), and the
  pre-signed CloudFormation-compatible ``alarm_url`` ``POST /v1/signal/{arn}?…&Signature=…`` (heat-api-cfn).
  A ScalingPolicy signalled with details whose ``current`` is not ``alarm`` does nothing, as Heat's
  ``OS::Heat::ScalingPolicy`` ``handle_signal``.
* Compute v2.1 (api-ref/compute): version documents (``GET /``, ``GET /v2.1``), "Create Server" (202),
  "Show Server Details", "List Servers Detailed", "List Servers", "Delete Server" (204), "Show Flavor
  Details" and "List Flavors With Details", errors as ``{"itemNotFound"|"badRequest": {"code", "message"}}``.
  A server is ``BUILD``, then ``ACTIVE`` after ``build_delay`` seconds, or ``ERROR`` with a ``fault`` ("No valid
  host was found") when its flavor is named ``broken``.
* Image v2 (api-ref/image/v2): versions (``GET /``), "Show image", "List images" (``?name=``).
* Networking v2.0 (api-ref/network/v2): versions (``GET /``), "Show network details", "List networks".

These are exactly the calls openstacksdk and keystoneauth1 make for the drivers (found by recording them: the
``requests`` list keeps every request; ``calls()`` gives them as ``(method, path)``). State lives in memory.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.notifier_peers import Keystone, Received

Answer = tuple[int, dict[str, str], bytes]

PROJECT_ID = "3f2a5d9c6e1b4a7f8d0c2b4e6a8f1d3c"
PROJECT_NAME = "scaling"
REGION = "RegionOne"
NOVA_MAX_MICROVERSION = "2.96"


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Answer:
    return status, {"content-type": "application/json", **(headers or {})}, json.dumps(body).encode()


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _nova_error(status: int, message: str) -> Answer:
    kind = {400: "badRequest", 403: "forbidden", 404: "itemNotFound", 409: "conflictingRequest"}[status]
    return _json(status, {kind: {"code": status, "message": message}})


def _heat_error(status: int, kind: str, message: str) -> Answer:
    titles = {400: ("Bad Request", "The server could not comply with the request since it is either malformed or "
                                   "otherwise incorrect."),
              404: ("Not Found", "The resource could not be found."),
              409: ("Conflict", "There was a conflict when trying to complete your request.")}
    title, explanation = titles[status]
    return _json(status, {"code": status, "title": title, "explanation": explanation,
                          "error": {"message": message, "traceback": None, "type": kind}})


@dataclass
class Stack:
    """A stack holding an ``OS::Heat::AutoScalingGroup`` whose size is the ``capacity`` parameter, and scaling
    policies (resource name → ``change_in_capacity`` adjustment) that change it when signalled."""

    name: str
    id: str
    parameters: dict[str, str]
    policies: dict[str, int] = field(default_factory=dict)
    status: str = "CREATE_COMPLETE"
    reason: str = "Stack CREATE completed successfully"
    capacity: int = 0
    update_delay: float = 0.2
    #: Values of ``capacity`` that make the update fail (a quota, no valid host …).
    failing: set[str] = field(default_factory=set)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated: datetime | None = None
    signature: dict[str, str] = field(default_factory=dict)  # policy → its alarm_url's signature
    signals: list[tuple[str, Any]] = field(default_factory=list)
    _settles_at: float | None = None
    _outcome: tuple[str, str] = ("UPDATE_COMPLETE", "Stack UPDATE completed successfully")

    def settle(self) -> None:
        if self._settles_at is not None and time.monotonic() >= self._settles_at:
            self.status, self.reason = self._outcome
            self._settles_at = None
            if self.status == "UPDATE_COMPLETE":
                self.capacity = int(self.parameters.get("capacity", self.capacity))


@dataclass
class Server:
    id: str
    name: str
    flavor: dict[str, Any]
    image_id: str
    metadata: dict[str, str]
    key_name: str | None
    networks: Any
    created: datetime
    ready_at: float
    address: str
    fail: bool


class OpenStack(Keystone):
    """Keystone, Heat, Nova, Glance and Neutron on one loopback port, for the project ``scaling``."""

    def __init__(self, *, users: dict[str, str] | None = None, build_delay: float = 0.3) -> None:
        super().__init__(users if users is not None else {"telescale": "secret"})
        handler = self.server.RequestHandlerClass
        handler.do_GET = handler.do_PATCH = handler.do_PUT = handler.do_POST  # type: ignore[attr-defined]
        self.build_delay = build_delay
        self.project_tokens: set[str] = set()
        self._state = threading.RLock()
        self.flavors = {f["id"]: f for f in (
            {"id": "1", "name": "m1.tiny", "ram": 512, "vcpus": 1, "disk": 1},
            {"id": "2", "name": "m1.small", "ram": 2048, "vcpus": 1, "disk": 20},
            {"id": "9", "name": "broken", "ram": 1024, "vcpus": 1, "disk": 10})}
        self.images = {"6b9c3e8e-59b4-4b8b-9f6a-3b0e1c2d4f5a": "cirros-0.6.2"}
        self.networks = {"a87cc70a-3e15-4acf-8205-9b711a3531b7": "private"}
        self.servers: dict[str, Server] = {}
        self.deleted: list[str] = []
        self.stacks: dict[str, Stack] = {}
        self.fail_next: list[tuple[str, str, int]] = []  # (method, path prefix, status) answered once, in order

    # -- test helpers ---------------------------------------------------------------------------------------------

    @property
    def auth_url(self) -> str:
        return f"{self.url}/v3"

    def credentials(self, **extra: Any) -> dict[str, Any]:
        """``[service_credentials]`` for this cloud."""
        return {"auth_url": self.auth_url, "username": "telescale", "password": "secret",
                "project_name": PROJECT_NAME, "user_domain_id": "default", "project_domain_id": "default",
                "region_name": REGION, **extra}

    def calls(self, prefix: str = "/") -> list[tuple[str, str]]:
        with self._lock:
            return [(r.method, r.path) for r in self.requests if r.path.startswith(prefix)]

    def add_stack(self, name: str, capacity: int, *, policies: dict[str, int] | None = None,
                  update_delay: float = 0.2) -> Stack:
        stack = Stack(name=name, id=str(uuid.uuid4()), parameters={"capacity": str(capacity)},
                      policies=dict(policies or {}), capacity=capacity, update_delay=update_delay)
        stack.signature = {policy: secrets.token_urlsafe(24) for policy in stack.policies}
        with self._state:
            self.stacks[stack.id] = stack
        return stack

    def start_update(self, stack: Stack, parameters: dict[str, Any]) -> None:
        """An update begun by someone else (or by a scaler that then crashed): the stack is in progress."""
        with self._state:
            status, _, _ = self._update(stack, {"parameters": parameters})
        assert status == 202

    def signal_url(self, stack: Stack, policy: str) -> str:
        """The policy's ``signal_url`` attribute (needs a Keystone token)."""
        return f"{self.url}/heat/v1/{PROJECT_ID}/stacks/{stack.name}/{stack.id}/resources/{policy}/signal"

    def alarm_url(self, stack: Stack, policy: str) -> str:
        """The policy's ``alarm_url`` attribute: heat-api-cfn's EC2-signed URL (no token)."""
        arn = quote(f"arn:openstack:heat::{PROJECT_ID}:stacks/{stack.name}/{stack.id}/resources/{policy}", safe="")
        query = (f"Timestamp=2026-01-01T00%3A00%3A00Z&SignatureMethod=HmacSHA256&AWSAccessKeyId=4567"
                 f"&SignatureVersion=2&Signature={quote(stack.signature[policy], safe='')}")
        return f"{self.url}/heat-cfn/v1/signal/{arn}?{query}"

    def add_server(self, name: str, flavor_id: str = "2", metadata: dict[str, str] | None = None,
                   image_id: str = "6b9c3e8e-59b4-4b8b-9f6a-3b0e1c2d4f5a") -> Server:
        """A server booted by someone else (already ``ACTIVE``), as an inventory finds it."""
        with self._state:
            server = Server(id=str(uuid.uuid4()), name=name, flavor=self.flavors[flavor_id], image_id=image_id,
                            metadata=dict(metadata or {}), key_name=None, networks="auto",
                            created=datetime.now(UTC) - timedelta(minutes=5), ready_at=0.0,
                            address=f"10.0.0.{len(self.servers) + len(self.deleted) + 10}", fail=False)
            self.servers[server.id] = server
        return server

    def group_servers(self, group_id: uuid.UUID | str) -> list[Server]:
        with self._state:
            return [s for s in self.servers.values() if s.metadata.get("telescale_group") == str(group_id)]

    # -- routing ------------------------------------------------------------------------------------------------

    def _answer(self, request: Received) -> Answer:
        parts = urlsplit(request.path)
        path, query = parts.path, parse_qs(parts.query)
        with self._state:
            for i, (method, prefix, status) in enumerate(self.fail_next):
                if request.method == method and path.startswith(prefix):
                    del self.fail_next[i]
                    return _json(status, {"error": {"code": status, "message": "injected failure"}})
            if path.startswith("/v3") or path == "/":
                return self._identity(request, path)
            if path.startswith("/heat-cfn/"):
                return self._cfn_signal(request, path.removeprefix("/heat-cfn"), query)
            if not self._authorized(request):
                return _json(401, {"error": {"code": 401, "title": "Unauthorized",
                                             "message": "The request you have made requires authentication."}})
            if path.startswith("/heat/"):
                return self._heat(request, path.removeprefix("/heat"))
            if path.startswith("/compute"):
                return self._compute(request, path.removeprefix("/compute"), query)
            if path.startswith("/image"):
                return self._image(request, path.removeprefix("/image"), query)
            if path.startswith("/network"):
                return self._network(request, path.removeprefix("/network"), query)
        return _json(404, {"error": {"code": 404, "message": f"no such endpoint: {path}"}})

    def _authorized(self, request: Received) -> bool:
        return (request.header("x-auth-token") or "") in self.project_tokens

    # -- Identity v3 -----------------------------------------------------------------------------------------

    def _version(self) -> dict[str, Any]:
        return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
                "links": [{"rel": "self", "href": f"{self.url}/v3/"}],
                "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]}

    def _identity(self, request: Received, path: str) -> Answer:
        if request.method == "GET" and path in ("/v3", "/v3/"):
            return _json(200, {"version": self._version()})
        if request.method == "GET" and path == "/":
            return _json(300, {"versions": {"values": [self._version()]}})
        if request.method == "POST" and path == "/v3/auth/tokens":
            scope = request.json().get("auth", {}).get("scope", {})
            if "project" in scope:
                return self._project_token(request, scope["project"])
        return super()._answer(request)

    def _catalog(self) -> list[dict[str, Any]]:
        def service(kind: str, name: str, url: str) -> dict[str, Any]:
            return {"id": uuid.uuid5(uuid.NAMESPACE_URL, kind).hex, "type": kind, "name": name,
                    "endpoints": [{"id": uuid.uuid5(uuid.NAMESPACE_URL, kind + i).hex, "interface": i,
                                   "region": REGION, "region_id": REGION, "url": url}
                                  for i in ("public", "internal")]}
        return [service("identity", "keystone", f"{self.url}/v3"),
                service("compute", "nova", f"{self.url}/compute/v2.1"),
                service("orchestration", "heat", f"{self.url}/heat/v1/{PROJECT_ID}"),
                service("image", "glance", f"{self.url}/image"),
                service("network", "neutron", f"{self.url}/network")]

    def _project_token(self, request: Received, project: dict[str, Any]) -> Answer:
        user = request.json()["auth"]["identity"].get("password", {}).get("user", {})
        if self.users.get(user.get("name")) != user.get("password"):
            return _json(401, {"error": {"code": 401, "title": "Unauthorized",
                                         "message": "The request you have made requires authentication."}})
        if project.get("id", PROJECT_ID) != PROJECT_ID or project.get("name", PROJECT_NAME) != PROJECT_NAME:
            return _json(401, {"error": {"code": 401, "title": "Unauthorized",
                                         "message": "The request you have made requires authentication."}})
        token = f"gAAAA{uuid.uuid4().hex}"
        self.project_tokens.add(token)
        now = datetime.now(UTC)
        body = {"token": {
            "methods": ["password"], "audit_ids": [uuid.uuid4().hex[:22]], "is_domain": False,
            "issued_at": now.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
            "expires_at": (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
            "user": {"id": f"u-{user['name']}", "name": user["name"], "password_expires_at": None,
                     "domain": {"id": "default", "name": "Default"}},
            "project": {"id": PROJECT_ID, "name": PROJECT_NAME, "domain": {"id": "default", "name": "Default"}},
            "roles": [{"id": "r-member", "name": "member"}, {"id": "r-reader", "name": "reader"}],
            "catalog": self._catalog()}}
        return _json(201, body, {"X-Subject-Token": token})

    # -- Orchestration v1 -------------------------------------------------------------------------------------

    def _stack_body(self, stack: Stack) -> dict[str, Any]:
        stack.settle()
        link = f"{self.url}/heat/v1/{PROJECT_ID}/stacks/{stack.name}/{stack.id}"
        return {"stack": {
            "capabilities": [], "creation_time": _iso(stack.created), "deletion_time": None,
            "description": "An autoscaling group", "disable_rollback": True, "id": stack.id,
            "links": [{"href": link, "rel": "self"}], "notification_topics": [], "outputs": [],
            "parameters": {"OS::project_id": PROJECT_ID, "OS::stack_id": stack.id, "OS::stack_name": stack.name,
                           **stack.parameters},
            "parent": None, "stack_name": stack.name, "stack_owner": "telescale", "stack_status": stack.status,
            "stack_status_reason": stack.reason, "stack_user_project_id": PROJECT_ID, "tags": None,
            "template_description": "An autoscaling group", "timeout_mins": None,
            "updated_time": _iso(stack.updated) if stack.updated else None}}

    def _find_stack(self, name: str, stack_id: str) -> Stack | None:
        stack = self.stacks.get(stack_id)
        return stack if stack is not None and stack.name == name else None

    def _heat(self, request: Received, path: str) -> Answer:
        segments = [unquote(s) for s in path.strip("/").split("/")]
        if len(segments) < 5 or segments[:1] != ["v1"] or segments[1] != PROJECT_ID or segments[2] != "stacks":
            return _heat_error(404, "NotFound", f"no such path {path}")
        stack = self._find_stack(segments[3], segments[4])
        if stack is None:
            return _heat_error(404, "EntityNotFound", f"The Stack ({segments[3]}) could not be found.")
        rest = segments[5:]
        if not rest and request.method == "GET":
            return _json(200, self._stack_body(stack))
        if not rest and request.method == "PATCH":
            return self._update(stack, request.json())
        if len(rest) == 3 and rest[0] == "resources" and rest[2] == "signal" and request.method == "POST":
            return self._signal(stack, rest[1], request.json() if request.body else None)
        return _heat_error(404, "NotFound", f"no such path {path}")

    def _update(self, stack: Stack, body: Any) -> Answer:
        stack.settle()
        if stack.status.endswith("_IN_PROGRESS"):
            return _heat_error(409, "ActionInProgress",
                               f"Stack {stack.name} already has an action ({stack.status.split('_')[0]}) in progress.")
        parameters = body.get("parameters") if isinstance(body, dict) else None
        if not isinstance(parameters, dict):
            return _heat_error(400, "HTTPBadRequest", "The request body must hold parameters.")
        stack.parameters.update({k: str(v) for k, v in parameters.items()})
        stack.status, stack.reason = "UPDATE_IN_PROGRESS", "Stack UPDATE started"
        stack.updated = datetime.now(UTC)
        failing = stack.parameters.get("capacity") in stack.failing
        stack._outcome = (("UPDATE_FAILED", "Resource UPDATE failed: ResourceInError: resources.group: Went to status "
                           "ERROR due to \"Message: No valid host was found. , Code: 500\"") if failing
                          else ("UPDATE_COMPLETE", "Stack UPDATE completed successfully"))
        stack._settles_at = time.monotonic() + stack.update_delay
        return 202, {"content-length": "0"}, b""

    def _signal(self, stack: Stack, resource: str, details: Any) -> Answer:
        if resource not in stack.policies:
            return _heat_error(404, "ResourceNotFound",
                               f"The Resource ({resource}) could not be found in Stack {stack.name}.")
        stack.signals.append((resource, details))
        state = "alarm"
        if isinstance(details, dict):
            state = str(details.get("current", details.get("state", "alarm"))).lower()
        if state == "alarm":
            stack.capacity = max(stack.capacity + stack.policies[resource], 0)
        return 200, {"content-type": "application/json"}, b""

    def _cfn_signal(self, request: Received, path: str, query: dict[str, list[str]]) -> Answer:
        prefix = "/v1/signal/"
        if request.method != "POST" or not path.startswith(prefix):
            return 404, {}, b""
        arn = unquote(path.removeprefix(prefix))
        try:
            _, stack_name, stack_id, _, resource = arn.split(":", 5)[-1].split("/")
        except ValueError:
            return 404, {}, b""
        stack = self._find_stack(stack_name, stack_id)
        signature = query.get("Signature", [""])[-1]
        if stack is None or resource not in stack.signature or signature != stack.signature[resource]:
            return 403, {"content-type": "text/xml"}, (
                b"<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>The request "
                b"signature we calculated does not match the signature you provided</Message></Error></ErrorResponse>")
        return self._signal(stack, resource, request.json() if request.body else None)

    # -- Compute v2.1 -----------------------------------------------------------------------------------------

    def _compute_version(self, status: str = "CURRENT") -> dict[str, Any]:
        return {"id": "v2.1", "status": status, "version": NOVA_MAX_MICROVERSION, "min_version": "2.1",
                "updated": "2013-07-23T11:33:21Z", "links": [{"rel": "self", "href": f"{self.url}/compute/v2.1/"}]}

    def _flavor_body(self, flavor: dict[str, Any]) -> dict[str, Any]:
        return {**flavor, "OS-FLV-DISABLED:disabled": False, "OS-FLV-EXT-DATA:ephemeral": 0, "swap": 0,
                "rxtx_factor": 1.0, "os-flavor-access:is_public": True, "description": None,
                "links": [{"rel": "self", "href": f"{self.url}/compute/v2.1/flavors/{flavor['id']}"}]}

    def _server_status(self, server: Server) -> str:
        if time.monotonic() < server.ready_at:
            return "BUILD"
        return "ERROR" if server.fail else "ACTIVE"

    def _server_body(self, server: Server) -> dict[str, Any]:
        status = self._server_status(server)
        link = f"{self.url}/compute/v2.1/servers/{server.id}"
        body: dict[str, Any] = {
            "id": server.id, "name": server.name, "status": status, "tenant_id": PROJECT_ID, "user_id": "u-telescale",
            "metadata": server.metadata, "hostId": "" if status != "ACTIVE" else uuid.uuid5(
                uuid.NAMESPACE_DNS, server.id).hex, "image": {"id": server.image_id, "links": [
                    {"rel": "bookmark", "href": f"{self.url}/compute/images/{server.image_id}"}]},
            "flavor": {"vcpus": server.flavor["vcpus"], "ram": server.flavor["ram"], "disk": server.flavor["disk"],
                       "ephemeral": 0, "swap": 0, "original_name": server.flavor["name"], "extra_specs": {}},
            "created": _iso(server.created), "updated": _iso(server.created),
            "addresses": {"private": [{"version": 4, "addr": server.address, "OS-EXT-IPS:type": "fixed",
                                       "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01"}]} if status == "ACTIVE"
            else {},
            "accessIPv4": "", "accessIPv6": "", "links": [{"rel": "self", "href": link}],
            "OS-DCF:diskConfig": "MANUAL", "progress": 0, "OS-EXT-AZ:availability_zone": "nova",
            "config_drive": "", "key_name": server.key_name,
            "OS-SRV-USG:launched_at": _iso(server.created) if status == "ACTIVE" else None,
            "OS-SRV-USG:terminated_at": None,
            "OS-EXT-STS:task_state": "spawning" if status == "BUILD" else None,
            "OS-EXT-STS:vm_state": {"BUILD": "building", "ACTIVE": "active", "ERROR": "error"}[status],
            "OS-EXT-STS:power_state": 1 if status == "ACTIVE" else 0, "os-extended-volumes:volumes_attached": [],
            # admin-only attributes (default policy), as "List Servers Detailed" shows them to an admin
            "OS-EXT-SRV-ATTR:host": "compute-1" if status == "ACTIVE" else None,
            "OS-EXT-SRV-ATTR:hypervisor_hostname": "compute-1.example" if status == "ACTIVE" else None,
            "OS-EXT-SRV-ATTR:instance_name": f"instance-{server.id[:8]}",
            "security_groups": [{"name": "default"}], "locked": False, "locked_reason": None, "description": None,
            "tags": [], "trusted_image_certificates": None, "server_groups": [], "pinned_availability_zone": None}
        if status == "ERROR":
            body["fault"] = {"code": 500, "created": _iso(server.created),
                             "message": "No valid host was found. There are not enough hosts available."}
        return body

    def _compute(self, request: Received, path: str, query: dict[str, list[str]]) -> Answer:
        if request.method == "GET" and path in ("", "/"):
            return _json(300, {"versions": [self._compute_version()]})
        if request.method == "GET" and path in ("/v2.1", "/v2.1/"):
            return _json(200, {"version": {**self._compute_version(), "media-types": [
                {"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}]}})
        path = path.removeprefix("/v2.1")
        if path.startswith("/flavors"):
            return self._flavors(request, path, query)
        if path == "/servers" and request.method == "POST":
            return self._create_server(request)
        if path in ("/servers", "/servers/detail") and request.method == "GET":
            servers = [s for s in self.servers.values() if "name" not in query or query["name"][0] in s.name]
            if path == "/servers":
                return _json(200, {"servers": [{"id": s.id, "name": s.name, "links": [
                    {"rel": "self", "href": f"{self.url}/compute/v2.1/servers/{s.id}"}]} for s in servers]})
            return _json(200, {"servers": [self._server_body(s) for s in servers]})
        if path.startswith("/servers/"):
            server = self.servers.get(path.removeprefix("/servers/"))
            if server is None:
                return _nova_error(404, f"Instance {path.removeprefix('/servers/')} could not be found.")
            if request.method == "GET":
                return _json(200, {"server": self._server_body(server)})
            if request.method == "DELETE":
                del self.servers[server.id]
                self.deleted.append(server.id)
                return 204, {}, b""
        return _nova_error(404, "The resource could not be found.")

    def _flavors(self, request: Received, path: str, query: dict[str, list[str]]) -> Answer:
        if path in ("/flavors", "/flavors/detail"):
            flavors = [self._flavor_body(f) for f in self.flavors.values()]
            if path == "/flavors":
                flavors = [{k: f[k] for k in ("id", "name", "links", "description")} for f in flavors]
            return _json(200, {"flavors": flavors})
        flavor = self.flavors.get(unquote(path.removeprefix("/flavors/")))
        if flavor is None:
            return _nova_error(404, f"Flavor {unquote(path.removeprefix('/flavors/'))} could not be found.")
        return _json(200, {"flavor": self._flavor_body(flavor)})

    def _microversion(self, request: Received) -> tuple[int, int]:
        header = request.header("openstack-api-version") or ""
        version = header.removeprefix("compute ").strip() if header.startswith("compute") else (
            request.header("x-openstack-nova-api-version") or "2.1")
        major, _, minor = version.partition(".")
        return int(major), int(minor or 0)

    def _create_server(self, request: Received) -> Answer:
        body = request.json().get("server")
        if not isinstance(body, dict):
            return _nova_error(400, "Invalid input for field/attribute server.")
        for key in ("name", "flavorRef", "imageRef"):
            if not isinstance(body.get(key), str) or not body[key]:
                return _nova_error(400, f"Invalid input for field/attribute {key}. Value: None. "
                                        f"'{key}' is a required property")
        networks = body.get("networks")
        if self._microversion(request) >= (2, 37) and networks is None:
            return _nova_error(400, "Invalid input for field/attribute server. Value: ... 'networks' is a required "
                                    "property")
        if isinstance(networks, list):
            for network in networks:
                if network.get("uuid") not in self.networks:
                    return _nova_error(400, f"Network {network.get('uuid')} could not be found.")
        flavor = self.flavors.get(body["flavorRef"].rsplit("/", 1)[-1])
        if flavor is None:
            return _nova_error(400, f"Flavor {body['flavorRef']} could not be found.")
        if body["imageRef"].rsplit("/", 1)[-1] not in self.images:
            return _nova_error(400, "Can not find requested image")
        metadata = body.get("metadata") or {}
        if not all(isinstance(k, str) and isinstance(v, str) and len(k) <= 255 and len(v) <= 255
                   for k, v in metadata.items()):
            return _nova_error(400, "Invalid input for field/attribute metadata.")
        server = Server(id=str(uuid.uuid4()), name=body["name"], flavor=flavor, image_id=body["imageRef"],
                        metadata=dict(metadata), key_name=body.get("key_name"), networks=networks,
                        created=datetime.now(UTC), ready_at=time.monotonic() + self.build_delay,
                        address=f"10.0.0.{len(self.servers) + len(self.deleted) + 10}", fail=flavor["name"] == "broken")
        self.servers[server.id] = server
        link = f"{self.url}/compute/v2.1/servers/{server.id}"
        return _json(202, {"server": {"id": server.id, "links": [{"rel": "self", "href": link}],
                                      "OS-DCF:diskConfig": "MANUAL", "security_groups": [{"name": "default"}],
                                      "adminPass": secrets.token_urlsafe(9)}},
                     {"Location": link})

    # -- Image v2, Networking v2.0 -------------------------------------------------------------------------------

    def _image_body(self, image_id: str) -> dict[str, Any]:
        return {"id": image_id, "name": self.images[image_id], "status": "active", "visibility": "public",
                "container_format": "bare", "disk_format": "qcow2", "min_disk": 0, "min_ram": 0, "protected": False,
                "size": 21430272, "tags": [], "owner": PROJECT_ID, "created_at": "2026-01-01T00:00:00Z",
                "updated_at": "2026-01-01T00:00:00Z", "self": f"/v2/images/{image_id}",
                "file": f"/v2/images/{image_id}/file", "schema": "/v2/schemas/image"}

    def _image(self, request: Received, path: str, query: dict[str, list[str]]) -> Answer:
        if request.method == "GET" and path in ("", "/"):
            return _json(300, {"versions": [{"id": "v2.16", "status": "CURRENT", "links": [
                {"rel": "self", "href": f"{self.url}/image/v2/"}]}]})
        if request.method == "GET" and path == "/v2/images":
            images = [i for i, name in self.images.items() if "name" not in query or query["name"][0] == name]
            return _json(200, {"images": [self._image_body(i) for i in images], "first": "/v2/images",
                               "schema": "/v2/schemas/images"})
        if request.method == "GET" and path.startswith("/v2/images/"):
            image_id = unquote(path.removeprefix("/v2/images/"))
            if image_id not in self.images:
                return 404, {"content-type": "text/plain"}, f"No image found with ID {image_id}".encode()
            return _json(200, self._image_body(image_id))
        return 404, {}, b""

    def _network_body(self, network_id: str) -> dict[str, Any]:
        return {"id": network_id, "name": self.networks[network_id], "status": "ACTIVE", "admin_state_up": True,
                "shared": False, "subnets": [], "tenant_id": PROJECT_ID, "project_id": PROJECT_ID, "mtu": 1450,
                "router:external": False, "tags": [], "description": "", "revision_number": 1}

    def _network(self, request: Received, path: str, query: dict[str, list[str]]) -> Answer:
        if request.method == "GET" and path in ("", "/"):
            return _json(200, {"versions": [{"id": "v2.0", "status": "CURRENT", "links": [
                {"rel": "self", "href": f"{self.url}/network/v2.0/"}]}]})
        if request.method == "GET" and path == "/v2.0/networks":
            found = [i for i, name in self.networks.items() if "name" not in query or query["name"][0] == name]
            return _json(200, {"networks": [self._network_body(i) for i in found]})
        if request.method == "GET" and path.startswith("/v2.0/networks/"):
            network_id = unquote(path.removeprefix("/v2.0/networks/"))
            if network_id not in self.networks:
                return _json(404, {"NeutronError": {"type": "NetworkNotFound", "detail": "",
                                                    "message": f"Network {network_id} could not be found."}})
            return _json(200, {"network": self._network_body(network_id)})
        return _json(404, {"NeutronError": {"type": "HTTPNotFound", "message": "The resource could not be found.",
                                            "detail": ""}})
