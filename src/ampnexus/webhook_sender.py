"""Posts webhook deliveries over HTTP (httpx): the `WebhookSender` the services use."""

from __future__ import annotations

import time
from collections.abc import Mapping

import httpx

from ampnexus.domain.webhook import Attempt

# What a receiver's answer may carry back into the delivery log.
ERROR_CHARS = 300


class HttpWebhookSender:
    """One connection pool for every receiver; each post bounded by `timeout_s` in all (a
    slow receiver delays only its own queue: the dispatcher posts each webhook's
    deliveries in a task of their own, never on the OCPP path). Redirects are not
    followed: a receiver moved elsewhere is a failure to fix in its URL."""

    def __init__(self, timeout_s: float = 10.0) -> None:
        self._timeout = timeout_s
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Attempt:
        started = time.perf_counter()
        try:
            response = await self._client.post(url, content=body, headers=dict(headers))
        except httpx.TimeoutException:
            return Attempt(None, f"no answer within {self._timeout:g} s", _ms(started))
        except httpx.HTTPError as error:
            reason = str(error) or type(error).__name__
            return Attempt(None, reason[:ERROR_CHARS], _ms(started))
        error = None
        if not 200 <= response.status_code < 300:
            error = f"HTTP {response.status_code}: {response.text[:ERROR_CHARS]}"
        return Attempt(response.status_code, error, _ms(started))

    async def close(self) -> None:
        await self._client.aclose()


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
