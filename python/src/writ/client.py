"""The agent-side client, synchronous: ``request_token``, ``exchange_token``, ``revoke`` and
``TokenAuth`` for httpx."""

from __future__ import annotations

import time
from typing import Any, Callable, Generator, Mapping, Optional, Sequence, Union

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
from .dpop import DpopKey, create_dpop_proof
from .errors import WritClientError

__all__ = ["request_token", "exchange_token", "revoke", "TokenAuth"]


def _drive(flow: Flow, http: Optional[httpx.Client], base: str) -> Any:
    own = http is None
    client = http or httpx.Client(timeout=10.0)
    try:
        value: Optional[HttpResponse] = None
        while True:
            try:
                step = flow.send(value)
            except StopIteration as done:
                return done.value
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
                value = None
                continue
            assert isinstance(step, HttpRequest)
            try:
                res = client.request(step.method, step.url, headers=step.headers, content=step.body)
            except httpx.HTTPError as err:
                raise WritClientError("network_error", f"cannot reach the broker at {base}: {err}") from err
            value = HttpResponse(res.status_code, res.headers, res.content)
    finally:
        flow.close()
        if own:
            client.close()


def request_token(
    broker: str,
    credentials: Credentials,
    manifest: Mapping[str, Any],
    dpop_key: Optional[DpopKey] = None,
    on_pending: Optional[Callable[[PendingApproval], Any]] = None,
    timeout: Optional[float] = None,
    *,
    http: Optional[httpx.Client] = None,
) -> TokenResult:
    """Exchanges a task manifest for a task-scoped token.

    ``ClientSecret`` clients use ``POST /v1/tokens``; ``PrivateKeyJwt`` clients (RFC 7523) use
    ``POST /oauth/bc-authorize`` (CIBA) and collect at the token endpoint. When policy needs a
    human, ``on_pending`` is called once with the approval link, then the token endpoint is polled
    honouring ``interval`` and ``slow_down`` until the token arrives. With ``dpop_key`` the token
    is bound to that key (RFC 9449) and every request carries a proof, retried once with the
    broker's nonce when it asks for one.

    Raises ``WritClientError``: ``access_denied`` when an approver denied, ``expired_token`` when
    the approval window closed, ``timeout`` when ``timeout`` seconds passed first, or the broker's
    own code (``invalid_client``, ``invalid_request``, ...).

    Example::

        token = request_token(
            "http://localhost:8080",
            ClientSecret("demo-agent", os.environ["WRIT_CLIENT_SECRET"]),
            {"task": {"id": "JIRA-4711"}, "ttl": "15m", "grants": [{"type": "repo", "actions": ["read"],
             "locations": ["https://git.example.com/acme/app"], "identifier": "docs/**"}]},
            on_pending=lambda p: print("waiting for approval:", p.approval_uri),
        )
    """
    flow = token_flow(broker, credentials, manifest, dpop_key, on_pending, timeout)
    result: TokenResult = _drive(flow, http, str(broker))
    return result


def exchange_token(
    broker: str,
    credentials: Credentials,
    subject_token: str,
    grants: Sequence[Mapping[str, Any]],
    *,
    ttl: Optional[Union[str, int]] = None,
    dpop_key: Optional[DpopKey] = None,
    subject_dpop_key: Optional[DpopKey] = None,
    subject_token_proof: Optional[str] = None,
    http: Optional[httpx.Client] = None,
) -> ExchangeTokenResult:
    """Delegation (RFC 8693 token exchange): turns a parent writ token into a narrower one for this
    client, a sub-agent. ``credentials`` are the receiving client's own (the parent's client must
    list it in ``delegate_to``); ``subject_token`` is the parent's access token; ``grants`` the
    grants wanted, each covered by one of the parent's; ``ttl`` (``"5m"``, ``"90s"`` or seconds)
    never longer than the parent has left.

    A DPoP-bound parent needs a proof of its key: ``subject_dpop_key`` (the parent's key) makes it
    here; or the parent's holder makes it and hands it over as ``subject_token_proof``, so its key
    never leaves it. ``dpop_key`` binds the new token to this client's own key (RFC 9449). Proofs
    made here are made again with the broker's nonce when it asks for one.

    Raises ``WritClientError`` with the broker's code: ``invalid_authorization_details`` when the
    parent does not cover a grant, ``unauthorized_client`` when the parent's client may not
    delegate to this one, ``invalid_request`` (an expired or revoked parent, a missing
    ``subject_token_proof``, a ``ttl`` too long, a chain too deep), ``invalid_dpop_proof``,
    ``invalid_client``; or ``network_error``, ``unexpected_response``.

    Example::

        child = exchange_token(
            "http://127.0.0.1:8080",
            ClientSecret("docs-worker", os.environ["WORKER_SECRET"]),
            parent.access_token,
            [{"type": "repo", "actions": ["read"], "locations": ["https://git.example.com/acme/app"],
              "identifier": "docs/guide/*"}],
            ttl="5m",
        )
    """
    flow = exchange_flow(broker, credentials, subject_token, grants, ttl, dpop_key, subject_dpop_key, subject_token_proof)
    result: ExchangeTokenResult = _drive(flow, http, str(broker))
    return result


def revoke(broker: str, credentials: Credentials, token: str, *, http: Optional[httpx.Client] = None) -> None:
    """Revokes one of this client's tokens (RFC 7009, ``POST /oauth/revoke``): its grant ends at
    once, everywhere verifiers check liveness. Revoking an expired or unknown token succeeds too."""
    _drive(revoke_flow(broker, credentials, token), http, str(broker))


class TokenAuth(httpx.Auth):
    """httpx authentication with a writ token: ``Authorization: Bearer``, or for a DPoP-bound token
    ``Authorization: DPoP`` plus a fresh proof for each request's method and URL, retried once when
    the service answers ``use_dpop_nonce`` with a ``DPoP-Nonce`` (RFC 9449 §9).

    Example::

        with httpx.Client(auth=TokenAuth(token.access_token, dpop_key)) as http:
            http.get("https://git.example.com/acme/app/docs/README.md")
    """

    def __init__(self, access_token: str, dpop_key: Optional[DpopKey] = None) -> None:
        self.access_token = access_token
        self.dpop_key = dpop_key
        self._nonce: Optional[str] = None

    def _sign(self, request: httpx.Request) -> None:
        if self.dpop_key is None:
            request.headers["authorization"] = f"Bearer {self.access_token}"
            return
        request.headers["authorization"] = f"DPoP {self.access_token}"
        request.headers["dpop"] = create_dpop_proof(
            self.dpop_key, request.method, str(request.url), access_token=self.access_token, nonce=self._nonce
        )

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self._sign(request)
        response = yield request
        nonce = response.headers.get("dpop-nonce")
        challenge = response.headers.get("www-authenticate", "")
        if self.dpop_key is not None and nonce and response.status_code == 401 and "use_dpop_nonce" in challenge:
            self._nonce = nonce
            self._sign(request)
            yield request
