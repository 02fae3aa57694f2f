"""Real local peers for the notifier tests: webhook receivers, a Keystone, an outbox in memory.

The receivers are ``http.server`` threads on free loopback ports; the Keystone peer answers
``POST /v3/auth/tokens`` (201, ``X-Subject-Token``, a token body carrying ``OS-TRUST:trust``) and creates and
deletes trusts (``/v3/OS-TRUST/trusts``) as the Identity v3 API reference documents, since Keystone itself
cannot run here. ``MemoryOutbox`` stands in for
the indexer's outbox (same protocol) so these tests need no database.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from telescale.alarming.notifiers import DeliveryAttempt, PendingNotification

#: Aodh's notification fields for one transition (``alarm_id`` comes from the outbox row).
PAYLOAD = {
    "alarm_name": "cpu_hi", "severity": "low", "previous": "ok", "current": "alarm",
    "reason": "Transition to alarm due to 3 samples outside threshold, most recent: 87.5",
    "reason_data": {"type": "threshold", "disposition": "outside", "count": 3, "most_recent": 87.5},
}


@dataclass
class Received:
    """One request as the receiver saw it."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    sni: str | None = None

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A webhook receiver on 127.0.0.1: answers each request with the next scripted status (then 200).

    ``hold`` makes it keep every request open until ``release()`` (a slow receiver without timing).
    """

    def __init__(self, statuses: tuple[int, ...] = (), *, hold: bool = False, port: int = 0,
                 tls: ssl.SSLContext | None = None, location: str | None = None,
                 respond: Callable[[Received], tuple[int, dict[str, str], bytes]] | None = None) -> None:
        self.statuses = list(statuses)
        self.requests: list[Received] = []
        self.answered: list[int] = []
        self._lock = threading.Condition()
        self._released = threading.Event()
        if not hold:
            self._released.set()
        self._sni: dict[int, str | None] = {}
        self._respond = respond or self._scripted
        self._location = location
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                self.answer()

            def do_DELETE(self) -> None:  # noqa: N802
                self.answer()

            def answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                request = Received(self.command, self.path, list(self.headers.items()), body,
                                   receiver._sni.get(id(self.connection)) if tls else None)
                with receiver._lock:
                    receiver.requests.append(request)
                    receiver._lock.notify_all()
                receiver._released.wait()
                status, headers, payload = receiver._respond(request)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                with receiver._lock:
                    receiver.answered.append(status)
                    receiver._lock.notify_all()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            def remember_sni(sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
                self._sni[id(sock)] = name
            tls.sni_callback = remember_sni  # type: ignore[assignment]
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def _scripted(self, request: Received) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            status = self.statuses.pop(0) if self.statuses else 200
        headers = {"Location": self._location} if self._location and 300 <= status < 400 else {}
        return status, headers, b""

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()

    def release(self) -> None:
        self._released.set()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The requests, once at least ``count`` arrived (fails the test after ``timeout``)."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{self.url} got {len(self.requests)} requests, expected {count}")
            return list(self.requests)


@dataclass(frozen=True)
class UserToken:
    """A user's token as Keystone knows it: who, on which project, with which roles (implied ones included).

    ``restricted``: issued for a restricted application credential, which Keystone forbids to manage trusts.
    """

    user_id: str
    project_id: str
    roles: tuple[str, ...]
    restricted: bool = False


def _keystone_error(status: int, title: str, message: str) -> tuple[int, dict[str, str], bytes]:
    """Keystone's error body: ``{"error": {"code", "title", "message"}}``."""
    body = {"error": {"code": status, "title": title, "message": message}}
    return status, {"content-type": "application/json"}, json.dumps(body).encode()


def _not_authorized(action: str) -> tuple[int, dict[str, str], bytes]:
    return _keystone_error(403, "Forbidden", f"You are not authorized to perform the requested action: {action}.")


def _timestamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


