"""One JSON POST to a webhook, made to the very address the allow-list approved.

The name is resolved once per attempt, every address is checked, and the connection goes to a checked
address with the original ``Host`` header and TLS server name, so DNS rebinding cannot redirect it.
Redirects are not followed (they would leave the checked address), proxies from the environment are
ignored, and the answer's body is not read (``post_reading``, used by the scaling webhook to learn the size
its receiver acknowledged, reads a bounded part of it).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import parse_qs

import httpx

from telescale.alarming.notifiers.allowlist import AllowList, TargetRefused, is_ip_address
from telescale.alarming.notifiers.base import DeliveryFailed

#: Resolves (host, port) to the addresses to connect to, in order of preference.
Resolver = Callable[[str, int], Awaitable[list[str]]]

SSL_VERIFY_PARAMETER = "aodh-alarm-ssl-verify"


async def system_resolver(host: str, port: int) -> list[str]:
    """The host's resolver (getaddrinfo in the loop's thread pool), each address once."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def ssl_verify(url: httpx.URL) -> bool:
    """Aodh's per-action switch: ``?aodh-alarm-ssl-verify=0`` turns certificate checks off for https.

    As in Aodh the last value wins, plain http ignores it, and it stays in the URL that is called.
    """
    if url.scheme != "https":
        return True
    values = parse_qs(url.query.decode("ascii", "replace")).get(SSL_VERIFY_PARAMETER)
    if not values:
        return True
    try:
        return bool(int(values[-1]))
    except ValueError:
        raise DeliveryFailed(f"{SSL_VERIFY_PARAMETER} must be 0 or 1, not {values[-1]!r}", retry=False) from None


def raise_for_answer(status: int, reason: str) -> None:
    """A 2xx is delivered; 5xx and 429 may pass later; any other answer will not change by retrying."""
    if 200 <= status < 300:
        return
    retry = status >= 500 or status == 429
    detail = "redirects are not followed" if 300 <= status < 400 else ("will retry" if retry else "not retried")
    raise DeliveryFailed(f"the receiver answered {status} {reason} ({detail})", retry=retry, status=status)


class WebhookSender:
    """Shared HTTP clients (one verifying certificates, one not) and the pinned POST."""

    def __init__(
        self,
        allow: AllowList,
        timeout: float,
        *,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
        user_agent: str = "telescale-notifier",
    ) -> None:
        self.allow = allow
        self.timeout = timeout
        self._resolve = resolver or system_resolver
        # The system's trust store (and SSL_CERT_FILE / SSL_CERT_DIR), not a bundled one; loaded here, not
        # on the event loop at the first delivery.
        self._ssl_context = ssl_context or ssl.create_default_context()
        self._user_agent = user_agent
        self._clients: dict[bool, httpx.AsyncClient] = {}

    def _client(self, verify: bool) -> httpx.AsyncClient:
        if verify not in self._clients:
            context = self._ssl_context if verify else False
            self._clients[verify] = httpx.AsyncClient(
                verify=context, trust_env=False, follow_redirects=False, timeout=httpx.Timeout(self.timeout),
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
                headers={"User-Agent": self._user_agent})
        return self._clients[verify]

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    async def _addresses(self, url: str, host: str, port: int) -> list[str]:
        try:
            addresses = [host] if is_ip_address(host) else await self._resolve(host, port)
        except (OSError, UnicodeError) as e:
            raise DeliveryFailed(f"cannot resolve {host}: {e}", retry=True) from None
        if not addresses:
            raise DeliveryFailed(f"{host} resolves to no address", retry=True)
        try:
            self.allow.check_addresses(url, addresses)
        except TargetRefused as e:
            raise DeliveryFailed(str(e), retry=False) from None
        return addresses

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST ``body`` to ``url`` (user-info becomes Basic auth, as requests does); the 2xx status."""
        status, _ = await self.post_reading(url, body, headers, max_body=0)
        return status

    async def post_reading(self, url: str, body: bytes, headers: Mapping[str, str],
                           max_body: int) -> tuple[int, bytes]:
        """As ``post``, also returning the first ``max_body`` bytes of a 2xx answer's body."""
        try:
            target = httpx.URL(url)
        except httpx.InvalidURL as e:
            raise DeliveryFailed(f"not a valid URL ({e})", retry=False) from None
        verify = ssl_verify(target)
        host = target.raw_host.decode("ascii")
        port = target.port or (443 if target.scheme == "https" else 80)
        addresses = await self._addresses(url, host, port)
        sent = {"Host": target.netloc.decode("ascii"), **headers}
        refused: httpx.ConnectError | None = None
        for address in addresses:  # the next one only when the previous refused the connection
            try:
                return await self._post_to(self._client(verify), target.copy_with(host=address), host, port,
                                           body, sent, max_body)
            except httpx.ConnectError as e:
                refused = e
        reason = str(refused) or type(refused).__name__
        raise DeliveryFailed(f"cannot connect to {', '.join(addresses)} port {port}: {reason}", retry=True)

    async def _post_to(self, client: httpx.AsyncClient, pinned: httpx.URL, host: str, port: int, body: bytes,
                       headers: Mapping[str, str], max_body: int) -> tuple[int, bytes]:
        """One POST to one address; a refused connection propagates so the caller can try the next."""
        where = f"{pinned.host} port {port}"
        try:
            async with client.stream("POST", pinned, content=body, headers=headers,
                                     extensions={"sni_hostname": host}) as response:
                raise_for_answer(response.status_code, response.reason_phrase)
                answer = b""
                if max_body > 0:
                    async for chunk in response.aiter_bytes():
                        answer += chunk
                        if len(answer) >= max_body:
                            break
                return response.status_code, answer[:max_body]
        except httpx.TimeoutException:
            raise DeliveryFailed(f"no answer from {where} within {self.timeout:g} s", retry=True) from None
        except httpx.ConnectError:
            raise
        except httpx.HTTPError as e:
            raise DeliveryFailed(f"{type(e).__name__} from {where}: {e}", retry=True) from None

