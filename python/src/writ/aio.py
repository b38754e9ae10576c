"""The agent-side client for asyncio: the same protocol as ``writ.client``, awaited."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import httpx

from ._exchange import ExchangeTokenResult, exchange_flow
from ._flow import (
    Credentials,
    Flow,
    HttpRequest,
    HttpResponse,
    PendingApproval,
    Sleep,
    TokenResult,
    revoke_flow,
    token_flow,
)
from .dpop import DpopKey
from .errors import WritClientError

__all__ = ["request_token", "exchange_token", "revoke"]


async def _drive(flow: Flow, http: Optional[httpx.AsyncClient], base: str) -> Any:
    own = http is None
    client = http or httpx.AsyncClient(timeout=10.0)
    try:
        value: Optional[HttpResponse] = None
        while True:
            try:
                step = flow.send(value)
            except StopIteration as done:
                return done.value
            if isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
                value = None
                continue
            assert isinstance(step, HttpRequest)
            try:
                res = await client.request(step.method, step.url, headers=step.headers, content=step.body)
            except httpx.HTTPError as err:
                raise WritClientError("network_error", f"cannot reach the broker at {base}: {err}") from err
            value = HttpResponse(res.status_code, res.headers, res.content)
    finally:
        flow.close()
        if own:
            await client.aclose()


async def request_token(
    broker: str,
    credentials: Credentials,
    manifest: Mapping[str, Any],
    dpop_key: Optional[DpopKey] = None,
    on_pending: Optional[Callable[[PendingApproval], Any]] = None,
    timeout: Optional[float] = None,
    *,
    http: Optional[httpx.AsyncClient] = None,
) -> TokenResult:
    """``writ.request_token`` for asyncio: waiting for an approval never blocks the event loop.
    Cancelling the task stops the wait."""
    flow = token_flow(broker, credentials, manifest, dpop_key, on_pending, timeout)
    result: TokenResult = await _drive(flow, http, str(broker))
    return result


async def exchange_token(
    broker: str,
    credentials: Credentials,
    subject_token: str,
    grants: Sequence[Mapping[str, Any]],
    *,
    ttl: Optional[Union[str, int]] = None,
    dpop_key: Optional[DpopKey] = None,
    subject_dpop_key: Optional[DpopKey] = None,
    subject_token_proof: Optional[str] = None,
    http: Optional[httpx.AsyncClient] = None,
) -> ExchangeTokenResult:
    """``writ.exchange_token`` for asyncio."""
    flow = exchange_flow(broker, credentials, subject_token, grants, ttl, dpop_key, subject_dpop_key, subject_token_proof)
    result: ExchangeTokenResult = await _drive(flow, http, str(broker))
    return result


async def revoke(broker: str, credentials: Credentials, token: str, *, http: Optional[httpx.AsyncClient] = None) -> None:
    """``writ.revoke`` for asyncio."""
    await _drive(revoke_flow(broker, credentials, token), http, str(broker))