class Keystone(Receiver):
    """The parts of Keystone's Identity v3 API that alarm trusts use, answered as its API reference documents:

    * ``POST /v3/auth/tokens``: a password identity (``users``: name → password; a user's id is ``u-<name>``),
      unscoped or scoped to a trust (``OS-TRUST:trust``) that exists — 201 with ``X-Subject-Token``;
    * ``POST /v3/OS-TRUST/trusts`` with a user's token (``tokens``): the trustor must be the token's user, the
      trustee a known user, the roles held by the trustor on the project — 201 with the trust;
    * ``DELETE /v3/OS-TRUST/trusts/{trust_id}`` by its trustor — 204; the trust's tokens stop being issued.

    ``trusts`` are trust ids usable at once (made elsewhere); ``created`` holds the trusts made here by id.
    """

    def __init__(self, users: dict[str, str], trusts: set[str] | None = None, *,
                 tokens: dict[str, UserToken] | None = None) -> None:
        super().__init__(respond=self._answer)
        self.users = users
        self.trusts = set(trusts or ())
        self.tokens = dict(tokens or {})
        self.created: dict[str, dict[str, Any]] = {}
        self.issued: dict[str, str | None] = {}  # token -> the trust it is scoped to (None: unscoped)
        #: Called with each new trust's id before Keystone answers (what else happens meanwhile).
        self.on_create: Callable[[str], None] | None = None

    def requests_to(self, method: str, path_prefix: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def _answer(self, request: Received) -> tuple[int, dict[str, str], bytes]:
        path = request.path.partition("?")[0]
        if request.method == "POST" and path == "/v3/auth/tokens":
            return self._token(request)
        if request.method == "POST" and path == "/v3/OS-TRUST/trusts":
            return self._create_trust(request)
        if request.method == "DELETE" and path.startswith("/v3/OS-TRUST/trusts/"):
            return self._delete_trust(request, path.removeprefix("/v3/OS-TRUST/trusts/"))
        return _keystone_error(404, "Not Found", "The resource could not be found.")

    def _caller(self, request: Received) -> UserToken | None:
        return self.tokens.get(request.header("x-auth-token") or "")

    def _user_ids(self) -> set[str]:
        return {f"u-{name}" for name in self.users} | {t.user_id for t in self.tokens.values()}

    def _token(self, request: Received) -> tuple[int, dict[str, str], bytes]:
        auth = request.json()["auth"]
        user = auth["identity"]["password"]["user"]
        if auth["identity"]["methods"] != ["password"] or self.users.get(user.get("name")) != user.get("password"):
            return _keystone_error(401, "Unauthorized", "The request you have made requires authentication.")
        trust_id = auth.get("scope", {}).get("OS-TRUST:trust", {}).get("id")
        if "scope" in auth and trust_id not in self.trusts:
            return _keystone_error(404, "Not Found", "Could not find trust.")
        token = f"gAAAA{uuid.uuid4().hex}"
        self.issued[token] = trust_id
        now = datetime.now(UTC)
        service = {"id": f"u-{user['name']}", "name": user["name"], "domain": {"id": "default", "name": "Default"},
                   "password_expires_at": None}
        body: dict[str, Any] = {"methods": ["password"], "audit_ids": [uuid.uuid4().hex[:22]],
                                "issued_at": _timestamp(now), "expires_at": _timestamp(now + timedelta(hours=1)),
                                "user": service}
        if trust_id is not None:
            trust = self.created.get(trust_id, {"trustor_user_id": "u-trustor", "project_id": "p-alice",
                                                "roles": [{"id": "r-member", "name": "member"}]})
            # Impersonation: the token's user is the trustor, on the trust's project with the trust's roles.
            body.update(user={**service, "id": trust["trustor_user_id"], "name": "trustor"},
                        project={"id": trust["project_id"], "name": "project",
                                 "domain": {"id": "default", "name": "Default"}},
                        roles=[{"id": r["id"], "name": r["name"]} for r in trust["roles"]])
            body["OS-TRUST:trust"] = {"id": trust_id, "impersonation": True,
                                      "trustee_user": {"id": f"u-{user['name']}"},
                                      "trustor_user": {"id": trust["trustor_user_id"]}}
        headers = {"content-type": "application/json", "X-Subject-Token": token}
        return 201, headers, json.dumps({"token": body}).encode()

    def _create_trust(self, request: Received) -> tuple[int, dict[str, str], bytes]:
        caller = self._caller(request)
        if caller is None:
            return _keystone_error(401, "Unauthorized", "The request you have made requires authentication.")
        if caller.restricted:
            return _not_authorized("Using method 'application_credential' is not allowed for managing trusts")
        trust = request.json().get("trust")
        for name, kind in (("trustor_user_id", str), ("trustee_user_id", str), ("impersonation", bool)):
            if not isinstance(trust, dict) or not isinstance(trust.get(name), kind):
                return _keystone_error(400, "Bad Request", f"Invalid input for field '{name}': "
                                       f"'{name}' is a required property")
        if trust["trustor_user_id"] != caller.user_id:
            return _not_authorized("identity:create_trust")
        if trust["trustee_user_id"] not in self._user_ids():
            return _keystone_error(404, "Not Found", f"Could not find user: {trust['trustee_user_id']}.")
        roles = trust.get("roles") or []
        if trust.get("project_id") and not roles:
            return _keystone_error(403, "Forbidden", "At least one role should be specified.")
        for role in roles:
            if trust.get("project_id") != caller.project_id or role.get("name") not in caller.roles:
                return _keystone_error(404, "Not Found", f"Could not find role: {role.get('name')}.")
        trust_id = uuid.uuid4().hex
        base = self.url + "/v3"
        stored = {
            "id": trust_id, "trustor_user_id": trust["trustor_user_id"], "trustee_user_id": trust["trustee_user_id"],
            "project_id": trust.get("project_id"), "impersonation": trust["impersonation"],
            "expires_at": trust.get("expires_at"), "remaining_uses": trust.get("remaining_uses"),
            "allow_redelegation": False, "redelegation_count": 0, "redelegated_trust_id": None,
            "roles": [{"id": f"r-{r['name']}", "name": r["name"], "links": {"self": f"{base}/roles/r-{r['name']}"}}
                      for r in roles],
            "roles_links": {"self": f"{base}/OS-TRUST/trusts/{trust_id}/roles", "previous": None, "next": None},
            "links": {"self": f"{base}/OS-TRUST/trusts/{trust_id}"},
        }
        self.created[trust_id] = stored
        self.trusts.add(trust_id)
        if self.on_create is not None:
            self.on_create(trust_id)
        return 201, {"content-type": "application/json"}, json.dumps({"trust": stored}).encode()

    def _delete_trust(self, request: Received, trust_id: str) -> tuple[int, dict[str, str], bytes]:
        caller = self._caller(request)
        if caller is None:
            return _keystone_error(401, "Unauthorized", "The request you have made requires authentication.")
        if caller.restricted:
            return _not_authorized("Using method 'application_credential' is not allowed for managing trusts")
        trust = self.created.get(trust_id)
        if trust is None or trust_id not in self.trusts:
            return _keystone_error(404, "Not Found", f"Could not find trust: {trust_id}.")
        if trust["trustor_user_id"] != caller.user_id:
            return _not_authorized("identity:delete_trust")
        self.trusts.discard(trust_id)
        return 204, {}, b""


@dataclass
class _Row:
    notification: PendingNotification
    due: datetime
    leased_until: float = 0.0
    done: bool = False
    attempts: list[DeliveryAttempt] = field(default_factory=list)
    retry_at: list[datetime] = field(default_factory=list)


class MemoryOutbox:
    """The indexer's outbox protocol over a dict: due rows are leased, every reported attempt is kept."""

    def __init__(self) -> None:
        self._rows: dict[int, _Row] = {}
        self._lock = threading.Lock()
        self.claims: list[list[int]] = []
        self.reports: list[int] = []  # notification ids, in the order their attempts were reported

    def add(self, action: str, payload: dict[str, Any] | None = None, *, alarm_id: uuid.UUID | None = None,
            trust_id: str | None = None) -> int:
        with self._lock:
            nid = len(self._rows) + 1
            self._rows[nid] = _Row(PendingNotification(nid, alarm_id or uuid.uuid4(), action,
                                                       dict(PAYLOAD if payload is None else payload), 0, trust_id),
                                   due=datetime.now(UTC))
            return nid

    def claim_notifications(self, limit: int, lease_seconds: float) -> list[PendingNotification]:
        now, clock = datetime.now(UTC), time.monotonic()
        with self._lock:
            due = [r for r in self._rows.values() if not r.done and r.due <= now and r.leased_until <= clock]
            for row in due[:limit]:
                row.leased_until = clock + lease_seconds
            self.claims.append([r.notification.id for r in due[:limit]])
            return [r.notification for r in due[:limit]]

    def complete_notification(self, id: int, attempt: DeliveryAttempt) -> None:
        with self._lock:
            row = self._rows[id]
            row.attempts.append(attempt)
            self.reports.append(id)
            row.done, row.leased_until = True, 0.0

    def retry_notification(self, id: int, attempt: DeliveryAttempt, next_attempt_at: datetime) -> None:
        with self._lock:
            row = self._rows[id]
            row.attempts.append(attempt)
            self.reports.append(id)
            row.retry_at.append(next_attempt_at)
            row.due, row.leased_until = next_attempt_at, 0.0
            row.notification = PendingNotification(**{**row.notification.__dict__, "attempts": len(row.attempts)})

    def attempts(self, nid: int) -> list[DeliveryAttempt]:
        with self._lock:
            return list(self._rows[nid].attempts)

    def retry_times(self, nid: int) -> list[datetime]:
        with self._lock:
            return list(self._rows[nid].retry_at)

    def done(self, nid: int) -> bool:
        with self._lock:
            return self._rows[nid].done

    def settled(self) -> bool:
        with self._lock:
            return all(r.done for r in self._rows.values())


@dataclass
class TlsFiles:
    ca: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def make_tls_files(directory: Path, hostname: str) -> TlsFiles:
    """A throwaway CA and a server certificate for ``hostname`` signed by it (openssl's command line)."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Telescale test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", f"/CN={hostname}")
    (directory / "server.ext").write_text(
        f"subjectAltName=DNS:{hostname}\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid,issuer\nsubjectKeyIdentifier=hash\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "server.ext")
    return TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")


def resolver_for(names: dict[str, list[str]], calls: list[str] | None = None):
    """A resolver answering fixed addresses per name (what a DNS server would), recording each lookup."""
    async def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host in names:
            return list(names[host])
        raise OSError(f"[Errno -2] Name or service not known: {host}")
    return resolve


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port nobody listens on (bound then closed, so connecting to it is refused)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    yield port


def run_once(outbox: MemoryOutbox, **options: Any) -> int:
    """One claim-and-deliver pass of a fresh dispatcher that may reach loopback receivers, retrying at once."""
    import asyncio

    from telescale.alarming.notifiers import Dispatcher

    options.setdefault("allowed_networks", ["127.0.0.0/8"])
    options.setdefault("backoff", 0.0)

    async def go() -> int:
        async with Dispatcher(outbox, **options) as dispatcher:
            return await dispatcher.run_once()

    return asyncio.run(go())
